"""CloudWatch log groups: a subscription, a scheduled S3 export or an S3 export is their
backup.

A scheduled export is an EventBridge Scheduler schedule whose target is the universal
target ``aws-sdk:cloudwatchlogs:createExportTask`` with the log group in its Input (what
the protect runbook creates). The schedules are read once per (account, Region): one
paginated listing, then ``get_schedule`` only for those whose target is that export.

A scheduled export's copy Regions are those its destination bucket replicates to: per
(account, Region), one ``get_bucket_replication`` per distinct destination bucket of an
ENABLED schedule, and one ``get_bucket_location`` per distinct replication destination
bucket. A rule counts for a schedule when it is Enabled, filters on no tags and its prefix
is a prefix of the schedule's ``destinationPrefix``.

A finished export task is a recovery point dated where its data ends
(:func:`export_data_end`, shared with restore's finder), never when it was read.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib.errors import RunbookError
from runbook_lib.inventory.backup import schedule_interval
from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    NEVER,
    NOT_SUPPORTED,
    READ_ERRORS,
    Found,
    Protection,
    Scope,
    as_utc,
    error_code,
    paginate,
)
from runbook_lib.inventory.plugin import Service, TagSource, register
from runbook_lib.services.s3.inventory import bucket_region
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")
EXPORT_TARGET = ":aws-sdk:cloudwatchlogs:createexporttask"  # universal target, any partition
SCHEDULED = "logs scheduled export to s3"
STREAMED = "exported: events stream out as they arrive"


@dataclass(frozen=True)
class ExportSchedule:
    """One Scheduler schedule that exports one log group to S3."""

    group: str  # the schedule group
    name: str
    expression: str
    state: str  # ENABLED | DISABLED
    bucket: str
    prefix: str = ""
    end: datetime | None = None

    def copy_regions(self, replicas: dict[str, list[tuple[str, str]]], here: str) -> tuple:
        """The Regions other than ``here`` the bucket's replication rules copy this export to."""
        found = {
            region
            for prefix, region in replicas.get(self.bucket, [])
            if region and region != here and self.prefix.startswith(prefix)
        }
        return tuple(sorted(found))

    def protection(
        self, sandbox: bool, as_of: datetime, copy_regions: tuple[str, ...] = ()
    ) -> Protection:
        where = f"s3://{self.bucket}/{self.prefix}" if self.bucket else "s3 (no destination)"
        what = f"schedule {self.group}/{self.name}: {self.expression} -> {where}"
        interval = schedule_interval(self.expression)
        if self.state != "ENABLED":
            return Protection(mechanism=SCHEDULED, detail=f"{what}; {self.state}: exports nothing")
        if self.end and self.end <= as_of:
            return Protection(
                mechanism=SCHEDULED, detail=f"{what}; ended {self.end:%Y-%m-%d %H:%M}Z"
            )
        if interval is None:
            return Protection(
                mechanism=SCHEDULED,
                detail=f"{what}; not a recurring schedule: no RPO can be derived",
            )
        detail = f"scheduled export: {what}"
        if copy_regions:
            detail += f"; the bucket replicates it to {', '.join(copy_regions)}"
            if sandbox:
                detail += " (the sandbox stores the replication but never copies objects)"
        if sandbox:
            detail += (
                "; the sandbox runs schedules only when its clock is advanced "
                "(runbook sandbox advance), so the newest recovery point is the last "
                "finished export task"
            )
        return Protection(
            mechanism=SCHEDULED,
            rpo=interval,
            retention_days=None,
            copy_regions=copy_regions,
            detail=detail,
        )


@dataclass
class Extras:
    """The per-scope lookups: finished export tasks and export schedules by log group."""

    exports: dict[str, list[dict]] = field(default_factory=dict)
    schedules: dict[str, list[ExportSchedule]] = field(default_factory=dict)
    #: (what, exception) of lookups that failed; discovery turns them into errors rows
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    schedules_not_supported: str = ""  # on the sandbox: why schedules could not be read
    #: export bucket -> (rule prefix, destination Region) of its enabled replication rules
    replicas: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("logs"), "describe_log_groups", "logGroups"))


def _extras(scope: Scope) -> Extras:
    """Completed S3 export tasks (one paginated call) and export schedules per scope."""
    out = Extras()
    tasks = paginate(
        scope.client("logs"), "describe_export_tasks", "exportTasks", statusCode="COMPLETED"
    )
    now = utcnow()
    s3, sandbox = scope.client("s3"), scope.session.sandbox
    for t in tasks:
        until, basis = export_data_end(t, s3, sandbox, now)
        group = t.get("logGroupName", "")
        if until is None:  # never dated by the time we read it: not a recovery point
            out.errors.append(
                (f"{group}: export task {t.get('taskId', '?')}", ExportUndated(basis))
            )
            continue
        out.exports.setdefault(group, []).append({**t, "_until": until, "_until_basis": basis})
    try:
        for sched in _export_schedules(scope):
            out.schedules.setdefault(sched[0], []).append(sched[1])
    except READ_ERRORS as err:
        out.schedules.clear()
        if scope.session.sandbox and is_not_supported(err):
            out.schedules_not_supported = f"the sandbox cannot list Scheduler schedules ({err})"
        why = "not offered here" if is_not_supported(err) else error_code(err) or "failed"
        log.warning(
            "inventory: logs: scheduler schedules in %s/%s unreadable (%s): %s",
            scope.account,
            scope.region,
            why,
            err,
        )
        out.errors.append(("scheduler schedules (scheduled log exports)", err))
    buckets = sorted(
        {s.bucket for g in out.schedules.values() for s in g if s.bucket and s.state == "ENABLED"}
    )
    _read_replicas(scope, buckets, out)
    return out


