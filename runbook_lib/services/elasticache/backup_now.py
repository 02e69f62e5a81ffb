"""ElastiCache in backup_now: AWS Backup does not reach it; the native on-demand backup is a
replication group snapshot (``create_snapshot``). No fingerprint: the cache is not read."""

from __future__ import annotations

from typing import Any

from runbook_lib.backup_now import NativeStarted, native_backup
from runbook_lib.protect.estate import DataResource


@native_backup("elasticache")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    ec = session.client("elasticache", res.account, res.region)
    sname = f"{res.name[:40]}-{ident}"[:100]
    d = ec.create_snapshot(ReplicationGroupId=res.name, SnapshotName=sname)["Snapshot"]

    def poll() -> tuple[str, dict]:
        x = ec.describe_snapshots(SnapshotName=sname)["Snapshots"][0]
        st = {"available": "COMPLETED", "failed": "FAILED"}.get(x.get("SnapshotStatus"), "RUNNING")
        return st, {"encrypted": res.encrypted, "kms_key": x.get("KmsKeyId")}

    return NativeStarted(native_id=sname, recovery_point_arn=d.get("ARN"), poll=poll)
