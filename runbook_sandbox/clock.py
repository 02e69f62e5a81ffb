"""The sandbox clock: move the sandbox's time forward and do what AWS would have done.

moto never acts on its own: no AWS Backup plan fires, no lifecycle deletes, no DynamoDB
point-in-time window moves. ``advance("36h")`` moves the time of the process that runs
the sandbox (``time_machine``: every ``datetime.now`` / ``time.time`` in moto and the
extension reads it) and, in order of their due times within the interval:

- AWS Backup plan rules fire by their ``ScheduleExpression`` (``cron(...)`` in the rule's
  ``ScheduleExpressionTimezone``, or ``rate(N unit)`` counted from the plan's creation):
  one backup job per selected resource, started through the extension's own
  ``run_backup_plan`` (so data really moves, as with ``start_backup_job``) with the rule's
  start window, lifecycle and copy actions; the copies land in the destination vault;
- recovery point lifecycles: ``MoveToColdStorageAfterDays`` sets the storage class to
  COLD (for the resource types AWS can tier: see ``COLD_STORAGE_TYPES``);
  ``DeleteAfterDays`` deletes the point, except while a Vault Lock's ``MinRetentionDays``
  still holds it (then it goes when the minimum has passed);
- RDS and Aurora/Neptune automated snapshots: one a day at the start of the instance's or
  cluster's ``PreferredBackupWindow`` (moto's own ``create_auto_snapshot``), and automated
  snapshots older than ``BackupRetentionPeriod`` days are deleted;
- EventBridge Scheduler schedules whose target is the universal
  ``aws-sdk:cloudwatchlogs:createExportTask`` (the scheduled log exports protect creates)
  run that export (moto's ``create_export_task`` writes the objects);
- AWS Backup restore testing plans run by their ``ScheduleExpression`` (restore jobs with
  ``CreatedBy.RestoreTestingPlanArn``), and a restore testing job's restored resource is
  deleted when its ``ValidationWindowHours`` end (``backup_ext.restore_testing``);
- Data Lifecycle Manager snapshot policies that target volumes snapshot them on their
  schedules and delete what their retention no longer keeps (``dlm_ext.runs``);
- at the end, each DynamoDB table with point-in-time recovery gets its restorable window
  moved: ``LatestRestorableDateTime`` = now - 5 minutes, ``EarliestRestorableDateTime`` =
  no earlier than now - ``RecoveryPeriodInDays`` (moto stamps both once, when PITR is
  enabled, and never moves them).

Each of these is one :class:`ClockEvent` in the list ``advance`` returns. Time keeps
flowing from the advanced point. Between advances nothing fires on its own: what fell due
in real time since the last advance is not caught up.

In-process (``endpoint_url=None``: the sandbox runs in this interpreter) or against a
sandbox server in another process through ``POST /moto-api/sandbox/clock/advance``
``{"duration": "36h"}`` and ``GET /moto-api/sandbox/clock``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from croniter import croniter

from runbook_lib.errors import SandboxError

__all__ = [
    "ClockError",
    "ClockEvent",
    "Advance",
    "advance",
    "now",
    "parse_duration",
]

#: AWS Backup resource types whose recovery points AWS moves to cold storage.
COLD_STORAGE_TYPES = frozenset({"DynamoDB", "EFS"})
#: The longest single advance (longer: call advance several times).
MAX_ADVANCE = dt.timedelta(days=366)
DEFAULT_RULE_SCHEDULE = "cron(0 5 ? * * *)"  # AWS Backup: a rule without one runs daily
PITR_LAG = dt.timedelta(minutes=5)  # AWS: LatestRestorableDateTime is about 5 minutes old
EXPORT_TARGET = ":aws-sdk:cloudwatchlogs:createexporttask"
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_PART = re.compile(r"(\d+)([wdhms])")
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)", re.IGNORECASE)
_CRON = re.compile(r"cron\((.*)\)", re.IGNORECASE | re.DOTALL)
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", re.IGNORECASE)
ALLOWED = (
    "a positive duration such as 36h, 2d, 90m, 1w or 1d12h (units w, d, h, m, s; "
    f"at most {MAX_ADVANCE.days} days)"
)


class ClockError(SandboxError, ValueError):
    """A duration the clock cannot move by (the message names it and what is allowed)."""


@dataclass(frozen=True, kw_only=True)
class ClockEvent:
    """One thing the sandbox did as AWS would have, at sandbox time ``at``."""

    at: dt.datetime
    kind: str  # backup | copy | lifecycle_cold | lifecycle_delete | lifecycle_held | ...
    account: str
    region: str
    resource_arn: str  # what it was done for
    source: str  # what made it happen: plan/rule, schedule, vault, instance
    result: str = ""  # what it made: recovery point ARN, snapshot id, export task id
    state: str = "COMPLETED"
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClockEvent:
        return cls(**{**data, "at": dt.datetime.fromisoformat(data["at"])})


@dataclass(frozen=True, kw_only=True)
class Advance:
    """What one advance did: the sandbox time before and after, and the events."""

    start: dt.datetime
    end: dt.datetime
    events: list[ClockEvent] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[ClockEvent]:
        return [e for e in self.events if e.kind == kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "events": [e.as_json() for e in self.events],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Advance:
        return cls(
            start=dt.datetime.fromisoformat(data["start"]),
            end=dt.datetime.fromisoformat(data["end"]),
            events=[ClockEvent.from_json(e) for e in data["events"]],
        )


# ----------------------------------------------------------------- public API


def parse_duration(duration: str | dt.timedelta) -> dt.timedelta:
    """``36h``, ``2d``, ``1d12h``, ``90m``, ``1w`` or a timedelta; ClockError otherwise."""
    if isinstance(duration, dt.timedelta):
        delta = duration
    elif isinstance(duration, str):
        text = duration.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ClockError(f"duration {duration!r} is not {ALLOWED}")
        delta = sum((dt.timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), dt.timedelta())
    else:
        raise ClockError(f"duration {duration!r} ({type(duration).__name__}) is not {ALLOWED}")
    if delta <= dt.timedelta(0) or delta > MAX_ADVANCE:
        raise ClockError(f"duration {duration!r} is {delta}; it must be {ALLOWED}")
    return delta


def advance(duration: str | dt.timedelta, *, endpoint_url: str | None = None) -> Advance:
    """Move the sandbox's time forward by ``duration`` and do what AWS would have done
    in that time; returns the events. The duration is checked before anything moves."""
    delta = parse_duration(duration)
    if endpoint_url:
        body = {"duration": f"{int(delta.total_seconds())}s"}
        return Advance.from_json(_call(endpoint_url, "/moto-api/sandbox/clock/advance", body))
    return _advance(delta)


def now(*, endpoint_url: str | None = None) -> dt.datetime:
    """The sandbox's current time (UTC)."""
    if endpoint_url:
        return dt.datetime.fromisoformat(_call(endpoint_url, "/moto-api/sandbox/clock")["now"])
    return _now()