def _rule_prefix(rule: dict) -> str | None:
    """The key prefix a replication rule copies; None when it filters on tags (export
    objects carry none)."""
    filt = rule.get("Filter")
    if filt is None:
        return rule.get("Prefix", "")
    if "Tag" in filt or (filt.get("And") or {}).get("Tags"):
        return None
    return filt.get("Prefix", (filt.get("And") or {}).get("Prefix", ""))


def _read_replicas(scope: Scope, buckets: list[str], out: Extras) -> None:
    """Per export bucket: (prefix, Region) of its Enabled replication rules. One
    get_bucket_replication per bucket, one get_bucket_location per destination bucket."""
    s3 = scope.client("s3")
    regions: dict[str, str] = {}
    for bucket in buckets:
        try:
            rules = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"]
        except ClientError as err:
            if error_code(err) not in ("ReplicationConfigurationNotFoundError", "NoSuchBucket"):
                out.errors.append((f"replication of log export bucket {bucket}", err))
            continue
        except READ_ERRORS as err:
            out.errors.append((f"replication of log export bucket {bucket}", err))
            continue
        for rule in rules:
            prefix = _rule_prefix(rule)
            if rule.get("Status") != "Enabled" or prefix is None:
                continue
            dest = (rule.get("Destination") or {}).get("Bucket", "").split(":::")[-1]
            if dest and dest not in regions:
                try:
                    regions[dest] = bucket_region(s3, dest)
                except READ_ERRORS as err:
                    out.errors.append((f"location of replica bucket {dest}", err))
                    regions[dest] = ""
            if dest and regions[dest]:
                out.replicas.setdefault(bucket, []).append((prefix, regions[dest]))


def _export_schedules(scope: Scope) -> list[tuple[str, ExportSchedule]]:
    """(log group, schedule) for every schedule whose target is a log export."""
    sched = scope.client("scheduler")
    candidates = [
        s
        for s in paginate(sched, "list_schedules", "Schedules")
        if "Target" not in s or s["Target"].get("Arn", "").lower().endswith(EXPORT_TARGET)
    ]

    def get(summary: dict) -> tuple[str, ExportSchedule] | None:
        try:
            got = sched.get_schedule(
                Name=summary["Name"], GroupName=summary.get("GroupName") or "default"
            )
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":  # deleted since listed
                return None
            raise
        target = got.get("Target") or {}
        if not target.get("Arn", "").lower().endswith(EXPORT_TARGET):
            return None
        try:
            inp = json.loads(target.get("Input") or "{}")
        except ValueError:
            inp = {}
        group = inp.get("logGroupName") if isinstance(inp, dict) else None
        if not group:
            log.info("inventory: logs: schedule %s names no logGroupName", summary["Name"])
            return None
        end = got.get("EndDate")
        return group, ExportSchedule(
            got.get("GroupName") or summary.get("GroupName") or "default",
            got["Name"],
            got.get("ScheduleExpression", ""),
            got.get("State", summary.get("State", "")),
            str(inp.get("destination") or ""),
            str(inp.get("destinationPrefix") or ""),
            as_utc(end) if end else None,
        )

    if len(candidates) <= 1:
        found = [get(c) for c in candidates]
    else:
        workers = min(len(candidates), scope.params.target.max_workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="schedules") as pool:
            found = list(pool.map(get, candidates))
    return [f for f in found if f is not None]


class ExportUndated(RunbookError):
    """A finished export task whose data end cannot be told (see :func:`export_data_end`)."""


def _written(task: dict, s3: Any, sandbox: bool) -> tuple[list[datetime], str]:
    """When the objects of one export task were written, and where they were looked for.

    AWS writes ``<prefix>/<taskId>/<stream>/...``; moto writes ``<prefix>/<random>/<stream>/``,
    so on the sandbox every object under the prefix counts (a later export to the same prefix
    would date this one later). The permission-check object ``aws-logs-write-test`` is not an
    export."""
    prefix = (task.get("destinationPrefix") or "exportedlogs").strip("/")
    where = f"{prefix}/" if sandbox else f"{prefix}/{task.get('taskId', '')}/"
    try:
        objects = paginate(
            s3, "list_objects_v2", "Contents", Bucket=task["destination"], Prefix=where
        )
        return [
            as_utc(o["LastModified"])
            for o in objects
            if not o["Key"].endswith("aws-logs-write-test")
        ], f"s3://{task['destination']}/{where}"
    except (ClientError, BotoCoreError, KeyError) as err:
        return [], f"s3://{task.get('destination')}/{where} unreadable ({type(err).__name__})"


