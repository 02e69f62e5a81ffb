"""EBS volumes (tags come with the listing); recovery points are the account's own snapshots
(one call per scope), and who else may restore each (one call per snapshot)."""

from __future__ import annotations

from runbook_lib.inventory.model import READ_ERRORS, Found, Scope, paginate, tag_dict
from runbook_lib.inventory.plugin import Service, recovery_points, register
from runbook_lib.model import RecoveryPoint


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("ec2"), "describe_volumes", "Volumes"))


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    snaps = paginate(scope.client("ec2"), "describe_snapshots", "Snapshots", OwnerIds=["self"])
    return recovery_points(snaps, lambda s: _point(scope, s))


def _point(scope: Scope, snap: dict) -> RecoveryPoint | None:
    if snap.get("State") not in (None, "completed"):
        return None
    volume = scope.arn("ec2", f"volume/{snap['VolumeId']}")
    arn = f"arn:aws:ec2:{scope.region}::snapshot/{snap['SnapshotId']}"
    return scope.point(volume, "ebs snapshot", snap["StartTime"], arn)


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
    points = snapshots.get(arn, [])
    errors: list[tuple[str, Exception]] = []
    row["snapshot_shares"] = _shares(scope, points, errors)
    return Found(row=row, protections=[], recovery_points=points, errors=errors)


def _shares(scope: Scope, points: list[RecoveryPoint], errors: list) -> dict[str, list[str]]:
    """Who may restore each snapshot besides its owner (DescribeSnapshotAttribute
    createVolumePermission, one call per snapshot): ``all``, or account ids."""
    out: dict[str, list[str]] = {}
    for rp in points:
        snapshot_id = rp.id.rsplit("/", 1)[-1]
        try:
            perms = scope.client("ec2").describe_snapshot_attribute(
                SnapshotId=snapshot_id, Attribute="createVolumePermission"
            )["CreateVolumePermissions"]
        except READ_ERRORS as err:  # its shares unknown: an errors row, the rest still read
            errors.append((f"snapshot {snapshot_id} createVolumePermission", err))
            continue
        out[snapshot_id] = sorted(p.get("Group") or p.get("UserId") or "" for p in perms)
    return out


register(
    Service(
        "ebs",
        list=_list,
        extras=_extras,
        describe=_describe,
        fixes={},  # the tier's AWS Backup plan steps; "encryption at rest" (manual)
    )
)