# ------------------------------------------------------------- the clock itself

_lock = threading.RLock()
_traveller: Any = None  # time_machine's traveller once the clock has moved


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def real_now() -> dt.datetime:
    """Wall-clock time, whatever the sandbox clock says."""
    if not time_machine.escape_hatch.is_travelling():
        return _now()
    return time_machine.escape_hatch.datetime.datetime.now(dt.UTC)


def move_to(when: dt.datetime) -> None:
    """Set the sandbox time to ``when`` (never backwards); it keeps ticking from there."""
    global _traveller
    with _lock:
        when = max(when, _now())
        if _traveller is None:
            _traveller = time_machine.travel(when, tick=True).start()
        else:
            _traveller.move_to(when)


def offset() -> dt.timedelta:
    """How far the sandbox clock is ahead of the wall clock."""
    return _now() - real_now()


def _advance(delta: dt.timedelta) -> Advance:
    from runbook_sandbox.backup_ext import jobs

    with _lock:
        start = _now()
        end = start + delta
        events: list[ClockEvent] = []
        events += _lifecycle(start)  # what was already due when the advance began
        cursor, unreadable = start, {}
        while True:
            due = [(when, fire) for when, fire in _timers(cursor, unreadable) if when <= end]
            if not due:
                break
            when = min(w for w, _ in due)
            move_to(when)
            for w, fire in due:
                if w == when:
                    events += fire(when)
            for account, region, _ in _backends("backup"):
                jobs.advance_all(account, region)
            events += _lifecycle(when)
            cursor = when
        move_to(end)
        events += _lifecycle(end)
        events += _pitr_windows(_now())
        for source, (account, region, why) in unreadable.items():
            events.append(
                _event("schedule_error", account, region, "", source, state="FAILED", detail=why)
            )
        return Advance(start=start, end=_now(), events=events)


