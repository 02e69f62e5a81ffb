"""EBS in backup_now: the native on-demand backup is a snapshot (``create_snapshot``),
tagged ``created-by=backup-now`` and ``run-id``. No fingerprint: the blocks are not read."""

from __future__ import annotations

from typing import Any

from runbook_lib.backup_now import NativeStarted, native_backup
from runbook_lib.protect.estate import DataResource


@native_backup("ebs")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    ec2 = session.client("ec2", res.account, res.region)
    snap = ec2.create_snapshot(
        VolumeId=res.id,
        Description=f"backup_now {run_id}",
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [
                    {"Key": "created-by", "Value": "backup-now"},
                    {"Key": "run-id", "Value": run_id},
                ],
            }
        ],
    )

    def poll() -> tuple[str, dict]:
        d = ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]
        st = {"completed": "COMPLETED", "error": "FAILED"}.get(d["State"], "RUNNING")
        return st, {"encrypted": d.get("Encrypted"), "kms_key": d.get("KmsKeyId")}

    return NativeStarted(native_id=snap["SnapshotId"], created=snap.get("StartTime"), poll=poll)
