"""Backup selections (which resources a plan protects) and running a plan on demand.

AWS assigns a resource to a selection when it matches ``Resources`` (ARNs, ``*``
wildcards) or any of ``ListOfTags``, and all of ``Conditions``, and none of
``NotResources``. A selection with only ``Conditions`` applies them to every
resource. moto never fires schedules, so ``run_backup_plan`` starts the jobs a
plan rule would start (with ``CreatedBy`` and the rule's lifecycle and copy actions).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal import mock_random
from moto.resourcegroupstaggingapi.models import resourcegroupstaggingapi_backends
from moto.s3.models import s3_backends

from . import jobs
from .errors import InvalidParameterValueException, ResourceNotFoundException
from .state import backend, ext_state, now

#: Tagging API resource types the sandbox can back up.
SUPPORTED_TYPES = [
    "dynamodb:table",
    "ec2:volume",
    "rds:db",
    "rds:cluster",
    "elasticfilesystem:file-system",
]


@dataclass
class Selection:
    selection_id: str
    plan_id: str
    body: dict[str, Any]
    creator_request_id: str | None
    creation_date: dt.datetime = field(default_factory=now)

    def summary(self) -> dict[str, Any]:
        out = {
            "SelectionId": self.selection_id,
            "SelectionName": self.body.get("SelectionName"),
            "BackupPlanId": self.plan_id,
            "CreationDate": self.creation_date,
            "CreatorRequestId": self.creator_request_id,
            "IamRoleArn": self.body.get("IamRoleArn"),
        }
        return {k: v for k, v in out.items() if v is not None}

    def matches(self, arn: str, tags: dict[str, str]) -> bool:
        b = self.body
        patterns = b.get("Resources") or []
        by_arn = any(fnmatch.fnmatchcase(arn, pat) for pat in patterns)
        by_tag = any(
            tags.get(t["ConditionKey"]) == t["ConditionValue"] for t in b.get("ListOfTags") or []
        )
        conditions = _conditions(b.get("Conditions") or {})
        base = by_arn or by_tag or (not patterns and not b.get("ListOfTags") and bool(conditions))
        if not base:
            return False
        if any(fnmatch.fnmatchcase(arn, pat) for pat in b.get("NotResources") or []):
            return False
        return all(cond(tags) for cond in conditions)


def _conditions(conds: dict[str, Any]) -> list[Any]:
    out = []
    for op, entries in conds.items():
        for entry in entries or []:
            key = entry["ConditionKey"].removeprefix("aws:ResourceTag/")
            value = entry["ConditionValue"]
            out.append(_condition(op, key, value))
    return out


def _condition(op: str, key: str, value: str) -> Any:
    if op == "StringEquals":
        return lambda tags: tags.get(key) == value
    if op == "StringNotEquals":
        return lambda tags: tags.get(key) != value
    if op == "StringLike":
        return lambda tags: key in tags and fnmatch.fnmatchcase(tags[key], value)
    if op == "StringNotLike":
        return lambda tags: not (key in tags and fnmatch.fnmatchcase(tags[key], value))
    raise InvalidParameterValueException(f"Unknown condition operator {op}")


def _plan(account_id: str, region: str, plan_id: str) -> Any:
    plan = backend(account_id, region).plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        raise ResourceNotFoundException(f"Backup plan {plan_id} not found")
    return plan


def create(
    account_id: str, region: str, plan_id: str, body: dict, request_id: str | None
) -> Selection:
    _plan(account_id, region, plan_id)
    _conditions(body.get("Conditions") or {})  # validate operators
    for pat in (body.get("Resources") or []) + (body.get("NotResources") or []):
        if pat != "*" and not pat.startswith("arn:"):
            raise InvalidParameterValueException(f"Invalid resource ARN in selection: {pat}")
    if request_id:  # AWS: a retry with the same CreatorRequestId creates nothing new
        for known in ext_state(account_id, region).selections.values():
            if known.plan_id == plan_id and known.creator_request_id == request_id:
                return known
    sel = Selection(str(mock_random.uuid4()), plan_id, body, request_id)
    ext_state(account_id, region).selections[sel.selection_id] = sel
    return sel


def get(account_id: str, region: str, plan_id: str, selection_id: str) -> Selection:
    _plan(account_id, region, plan_id)
    sel = ext_state(account_id, region).selections.get(selection_id)
    if sel is None or sel.plan_id != plan_id:
        raise ResourceNotFoundException(
            f"Backup selection {selection_id} not found in backup plan {plan_id}"
        )
    return sel


def list_for_plan(account_id: str, region: str, plan_id: str) -> list[Selection]:
    _plan(account_id, region, plan_id)
    sels = ext_state(account_id, region).selections.values()
    return sorted((s for s in sels if s.plan_id == plan_id), key=lambda s: s.creation_date)


def delete(account_id: str, region: str, plan_id: str, selection_id: str) -> None:
    get(account_id, region, plan_id, selection_id)
    del ext_state(account_id, region).selections[selection_id]


def candidates(account_id: str, region: str) -> dict[str, dict[str, str]]:
    """Every resource the sandbox can back up in this account/Region, with its tags."""
    tagging = resourcegroupstaggingapi_backends[account_id][region]
    out: dict[str, dict[str, str]] = {}
    token = None
    while True:
        token, page = tagging.get_resources(
            pagination_token=token, resource_type_filters=SUPPORTED_TYPES
        )
        for res in page:
            out[res.arn] = dict(res.tags)
        if not token:
            break
    s3 = s3_backends[account_id]["aws"]
    for bucket in s3.buckets.values():
        if bucket.region_name == region:
            tags = s3.get_bucket_tagging(bucket.name).get("Tags", [])
            out[f"arn:aws:s3:::{bucket.name}"] = {t["Key"]: t["Value"] for t in tags}
    return out


def run_backup_plan(
    account_id: str,
    region: str,
    plan_id: str,
    rule_name: str | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[str]:
    """Start the backup jobs the plan's rules would start now; return their job ids.
    A job the service refuses to start raises, or with ``on_error`` is reported to it
    (resource ARN, error) and the other resources still get theirs."""
    plan = _plan(account_id, region, plan_id)
    resources = candidates(account_id, region)
    selected: list[tuple[str, str]] = []
    for sel in list_for_plan(account_id, region, plan_id):
        for arn, tags in sorted(resources.items()):
            if sel.matches(arn, tags):
                selected.append((arn, sel.body.get("IamRoleArn")))
        for pat in sel.body.get("Resources") or []:  # untagged resources named by ARN
            if "*" not in pat and pat not in resources:
                selected.append((pat, sel.body.get("IamRoleArn")))
    job_ids = []
    for rule in plan.backup_plan["Rules"]:
        if rule_name and rule["RuleName"] != rule_name:
            continue
        created_by = {
            "BackupPlanId": plan.backup_plan_id,
            "BackupPlanArn": plan.backup_plan_arn,
            "BackupPlanVersion": plan.version_id,
            "BackupRuleId": rule["RuleId"],
        }
        for arn, role in dict(selected).items():
            try:
                job = jobs.start_backup_job(
                    account_id,
                    region,
                    {
                        "BackupVaultName": rule["TargetBackupVaultName"],
                        "ResourceArn": arn,
                        "IamRoleArn": role,
                        "Lifecycle": rule.get("Lifecycle"),
                        "StartWindowMinutes": rule.get("StartWindowMinutes"),
                        "CompleteWindowMinutes": rule.get("CompletionWindowMinutes"),
                    },
                    created_by=created_by,
                    copy_actions=rule.get("CopyActions"),
                )
            except JsonRESTError as err:
                if on_error is None:
                    raise
                on_error(arn, err)
                continue
            job_ids.append(job.job_id)
    return job_ids


def run_plan_now(
    plan_id: str,
    *,
    region: str,
    account_id: str = "123456789012",
    rule_name: str | None = None,
    endpoint_url: str | None = None,
) -> list[str]:
    """Start now the backup jobs a plan rule would start on its schedule (moto never
    fires schedules). In-process, or against a server at ``endpoint_url``."""
    body = {"plan_id": plan_id, "region": region, "account_id": account_id, "rule_name": rule_name}
    if endpoint_url:
        from .faults import _post

        return _post(endpoint_url, "/moto-api/sandbox/run-backup-plan", body)
    return run_backup_plan(account_id, region, plan_id, rule_name)


def _run_route(body: dict[str, Any], method: str) -> list[str]:
    return run_backup_plan(
        body.get("account_id") or "123456789012",
        body["region"],
        body["plan_id"],
        body.get("rule_name"),
    )


def _routes() -> dict[str, Any]:
    from .faults import _route

    return {"{0}/moto-api/sandbox/run-backup-plan$": _route(_run_route)}


ROUTES = _routes()