Timer = tuple[dt.datetime, Callable[[dt.datetime], list[ClockEvent]]]


def _timers(after: dt.datetime, unreadable: dict[str, tuple[str, str, str]]) -> Iterator[Timer]:
    """Every next due time strictly after ``after``, with what to do then (schedules
    that cannot be read go to ``unreadable``: source -> (account, Region, why))."""
    yield from _plan_timers(after, unreadable)
    yield from _lifecycle_timers(after)
    yield from _rds_timers(after)
    yield from _export_timers(after, unreadable)
    from runbook_sandbox.backup_ext import restore_testing  # plans' runs, validation windows

    yield from restore_testing.clock_timers(after, unreadable)
    from runbook_sandbox.dlm_ext import runs as dlm_runs  # DLM snapshot policies

    yield from dlm_runs.clock_timers(after, unreadable)


def _backends(service: str) -> list[tuple[str, str, Any]]:
    from moto.backends import get_backend

    return list(get_backend(service).iter_backends())  # type: ignore[arg-type]


# ------------------------------------------------------------------ schedules


def next_run(
    expression: str,
    after: dt.datetime,
    *,
    anchor: dt.datetime,
    timezone: str | None = None,
) -> dt.datetime | None:
    """The first run of an AWS schedule strictly after ``after``: ``cron(6 fields)`` (in
    ``timezone``), ``rate(N unit)`` counted from ``anchor``, or ``at(...)`` (once).
    None when it never runs again; ValueError naming the expression when unreadable."""
    text = (expression or "").strip()
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ValueError, KeyError) as err:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"schedule {expression!r}: unknown time zone {timezone!r}") from err
    m = _RATE.fullmatch(text)
    if m:
        step = dt.timedelta(**{f"{m.group(2).lower()}s": int(m.group(1))})
        if step <= dt.timedelta(0):
            raise ValueError(f"schedule {expression!r}: a rate must be at least 1")
        runs = max(0, (after - anchor) // step) + 1
        return anchor + runs * step
    m = _AT.fullmatch(text)
    if m:
        when = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=zone).astimezone(dt.UTC)
        return when if when > after else None
    m = _CRON.fullmatch(text)
    if not m or len(m.group(1).split()) != 6:
        raise ValueError(
            f"schedule {expression!r} is not cron(minutes hours day-of-month month "
            "day-of-week year), rate(N minute|hour|day) or at(yyyy-mm-ddThh:mm:ss)"
        )
    minute, hour, dom, month, dow, year = ("*" if f == "?" else f for f in m.group(1).split())
    fields = [minute, hour, dom, month, _croniter_weekdays(dow), "0", year]
    start = after.astimezone(zone)
    try:
        got = croniter(" ".join(fields), start).get_next(dt.datetime)
    except (ValueError, KeyError, TypeError) as err:  # croniter's errors
        raise ValueError(f"schedule {expression!r} cannot be read: {err}") from err
    return got.astimezone(dt.UTC)


def _croniter_weekdays(field: str) -> str:
    """AWS counts weekdays 1-7 from Sunday, croniter 0-6 (``6#3`` -> ``5#3``, ``6L`` ->
    ``L5``); names (MON-FRI) are the same in both."""
    shifted = re.sub(r"(?<![#\d])([1-7])(?!\d)", lambda m: str(int(m.group(1)) - 1), field)
    return re.sub(r"^(\d|[A-Za-z]{3})L$", r"L\1", shifted)


