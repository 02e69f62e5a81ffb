"""EBS volumes (tags come with the listing); recovery points are the account's own snapshots
(one call per scope), with whether each is encrypted and who else may restore it (one call
per snapshot); Data Lifecycle Manager policies protect the volumes they target (one
listing per scope and one read per policy: ``dlm.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from runbook_lib.inventory.model import READ_ERRORS, Found, Scope, paginate, tag_dict
from runbook_lib.inventory.plugin import Service, recovery_points, register
from runbook_lib.model import RecoveryPoint
from runbook_lib.services.ebs import dlm


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("ec2"), "describe_volumes", "Volumes"))


@dataclass
class Extras:
    """What one scope's volumes share: their snapshots, the DLM schedules there."""

    snapshots: dict[str, list[RecoveryPoint]]
    #: None: not read (the read failed: ``dlm_error``)
    schedules: list[dlm.Schedule] | None = None
    #: instance id -> tags, read only when a DLM policy targets instances
    instance_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    dlm_error: Exception | None = None  # the DLM read failed (an errors row per volume)


def _extras(scope: Scope) -> Extras:
    snaps = paginate(scope.client("ec2"), "describe_snapshots", "Snapshots", OwnerIds=["self"])
    out = Extras(recovery_points(snaps, lambda s: _point(scope, s)))
    try:
        out.schedules = read_dlm(scope)
        if out.schedules and any(
            "INSTANCE" in s.resource_types and not s.default for s in out.schedules
        ):
            instances = paginate(scope.client("ec2"), "describe_instances", "Reservations")
            out.instance_tags = {
                i["InstanceId"]: tag_dict(i.get("Tags"))
                for r in instances
                for i in r.get("Instances", [])
            }
    except READ_ERRORS as err:  # the volumes are still listed; their DLM cover is unknown
        out.dlm_error = err
    return out


def read_dlm(scope: Scope) -> list[dlm.Schedule]:
    """The scope's DLM snapshot schedules (the same calls on AWS and on the sandbox)."""
    return dlm.read(scope.client("dlm"))


def _point(scope: Scope, snap: dict) -> RecoveryPoint | None:
    if snap.get("State") not in (None, "completed"):
        return None
    volume = scope.arn("ec2", f"volume/{snap['VolumeId']}")
    arn = f"arn:aws:ec2:{scope.region}::snapshot/{snap['SnapshotId']}"
    point = scope.point(volume, "ebs snapshot", snap["StartTime"], arn)
    return replace(point, encrypted=snap.get("Encrypted"), key=snap.get("KmsKeyId"))


def _describe(scope: Scope, vol: dict, extras: Extras) -> Found:
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
    points = extras.snapshots.get(arn, [])
    errors: list[tuple[str, Exception]] = []
    row["snapshot_shares"] = _shares(scope, points, errors)
    row["snapshot_encryption"] = snapshot_encryption(points)
    protections = [
        s.protection() for s in extras.schedules or [] if s.targets(vol, extras.instance_tags)
    ]
    if extras.dlm_error is not None:
        errors.append(("Data Lifecycle Manager policies", extras.dlm_error))
    return Found(row=row, protections=protections, recovery_points=points, errors=errors)


def snapshot_encryption(points: list[RecoveryPoint]) -> dict[str, bool | None]:
    """snapshot id -> encrypted (None: not said), for the audit's ``snapshot_encrypted``."""
    return {rp.id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: rp.encrypted for rp in points}


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
        fixes={  # else the tier's AWS Backup plan steps; "encryption at rest" (manual)
            "snapshot_encrypted": "manual: copy {snapshots} with CopySnapshot Encrypted=true "
            "(KmsKeyId: the tier's key), delete the unencrypted snapshot(s) "
            "(DeleteSnapshot), and encrypt the volume",
        },
    )
)
