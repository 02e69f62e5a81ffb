"""DLM snapshot policies run on the sandbox clock (``runbook_sandbox.clock.advance``).

What runs: ENABLED ``EBS_SNAPSHOT_MANAGEMENT`` policies that target volumes, that is custom
policies with ``ResourceTypes: [VOLUME]`` (volumes carrying any of the ``TargetTags``) and
default policies for ``VOLUME`` (every volume of the Region not excluded by tag or volume
type). Each schedule fires at its due times: an ``Interval`` of N hours from its ``Times``
(or from the policy's creation when none is given), a ``CronExpression``, or a default
policy's ``CreateInterval`` days from its creation. A run snapshots each targeted volume
with moto's EC2 backend, tags the snapshot as AWS does (``aws:dlm:lifecycle-policy-id``,
``aws:dlm:lifecycle-schedule-name``, plus the schedule's ``TagsToAdd`` and, with
``CopyTags``, the volume's tags), then applies the retention (``RetainRule`` Count or age;
a default policy's ``RetainInterval`` days) to that policy's and schedule's snapshots.

Not run: policies targeting instances, AMI and event-based policies, cross-Region and
cross-account copy rules, fast snapshot restore, archiving, deprecation and sharing.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from typing import Any

from moto.backends import get_backend

from .models import LifecyclePolicy

POLICY_TAG = "aws:dlm:lifecycle-policy-id"
SCHEDULE_TAG = "aws:dlm:lifecycle-schedule-name"
_UNIT = {"DAYS": 1, "WEEKS": 7, "MONTHS": 30, "YEARS": 365}  # an age, in days
Fire = Callable[[dt.datetime], list[Any]]


def clock_timers(
    after: dt.datetime, unreadable: dict[str, tuple[str, str, str]]
) -> Iterator[tuple[dt.datetime, Fire]]:
    """For ``runbook_sandbox.clock``: each runnable schedule's next run after ``after``."""
    if "moto.dlm" not in sys.modules:  # the extension is not installed: nothing to run
        return
    for account, region, be in list(get_backend("dlm").iter_backends()):  # type: ignore[arg-type]
        for policy in list(be.policies.values()):
            for name, sched in _schedules(policy):
                try:
                    when = _next(policy, sched, after)
                except ValueError as err:
                    unreadable[f"dlm policy {policy.id} / {name}"] = (account, region, str(err))
                    continue
                if when is not None:
                    yield when, _fire(account, region, policy.id, name)
                age = _age(policy, sched)
                if age is None:
                    continue
                for snap in _snapshots(account, region, policy.id, name):
                    due = _aware(snap.start_time) + age
                    if due > after:  # earlier ones go at the schedule's next run
                        yield due, _expire(account, region, policy.id, name, snap.id)


def _schedules(policy: LifecyclePolicy) -> list[tuple[str, dict[str, Any]]]:
    """(name, schedule) of a policy that snapshots volumes; none otherwise."""
    if policy.state != "ENABLED" or policy.policy_type != "EBS_SNAPSHOT_MANAGEMENT":
        return []
    d = policy.details
    if policy.default:
        return [("default", {"CreateInterval": d["CreateInterval"]})]
    if d.get("ResourceTypes") != ["VOLUME"]:
        return []
    return [(s.get("Name", f"schedule {i}"), s) for i, s in enumerate(d.get("Schedules") or [])]


