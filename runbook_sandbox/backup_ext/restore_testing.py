"""AWS Backup restore testing: plans, selections, the restore jobs they start, and the
validation results a validator puts back.

As on AWS:

- a **plan** (``CreateRestoreTestingPlan``) says when tests run (``ScheduleExpression`` in
  ``ScheduleExpressionTimezone``, ``cron(...)``; ``rate(...)`` is read too) and which
  recovery point a test restores (``RecoveryPointSelection``: ``Algorithm``
  LATEST_WITHIN_WINDOW | RANDOM_WITHIN_WINDOW, ``IncludeVaults`` / ``ExcludeVaults`` ARN
  patterns, ``RecoveryPointTypes``, ``SelectionWindowDays`` 1-365, default 30);
- a **selection** (``CreateRestoreTestingSelection``) says which protected resources of one
  ``ProtectedResourceType`` it covers: up to 30 ARNs, or ``["*"]`` narrowed by
  ``ProtectedResourceConditions`` (``StringEquals`` / ``StringNotEquals`` on tags), how
  long the restored resource is kept for validation (``ValidationWindowHours`` 0-168) and
  ``RestoreMetadataOverrides`` over the inferred restore metadata;
- a **run** starts, for every resource a selection covers that has a recovery point
  eligible under the plan, a restore job through the extension's own ``start_restore_job``
  (so data really moves) with ``CreatedBy.RestoreTestingPlanArn``, and inferred metadata
  naming a new ``awsbackup-restore-test-...`` resource;
- ``PutRestoreValidationResult`` sets ``ValidationStatus`` / ``ValidationStatusMessage``
  on a completed restore testing job; once a final status (SUCCESSFUL, FAILED,
  TIMED_OUT) is put, or the validation window has passed since the job completed, the
  restored resource is deleted: ``DeletionStatus`` DELETING, then SUCCESSFUL (or FAILED
  with the reason).

Runs are fired by the sandbox clock (``runbook_sandbox.clock.advance``) when a plan's
schedule falls due, or on demand with :func:`run_restore_testing_plan_now` (route
``POST /moto-api/sandbox/run-restore-testing-plan``). What the sandbox does not do is
listed in docs/sandbox-backup.md.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb.models import dynamodb_backends
from moto.ec2.models import ec2_backends
from moto.efs.models import efs_backends
from moto.moto_api._internal import mock_random
from moto.rds.models import rds_backends
from moto.s3.models import s3_backends

from . import faults, jobs, recovery_points, resources, selections
from .errors import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from .state import backend, ext_state, now, paginate, split_arn

#: ``ProtectedResourceType`` values AWS accepts (botocore model documentation).
RESOURCE_TYPES = (
    "Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3",
)  # fmt: skip
ALGORITHMS = ("LATEST_WITHIN_WINDOW", "RANDOM_WITHIN_WINDOW")
POINT_TYPES = ("CONTINUOUS", "SNAPSHOT")
VALIDATION_STATUSES = ("FAILED", "SUCCESSFUL", "TIMED_OUT", "VALIDATING")
FINAL_VALIDATION = ("FAILED", "SUCCESSFUL", "TIMED_OUT")
DEFAULT_SCHEDULE = "cron(0 5 ? * * *)"  # AWS: a plan without a ScheduleExpression
DEFAULT_WINDOW_DAYS = 30
DEFAULT_START_WINDOW_HOURS = 24
MAX_ARNS = 30
TEST_PREFIX = "awsbackup-restore-test-"  # AWS names restored test resources so
_NAME = re.compile(r"^[A-Za-z0-9_]{1,50}$")
_ATTR = "_sandbox_restore_testing"


# ----------------------------------------------------------------------- records


@dataclass
class Plan:
    name: str
    arn: str
    body: dict[str, Any]  # RecoveryPointSelection, ScheduleExpression(+Timezone), StartWindowHours
    creator_request_id: str | None
    tags: dict[str, str]
    creation_time: dt.datetime = field(default_factory=now)
    last_update_time: dt.datetime | None = None
    last_execution_time: dt.datetime | None = None

    @property
    def schedule(self) -> str:
        return self.body.get("ScheduleExpression") or DEFAULT_SCHEDULE

    def for_get(self) -> dict[str, Any]:
        out = {
            "CreationTime": self.creation_time,
            "CreatorRequestId": self.creator_request_id,
            "LastExecutionTime": self.last_execution_time,
            "LastUpdateTime": self.last_update_time,
            "RecoveryPointSelection": self.body["RecoveryPointSelection"],
            "RestoreTestingPlanArn": self.arn,
            "RestoreTestingPlanName": self.name,
            "ScheduleExpression": self.schedule,
            "ScheduleExpressionTimezone": self.body.get("ScheduleExpressionTimezone"),
            "StartWindowHours": self.body.get("StartWindowHours", DEFAULT_START_WINDOW_HOURS),
        }
        return {k: v for k, v in out.items() if v is not None}

    def for_list(self) -> dict[str, Any]:
        out = self.for_get()
        for key in ("CreatorRequestId", "RecoveryPointSelection"):
            out.pop(key, None)
        return out


@dataclass
class TestSelection:
    plan_name: str
    name: str
    body: dict[str, Any]
    creator_request_id: str | None
    creation_time: dt.datetime = field(default_factory=now)
    update_time: dt.datetime | None = None

    @property
    def resource_type(self) -> str:
        return self.body["ProtectedResourceType"]

    @property
    def window_hours(self) -> int:
        return int(self.body.get("ValidationWindowHours") or 0)

    def for_get(self) -> dict[str, Any]:
        out = {
            "CreationTime": self.creation_time,
            "CreatorRequestId": self.creator_request_id,
            "RestoreTestingPlanName": self.plan_name,
            "RestoreTestingSelectionName": self.name,
            **{k: v for k, v in self.body.items() if k != "RestoreTestingSelectionName"},
        }
        return {k: v for k, v in out.items() if v is not None}

    def for_list(self) -> dict[str, Any]:
        keep = ("CreationTime IamRoleArn ProtectedResourceType RestoreTestingPlanName "
                "RestoreTestingSelectionName ValidationWindowHours").split()  # fmt: skip
        return {k: v for k, v in self.for_get().items() if k in keep}

    def matches(self, arn: str, tags: dict[str, str] | None) -> bool:
        """AWS's rule: a listed ARN; or, with ``["*"]`` (or no ARNs), every
        ``StringEquals`` tag and no ``StringNotEquals`` tag value."""
        arns = self.body.get("ProtectedResourceArns") or ["*"]
        if "*" not in arns:
            return arn in arns
        conds = self.body.get("ProtectedResourceConditions") or {}
        have = tags or {}
        return all(
            have.get(c["Key"]) == c["Value"] for c in conds.get("StringEquals") or []
        ) and all(have.get(c["Key"]) != c["Value"] for c in conds.get("StringNotEquals") or [])


@dataclass
class RTState:
    plans: dict[str, Plan] = field(default_factory=dict)
    selections: dict[tuple[str, str], TestSelection] = field(default_factory=dict)


def rt_state(account_id: str, region: str) -> RTState:
    """Kept on moto's backup backend object (reset and saved with it)."""
    return backend(account_id, region).__dict__.setdefault(_ATTR, RTState())