def export_data_end(
    task: dict, s3: Any, sandbox: bool, now: datetime
) -> tuple[datetime | None, str]:
    """When the data a finished export task holds ends, and what told it; ``(None, why)``
    when nothing can. Never the time of reading.

    An export holds the events from ``from`` to ``to`` (ms since epoch) that existed when it
    ran: its data ends at ``to``, or when it ran if ``to`` lies later (protect exports up to
    2100). When it ran: ``executionInfo.completionTime`` (else ``creationTime``); without
    ``executionInfo`` (moto), the newest object it wrote (one paginated listing). With none
    of these, ``to`` only if it has passed: a task that finished before we read it cannot
    hold events from after that."""
    to = as_utc(task["to"])
    info = task.get("executionInfo") or {}
    for key in ("completionTime", "creationTime"):
        if info.get(key) is not None:
            ran = as_utc(info[key])
            return (to, "to") if to <= ran else (ran, f"executionInfo.{key} (to lies later)")
    written, where = _written(task, s3, sandbox)
    if written:
        newest = max(written)
        if to <= newest:
            return to, "to"
        return newest, f"newest object it wrote under {where} (no executionInfo; to lies later)"
    if to <= now:
        return to, "to"
    return None, (
        f"export task {task.get('taskId', '?')}: to is {to:%Y-%m-%d}, after now; no "
        f"executionInfo, and no object under {where}: when its data ends cannot be told, so "
        "it is not counted as a recovery point (check the export's objects by hand)"
    )


def _tags(scope: Scope, arn: str, _group: dict) -> dict[str, str]:
    """One log group's tags (where the tagging API's batch is not used)."""
    return scope.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {})


def _describe(scope: Scope, group: dict, extras: Extras) -> Found:
    logs = scope.client("logs")
    name = group["logGroupName"]
    arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
    row = scope.row(
        "logs",
        "logs:log-group",
        arn,
        name,
        size_bytes=group.get("storedBytes"),
        encrypted=True,  # always encrypted; kmsKeyId only when a customer key is associated
        kms_key=group.get("kmsKeyId"),
        created=group.get("creationTime"),
    )
    kept = float(group["retentionInDays"]) if group.get("retentionInDays") else NEVER
    row["log_retention_days"] = kept  # the setting the audit judges (inf: never expire)
    protections = [
        Protection(
            mechanism="logs retention",
            rpo=None,
            retention_days=kept,
            detail="events are kept " + (f"{kept:g} days" if kept != NEVER else "forever"),
        )
    ]
    # the one per-group call: the API lists a log group's subscription filters only by group
    subs = paginate(logs, "describe_subscription_filters", "subscriptionFilters", logGroupName=name)
    protections += [
        Protection(mechanism=f"logs subscription to {to}", rpo=CONTINUOUS_RPO, detail=STREAMED)
        for to in (sub.get("destinationArn", "?") for sub in subs)
    ]
    now = utcnow()
    scheduled = [
        s.protection(scope.session.sandbox, now, s.copy_regions(extras.replicas, scope.region))
        for s in extras.schedules.get(name, [])
    ]
    protections += scheduled
    if extras.schedules_not_supported:
        protections.append(
            Protection(
                mechanism=SCHEDULED, status=NOT_SUPPORTED, detail=extras.schedules_not_supported
            )
        )
    points = [
        scope.point(
            arn,
            "logs export to s3",
            task["_until"],
            f"s3://{task.get('destination')}/{task.get('destinationPrefix', '')}",
        )
        for task in extras.exports.get(name, [])
    ]
    if points:
        more = (
            "a schedule exports more"
            if any(p.protects for p in scheduled)
            else "nothing schedules more"
        )
        protections.append(
            Protection(
                mechanism="logs export to s3",
                rpo=None,
                retention_days=None,
                detail=f"exported: {len(points)} finished export task(s); {more}",
            )
        )
    return Found(row=row, protections=protections, recovery_points=points)


# every CloudWatch Logs type (log groups, and the few destinations and deliveries an
# account has), matched by ARN; moto answers only this service-wide filter for log groups
# (it names their type logs:loggroup, AWS logs:log-group)
TAGS = TagSource(types=("logs",), read=_tags)
FIXES = {
    "resource_backed_up_or_reproducible": "scheduled export to S3",
    "backup_frequency_meets_rpo": "scheduled export to S3",
    "cross_region_copy": "replication of logs/{tier}/ to DR Region",
    "cross_account_copy": "manual: protect plans no copy of the log exports to account {account}",
}
register(Service("logs", list=_list, extras=_extras, describe=_describe, tags=TAGS, fixes=FIXES))
