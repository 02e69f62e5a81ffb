"""EBS volumes; recovery points are the account's own snapshots (one call per scope)."""

from __future__ import annotations

from runbook_lib.inventory.model import (
    Found,
    RecoveryPoint,
    Scope,
    by_resource,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, register


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("ec2"), "describe_volumes", "Volumes"))


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    snaps = paginate(scope.client("ec2"), "describe_snapshots", "Snapshots", OwnerIds=["self"])
    return by_resource(
        scope.point(
            scope.arn("ec2", f"volume/{s['VolumeId']}"),
            "ebs snapshot",
            s["StartTime"],
            f"arn:aws:ec2:{scope.region}::snapshot/{s['SnapshotId']}",
        )
        for s in snaps
        if s.get("State") in (None, "completed")
    )


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
    return Found(row=row, protections=[], recovery_points=snapshots.get(arn, []))


register(
    Service(
        "ebs",
        list=_list,
        extras=_extras,
        describe=_describe,
        fixes={},  # the tier's AWS Backup plan steps; "encryption at rest" (manual)
    )
)