class RestoreTestJob(jobs.Job):
    """A restore job started by restore testing: it carries the validation result and,
    once that is final or the validation window has passed, deletes what it restored."""

    def advance(self) -> None:
        super().advance()
        with jobs._lock:
            self._tend()

    def window_end(self) -> dt.datetime | None:
        if self.state != "COMPLETED" or self.completion_date is None:
            return None
        return self.completion_date + dt.timedelta(hours=self.fields["validation_window_hours"])

    def _tend(self) -> None:
        f = self.fields
        if self.state != "COMPLETED" or f.get("deletion_status") in ("SUCCESSFUL", "FAILED"):
            return
        if f.get("deletion_status") is None:
            end = self.window_end()
            if f.get("validation_status") in FINAL_VALIDATION:
                why = f"validation status {f['validation_status']} was put"
            elif end is not None and now() >= end:
                why = f"the validation window of {f['validation_window_hours']} h closed"
            else:
                return
            f.update(deletion_status="DELETING", deletion_started=now(),
                     deletion_status_message=f"Deleting the restored resource: {why}")  # fmt: skip
        seconds = faults.settings.get("job_seconds", 0.0)
        if (now() - f["deletion_started"]).total_seconds() < seconds:
            return
        created = f.get("created_resource_arn")
        try:
            if created:
                delete_created(self.account_id, self.region, self.resource_type, created)
        except Exception as err:  # the service refused: the restored resource remains
            f.update(deletion_status="FAILED",
                     deletion_status_message=f"{type(err).__name__}: {getattr(err, 'message', err)}")  # fmt: skip
            return
        f.update(deletion_status="SUCCESSFUL",
                 deletion_status_message=f"{created} deleted ({f['deletion_status_message'].split(': ', 1)[-1]})")  # fmt: skip

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        f = self.fields
        extra = {
            "ValidationStatus": f.get("validation_status"),
            "ValidationStatusMessage": f.get("validation_status_message"),
            "DeletionStatus": f.get("deletion_status"),
            "DeletionStatusMessage": f.get("deletion_status_message"),
        }
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


