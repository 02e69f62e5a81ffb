"""EBS: a snapshot becomes a new volume in the source volume's Availability Zone.

A volume holds blocks, not records: the check is metadata (size, type, encryption, key).
On AWS a deeper check needs an instance to attach and mount it, which this runbook does
not do. Sandbox: moto holds no block data and drops the KMS key id on snapshots and on
volumes made from them.
"""

from __future__ import annotations

from typing import Any

from runbook_lib.inventory.model import tag_list
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, utc
from runbook_lib.restore.registry import (
    ServiceHandler,
    finder,
    handler,
    native_points,
    restorer,
)


def _ec2(session, account: str, region: str):
    return session.client("ec2", account, region)


def _volume(session, account: str, region: str, vol_id: str) -> dict[str, Any]:
    return _ec2(session, account, region).describe_volumes(VolumeIds=[vol_id])["Volumes"][0]


@finder("ebs", "ebs-snapshot")
def find_snapshots(session, ref: ResourceRef) -> list[RecoveryPoint]:
    pages = (
        _ec2(session, ref.account, ref.region)
        .get_paginator("describe_snapshots")
        .paginate(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [ref.ident]}])
    )
    return native_points(
        ref,
        "ebs-snapshot",
        (s for page in pages for s in page["Snapshots"] if s.get("State") == "completed"),
        by_aws_backup=lambda s: any(t["Key"].startswith("aws:backup:") for t in s.get("Tags", [])),
        fields=lambda s: {
            "id": s["SnapshotId"],
            "created": utc(s["StartTime"]),
            "encrypted": s.get("Encrypted"),
            "key": s.get("KmsKeyId"),
            "size_bytes": (s.get("VolumeSize") or 0) * 1024**3,
        },
    )


@restorer("ebs", "ebs-snapshot")
def restore_snapshot(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
):
    ec2 = _ec2(session, rp.account, rp.region)
    src = _volume(session, ref.account, ref.region, ref.ident)
    kwargs: dict[str, Any] = {
        "SnapshotId": rp.id,
        "AvailabilityZone": src["AvailabilityZone"],
        "VolumeType": src.get("VolumeType", "gp3"),
        "TagSpecifications": [
            {
                "ResourceType": "volume",
                "Tags": tag_list({**tags, "Name": target}),
            }
        ],
    }
    if src.get("KmsKeyId"):
        kwargs.update(Encrypted=True, KmsKeyId=src["KmsKeyId"])
    vol = ec2.create_volume(**kwargs)
    arn = f"arn:aws:ec2:{rp.region}:{rp.account}:volume/{vol['VolumeId']}"
    return Restored("ebs", rp.account, rp.region, target, arn, resource_id=vol["VolumeId"])


@handler
class EBS(ServiceHandler):
    service = "ebs"
    not_found = ("InvalidVolume.NotFound",)
    ready_when = ("State", "available")
    assigns_id = True  # a volume id (the ARN's last part); the name is a Name tag
    test_minutes = 10
    backup_resource_type = "EBS"

    def describe(self, session, where: ResourceRef | Restored) -> dict[str, Any]:
        return _volume(session, where.account, where.region, where.ident)

    def metadata_of(self, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "size_gib": v.get("Size"),
            "volume_type": v.get("VolumeType"),
            "encrypted": bool(v.get("Encrypted")),
            "kms_key": v.get("KmsKeyId"),
        }

    def tag(self, session, restored: Restored, tags: dict[str, str]) -> None:
        _ec2(session, restored.account, restored.region).create_tags(
            Resources=[restored.ident],
            Tags=tag_list({**tags, "Name": restored.name}),
        )

    def exists(self, session, restored: Restored) -> bool:
        return bool(restored.resource_id) and super().exists(session, restored)

    def delete(self, session, restored: Restored) -> None:
        if self.exists(session, restored):
            _ec2(session, restored.account, restored.region).delete_volume(VolumeId=restored.ident)

    def list_tagged(self, session, account: str, region: str, tag_key: str) -> list[Restored]:
        ec2 = _ec2(session, account, region)
        out = []
        for page in ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "tag-key", "Values": [tag_key]}]
        ):
            for v in page.get("Volumes", []):
                tags = {t["Key"]: t["Value"] for t in v.get("Tags", [])}
                arn = f"arn:aws:ec2:{region}:{account}:volume/{v['VolumeId']}"
                name = tags.get("Name", v["VolumeId"])
                out.append(self.tagged(account, region, name, arn, tags, v["VolumeId"]))
        return out

    def handover(self, session, ref: ResourceRef, restored: Restored) -> list[dict[str, str]]:
        return [
            {
                "step": "attach and mount",
                "why": "the new volume is detached; the instance still uses the old one",
                "how": f"stop the application, detach {ref.ident}, attach_volume(VolumeId='{restored.ident}', "
                "InstanceId=..., Device=...), mount, start",
                "needed": "yes",
            },
            {
                "step": "initialise blocks",
                "why": "a volume from a snapshot loads blocks lazily: first reads are slow",
                "how": "read every block once (fio / dd) or enable fast snapshot restore before restoring",
                "needed": "for latency-sensitive workloads",
            },
        ]
