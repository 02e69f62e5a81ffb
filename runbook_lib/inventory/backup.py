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

from runbook_lib.errors import RunbookError
from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    NEVER,
    NOT_SUPPORTED,
    READ_ERRORS,
    Protection,
    RecoveryPoint,
    Scope,
    as_utc,
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
class RestoreTesting:
    """One AWS Backup restore testing selection with its plan: which resources it covers,
    how often its plan runs, which recovery points it may restore, how long a restored
    copy is kept for validation."""

    plan: str
    selection: str
    resource_type: str  # AWS Backup's ProtectedResourceType (DynamoDB, EBS, Aurora...)
    arns: list[str] = field(default_factory=list)  # ["*"] or up to 30 ARNs
    conditions: dict = field(default_factory=dict)  # StringEquals / StringNotEquals [{Key, Value}]
    schedule: str = ""
    every: timedelta | None = None  # longest gap between runs; None = unreadable
    validation_window_hours: int | None = None
    include_vaults: list[str] = field(default_factory=list)
    exclude_vaults: list[str] = field(default_factory=list)
    selection_window_days: int = 30
    algorithm: str = ""
    point_types: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.plan}/{self.selection}"

    def matches(self, resource_type: str, arn: str, tags: dict[str, str]) -> bool:
        """AWS's rule: a listed ARN; or ``["*"]`` narrowed by every ``StringEquals`` and no
        ``StringNotEquals`` tag value, among resources of the selection's type."""
        if resource_type != self.resource_type:
            return False
        if self.arns and "*" not in self.arns:
            return arn in self.arns
        equals = self.conditions.get("StringEquals") or []
        not_equals = self.conditions.get("StringNotEquals") or []
        return all(tags.get(c["Key"]) == c["Value"] for c in equals) and all(
            tags.get(c["Key"]) != c["Value"] for c in not_equals
        )

    def may_restore(self, rp: RecoveryPoint, vault_arn: str, as_of: datetime) -> bool:
        """True if the plan may pick ``rp`` (held in ``vault_arn``) at ``as_of``: a snapshot
        (AWS Backup's discrete recovery points) in an included, not excluded vault, made
        within the selection window."""
        if "SNAPSHOT" not in self.point_types or rp.created is None:
            return False
        if not (as_of - timedelta(days=self.selection_window_days) <= rp.created <= as_of):
            return False

        def hit(patterns: list[str]) -> bool:
            return any(p == "*" or fnmatch.fnmatchcase(vault_arn, p) for p in patterns)

        return hit(self.include_vaults) and not hit(self.exclude_vaults)


@dataclass
class BackupScope:
    """What AWS Backup holds in one (account, Region)."""

    account: str
    region: str
    plans: dict[str, list[Rule]] = field(default_factory=dict)
    selections: list[Selection] = field(default_factory=list)
    recovery_points: list[RecoveryPoint] = field(default_factory=list)
    not_supported: list[str] = field(default_factory=list)  # operations the sandbox lacks
    restore_testing: list[RestoreTesting] = field(default_factory=list)
    #: why restore testing plans could not be read here ("" = read, or not offered)
    restore_testing_error: str = ""

    def vault_arn(self, vault: str | None) -> str:
        return f"arn:aws:backup:{self.region}:{self.account}:backup-vault:{vault or ''}"

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
                        mechanism=f"aws backup plan {sel.plan} / rule {rule.name}",
                        rpo=rpo,
                        retention_days=rule.retention_days,
                        copy_regions=rule.copy_regions,
                        copy_accounts=rule.copy_accounts,
                        detail=f"selection {sel.name}; schedule {rule.schedule or 'none'}"
                        + (
                            " (cannot be read: RPO unknown)"
                            if rule.schedule and rule.rpo is None and not rule.continuous
                            else ""
                        ),
                    )
                )
        if self.not_supported and self.plans:
            out.append(
                Protection(
                    mechanism="aws backup selections",
                    status=NOT_SUPPORTED,
                    detail=f"{len(self.plans)} plan(s) exist but the sandbox lacks "
                    f"{', '.join(sorted(set(self.not_supported)))}: coverage by plans unknown",
                )
            )
        return out


# ------------------------------------------------------------------ schedules


class ScheduleError(RunbookError, ValueError):
    """An AWS schedule expression that cannot be read (the message names it and why)."""


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)", re.IGNORECASE)
_CRON = re.compile(r"cron\((.*)\)", re.IGNORECASE | re.DOTALL)


def _aws_day_of_week(field: str) -> str:
    """AWS numbers days 1-7 from Sunday, croniter 0-6: ``2-6`` -> ``1-5``; ``6#3`` (third
    Friday) -> ``5#3``; ``6L`` (last Friday) -> ``L5``. Names (MON-FRI) are the same."""

    def day(m: re.Match) -> str:
        n = int(m.group(1))
        if not 1 <= n <= 7:
            raise ValueError(f"day of week {n} is not 1-7")
        return str(n - 1)

    out = re.sub(r"(?<![#\d])(\d+)", day, field)
    return re.sub(r"^(\d|[A-Za-z]{3})L$", r"L\1", out)