# ------------------------------------------------------------------- validation


def _bad(message: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(message)


def _check_name(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _bad(f"{field_name} {value!r} is invalid: use 1-50 letters, digits and underscores")
    return value


def _check_int(body: dict, key: str, low: int, high: int, where: str) -> None:
    value = body.get(key)
    if value is not None and not (low <= int(value) <= high):
        raise _bad(f"{where}.{key} {value} is out of range: allowed {low} to {high}")


def _check_plan(body: dict[str, Any]) -> None:
    from runbook_sandbox.clock import next_run

    sel = body.get("RecoveryPointSelection") or {}
    where = "RestoreTestingPlan.RecoveryPointSelection"
    if sel.get("Algorithm") not in ALGORITHMS:
        raise _bad(
            f"{where}.Algorithm {sel.get('Algorithm')!r} is invalid: allowed {list(ALGORITHMS)}"
        )
    if not sel.get("IncludeVaults"):
        raise _bad(f'{where}.IncludeVaults is required: ["*"] or backup vault ARNs (patterns)')
    for pattern in (sel.get("IncludeVaults") or []) + (sel.get("ExcludeVaults") or []):
        if pattern != "*" and not pattern.startswith("arn:"):
            raise _bad(f'{where}: vault {pattern!r} is invalid: use "*" or a backup vault ARN')
    kinds = sel.get("RecoveryPointTypes") or []
    if not kinds or set(kinds) - set(POINT_TYPES):
        raise _bad(
            f"{where}.RecoveryPointTypes {kinds} is invalid: one or both of {list(POINT_TYPES)}"
        )
    _check_int(sel, "SelectionWindowDays", 1, 365, where)
    _check_int(body, "StartWindowHours", 1, 168, "RestoreTestingPlan")
    expression = body.get("ScheduleExpression") or DEFAULT_SCHEDULE
    try:
        next_run(expression, now(), anchor=now(), timezone=body.get("ScheduleExpressionTimezone"))
    except ValueError as err:
        raise _bad(f"RestoreTestingPlan.ScheduleExpression: {err}") from None


def _check_selection(body: dict[str, Any]) -> None:
    where = "RestoreTestingSelection"
    kind = body.get("ProtectedResourceType")
    if kind not in RESOURCE_TYPES:
        raise _bad(
            f"{where}.ProtectedResourceType {kind!r} is invalid: allowed {list(RESOURCE_TYPES)}"
        )
    arns = body.get("ProtectedResourceArns")
    conds = body.get("ProtectedResourceConditions")
    if not arns and not conds:
        raise _bad(f"{where}: give ProtectedResourceArns ([\"*\"] or up to {MAX_ARNS} ARNs) "
                   "or ProtectedResourceConditions")  # fmt: skip
    arns = arns or []
    if "*" in arns and len(arns) > 1:
        raise _bad(f'{where}.ProtectedResourceArns: ["*"] or specific ARNs, not both')
    if len(arns) > MAX_ARNS:
        raise _bad(f"{where}.ProtectedResourceArns: {len(arns)} ARNs, at most {MAX_ARNS}")
    for arn in arns:
        if arn != "*" and not arn.startswith("arn:"):
            raise _bad(f"{where}.ProtectedResourceArns: {arn!r} is not an ARN")
    if conds and arns and "*" not in arns:
        raise _bad(f"{where}: ProtectedResourceConditions go with ProtectedResourceArns [\"*\"], "
                   "not with specific ARNs")  # fmt: skip
    for op, entries in (conds or {}).items():
        for entry in entries or []:
            if str(entry.get("Key", "")).lower().startswith("aws:"):
                raise _bad(f"{where}.ProtectedResourceConditions.{op}: key {entry['Key']!r} "
                           "may not start with aws:")  # fmt: skip
    _check_int(body, "ValidationWindowHours", 0, 168, where)


# ----------------------------------------------------------------- plans


def _plan(account_id: str, region: str, name: str) -> Plan:
    plan = rt_state(account_id, region).plans.get(name)
    if plan is None:
        raise ResourceNotFoundException(
            f"Restore testing plan {name} not found in account {account_id} and Region {region}"
        )
    return plan


def create_plan(account_id: str, region: str, body: dict, request_id: str | None,
                tags: dict | None) -> Plan:  # fmt: skip
    name = _check_name(body.get("RestoreTestingPlanName"), "RestoreTestingPlanName")
    _check_plan(body)
    st = rt_state(account_id, region)
    known = st.plans.get(name)
    if known is not None:
        if request_id and known.creator_request_id == request_id:
            return known  # AWS: a retry with the same CreatorRequestId creates nothing new
        raise AlreadyExistsException(msg=f"Restore testing plan {name} already exists")
    uid = str(mock_random.uuid4())[:6]
    arn = f"arn:aws:backup:{region}:{account_id}:restore-testing-plan:{name}-{uid}"
    body = {k: v for k, v in body.items() if k != "RestoreTestingPlanName"}
    st.plans[name] = Plan(name, arn, body, request_id, dict(tags or {}))
    return st.plans[name]


def update_plan(account_id: str, region: str, name: str, changes: dict) -> Plan:
    plan = _plan(account_id, region, name)
    merged = {**plan.body, **{k: v for k, v in changes.items() if v is not None}}
    _check_plan(merged)
    plan.body, plan.last_update_time = merged, now()
    return plan


def delete_plan(account_id: str, region: str, name: str) -> None:
    _plan(account_id, region, name)
    st = rt_state(account_id, region)
    left = sorted(s for p, s in st.selections if p == name)
    if left:
        raise InvalidRequestException(
            f"Restore testing plan {name} still has selections {left}: delete them first"
        )
    del st.plans[name]


# ------------------------------------------------------------ selections


def _selection(account_id: str, region: str, plan: str, name: str) -> TestSelection:
    _plan(account_id, region, plan)
    sel = rt_state(account_id, region).selections.get((plan, name))
    if sel is None:
        raise ResourceNotFoundException(
            f"Restore testing selection {name} not found in restore testing plan {plan}"
        )
    return sel


def create_selection(account_id: str, region: str, plan: str, body: dict,
                     request_id: str | None) -> TestSelection:  # fmt: skip
    _plan(account_id, region, plan)
    name = _check_name(body.get("RestoreTestingSelectionName"), "RestoreTestingSelectionName")
    _check_selection(body)
    st = rt_state(account_id, region)
    known = st.selections.get((plan, name))
    if known is not None:
        if request_id and known.creator_request_id == request_id:
            return known
        raise AlreadyExistsException(
            msg=f"Restore testing selection {name} already exists in plan {plan}"
        )
    st.selections[(plan, name)] = TestSelection(plan, name, dict(body), request_id)
    return st.selections[(plan, name)]


def update_selection(account_id: str, region: str, plan: str, name: str,
                     changes: dict) -> TestSelection:  # fmt: skip
    sel = _selection(account_id, region, plan, name)
    merged = {**sel.body, **{k: v for k, v in changes.items() if v is not None}}
    if changes.get("ProtectedResourceArns") and "ProtectedResourceConditions" not in changes:
        if "*" not in changes["ProtectedResourceArns"]:
            merged.pop("ProtectedResourceConditions", None)
    _check_selection(merged)
    sel.body, sel.update_time = merged, now()
    return sel


def selections_of(account_id: str, region: str, plan: str) -> list[TestSelection]:
    _plan(account_id, region, plan)
    found = rt_state(account_id, region).selections.values()
    return sorted((s for s in found if s.plan_name == plan), key=lambda s: s.creation_time)


# ------------------------------------------------------------------- runs


def inferred_metadata(rp: recovery_points.RecoveryPoint) -> dict[str, str]:
    """What AWS infers to restore ``rp`` as a test: its own restore metadata, with the new
    resource named ``awsbackup-restore-test-...`` (DynamoDB: no deletion protection)."""
    meta = {k: v for k, v in resources.restore_metadata(rp.payload, rp.resource_name).items() if v}
    key = resources.TARGET_KEY.get(rp.resource_type) or ""
    if key:
        meta[key] = TEST_PREFIX + mock_random.uuid4().hex[:12]
    if rp.resource_type == "DynamoDB":
        meta.update(deletionProtection="false", encryptionType="Default")
    return meta


def _with_overrides(meta: dict[str, str], overrides: dict[str, str] | None) -> dict[str, str]:
    """Overrides replace inferred keys whatever their case (AWS: keys are not case sensitive)."""
    out = dict(meta)
    for key, value in (overrides or {}).items():
        same = [k for k in out if k.lower() == key.lower()]
        for k in same:
            del out[k]
        out[same[0] if same else key] = value
    return out


def _vault_matches(patterns: list[str], vault_arn: str) -> bool:
    return any(p == "*" or fnmatch.fnmatchcase(vault_arn, p) for p in patterns)


def eligible_points(account_id: str, region: str, plan: Plan, resource_arn: str,
                    at: dt.datetime) -> list[recovery_points.RecoveryPoint]:  # fmt: skip
    """``resource_arn``'s recovery points the plan may restore at ``at``, newest first:
    COMPLETED, in an included and not excluded vault, made within SelectionWindowDays.
    Every sandbox recovery point is a SNAPSHOT (no continuous backups are kept)."""
    sel = plan.body["RecoveryPointSelection"]
    if "SNAPSHOT" not in sel["RecoveryPointTypes"]:
        return []
    since = at - dt.timedelta(days=int(sel.get("SelectionWindowDays") or DEFAULT_WINDOW_DAYS))
    return [
        rp
        for rp in recovery_points.list_by_resource(account_id, region, resource_arn)
        if rp.status == "COMPLETED"
        and rp.creation_date >= since
        and _vault_matches(sel["IncludeVaults"], rp.vault.backup_vault_arn)
        and not _vault_matches(sel.get("ExcludeVaults") or [], rp.vault.backup_vault_arn)
    ]


def _covered(account_id: str, region: str, sel: TestSelection) -> list[str]:
    """The protected resources (those with recovery points here) of the selection's type
    that it covers, by ARN."""
    points = ext_state(account_id, region).recovery_points.values()
    protected = sorted({rp.resource_arn for rp in points if rp.resource_type == sel.resource_type})
    tags = selections.candidates(account_id, region) if protected else {}
    return [arn for arn in protected if sel.matches(arn, tags.get(arn))]


@dataclass
class Started:
    """What one run did for one resource: the job, or why there is none."""

    selection: str
    resource_arn: str
    job: jobs.Job | None = None
    why_not: str = ""


def run_plan(account_id: str, region: str, name: str) -> list[Started]:
    """Start the restore testing jobs the plan would start now (one per covered resource
    with an eligible recovery point)."""
    plan = _plan(account_id, region, name)
    at = now()
    plan.last_execution_time = at
    out: list[Started] = []
    for sel in selections_of(account_id, region, name):
        for arn in _covered(account_id, region, sel):
            points = eligible_points(account_id, region, plan, arn, at)
            if not points:
                out.append(Started(sel.name, arn, why_not="no eligible recovery point"))
                continue
            algorithm = plan.body["RecoveryPointSelection"]["Algorithm"]
            rp = points[0] if algorithm == "LATEST_WITHIN_WINDOW" else mock_random.choice(points)
            request = {
                "RecoveryPointArn": rp.arn,
                "IamRoleArn": sel.body.get("IamRoleArn"),
                "ResourceType": rp.resource_type,
                "Metadata": _with_overrides(
                    inferred_metadata(rp), sel.body.get("RestoreMetadataOverrides")
                ),
            }
            try:
                job = jobs.start_restore_job(
                    account_id, region, request,
                    created_by={"RestoreTestingPlanArn": plan.arn}, job_class=RestoreTestJob,
                )  # fmt: skip
            except Exception as err:  # AWS: the job fails to start; the run goes on
                out.append(Started(sel.name, arn, why_not=f"{type(err).__name__}: "
                                   f"{getattr(err, 'message', err)}"))  # fmt: skip
                continue
            job.fields.update(
                validation_window_hours=sel.window_hours,
                restore_testing_selection=sel.name,
                restore_testing_plan=plan.name,
            )
            out.append(Started(sel.name, arn, job))
    return out


def run_restore_testing_plan_now(
    plan_name: str,
    *,
    region: str,
    account_id: str = "123456789012",
    endpoint_url: str | None = None,
) -> list[str]:
    """Start now the restore jobs the plan would start on its schedule; returns their ids.
    In-process, or against a sandbox server at ``endpoint_url``."""
    body = {"plan_name": plan_name, "region": region, "account_id": account_id}
    if endpoint_url:
        return faults._post(endpoint_url, "/moto-api/sandbox/run-restore-testing-plan", body)
    return _run_route(body, "POST")


def _run_route(body: dict[str, Any], method: str) -> list[str]:
    from moto.core.exceptions import JsonRESTError

    for key in ("plan_name", "region"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ValueError(f"{key} is required (a string)")
    try:
        started = run_plan(body.get("account_id") or "123456789012", body["region"],
                           body["plan_name"])  # fmt: skip
    except ResourceNotFoundException as err:
        raise LookupError(err.message) from None
    except JsonRESTError as err:
        raise ValueError(err.message) from None
    return [s.job.job_id for s in started if s.job is not None]


ROUTES = {"{0}/moto-api/sandbox/run-restore-testing-plan$": faults._route(_run_route)}


def delete_created(account_id: str, region: str, resource_type: str, arn: str) -> None:
    """Delete the resource a restore testing job created (moto's own delete calls)."""
    _, _, _, rest = split_arn(arn)
    ident = rest.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if resource_type == "DynamoDB":
        dynamodb_backends[account_id][region].delete_table(ident)
    elif resource_type == "S3":
        s3 = s3_backends[account_id]["aws"]
        for key in list(s3.get_bucket(ident).keys.keys()):
            s3.delete_object(ident, key)
        s3.delete_bucket(ident)
    elif resource_type == "EBS":
        ec2_backends[account_id][region].delete_volume(ident)
    elif resource_type == "RDS":
        rds_backends[account_id][region].delete_db_instance(ident, skip_final_snapshot=True)
    elif resource_type in ("Aurora", "Neptune", "DocumentDB"):
        rds_backends[account_id][region].delete_db_cluster(ident)
    elif resource_type == "EFS":
        efs_backends[account_id][region].delete_file_system(ident)
    else:
        raise InvalidParameterValueException(f"cannot delete a restored {resource_type}")


# ------------------------------------------------------------- for the clock


def clock_timers(
    after: dt.datetime, unreadable: dict[str, tuple[str, str, str]]
) -> Iterator[tuple[dt.datetime, Callable[[dt.datetime], list[Any]]]]:
    """For ``runbook_sandbox.clock``: each plan's next run after ``after``, and the end of
    each completed restore testing job's validation window (its clean-up)."""
    from moto.backends import get_backend

    from runbook_sandbox.clock import next_run

    for account, region, be in list(get_backend("backup").iter_backends()):
        st = be.__dict__.get(_ATTR)
        for plan in list(st.plans.values()) if st else []:
            try:
                when = next_run(plan.schedule, after, anchor=plan.creation_time,
                                timezone=plan.body.get("ScheduleExpressionTimezone"))  # fmt: skip
            except ValueError as err:
                unreadable[f"restore testing plan {plan.name}"] = (account, region, str(err))
                continue
            if when is not None:
                yield when, _fire_plan(account, region, plan.name)
        for job in list(ext_state(account, region).restore_jobs.values()):
            end = job.window_end() if isinstance(job, RestoreTestJob) else None
            if end is not None and end > after and job.fields.get("deletion_status") is None:
                yield end, _fire_cleanup(job)


def _fire_plan(account: str, region: str, name: str) -> Callable[[dt.datetime], list[Any]]:
    def fire(when: dt.datetime) -> list[Any]:
        from runbook_sandbox.clock import _event

        plan = _plan(account, region, name)
        source = f"restore testing plan {name}"
        out = []
        for s in run_plan(account, region, name):
            if s.job is None:
                out.append(_event("restore_test", account, region, s.resource_arn, source,
                                  state="FAILED", detail=f"selection {s.selection}: {s.why_not}"))  # fmt: skip
                continue
            job = jobs.get_job("RESTORE", account, region, s.job.job_id)
            out.append(
                _event(
                    "restore_test", account, region, s.resource_arn, source,
                    result=job.fields.get("created_resource_arn") or job.job_id, state=job.state,
                    detail=(f"scheduled {when:%Y-%m-%d %H:%M}Z ({plan.schedule}); selection "
                            f"{s.selection}; job {job.job_id} restores "
                            f"{job.fields['recovery_point_arn']}"
                            + (f": {job.status_message}" if job.status_message else "")),
                )
            )  # fmt: skip
        return out

    return fire


def _fire_cleanup(job: RestoreTestJob) -> Callable[[dt.datetime], list[Any]]:
    def fire(when: dt.datetime) -> list[Any]:
        from runbook_sandbox.clock import _event

        job.advance()
        f = job.fields
        return [
            _event("restore_test_cleanup", job.account_id, job.region, job.resource_arn,
                   f"restore testing plan {f.get('restore_testing_plan')}",
                   result=f.get("created_resource_arn") or "", state=f.get("deletion_status") or "",
                   detail=f"job {job.job_id}: {f.get('deletion_status_message') or ''}")
        ]  # fmt: skip

    return fire


# ------------------------------------------------------------ API operations


def _params(self: Any) -> dict[str, Any]:
    self.parse_parameters(self.normalized_request)
    return dict(self.params)


def _ctx(self: Any) -> tuple[str, str]:
    return self.current_account, self.region


def _page(items: list[Any], p: dict[str, Any], key: str) -> ActionResult:
    page, token = paginate(items, p.get("MaxResults"), p.get("NextToken"))
    return ActionResult({key: page, **({"NextToken": token} if token else {})})


def create_restore_testing_plan(self: Any) -> ActionResult:
    p = _params(self)
    plan = create_plan(*_ctx(self), p["RestoreTestingPlan"], p.get("CreatorRequestId"),
                       p.get("Tags"))  # fmt: skip
    return ActionResult({"CreationTime": plan.creation_time, "RestoreTestingPlanArn": plan.arn,
                         "RestoreTestingPlanName": plan.name})  # fmt: skip


def get_restore_testing_plan(self: Any) -> ActionResult:
    p = _params(self)
    return ActionResult(
        {"RestoreTestingPlan": _plan(*_ctx(self), p["RestoreTestingPlanName"]).for_get()}
    )


def list_restore_testing_plans(self: Any) -> ActionResult:
    p = _params(self)
    plans = sorted(rt_state(*_ctx(self)).plans.values(), key=lambda x: x.creation_time)
    return _page([x.for_list() for x in plans], p, "RestoreTestingPlans")


def update_restore_testing_plan(self: Any) -> ActionResult:
    p = _params(self)
    plan = update_plan(*_ctx(self), p["RestoreTestingPlanName"], p["RestoreTestingPlan"])
    return ActionResult({"CreationTime": plan.creation_time, "RestoreTestingPlanArn": plan.arn,
                         "RestoreTestingPlanName": plan.name, "UpdateTime": plan.last_update_time})  # fmt: skip


def delete_restore_testing_plan(self: Any) -> EmptyResult:
    p = _params(self)
    delete_plan(*_ctx(self), p["RestoreTestingPlanName"])
    return EmptyResult()


def create_restore_testing_selection(self: Any) -> ActionResult:
    p = _params(self)
    sel = create_selection(*_ctx(self), p["RestoreTestingPlanName"], p["RestoreTestingSelection"],
                           p.get("CreatorRequestId"))  # fmt: skip
    plan = _plan(*_ctx(self), sel.plan_name)
    return ActionResult({"CreationTime": sel.creation_time, "RestoreTestingPlanArn": plan.arn,
                         "RestoreTestingPlanName": plan.name,
                         "RestoreTestingSelectionName": sel.name})  # fmt: skip


def get_restore_testing_selection(self: Any) -> ActionResult:
    p = _params(self)
    sel = _selection(*_ctx(self), p["RestoreTestingPlanName"], p["RestoreTestingSelectionName"])
    return ActionResult({"RestoreTestingSelection": sel.for_get()})


def list_restore_testing_selections(self: Any) -> ActionResult:
    p = _params(self)
    found = selections_of(*_ctx(self), p["RestoreTestingPlanName"])
    return _page([s.for_list() for s in found], p, "RestoreTestingSelections")


def update_restore_testing_selection(self: Any) -> ActionResult:
    p = _params(self)
    sel = update_selection(*_ctx(self), p["RestoreTestingPlanName"],
                           p["RestoreTestingSelectionName"], p["RestoreTestingSelection"])  # fmt: skip
    plan = _plan(*_ctx(self), sel.plan_name)
    return ActionResult({"CreationTime": sel.creation_time, "RestoreTestingPlanArn": plan.arn,
                         "RestoreTestingPlanName": plan.name,
                         "RestoreTestingSelectionName": sel.name, "UpdateTime": sel.update_time})  # fmt: skip


def delete_restore_testing_selection(self: Any) -> EmptyResult:
    p = _params(self)
    _selection(*_ctx(self), p["RestoreTestingPlanName"], p["RestoreTestingSelectionName"])
    del rt_state(*_ctx(self)).selections[
        (p["RestoreTestingPlanName"], p["RestoreTestingSelectionName"])
    ]
    return EmptyResult()


def put_restore_validation_result(self: Any) -> EmptyResult:
    p = _params(self)
    status = p.get("ValidationStatus")
    if status not in VALIDATION_STATUSES:
        raise _bad(f"ValidationStatus {status!r} is invalid: allowed {list(VALIDATION_STATUSES)}")
    job = jobs.get_job("RESTORE", *_ctx(self), p["RestoreJobId"])
    if not isinstance(job, RestoreTestJob):
        raise InvalidRequestException(
            f"Restore job {job.job_id} was not started by restore testing: only restore "
            "testing jobs take a validation result"
        )
    if job.state != "COMPLETED":
        raise InvalidRequestException(
            f"Restore job {job.job_id} is {job.state}: a validation result can be put once "
            "the job has COMPLETED"
        )
    if job.fields.get("deletion_status") is not None:
        raise InvalidRequestException(
            f"Restore job {job.job_id}: the restored resource is {job.fields['deletion_status']}"
            f" ({job.fields.get('deletion_status_message')}); it takes no validation result now"
        )
    job.fields.update(validation_status=status,
                      validation_status_message=p.get("ValidationStatusMessage"))  # fmt: skip
    job.advance()  # a final status starts the clean-up
    return EmptyResult()


def get_restore_job_metadata(self: Any) -> ActionResult:
    p = _params(self)
    job = jobs.get_job("RESTORE", *_ctx(self), p["RestoreJobId"])
    return ActionResult({"RestoreJobId": job.job_id, "Metadata": job.fields.get("metadata") or {}})


def get_restore_testing_inferred_metadata(self: Any) -> ActionResult:
    p = _params(self)
    account, region = _ctx(self)
    rp = recovery_points.get(account, region, p["BackupVaultName"], p["RecoveryPointArn"])
    return ActionResult({"InferredMetadata": inferred_metadata(rp)})


def list_restore_jobs_by_protected_resource(self: Any) -> ActionResult:
    p = _params(self)
    found = jobs.list_jobs("RESTORE", *_ctx(self), {"ByStatus": p.get("ByStatus")})
    found = [j for j in found if j.resource_arn == p["ResourceArn"]]
    return _page([j.describe() for j in found], p, "RestoreJobs")


OPERATIONS = {
    func.__name__: func
    for func in (
        create_restore_testing_plan, get_restore_testing_plan, list_restore_testing_plans,
        update_restore_testing_plan, delete_restore_testing_plan,
        create_restore_testing_selection, get_restore_testing_selection,
        list_restore_testing_selections, update_restore_testing_selection,
        delete_restore_testing_selection, put_restore_validation_result,
        get_restore_job_metadata, get_restore_testing_inferred_metadata,
        list_restore_jobs_by_protected_resource,
    )
}  # fmt: skip

#: URL patterns of these operations (moto picks the operation by the botocore model).
URL_PATTERNS = [
    "{0}/restore-testing/plans$",
    "{0}/restore-testing/plans/$",
    "{0}/restore-testing/plans/(?P<plan>[^/]+)$",
    "{0}/restore-testing/plans/(?P<plan>[^/]+)/selections$",
    "{0}/restore-testing/plans/(?P<plan>[^/]+)/selections/$",
    "{0}/restore-testing/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)$",
    "{0}/restore-testing/inferred-metadata$",
    "{0}/restore-jobs/(?P<job>[^/]+)/metadata$",
    "{0}/restore-jobs/(?P<job>[^/]+)/validations$",
]
