"""Amazon Data Lifecycle Manager (DLM): snapshot policies as protection for EBS volumes.

A policy of type ``EBS_SNAPSHOT_MANAGEMENT`` in state ``ENABLED`` snapshots the volumes it
targets on each of its schedules: volumes carrying any of its ``TargetTags`` (resource type
``VOLUME``), every volume attached to an instance carrying one (``INSTANCE``), or, for a
default policy (``PolicyLanguage=SIMPLIFIED``), every volume of the Region except those its
``Exclusions`` name. Each schedule gives a :class:`Protection`: the RPO is the longest gap
between two snapshots (``Interval`` hours, or the ``CronExpression`` read as AWS Backup's),
the retention is the ``RetainRule`` (an age, or a count times the interval), and the
cross-Region copy rules are copies in those Regions.

Read with one GetLifecyclePolicies per (account, Region) and one GetLifecyclePolicy per
enabled snapshot policy (the summaries carry no schedules), the same way on AWS and on
any endpoint that answers the DLM API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from runbook_lib.inventory.backup import schedule_interval
from runbook_lib.inventory.model import Protection, tag_dict

SNAPSHOT_POLICY = "EBS_SNAPSHOT_MANAGEMENT"
MECHANISM = "dlm policy"
_UNIT_DAYS = {"DAYS": 1, "WEEKS": 7, "MONTHS": 30, "YEARS": 365}


@dataclass(frozen=True)
class Schedule:
    """One schedule of one DLM snapshot policy, and what it targets."""

    policy_id: str
    name: str
    resource_types: tuple[str, ...]  # VOLUME, INSTANCE
    target_tags: tuple[tuple[str, str], ...]  # any one of them targets a resource
    rpo: timedelta | None  # None: the schedule could not be read (said in ``detail``)
    retention_days: float | None
    copy_regions: tuple[str, ...] = ()
    default: bool = False  # a default policy: every volume of the Region, less exclusions
    exclude_tags: tuple[tuple[str, str], ...] = ()
    exclude_volume_types: tuple[str, ...] = ()
    detail: str = ""

    def targets(self, volume: dict, instance_tags: dict[str, dict[str, str]]) -> bool:
        """Whether this schedule snapshots ``volume`` (a DescribeVolumes item);
        ``instance_tags``: instance id -> tags, for instance-targeting policies."""
        tags = tag_dict(volume.get("Tags"))
        if self.default:
            if "VOLUME" not in self.resource_types:
                return False
            excluded = any(tags.get(k) == v for k, v in self.exclude_tags)
            return not excluded and volume.get("VolumeType") not in self.exclude_volume_types
        if "VOLUME" in self.resource_types and any(tags.get(k) == v for k, v in self.target_tags):
            return True
        if "INSTANCE" in self.resource_types:
            for att in volume.get("Attachments") or []:
                itags = instance_tags.get(att.get("InstanceId", ""), {})
                if any(itags.get(k) == v for k, v in self.target_tags):
                    return True
        return False

    def protection(self) -> Protection:
        return Protection(
            mechanism=f"{MECHANISM} {self.policy_id} / schedule {self.name}",
            rpo=self.rpo,
            retention_days=self.retention_days,
            copy_regions=self.copy_regions,
            detail=self.detail,
        )


def _retention(rule: dict | None, every: timedelta | None) -> float | None:
    """Days a snapshot is kept: an age rule, or a count of snapshots ``every`` apart."""
    rule = rule or {}
    if rule.get("Interval") and rule.get("IntervalUnit") in _UNIT_DAYS:
        return float(rule["Interval"] * _UNIT_DAYS[rule["IntervalUnit"]])
    if rule.get("Count") and every:
        return rule["Count"] * every.total_seconds() / 86400
    return None


def _every(create: dict) -> tuple[timedelta | None, str]:
    """(longest gap between two snapshots, why unknown) of a CreateRule."""
    if create.get("CronExpression"):
        every = schedule_interval(create["CronExpression"])
        return every, "" if every else f"schedule {create['CronExpression']!r} cannot be read"
    if create.get("Interval") and create.get("IntervalUnit", "HOURS") == "HOURS":
        return timedelta(hours=create["Interval"]), ""
    return None, f"create rule {create} names no interval"


def schedules(policy: dict) -> list[Schedule]:
    """The schedules of one GetLifecyclePolicy ``Policy`` (none unless it is an enabled
    EBS snapshot policy)."""
    details = policy.get("PolicyDetails") or {}
    if policy.get("State") != "ENABLED":
        return []
    pid = policy.get("PolicyId", "")
    if details.get("PolicyLanguage") == "SIMPLIFIED":  # a default policy
        every = timedelta(days=details.get("CreateInterval") or 1)
        excl = details.get("Exclusions") or {}
        kind = details.get("ResourceType") or "VOLUME"
        return [
            Schedule(
                policy_id=pid,
                name="default",
                resource_types=(kind,),
                target_tags=(),
                rpo=every,
                retention_days=float(details.get("RetainInterval") or 7),
                copy_regions=tuple(
                    t["TargetRegion"]
                    for t in details.get("CrossRegionCopyTargets") or []
                    if t.get("TargetRegion")
                ),
                default=True,
                exclude_tags=tuple(
                    (t["Key"], t.get("Value", "")) for t in excl.get("ExcludeTags") or []
                ),
                exclude_volume_types=tuple(excl.get("ExcludeVolumeTypes") or ()),
                detail="default policy: every volume of the Region not excluded"
                + (
                    "; boot volumes excluded (not told apart here)"
                    if excl.get("ExcludeBootVolumes")
                    else ""
                ),
            )
        ]
    if details.get("PolicyType", SNAPSHOT_POLICY) != SNAPSHOT_POLICY:
        return []
    tags = tuple((t["Key"], t.get("Value", "")) for t in details.get("TargetTags") or [])
    out = []
    for sched in details.get("Schedules") or []:
        every, why = _every(sched.get("CreateRule") or {})
        out.append(
            Schedule(
                policy_id=pid,
                name=sched.get("Name", ""),
                resource_types=tuple(details.get("ResourceTypes") or ("VOLUME",)),
                target_tags=tags,
                rpo=every,
                retention_days=_retention(sched.get("RetainRule"), every),
                copy_regions=tuple(
                    r["TargetRegion"]
                    for r in sched.get("CrossRegionCopyRules") or []
                    if r.get("TargetRegion")
                ),
                detail=why,
            )
        )
    return out


def read(client: Any) -> list[Schedule]:
    """Every schedule of the enabled EBS snapshot policies a DLM ``client`` sees (its
    account and Region): GetLifecyclePolicies, then GetLifecyclePolicy per policy."""
    summaries = client.get_lifecycle_policies(State="ENABLED").get("Policies", [])
    out: list[Schedule] = []
    for s in summaries:
        if s.get("PolicyType", SNAPSHOT_POLICY) != SNAPSHOT_POLICY:
            continue
        policy = client.get_lifecycle_policy(PolicyId=s["PolicyId"])["Policy"]
        out += schedules(policy)
    return out