def parse_schedule(expression: str, start: datetime | None = None) -> timedelta:
    """The longest gap between two runs of an AWS schedule: ``rate(N unit)`` (minute, hour,
    day) or ``cron(minutes hours day-of-month month day-of-week year)`` as AWS Backup and
    EventBridge read it (``?``, ``L``, ``W``, ``#``, days numbered 1-7 from Sunday).

    Raises :class:`ScheduleError` naming the expression when it cannot be read: callers
    that compare schedules must not treat an unreadable one as "no change".
    """
    text = (expression or "").strip()
    m = _RATE.fullmatch(text)
    if m:
        value = int(m.group(1))
        if value < 1:
            raise ScheduleError(f"schedule {expression!r}: a rate must be at least 1")
        return timedelta(**{f"{m.group(2).lower()}s": value})
    m = _CRON.fullmatch(text)
    if not m:
        raise ScheduleError(
            f"schedule {expression!r} is neither cron(...) nor rate(N minute|hour|day)"
        )
    fields = m.group(1).split()
    if len(fields) == 6:
        if fields[5] not in ("*", "?"):
            raise ScheduleError(
                f"schedule {expression!r}: a year other than * runs only in some years; "
                "its interval cannot be judged"
            )
        fields = fields[:5]
    if len(fields) != 5:
        raise ScheduleError(
            f"schedule {expression!r}: cron needs 6 fields (minutes hours day-of-month "
            f"month day-of-week year), found {len(fields)}"
        )
    fields = ["*" if f == "?" else f for f in fields]
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    try:
        fields[4] = _aws_day_of_week(fields[4])
        it = croniter(" ".join(fields), start)
        prev = it.get_next(datetime)
        # a year covers monthly rules (28-35 days apart); more than daily runs repeat weekly,
        # so 8 days show their longest gap (and croniter is slow: ~0.2 ms a run)
        end, week = start + timedelta(days=366), start + timedelta(days=8)
        longest = timedelta(0)
        for runs in range(1, 3000):
            nxt = it.get_next(datetime)
            longest = max(longest, nxt - prev)
            prev = nxt
            if nxt > end or (nxt > week and runs > 16):
                break
    except (ValueError, KeyError, TypeError) as err:  # croniter's errors are ValueErrors
        raise ScheduleError(f"schedule {expression!r} cannot be read: {err}") from err
    if not longest:
        raise ScheduleError(f"schedule {expression!r} never runs twice")
    return longest


def schedule_interval(expression: str, start: datetime | None = None) -> timedelta | None:
    """:func:`parse_schedule`, or None (logged) when the expression cannot be read."""
    try:
        return parse_schedule(expression, start)
    except ScheduleError as err:
        log.info("aws backup: %s", err)
        return None


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
    try:
        bs.restore_testing = _restore_testing(scope, backup)
    except READ_ERRORS as err:  # backup plans and points still count; the run is PARTIAL
        bs.restore_testing_error = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
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
                    resource_arn=rp["ResourceArn"],
                    source=f"aws backup ({vault['BackupVaultName']})",
                    account=scope.account,
                    region=scope.region,
                    **point_fields(rp),
                )
            )
    return bs


def point_fields(entry: dict) -> dict:
    """A recovery point's fields from an AWS Backup listing's entry (by vault or by resource):
    its ARN, time, vault, encryption, size, status and lifecycle. The caller adds which
    resource it restores, where it is held and its source."""
    return {
        "id": entry["RecoveryPointArn"],
        "created": as_utc(entry.get("CreationDate")),
        "vault": entry.get("BackupVaultName"),
        "encrypted": entry.get("IsEncrypted"),
        "key": entry.get("EncryptionKeyArn"),
        # by resource: BackupSizeBytes; by vault: BackupSizeInBytes
        "size_bytes": entry.get("BackupSizeBytes", entry.get("BackupSizeInBytes")),
        "status": entry.get("Status", "COMPLETED"),
        "lifecycle": entry.get("Lifecycle"),
    }


def _restore_testing(scope: Scope, backup) -> list[RestoreTesting]:
    """The restore testing plans and their selections in this scope (AWS Backup's own
    restore tests; none on a sandbox that does not implement them)."""
    plans = _call(
        scope,
        BackupScope(scope.account, scope.region),  # not a gap in backup plan coverage
        "ListRestoreTestingPlans",
        lambda: list(paginate(backup, "list_restore_testing_plans", "RestoreTestingPlans")),
    )
    out: list[RestoreTesting] = []
    for listed in plans or []:
        name = listed["RestoreTestingPlanName"]
        plan = backup.get_restore_testing_plan(RestoreTestingPlanName=name)["RestoreTestingPlan"]
        pick = plan.get("RecoveryPointSelection") or {}
        schedule = plan.get("ScheduleExpression") or "cron(0 5 ? * * *)"
        for item in paginate(
            backup,
            "list_restore_testing_selections",
            "RestoreTestingSelections",
            RestoreTestingPlanName=name,
        ):
            sel = backup.get_restore_testing_selection(
                RestoreTestingPlanName=name,
                RestoreTestingSelectionName=item["RestoreTestingSelectionName"],
            )["RestoreTestingSelection"]
            out.append(
                RestoreTesting(
                    plan=name,
                    selection=sel["RestoreTestingSelectionName"],
                    resource_type=sel.get("ProtectedResourceType", ""),
                    arns=sel.get("ProtectedResourceArns") or [],
                    conditions=sel.get("ProtectedResourceConditions") or {},
                    schedule=schedule,
                    every=schedule_interval(schedule),
                    validation_window_hours=sel.get("ValidationWindowHours"),
                    include_vaults=pick.get("IncludeVaults") or [],
                    exclude_vaults=pick.get("ExcludeVaults") or [],
                    selection_window_days=int(pick.get("SelectionWindowDays") or 30),
                    algorithm=pick.get("Algorithm", ""),
                    point_types=pick.get("RecoveryPointTypes") or [],
                )
            )
    return out


def backup_resource_type(service: str) -> str:
    """AWS Backup's resource type name for a service's resources ("" where AWS Backup does
    not restore it): its restore handler's ``backup_resource_type``."""
    from runbook_lib.restore.registry import loaded

    handler = loaded().get(service)
    return handler.backup_resource_type if handler is not None else ""
