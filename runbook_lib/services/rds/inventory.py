"""RDS DB instances (not cluster members: those are inventoried with their cluster), and
Aurora and Neptune clusters. Neptune is listed through the RDS API: it shares RDS's control
plane, and only the RDS shape of DescribeDBClusters carries the cluster's tags."""

from __future__ import annotations

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    Found,
    RecoveryPoint,
    Scope,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, register
from runbook_lib.services.rds.common import FIXES, automated, cluster_service


def _list(scope: Scope) -> list[dict]:
    dbs = paginate(scope.client("rds"), "describe_db_instances", "DBInstances")
    return [d for d in dbs if not d.get("DBClusterIdentifier")]


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    points: dict[str, list[RecoveryPoint]] = {}
    for s in paginate(scope.client("rds"), "describe_db_snapshots", "DBSnapshots"):
        if s.get("Status") != "available":
            continue
        arn = scope.arn("rds", f"db:{s['DBInstanceIdentifier']}")
        points.setdefault(arn, []).append(
            RecoveryPoint(
                arn,
                s["SnapshotCreateTime"],
                f"rds {s.get('SnapshotType', 'manual')} snapshot",
                scope.region,
                scope.account,
                s.get("DBSnapshotArn", ""),
            )
        )
    return points


def _describe(scope: Scope, db: dict, snapshots: dict) -> Found:
    arn = db.get("DBInstanceArn") or scope.arn("rds", f"db:{db['DBInstanceIdentifier']}")
    row = scope.row(
        "rds",
        "rds:db",
        arn,
        db["DBInstanceIdentifier"],
        size_bytes=(db.get("AllocatedStorage") or 0) * 2**30,
        encrypted=bool(db.get("StorageEncrypted")),
        kms_key=db.get("KmsKeyId"),
        tags=tag_dict(db.get("TagList")),
        created=db.get("InstanceCreateTime"),
    )
    protections, points = automated(db, arn, scope, "rds")
    return Found(row, protections, points + snapshots.get(arn, []))


register(
    Service(
        "rds",
        list=_list,
        extras=_extras,
        describe=_describe,
        native_rpo=CONTINUOUS_RPO,
        fixes={k: v.replace("{service}", "rds") for k, v in FIXES.items()},
    )
)

#: Aurora clusters (MySQL and PostgreSQL compatible)
register(cluster_service("aurora", "rds", lambda engine: engine.startswith("aurora")))
#: Neptune clusters
register(cluster_service("neptune", "rds", lambda engine: engine == "neptune"))
