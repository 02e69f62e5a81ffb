"""EBS volumes; recovery points are the account's own snapshots (one call per scope)."""

from __future__ import annotations

from runbook_lib.inventory.model import Found, RecoveryPoint, Scope, paginate, tag_dict
from runbook_lib.inventory.plugin import Service, register


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("ec2"), "describe_volumes", "Volumes"))


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    points: dict[str, list[RecoveryPoint]] = {}
    for snap in paginate(scope.client("ec2"), "describe_snapshots", "Snapshots", OwnerIds=["self"]):
        if snap.get("State") not in (None, "completed"):
            continue
        arn = scope.arn("ec2", f"volume/{snap['VolumeId']}")
        points.setdefault(arn, []).append(
            RecoveryPoint(
                arn,
                snap["StartTime"],
                "ebs snapshot",
                scope.region,
                scope.account,
                f"arn:aws:ec2:{scope.region}::snapshot/{snap['SnapshotId']}",
            )
        )
    return points


def _describe(scope: Scope, vol: dict, snapshots: dict) -> Found:
    tags = tag_dict(vol.get("Tags"))
    arn = scope.arn("ec2", f"volume/{vol['VolumeId']}")
    row = scope.row(
        "ebs",
        "ec2:volume",
        arn,
        tags.get("Name") or vol["VolumeId"],
        size_bytes=vol.get("Size", 0) * 2**30,
        encrypted=bool(vol.get("Encrypted")),
        kms_key=vol.get("KmsKeyId"),
        tags=tags,
        created=vol.get("CreateTime"),
    )
    return Found(row, [], snapshots.get(arn, []))


register(
    Service(
        "ebs",
        list=_list,
        extras=_extras,
        describe=_describe,
        fixes={},  # the tier's AWS Backup plan steps; "encryption at rest" (manual)
    )
)
