"""Lifecycle policies per account and Region (moto's ``BackendDict``), checked as AWS does.

A policy is kept as the API gives it (``PolicyDetails`` stored whole) once the rules that
decide what it does hold: the policy type and resource types, the target tags of a custom
policy (or a default policy's type and intervals), each schedule's ``CreateRule`` (an
``Interval`` in hours from the allowed set, or a ``CronExpression``) and ``RetainRule`` (a
``Count`` or an age). Anything else is refused with ``InvalidRequestException`` naming the
field and what is allowed, before anything is stored.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

from .exceptions import InvalidRequestException, ResourceNotFoundException

POLICY_TYPES = ("EBS_SNAPSHOT_MANAGEMENT", "IMAGE_MANAGEMENT", "EVENT_BASED_POLICY")
RESOURCE_TYPES = ("VOLUME", "INSTANCE")
STATES = ("ENABLED", "DISABLED")
INTERVAL_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
RETAIN_UNITS = ("DAYS", "WEEKS", "MONTHS", "YEARS")
#: CreateLifecyclePolicy / UpdateLifecyclePolicy body fields for default policies only
DEFAULT_ONLY = (
    "CreateInterval",
    "RetainInterval",
    "CopyTags",
    "ExtendDeletion",
    "CrossRegionCopyTargets",
    "Exclusions",
)
DEFAULT_CREATE_DAYS = (1, 7)  # CreateInterval: allowed range, days (default 1)
DEFAULT_RETAIN_DAYS = (2, 14)  # RetainInterval: allowed range, days (default 7)
_ROLE = re.compile(r"^arn:aws(-[a-z]{1,3}){0,2}:iam::\d+:role/.*$")
_DESCRIPTION = re.compile(r"^[0-9A-Za-z _-]{1,500}$")
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _bad(message: str, **kw: Any) -> InvalidRequestException:
    return InvalidRequestException(message, **kw)


def check_role(arn: Any) -> None:
    if not isinstance(arn, str) or not _ROLE.match(arn):
        raise _bad(
            f"ExecutionRoleArn {arn!r}: must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            required=["ExecutionRoleArn"] if not arn else None,
        )


def check_description(text: Any) -> None:
    if not isinstance(text, str) or not _DESCRIPTION.match(text):
        raise _bad(
            f"Description {text!r}: 1 to 500 of the characters 0-9 A-Z a-z space _ -",
            required=["Description"] if not text else None,
        )


def check_state(state: Any) -> None:
    if state not in STATES:
        raise _bad(f"State {state!r}: allowed {list(STATES)}")


def _check_create_rule(where: str, rule: Any) -> None:
    if not isinstance(rule, dict) or not rule:
        raise _bad(f"{where}.CreateRule is required", required=[f"{where}.CreateRule"])
    interval, cron = rule.get("Interval"), rule.get("CronExpression")
    if interval is not None and cron is not None:
        raise _bad(
            f"{where}.CreateRule: give Interval or CronExpression, not both",
            exclusive=["Interval", "CronExpression"],
        )
    if cron is not None:
        if not isinstance(cron, str) or not _CRON.match(cron):
            raise _bad(
                f"{where}.CreateRule.CronExpression {cron!r}: must be cron(<6 fields>), "
                "e.g. cron(0 3 ? * * *)"
            )
        if rule.get("Times") or rule.get("IntervalUnit"):
            raise _bad(
                f"{where}.CreateRule: Times and IntervalUnit go with Interval, not CronExpression",
                exclusive=["CronExpression", "Times", "IntervalUnit"],
            )
        return
    if interval is None:
        raise _bad(
            f"{where}.CreateRule needs Interval (with IntervalUnit HOURS) or CronExpression",
            required=["Interval", "CronExpression"],
        )
    if interval not in INTERVAL_HOURS:
        raise _bad(f"{where}.CreateRule.Interval {interval!r}: allowed {list(INTERVAL_HOURS)}")
    if rule.get("IntervalUnit") != "HOURS":
        raise _bad(
            f"{where}.CreateRule.IntervalUnit {rule.get('IntervalUnit')!r}: allowed ['HOURS']",
            required=["IntervalUnit"] if rule.get("IntervalUnit") is None else None,
        )
    times = rule.get("Times") or []
    if len(times) > 1 or any(not _TIME.match(str(t)) for t in times):
        raise _bad(f"{where}.CreateRule.Times {times!r}: at most one time, as hh:mm (UTC)")


def _check_retain_rule(where: str, rule: Any) -> None:
    if not isinstance(rule, dict) or not rule:
        raise _bad(f"{where}.RetainRule is required", required=[f"{where}.RetainRule"])
    count, interval = rule.get("Count"), rule.get("Interval")
    if count is not None and interval is not None:
        raise _bad(
            f"{where}.RetainRule: give Count or Interval, not both",
            exclusive=["Count", "Interval"],
        )
    if count is not None:
        if not isinstance(count, int) or not 1 <= count <= 1000:
            raise _bad(f"{where}.RetainRule.Count {count!r}: allowed 1 to 1000")
        return
    if interval is None:
        raise _bad(
            f"{where}.RetainRule needs Count, or Interval with IntervalUnit",
            required=["Count", "Interval"],
        )
    if not isinstance(interval, int) or interval < 1:
        raise _bad(f"{where}.RetainRule.Interval {interval!r}: a whole number of at least 1")
    if rule.get("IntervalUnit") not in RETAIN_UNITS:
        raise _bad(
            f"{where}.RetainRule.IntervalUnit {rule.get('IntervalUnit')!r}: allowed {list(RETAIN_UNITS)}"
        )


def check_custom_details(details: Any) -> dict[str, Any]:
    """A custom policy's PolicyDetails, checked; returned with its PolicyType filled in."""
    if not isinstance(details, dict) or not details:
        raise _bad(
            "PolicyDetails is required for a custom policy (or give DefaultPolicy)",
            required=["PolicyDetails"],
        )
    out = copy.deepcopy(details)
    if out.get("PolicyLanguage") == "SIMPLIFIED":
        raise _bad(
            "PolicyDetails.PolicyLanguage SIMPLIFIED is for default policies: give DefaultPolicy"
        )
    kind = out.setdefault("PolicyType", "EBS_SNAPSHOT_MANAGEMENT")
    if kind not in POLICY_TYPES:
        raise _bad(f"PolicyDetails.PolicyType {kind!r}: allowed {list(POLICY_TYPES)}")
    if kind == "EVENT_BASED_POLICY":
        missing = [f for f in ("EventSource", "Actions") if not out.get(f)]
        if missing:
            raise _bad(
                f"PolicyDetails: an EVENT_BASED_POLICY needs {missing}",
                required=[f"PolicyDetails.{f}" for f in missing],
            )
        return out
    types = out.get("ResourceTypes")
    if not types:
        raise _bad(
            f"PolicyDetails.ResourceTypes is required for {kind}: one of {list(RESOURCE_TYPES)}",
            required=["PolicyDetails.ResourceTypes"],
        )
    allowed = ("INSTANCE",) if kind == "IMAGE_MANAGEMENT" else RESOURCE_TYPES
    if len(types) != 1 or types[0] not in allowed:
        raise _bad(f"PolicyDetails.ResourceTypes {types!r}: exactly one of {list(allowed)}")
    tags = out.get("TargetTags")
    if not tags:
        raise _bad(
            f"PolicyDetails.TargetTags is required for {kind}: the tags (Key, Value) that "
            "pick the resources",
            required=["PolicyDetails.TargetTags"],
        )
    if len(tags) > 50 or any(not isinstance(t, dict) or not t.get("Key") for t in tags):
        raise _bad(f"PolicyDetails.TargetTags {tags!r}: 1 to 50 tags, each with a Key and Value")
    schedules = out.get("Schedules")
    if not schedules:
        raise _bad(
            f"PolicyDetails.Schedules is required for {kind}: 1 to 4 schedules",
            required=["PolicyDetails.Schedules"],
        )
    if len(schedules) > 4:
        raise _bad(f"PolicyDetails.Schedules: {len(schedules)} given, allowed 1 to 4")
    names = [s.get("Name") for s in schedules if s.get("Name")]
    if len(names) != len(set(names)):
        raise _bad(f"PolicyDetails.Schedules: names must differ, got {names}")
    for i, sched in enumerate(schedules):
        where = f"PolicyDetails.Schedules[{i}]"
        _check_create_rule(where, sched.get("CreateRule"))
        _check_retain_rule(where, sched.get("RetainRule"))
    return out


