"""RDS, Aurora and Neptune in backup_now: the native on-demand backup is a manual DB snapshot
(``create_db_snapshot``) for an instance, a DB cluster snapshot
(``create_db_cluster_snapshot``) for a cluster. No fingerprint: the engines' data is not read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runbook_lib.backup_now import NativeStarted, native_backup
from runbook_lib.protect.estate import DataResource


@native_backup("rds", "aurora", "neptune")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    rds = session.client("rds", res.account, res.region)
    name = res.name
    sid = f"{name[:30]}-{ident}"[:63].rstrip("-")
    describe: Callable[[], dict]
    if res.resource_type == "rds:cluster":
        d = rds.create_db_cluster_snapshot(
            DBClusterSnapshotIdentifier=sid, DBClusterIdentifier=name
        )["DBClusterSnapshot"]
        arn = d["DBClusterSnapshotArn"]

        def describe() -> dict:
            return rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=sid)[
                "DBClusterSnapshots"
            ][0]
    else:
        d = rds.create_db_snapshot(DBSnapshotIdentifier=sid, DBInstanceIdentifier=name)[
            "DBSnapshot"
        ]
        arn = d["DBSnapshotArn"]

        def describe() -> dict:
            return rds.describe_db_snapshots(DBSnapshotIdentifier=sid)["DBSnapshots"][0]

    def poll() -> tuple[str, dict]:
        x = describe()
        st = {"available": "COMPLETED", "failed": "FAILED"}.get(x["Status"], "RUNNING")
        return st, {"encrypted": x.get("StorageEncrypted"), "kms_key": x.get("KmsKeyId")}

    return NativeStarted(
        native_id=arn, recovery_point_arn=arn, created=d.get("SnapshotCreateTime"), poll=poll
    )
