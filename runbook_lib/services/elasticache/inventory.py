"""ElastiCache Redis/Valkey replication groups and standalone clusters (automatic snapshots):
listed in pages with every setting read; tags in batches (tagging API)."""

from __future__ import annotations

from runbook_lib.inventory.model import DAILY_RPO, Found, Protection, Scope, paginate, tag_dict
from runbook_lib.inventory.plugin import Service, TagSource, recovery_points, register
from runbook_lib.model import RecoveryPoint

SNAPSHOT_ENGINES = ("redis", "valkey")  # memcached has no snapshots: not data to back up


def _list(scope: Scope) -> list[dict]:
    ec = scope.client("elasticache")
    groups = [
        {**g, "_kind": "replicationgroup"}
        for g in paginate(ec, "describe_replication_groups", "ReplicationGroups")
    ]
    standalone = [
        {**c, "_kind": "cluster"}
        for c in paginate(ec, "describe_cache_clusters", "CacheClusters")
        if not c.get("ReplicationGroupId") and c.get("Engine") in SNAPSHOT_ENGINES
    ]
    return groups + standalone


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    snaps = paginate(scope.client("elasticache"), "describe_snapshots", "Snapshots")
    return recovery_points(snaps, lambda s: _point(scope, s))


def _point(scope: Scope, s: dict) -> RecoveryPoint | None:
    """The recovery point of an available snapshot that says when it was made."""
    if s.get("SnapshotStatus") not in (None, "available"):
        return None
    if s.get("ReplicationGroupId"):
        arn = scope.arn("elasticache", f"replicationgroup:{s['ReplicationGroupId']}")
    else:
        arn = scope.arn("elasticache", f"cluster:{s.get('CacheClusterId')}")
    nodes = s.get("NodeSnapshots")
    created = (nodes[0].get("SnapshotCreateTime") if nodes else None) or s.get(
        "CacheClusterCreateTime"
    )
    if not created:
        return None
    source = f"elasticache {s.get('SnapshotSource', 'manual')} snapshot"
    return scope.point(arn, source, created, s.get("ARN", ""))


def _tags(scope: Scope, arn: str, _item: dict) -> dict[str, str]:
    """One resource's tags (where the tagging API's batch is not used)."""
    return tag_dict(
        scope.client("elasticache").list_tags_for_resource(ResourceName=arn).get("TagList")
    )


def _describe(scope: Scope, item: dict, snapshots: dict) -> Found:
    if item["_kind"] == "replicationgroup":
        name = item["ReplicationGroupId"]
        arn = item.get("ARN") or scope.arn("elasticache", f"replicationgroup:{name}")
        created = item.get("ReplicationGroupCreateTime")
    else:
        name = item["CacheClusterId"]
        arn = item.get("ARN") or scope.arn("elasticache", f"cluster:{name}")
        created = item.get("CacheClusterCreateTime")
    row = scope.row(
        "elasticache",
        f"elasticache:{item['_kind']}",
        arn,
        name,
        encrypted=bool(item.get("AtRestEncryptionEnabled")),
        kms_key=item.get("KmsKeyId"),
        created=created,
    )
    days = item.get("SnapshotRetentionLimit") or 0
    protections = []
    if days > 0:
        protections.append(
            Protection(
                mechanism="elasticache automatic snapshots",
                rpo=DAILY_RPO,
                retention_days=float(days),
                detail=f"daily in window {item.get('SnapshotWindow', '?')}",
            )
        )
    return Found(row=row, protections=protections, recovery_points=snapshots.get(arn, []))


TAGS = TagSource(
    types=("elasticache:cluster", "elasticache:replicationgroup"),
    read=_tags,
    not_on_sandbox="moto names these types elasticache:cache_clusters and "
    "elasticache:replication-group, so AWS's type filters find nothing there",
)
FIXES = {
    "resource_backed_up_or_reproducible": "snapshot retention (days)",
    "backup_retention_meets_objective": "snapshot retention (days)",
    "backup_frequency_meets_rpo": "manual: automatic snapshots run at most daily; "
    "protect plans nothing shorter (a replica or another design)",
    "cross_region_copy": "manual: protect plans no copy of the snapshots; export one "
    "to an S3 bucket in {region} by hand",
    "cross_account_copy": "manual: protect plans no copy of the snapshots to account "
    "{account}; export and share one by hand",
}
register(
    Service("elasticache", list=_list, extras=_extras, describe=_describe, tags=TAGS, fixes=FIXES)
)