def default_details(kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """A default policy's PolicyDetails (PolicyLanguage SIMPLIFIED) from the request's
    default-policy fields, checked."""
    if kind not in RESOURCE_TYPES:
        raise _bad(f"DefaultPolicy {kind!r}: allowed {list(RESOURCE_TYPES)}")
    create = given.get("CreateInterval", 1)
    retain = given.get("RetainInterval", 7)
    lo, hi = DEFAULT_CREATE_DAYS
    if not isinstance(create, int) or not lo <= create <= hi:
        raise _bad(f"CreateInterval {create!r}: allowed {lo} to {hi} days")
    lo, hi = DEFAULT_RETAIN_DAYS
    if not isinstance(retain, int) or not lo <= retain <= hi:
        raise _bad(f"RetainInterval {retain!r}: allowed {lo} to {hi} days")
    if retain <= create:
        raise _bad(
            f"RetainInterval {retain} days must be greater than CreateInterval {create} days"
        )
    targets = given.get("CrossRegionCopyTargets") or []
    if len(targets) > 3:
        raise _bad(f"CrossRegionCopyTargets: {len(targets)} given, allowed at most 3")
    out: dict[str, Any] = {
        "PolicyLanguage": "SIMPLIFIED",
        "ResourceType": kind,
        "CreateInterval": create,
        "RetainInterval": retain,
    }
    for name in ("CopyTags", "ExtendDeletion", "CrossRegionCopyTargets", "Exclusions"):
        if given.get(name) is not None:
            out[name] = copy.deepcopy(given[name])
    return out


class LifecyclePolicy:
    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        role: str,
        description: str,
        state: str,
        details: dict[str, Any],
        tags: dict[str, str] | None,
        default: bool,
    ) -> None:
        self.id = f"policy-{mock_random.get_random_hex(17)}"
        self.arn = f"arn:aws:dlm:{region}:{account_id}:policy/{self.id}"
        self.role = role
        self.description = description
        self.state = state
        self.details = details
        self.tags = dict(tags or {})
        self.default = default
        self.created = self.modified = utcnow()

    @property
    def policy_type(self) -> str:
        if self.default:  # a default policy for volumes snapshots them; for instances, AMIs
            vol = self.details.get("ResourceType") == "VOLUME"
            return "EBS_SNAPSHOT_MANAGEMENT" if vol else "IMAGE_MANAGEMENT"
        return str(self.details.get("PolicyType", "EBS_SNAPSHOT_MANAGEMENT"))

    @property
    def resource_types(self) -> list[str]:
        if self.default:
            return [self.details["ResourceType"]]
        return list(self.details.get("ResourceTypes") or [])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PolicyId": self.id,
            "Description": self.description,
            "State": self.state,
            "PolicyType": self.policy_type,
            "DefaultPolicy": self.default,
        }
        if self.tags:
            out["Tags"] = dict(self.tags)
        return out

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PolicyId": self.id,
            "Description": self.description,
            "State": self.state,
            "ExecutionRoleArn": self.role,
            "DateCreated": self.created,
            "DateModified": self.modified,
            "PolicyDetails": copy.deepcopy(self.details),
            "PolicyArn": self.arn,
            "DefaultPolicy": self.default,
        }
        if self.tags:
            out["Tags"] = dict(self.tags)
        return out


