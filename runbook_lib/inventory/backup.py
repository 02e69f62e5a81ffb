"""AWS Backup: plans, their rules' schedules and copies, selections resolved against each
resource's ARN and tags, and recovery points (one listing per vault, joined by resource).

Plans and selections only cover resources in their own account and Region. On a sandbox
without the AWS Backup extension, selections and recovery points are not implemented:
that is reported as ``NOT_SUPPORTED_ON_SANDBOX`` rather than read as "not protected".
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from croniter import croniter

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    NEVER,
    NOT_SUPPORTED,
    Protection,
    RecoveryPoint,
    Scope,
    paginate,
)
from runbook_lib.session import is_not_supported

log = logging.getLogger("runbook_lib")
CONTINUOUS_TYPES = ("rds", "aurora", "s3")  # EnableContinuousBackup applies to these


@dataclass
class Rule:
    name: str
    rpo: timedelta | None
    retention_days: float
    copy_regions: tuple[str, ...] = ()
    copy_accounts: tuple[str, ...] = ()
    continuous: bool = False
    schedule: str = ""


@dataclass
class Selection:
    plan: str
    name: str
    resources: list[str] = field(default_factory=list)
    not_resources: list[str] = field(default_factory=list)
    list_of_tags: list[dict] = field(default_factory=list)
    conditions: dict = field(default_factory=dict)

    def matches(self, arn: str, tags: dict[str, str]) -> bool:
        """AWS's rule: (any Resources ARN or any ListOfTags) and not NotResources and every
        Condition."""
        hit = any(fnmatch.fnmatchcase(arn, p) for p in self.resources) or any(
            _tag_condition(
                t.get("ConditionType", "STRINGEQUALS"), t["ConditionKey"], t["ConditionValue"], tags
            )
            for t in self.list_of_tags
        )
        if not hit or any(fnmatch.fnmatchcase(arn, p) for p in self.not_resources):
            return False
        for kind, items in self.conditions.items():
            for c in items or []:
                key = c["ConditionKey"].removeprefix("aws:ResourceTag/")
                if not _tag_condition(kind, key, c["ConditionValue"], tags):
                    return False
        return True


def _tag_condition(kind: str, key: str, value: str, tags: dict[str, str]) -> bool:
    kind = kind.upper()
    have = tags.get(key)
    like = fnmatch.fnmatchcase(have, value) if have is not None else False
    return {
        "STRINGEQUALS": have == value,
        "STRINGLIKE": like,
        "STRINGNOTEQUALS": have != value,
        "STRINGNOTLIKE": not like,
    }.get(kind, False)


@dataclass
class BackupScope:
    """What AWS Backup holds in one (account, Region)."""

    account: str
    region: str
    plans: dict[str, list[Rule]] = field(default_factory=dict)
    selections: list[Selection] = field(default_factory=list)
    recovery_points: list[RecoveryPoint] = field(default_factory=list)
    not_supported: list[str] = field(default_factory=list)  # operations the sandbox lacks

    def protections(self, service: str, arn: str, tags: dict[str, str]) -> list[Protection]:
        out = []
        for sel in self.selections:
            if not sel.matches(arn, tags):
                continue
            for rule in self.plans.get(sel.plan, []):
                rpo = (
                    CONTINUOUS_RPO if rule.continuous and service in CONTINUOUS_TYPES else rule.rpo
                )
                out.append(
                    Protection(
                        f"aws backup plan {sel.plan} / rule {rule.name}",
                        rpo,
                        rule.retention_days,
                        rule.copy_regions,
                        rule.copy_accounts,
                        detail=f"selection {sel.name}; schedule {rule.schedule or 'none'}",
                    )
                )
        if self.not_supported and self.plans:
            out.append(
                Protection(
                    "aws backup selections",
                    status=NOT_SUPPORTED,
                    detail=f"{len(self.plans)} plan(s) exist but the sandbox lacks "
                    f"{', '.join(sorted(set(self.not_supported)))}: coverage by plans unknown",
                )
            )
        return out


# ------------------------------------------------------------------ schedules


def schedule_interval(expression: str, start: datetime | None = None) -> timedelta | None:
    """The longest gap between two runs of an AWS schedule (``cron(...)`` or ``rate(...)``)."""
    expression = (expression or "").strip()
    m = re.fullmatch(r"rate\((\d+)\s+(minute|hour|day)s?\)", expression)
    if m:
        return timedelta(**{f"{m.group(2)}s": int(m.group(1))})
    m = re.fullmatch(r"cron\((.+)\)", expression)
    if not m:
        return None
    fields = m.group(1).split()
    if len(fields) == 6:
        fields = fields[:5]  # AWS adds a year field
    if len(fields) != 5:
        return None
    fields = [f.replace("?", "*") for f in fields]
    fields[4] = re.sub(r"\d", lambda d: str((int(d.group()) - 1) % 7), fields[4])  # AWS 1=SUN
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    try:
        it = croniter(" ".join(fields), start)
    except (ValueError, KeyError):
        log.info("aws backup: cannot read schedule %s", expression)
        return None
    end = start + timedelta(days=63)
    prev = it.get_next(datetime)
    longest = timedelta(0)
    for _ in range(3000):
        nxt = it.get_next(datetime)
        longest = max(longest, nxt - prev)
        prev = nxt
        if nxt > end:
            break
    return longest or None


# ------------------------------------------------------------------ collection

_unsupported: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_unsupported_lock = threading.Lock()


def _known_unsupported(session, operation: str) -> bool:
    with _unsupported_lock:
        return operation in _unsupported.get(session, set())


def _mark_unsupported(session, operation: str) -> None:
    if session.sandbox:  # on AWS an operation missing in one Region says nothing of others
        with _unsupported_lock:
            _unsupported.setdefault(session, set()).add(operation)


def _call(scope: Scope, bs: BackupScope, operation: str, fn):
    """Run ``fn``; on a not-implemented answer note it (once per sandbox) and return None."""
    if _known_unsupported(scope.session, operation):
        bs.not_supported.append(operation)
        return None
    try:
        return fn()
    except (ClientError, BotoCoreError, NotImplementedError) as err:
        if scope.session.sandbox and is_not_supported(err):
            _mark_unsupported(scope.session, operation)
            bs.not_supported.append(operation)
            return None
        raise


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index else ""


def collect(scope: Scope) -> BackupScope:
    backup = scope.client("backup")
    bs = BackupScope(scope.account, scope.region)
    for plan in paginate(backup, "list_backup_plans", "BackupPlansList"):
        plan_id, plan_name = plan["BackupPlanId"], plan["BackupPlanName"]
        body = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]
        rules = []
        for r in body.get("Rules", []):
            copies = [c["DestinationBackupVaultArn"] for c in r.get("CopyActions", [])]
            delete_after = (r.get("Lifecycle") or {}).get("DeleteAfterDays")
            rules.append(
                Rule(
                    r["RuleName"],
                    schedule_interval(r.get("ScheduleExpression", "")),
                    float(delete_after) if delete_after else NEVER,
                    tuple(sorted({_arn_part(c, 3) for c in copies} - {scope.region})),
                    tuple(sorted({_arn_part(c, 4) for c in copies} - {scope.account})),
                    bool(r.get("EnableContinuousBackup")),
                    r.get("ScheduleExpression", ""),
                )
            )
        bs.plans[plan_name] = rules
        selections = _call(
            scope,
            bs,
            "ListBackupSelections",
            lambda pid=plan_id: list(
                paginate(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=pid)
            ),
        )
        for s in selections or []:
            got = _call(
                scope,
                bs,
                "GetBackupSelection",
                lambda pid=plan_id, sid=s["SelectionId"]: backup.get_backup_selection(
                    BackupPlanId=pid, SelectionId=sid
                ),
            )
            if not got:
                continue
            sel = got["BackupSelection"]
            bs.selections.append(
                Selection(
                    plan_name,
                    sel.get("SelectionName", s["SelectionId"]),
                    sel.get("Resources") or [],
                    sel.get("NotResources") or [],
                    sel.get("ListOfTags") or [],
                    sel.get("Conditions") or {},
                )
            )
    for vault in paginate(backup, "list_backup_vaults", "BackupVaultList"):
        points = _call(
            scope,
            bs,
            "ListRecoveryPointsByBackupVault",
            lambda v=vault["BackupVaultName"]: list(
                paginate(
                    backup,
                    "list_recovery_points_by_backup_vault",
                    "RecoveryPoints",
                    BackupVaultName=v,
                )
            ),
        )
        for rp in points or []:
            if rp.get("Status") not in (None, "COMPLETED"):
                continue
            bs.recovery_points.append(
                RecoveryPoint(
                    rp["ResourceArn"],
                    rp["CreationDate"],
                    f"aws backup ({vault['BackupVaultName']})",
                    scope.region,
                    scope.account,
                    rp["RecoveryPointArn"],
                )
            )
    return bs
