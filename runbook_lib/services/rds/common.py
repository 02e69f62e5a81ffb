"""Shared by rds, aurora and neptune: automated backups give point-in-time restore."""

from __future__ import annotations

from collections.abc import Callable

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    Found,
    Protection,
    RecoveryPoint,
    Scope,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service

FIXES = {  # control id -> protect plan step (the tier's AWS Backup plan steps otherwise)
    "resource_backed_up_or_reproducible": "automated backup retention (days)",
    "backup_frequency_meets_rpo": "automated backup retention (days)",
}


def automated(db: dict, arn: str, scope: Scope, service: str) -> tuple[list, list]:
    days = db.get("BackupRetentionPeriod") or 0
    if days <= 0:
        return [], []
    protections = [Protection(f"{service} automated backups (PITR)", CONTINUOUS_RPO, float(days))]
    points = []
    if db.get("LatestRestorableTime"):
        points.append(
            RecoveryPoint(
                arn, db["LatestRestorableTime"], f"{service} PITR", scope.region, scope.account
            )
        )
    return protections, points


def cluster_service(name: str, client: str, engine_matches: Callable[[str], bool]) -> Service:
    def _list(scope: Scope) -> list[dict]:
        clusters = paginate(scope.client(client), "describe_db_clusters", "DBClusters")
        return [c for c in clusters if engine_matches(c.get("Engine", ""))]

    def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
        points: dict[str, list[RecoveryPoint]] = {}
        snaps = paginate(
            scope.client(client), "describe_db_cluster_snapshots", "DBClusterSnapshots"
        )
        for s in snaps:
            if s.get("Status") != "available" or not engine_matches(s.get("Engine", "")):
                continue
            arn = scope.arn("rds", f"cluster:{s['DBClusterIdentifier']}")
            points.setdefault(arn, []).append(
                RecoveryPoint(
                    arn,
                    s["SnapshotCreateTime"],
                    f"{name} {s.get('SnapshotType', 'manual')} snapshot",
                    scope.region,
                    scope.account,
                    s.get("DBClusterSnapshotArn", ""),
                )
            )
        return points

    def _describe(scope: Scope, c: dict, snapshots: dict) -> Found:
        arn = c.get("DBClusterArn") or scope.arn("rds", f"cluster:{c['DBClusterIdentifier']}")
        row = scope.row(
            name,
            "rds:cluster",
            arn,
            c["DBClusterIdentifier"],
            size_bytes=None,  # Aurora/Neptune storage grows on demand; no allocated size
            encrypted=bool(c.get("StorageEncrypted")),
            kms_key=c.get("KmsKeyId"),
            tags=tag_dict(c.get("TagList")),
            created=c.get("ClusterCreateTime"),
        )
        protections, points = automated(c, arn, scope, name)
        return Found(row, protections, points + snapshots.get(arn, []))

    return Service(
        name,
        list=_list,
        extras=_extras,
        describe=_describe,
        native_rpo=CONTINUOUS_RPO,
        fixes={k: v.replace("{service}", name) for k, v in FIXES.items()},
    )