def _key_values(field: str, values: list[str] | None) -> set[tuple[str, str]]:
    out = set()
    for v in values or []:
        if "=" not in v:
            raise _bad(f"{field} {v!r}: tags are strings key=value")
        key, _, value = v.partition("=")
        out.add((key, value))
    return out


class DLMBackend(BaseBackend):
    """Amazon Data Lifecycle Manager: lifecycle policies (the clock runs them: ``runs.py``)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.policies: dict[str, LifecyclePolicy] = {}

    # ---------------------------------------------------------------- operations

    def create_lifecycle_policy(self, req: dict[str, Any]) -> LifecyclePolicy:
        check_role(req.get("ExecutionRoleArn"))
        check_description(req.get("Description"))
        check_state(req.get("State"))
        kind = req.get("DefaultPolicy")
        body = {f: req[f] for f in DEFAULT_ONLY if req.get(f) is not None}
        if kind is None:
            if body:
                raise _bad(
                    f"{sorted(body)}: only for default policies (give DefaultPolicy "
                    f"{list(RESOURCE_TYPES)}), or put the settings in PolicyDetails"
                )
            details = check_custom_details(req.get("PolicyDetails"))
        else:
            given = req.get("PolicyDetails")
            if given and body:
                raise _bad(
                    "a default policy takes its settings in the request body or in "
                    "PolicyDetails, not both",
                    exclusive=["PolicyDetails", *sorted(body)],
                )
            if given and given.get("ResourceType", kind) != kind:
                raise _bad(
                    f"PolicyDetails.ResourceType {given['ResourceType']!r} differs from "
                    f"DefaultPolicy {kind!r}"
                )
            details = default_details(kind, dict(given or body))
            if any(p.default and p.details["ResourceType"] == kind for p in self.policies.values()):
                raise _bad(f"a default policy for {kind} already exists in {self.region_name}")
        policy = LifecyclePolicy(
            account_id=self.account_id,
            region=self.region_name,
            role=req["ExecutionRoleArn"],
            description=req["Description"],
            state=req["State"],
            details=details,
            tags=req.get("Tags"),
            default=kind is not None,
        )
        self.policies[policy.id] = policy
        return policy

    def get_lifecycle_policy(self, policy_id: str) -> LifecyclePolicy:
        if policy_id not in self.policies:
            raise ResourceNotFoundException("Policy", [policy_id])
        return self.policies[policy_id]

    def get_lifecycle_policies(
        self,
        *,
        policy_ids: list[str] | None = None,
        state: str | None = None,
        resource_types: list[str] | None = None,
        target_tags: list[str] | None = None,
        tags_to_add: list[str] | None = None,
        default_policy_type: str | None = None,
    ) -> list[LifecyclePolicy]:
        if state is not None and state not in (*STATES, "ERROR"):
            raise _bad(f"State {state!r}: allowed {[*STATES, 'ERROR']}")
        for rt in resource_types or []:
            if rt not in RESOURCE_TYPES:
                raise _bad(f"ResourceTypes {rt!r}: allowed {list(RESOURCE_TYPES)}")
        if default_policy_type not in (None, *RESOURCE_TYPES, "ALL"):
            raise _bad(
                f"DefaultPolicyType {default_policy_type!r}: allowed {[*RESOURCE_TYPES, 'ALL']}"
            )
        wanted_tags = _key_values("TargetTags", target_tags)
        wanted_adds = _key_values("TagsToAdd", tags_to_add)
        out = []
        for p in self.policies.values():
            if policy_ids and p.id not in policy_ids:
                continue
            if state and p.state != state:
                continue
            if resource_types and not set(resource_types) & set(p.resource_types):
                continue
            if wanted_tags and not wanted_tags & {
                (t["Key"], t.get("Value", "")) for t in p.details.get("TargetTags") or []
            }:
                continue
            if wanted_adds and not wanted_adds & {
                (t["Key"], t.get("Value", ""))
                for s in p.details.get("Schedules") or []
                for t in s.get("TagsToAdd") or []
            }:
                continue
            if default_policy_type and not (
                p.default and default_policy_type in ("ALL", p.details["ResourceType"])
            ):
                continue
            out.append(p)
        return out

    def update_lifecycle_policy(self, policy_id: str, req: dict[str, Any]) -> None:
        policy = self.get_lifecycle_policy(policy_id)
        if req.get("ExecutionRoleArn") is not None:
            check_role(req["ExecutionRoleArn"])
        if req.get("Description") is not None:
            check_description(req["Description"])
        if req.get("State") is not None:
            check_state(req["State"])
        body = {f: req[f] for f in DEFAULT_ONLY if req.get(f) is not None}
        given = req.get("PolicyDetails")
        details = policy.details
        if policy.default:
            if given and body:
                raise _bad(
                    "a default policy takes its settings in the request body or in "
                    "PolicyDetails, not both",
                    exclusive=["PolicyDetails", *sorted(body)],
                )
            change = given or body
            kind = policy.details["ResourceType"]
            if change and change.get("ResourceType", kind) != kind:
                raise _bad(f"PolicyDetails.ResourceType: the resource type ({kind}) cannot change")
            if change:
                details = default_details(kind, {**policy.details, **change})
        else:
            if body:
                raise _bad(f"{sorted(body)}: only for default policies; this policy is custom")
            if given:
                details = check_custom_details(given)
                if details["PolicyType"] != policy.policy_type:
                    raise _bad(
                        f"PolicyDetails.PolicyType {details['PolicyType']!r}: the policy type "
                        f"cannot be changed (it is {policy.policy_type})"
                    )
        # every check passed: apply
        policy.details = details
        policy.role = req.get("ExecutionRoleArn") or policy.role
        policy.description = req.get("Description") or policy.description
        policy.state = req.get("State") or policy.state
        policy.modified = utcnow()

    def delete_lifecycle_policy(self, policy_id: str) -> None:
        self.get_lifecycle_policy(policy_id)
        del self.policies[policy_id]

    def _by_arn(self, arn: str) -> LifecyclePolicy:
        for p in self.policies.values():
            if p.arn == arn:
                return p
        raise ResourceNotFoundException("Policy", [arn])

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        self._by_arn(arn).tags.update(tags or {})

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        policy = self._by_arn(arn)
        for key in keys or []:
            policy.tags.pop(key, None)

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        return dict(self._by_arn(arn).tags)


dlm_backends = BackendDict(DLMBackend, "dlm")