def _next(policy: LifecyclePolicy, sched: dict[str, Any], after: dt.datetime) -> dt.datetime | None:
    from runbook_sandbox.clock import next_run

    created = policy.created.replace(tzinfo=policy.created.tzinfo or dt.UTC)
    if "CreateInterval" in sched:
        every, anchor = dt.timedelta(days=sched["CreateInterval"]), created
    else:
        rule = sched["CreateRule"]
        if rule.get("CronExpression"):
            return next_run(rule["CronExpression"], after, anchor=created)
        every = dt.timedelta(hours=rule["Interval"])
        anchor = created
        if rule.get("Times"):
            hh, mm = map(int, rule["Times"][0].split(":"))
            anchor = created.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if anchor <= created:  # the first run is the first due time after the policy exists
        anchor += every * ((created - anchor) // every + 1)
    if anchor > after:
        return anchor
    return anchor + every * ((after - anchor) // every + 1)


def _fire(account: str, region: str, policy_id: str, name: str) -> Fire:
    def fire(when: dt.datetime) -> list[Any]:
        from moto.ec2.models import ec2_backends

        from runbook_sandbox.clock import _event

        policy = get_backend("dlm")[account][region].policies.get(policy_id)  # type: ignore[arg-type]
        sched = dict(_schedules(policy)).get(name) if policy else None
        if sched is None:  # deleted, disabled or changed since the timer was read
            return []
        ec2 = ec2_backends[account][region]
        source = f"dlm policy {policy_id} / schedule {name}"
        events = []
        for vol in list(ec2.volumes.values()):
            tags = {t["key"]: t["value"] for t in vol.get_tags()}
            if not _targets(policy, tags, vol):
                continue
            snap = ec2.create_snapshot(vol.id, f"Created for policy: {policy_id} schedule: {name}")
            add = {POLICY_TAG: policy_id, SCHEDULE_TAG: name}
            add.update({t["Key"]: t.get("Value", "") for t in sched.get("TagsToAdd") or []})
            if sched.get("CopyTags") or (policy.default and policy.details.get("CopyTags")):
                add = {**{k: v for k, v in tags.items() if not k.startswith("aws:")}, **add}
            ec2.create_tags([snap.id], add)
            arn = f"arn:aws:ec2:{region}:{account}:volume/{vol.id}"
            events.append(_event("dlm_snapshot", account, region, arn, source, result=snap.id))
        events += _retain(ec2, policy, name, sched, when, account, region, source)
        return events

    return fire


def _targets(policy: LifecyclePolicy, tags: dict[str, str], vol: Any) -> bool:
    d = policy.details
    if policy.default:
        excl = d.get("Exclusions") or {}
        if vol.volume_type in (excl.get("ExcludeVolumeTypes") or []):
            return False
        return not any(tags.get(t["Key"]) == t.get("Value") for t in excl.get("ExcludeTags") or [])
    return any(tags.get(t["Key"]) == t.get("Value", "") for t in d.get("TargetTags") or [])


def _age(policy: LifecyclePolicy, sched: dict[str, Any]) -> dt.timedelta | None:
    """How long an age-based retention keeps a snapshot (None: kept by count)."""
    if policy.default:
        return dt.timedelta(days=policy.details["RetainInterval"])
    rule = sched.get("RetainRule") or {}
    if rule.get("Count"):
        return None
    return dt.timedelta(days=rule["Interval"] * _UNIT[rule["IntervalUnit"]])


def _snapshots(account: str, region: str, policy_id: str, name: str) -> list[Any]:
    """The snapshots one schedule of one policy made (by their DLM tags), oldest first."""
    from moto.ec2.models import ec2_backends

    mine = []
    for snap in list(ec2_backends[account][region].snapshots.values()):
        tags = {t["key"]: t["value"] for t in snap.get_tags()}
        if tags.get(POLICY_TAG) == policy_id and tags.get(SCHEDULE_TAG) == name:
            mine.append(snap)
    return sorted(mine, key=lambda s: s.start_time)


def _retain(ec2, policy, name, sched, when, account, region, source) -> list[Any]:
    """Delete this schedule's snapshots beyond its retention; the events saying so."""
    mine = _snapshots(account, region, policy.id, name)
    age = _age(policy, sched)
    if age is None:
        by_volume: dict[str, list[Any]] = {}
        for snap in mine:
            by_volume.setdefault(snap.volume.id, []).append(snap)
        count = sched["RetainRule"]["Count"]
        gone = [s for snaps in by_volume.values() for s in snaps[:-count]]
    else:
        gone = [s for s in mine if _aware(s.start_time) + age <= when]
    return [_delete(ec2, snap, account, region, source) for snap in gone]


def _delete(ec2, snap, account: str, region: str, source: str) -> Any:
    from runbook_sandbox.clock import _event

    ec2.delete_snapshot(snap.id)
    arn = f"arn:aws:ec2:{region}:{account}:volume/{snap.volume.id}"
    return _event("dlm_delete", account, region, arn, source, result=snap.id)


def _expire(account: str, region: str, policy_id: str, name: str, snapshot_id: str) -> Fire:
    def fire(when: dt.datetime) -> list[Any]:
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[account][region]
        snap = ec2.snapshots.get(snapshot_id)
        if snap is None:
            return []
        return [_delete(ec2, snap, account, region, f"dlm policy {policy_id} / schedule {name}")]

    return fire


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