def _as_dt(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _as_dt(float(value))
        except ValueError:
            return _as_dt(dt.datetime.fromisoformat(value))
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def _event(kind: str, account: str, region: str, arn: str, source: str, **kw: Any) -> ClockEvent:
    return ClockEvent(
        at=_now(), kind=kind, account=account, region=region, resource_arn=arn, source=source, **kw
    )


# ------------------------------------------------------------ AWS Backup plans


def _plan_timers(after: dt.datetime, unreadable: dict) -> Iterator[Timer]:
    for account, region, be in _backends("backup"):
        for plan in list(be.plans.values()):
            if plan.deletion_date is not None:
                continue
            for rule in plan.backup_plan.get("Rules") or []:
                source = f"backup plan {plan.backup_plan_id} rule {rule.get('RuleName')}"
                try:
                    when = next_run(
                        rule.get("ScheduleExpression") or DEFAULT_RULE_SCHEDULE,
                        after,
                        anchor=_as_dt(plan.creation_date),
                        timezone=rule.get("ScheduleExpressionTimezone"),
                    )
                except ValueError as err:
                    unreadable[source] = (account, region, str(err))
                    continue
                if when is not None:
                    yield when, _fire_rule(account, region, plan.backup_plan_id, rule)


def _fire_rule(account: str, region: str, plan_id: str, rule: dict) -> Callable:
    def fire(when: dt.datetime) -> list[ClockEvent]:
        from runbook_sandbox.backup_ext import jobs, selections

        source = f"backup plan {plan_id} rule {rule['RuleName']}"
        window = rule.get("StartWindowMinutes") or 480
        expression = rule.get("ScheduleExpression") or DEFAULT_RULE_SCHEDULE
        out = []

        def refused(arn: str, err: Exception) -> None:  # AWS: the job fails to start
            why = f"{type(err).__name__}: {getattr(err, 'message', err)}"
            out.append(_event("backup", account, region, arn, source, state="FAILED", detail=why))

        started = selections.run_backup_plan(account, region, plan_id, rule["RuleName"], refused)
        for job_id in started:
            job = jobs.get_job("BACKUP", account, region, job_id)
            rp = job.fields.get("recovery_point_arn") if job.state == "COMPLETED" else None
            out.append(
                _event(
                    "backup",
                    account,
                    region,
                    job.resource_arn,
                    source,
                    result=rp or job_id,
                    state=job.state,
                    detail=(
                        f"scheduled {when:%Y-%m-%d %H:%M}Z ({expression}), "
                        f"start window {window} min; job {job_id}"
                        + (f": {job.status_message}" if job.status_message else "")
                    ),
                )
            )
            if rp:
                out += _copies(account, region, rp, source)
        return out

    return fire


def _copies(account: str, region: str, rp_arn: str, source: str) -> list[ClockEvent]:
    from runbook_sandbox.backup_ext.state import ext_state

    out = []
    for job in list(ext_state(account, region).copy_jobs.values()):
        if job.fields.get("source_recovery_point_arn") != rp_arn:
            continue
        job.advance()
        dest = job.fields["destination_vault_arn"]
        out.append(
            _event(
                "copy",
                account,
                dest.split(":")[3],
                job.resource_arn,
                source,
                result=job.fields.get("destination_recovery_point_arn") or job.job_id,
                state=job.state,
                detail=f"copy of {rp_arn} to {dest}; job {job.job_id}"
                + (f": {job.status_message}" if job.status_message else ""),
            )
        )
    return out


# ------------------------------------------------------------------ lifecycle


def _points() -> Iterator[Any]:
    from runbook_sandbox.backup_ext.state import ext_state

    for account, region, _ in _backends("backup"):
        yield from list(ext_state(account, region).recovery_points.values())


def _due(rp: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(when it moves to cold storage, when it may be deleted), None when never."""
    from runbook_sandbox.backup_ext import recovery_points

    lc = rp.calculated_lifecycle
    cold = lc.get("MoveToColdStorageAt")
    if rp.storage_class != "WARM" or rp.resource_type not in COLD_STORAGE_TYPES:
        cold = None
    delete = lc.get("DeleteAt")
    held = recovery_points.retained_until(rp)
    if delete is not None and held is not None:
        delete = max(delete, held)
    return cold, delete


def _lifecycle_timers(after: dt.datetime) -> Iterator[Timer]:
    """The next lifecycle transition after ``after`` (one timer: ``_lifecycle`` applies
    every transition due after each step, so only the earliest needs a stop)."""
    due = [w for rp in _points() for w in _due(rp) if w is not None and w > after]
    if due:
        yield min(due), lambda when: []


def _lifecycle(at: dt.datetime) -> list[ClockEvent]:
    """Apply every lifecycle transition due at ``at``."""
    from runbook_sandbox.backup_ext import recovery_points

    out = []
    for rp in _points():
        cold, delete = _due(rp)
        source = f"lifecycle of vault {rp.vault.backup_vault_name}"
        if delete is not None and delete <= at:
            recovery_points.remove(rp)
            out.append(
                _event(
                    "lifecycle_delete",
                    rp.account_id,
                    rp.region,
                    rp.resource_arn,
                    source,
                    result=rp.arn,
                    detail=f"deleted: due {delete:%Y-%m-%d %H:%M}Z ({rp.lifecycle})",
                )
            )
        elif cold is not None and cold <= at:
            rp.storage_class = "COLD"
            out.append(
                _event(
                    "lifecycle_cold",
                    rp.account_id,
                    rp.region,
                    rp.resource_arn,
                    source,
                    result=rp.arn,
                    detail=f"moved to cold storage: due {cold:%Y-%m-%d %H:%M}Z",
                )
            )
        elif _held_now(rp, at) and rp.arn not in _held_reported:
            _held_reported.add(rp.arn)
            held = recovery_points.retained_until(rp)
            out.append(
                _event(
                    "lifecycle_held",
                    rp.account_id,
                    rp.region,
                    rp.resource_arn,
                    source,
                    result=rp.arn,
                    state="RETAINED",
                    detail=(
                        f"DeleteAfterDays passed but the Vault Lock (MinRetentionDays="
                        f"{rp.vault.min_retention_days}) keeps it until {held:%Y-%m-%d %H:%M}Z"
                    ),
                )
            )
    return out


_held_reported: set[str] = set()


def _held_now(rp: Any, at: dt.datetime) -> bool:
    delete_at = rp.calculated_lifecycle.get("DeleteAt")
    return delete_at is not None and delete_at <= at


# ------------------------------------------------------------------------ RDS


def _window_start(window: str | None, after: dt.datetime) -> dt.datetime:
    """The first start of a daily ``hh:mm-hh:mm`` window strictly after ``after``."""
    hh, mm = (int(x) for x in (window or "00:00-00:30").split("-")[0].split(":"))
    when = after.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return when if when > after else when + dt.timedelta(days=1)


def _rds_timers(after: dt.datetime) -> Iterator[Timer]:
    for account, region, be in _backends("rds"):
        for kind, table in (("db", be.databases), ("cluster", be.clusters)):
            for ident, res in list(table.items()):
                if kind == "db" and getattr(res, "db_cluster_identifier", None):
                    continue  # a cluster member: the cluster's snapshot covers it
                if not (getattr(res, "backup_retention_period", 0) or 0):
                    continue
                when = _window_start(getattr(res, "preferred_backup_window", None), after)
                yield when, _rds_snapshot(account, region, kind, ident)


def _rds_snapshot(account: str, region: str, kind: str, ident: str) -> Callable:
    def fire(when: dt.datetime) -> list[ClockEvent]:
        from moto.rds.models import rds_backends

        be = rds_backends[account][region]
        table, snaps, drop = (
            (be.databases, be.database_snapshots, be.delete_db_snapshot)
            if kind == "db"
            else (be.clusters, be.cluster_snapshots, be.delete_db_cluster_snapshot)
        )
        res = table.get(ident)
        if res is None:
            return []
        arn = res.arn if kind == "db" else res.db_cluster_arn
        source = f"automated backups of {ident}"
        snap_id = f"rds:{ident}-{when:%Y-%m-%d-%H-%M}"
        try:
            if kind == "db":
                be.create_auto_snapshot(ident, snap_id)
            else:
                be.create_auto_cluster_snapshot(ident, snap_id)
            out = [_event("rds_automated_snapshot", account, region, arn, source, result=snap_id)]
        except Exception as err:  # moto refused (e.g. the instance is stopped)
            detail = f"{type(err).__name__}: {getattr(err, 'message', err)}"
            out = [
                _event(
                    "rds_automated_snapshot",
                    account,
                    region,
                    arn,
                    source,
                    state="FAILED",
                    detail=detail,
                )
            ]
        keep = dt.timedelta(days=res.backup_retention_period)
        for sid, snap in list(snaps.items()):
            of = (
                snap.database.db_instance_identifier if kind == "db" else snap.db_cluster_identifier
            )
            if (
                snap.snapshot_type == "automated"
                and of == ident
                and _as_dt(snap.created) < when - keep
            ):
                drop(sid)  # moto's own delete (and whatever hooks it)
                detail = f"older than BackupRetentionPeriod={res.backup_retention_period} days"
                out.append(
                    _event(
                        "rds_snapshot_pruned",
                        account,
                        region,
                        arn,
                        source,
                        result=sid,
                        detail=detail,
                    )
                )
        return out

    return fire


# ---------------------------------------------------------- scheduled log exports


def _export_timers(after: dt.datetime, unreadable: dict) -> Iterator[Timer]:
    for account, region, be in _backends("scheduler"):
        for group in list(be.schedule_groups.values()):
            for sched in list(group.schedules.values()):
                if sched.state != "ENABLED":
                    continue
                if not str(sched.target.get("Arn", "")).lower().endswith(EXPORT_TARGET):
                    continue
                source = f"schedule {group.name}/{sched.name}"
                start = _as_dt(sched.start_date) if sched.start_date else None
                try:
                    when = next_run(
                        sched.schedule_expression,
                        max(after, start) if start and start > after else after,
                        anchor=start or _as_dt(sched.creation_date),
                        timezone=sched.schedule_expression_timezone,
                    )
                except ValueError as err:
                    unreadable[source] = (account, region, str(err))
                    continue
                if when is None or (sched.end_date and when > _as_dt(sched.end_date)):
                    continue
                yield when, _run_export(account, region, source, sched)


def _run_export(account: str, region: str, source: str, sched: Any) -> Callable:
    def fire(when: dt.datetime) -> list[ClockEvent]:
        import uuid

        from moto.logs.models import logs_backends

        try:
            inp = json.loads(sched.target.get("Input") or "{}")
        except ValueError:
            inp = {}
        group = str(inp.get("logGroupName", ""))
        arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
        execution = str(uuid.uuid4())
        try:
            task_id = logs_backends[account][region].create_export_task(
                taskName=str(inp.get("taskName") or sched.name),
                logGroupName=group,
                destination=str(inp.get("destination", "")),
                destinationPrefix=str(inp.get("destinationPrefix") or "exportedlogs").replace(
                    "<aws.scheduler.execution-id>", execution
                ),
                fromTime=int(inp.get("from", 0)),
                to=int(inp.get("to", 0)),
            )
        except Exception as err:  # moto refused: the bucket or log group is missing
            detail = f"{type(err).__name__}: {getattr(err, 'message', err)}"
            return [
                _event("logs_export", account, region, arn, source, state="FAILED", detail=detail)
            ]
        detail = f"export to s3://{inp.get('destination')}/ ({sched.schedule_expression})"
        return [_event("logs_export", account, region, arn, source, result=task_id, detail=detail)]

    return fire


# ------------------------------------------------------------------ DynamoDB PITR


def _pitr_windows(at: dt.datetime) -> list[ClockEvent]:
    out = []
    for account, region, be in _backends("dynamodb"):
        for table in list(be.tables.values()):
            desc = table.continuous_backups.get("PointInTimeRecoveryDescription") or {}
            if desc.get("PointInTimeRecoveryStatus") != "ENABLED":
                continue
            days = int(desc.get("RecoveryPeriodInDays") or 35)
            latest = at - PITR_LAG
            earliest = max(
                float(desc.get("EarliestRestorableDateTime") or 0),
                (at - dt.timedelta(days=days)).timestamp(),
            )
            earliest = min(earliest, latest.timestamp())
            desc["EarliestRestorableDateTime"] = earliest
            desc["LatestRestorableDateTime"] = latest.timestamp()
            out.append(
                _event(
                    "pitr_window",
                    account,
                    region,
                    table.table_arn,
                    f"point-in-time recovery of {table.name}",
                    detail=(
                        f"restorable {dt.datetime.fromtimestamp(earliest, dt.UTC):%Y-%m-%d %H:%M}Z"
                        f" .. {latest:%Y-%m-%d %H:%M}Z ({days} days kept)"
                    ),
                )
            )
    return out


# ------------------------------------------------------------------- routes


def _call(endpoint_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    from runbook_sandbox.backup_ext.faults import _post

    if body is not None:
        try:
            return _post(endpoint_url, path, body)
        except ValueError as err:
            raise ClockError(f"sandbox at {endpoint_url}: {err}") from None
    with urllib.request.urlopen(endpoint_url.rstrip("/") + path, timeout=30) as resp:
        return json.loads(resp.read().decode())


def _advance_route(body: dict[str, Any], method: str) -> dict[str, Any]:
    return _advance(parse_duration(body.get("duration"))).as_json()


def _now_route(body: dict[str, Any], method: str) -> dict[str, Any]:
    return {"now": _now().isoformat(), "offset_seconds": offset().total_seconds()}


def _routes() -> dict[str, Any]:
    from runbook_sandbox.backup_ext.faults import _route

    return {
        "{0}/moto-api/sandbox/clock$": _route(_now_route),
        "{0}/moto-api/sandbox/clock/advance$": _route(_advance_route),
    }


ROUTES = _routes()
