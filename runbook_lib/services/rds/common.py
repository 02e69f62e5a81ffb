"""Shared by rds, aurora and neptune: one API (RDS's), two kinds of resource (DB instances and
DB clusters) named alike; automated backups give point-in-time restore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from botocore import xform_name

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    READ_ERRORS,
    Found,
    Protection,
    Scope,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, recovery_points
from runbook_lib.model import RecoveryPoint
from runbook_lib.services.rds.names import Kind

FIXES = {  # control id -> protect plan step (the tier's AWS Backup plan steps otherwise)
    "resource_backed_up_or_reproducible": "automated backup retention (days)",
    "backup_frequency_meets_rpo": "automated backup retention (days)",
    "snapshot_encrypted": "manual: copy {snapshots} with CopyDBSnapshot / "
    "CopyDBClusterSnapshot naming a KmsKeyId, delete the unencrypted snapshot(s), and "
    "encrypt the database (an encrypted snapshot restored in its place)",
}


def automated(db: dict, arn: str, scope: Scope, service: str) -> tuple[list, list]:
    days = db.get("BackupRetentionPeriod") or 0
    if days <= 0:
        return [], []
    protections = [
        Protection(
            mechanism=f"{service} automated backups (PITR)",
            rpo=CONTINUOUS_RPO,
            retention_days=float(days),
        )
    ]
    points = []
    if db.get("LatestRestorableTime"):
        points.append(scope.point(arn, f"{service} PITR", db["LatestRestorableTime"]))
    return protections, points


def shares(scope: Scope, kind: Kind, points: list[RecoveryPoint], errors: list) -> dict:
    """Who may restore each manual snapshot besides its owner (the ``restore`` attribute of
    DescribeDBSnapshotAttributes / DescribeDBClusterSnapshotAttributes, one call per
    manual snapshot; automated snapshots cannot be shared): ``all``, or account ids."""
    key = kind.snapshot
    op = xform_name(f"Describe{key}Attributes")
    out: dict[str, list[str]] = {}
    for rp in points:
        if "manual" not in rp.source:
            continue
        ident = rp.id.rsplit(":", 1)[-1]
        try:
            result = getattr(scope.client("rds"), op)(**{f"{key}Identifier": ident})
        except READ_ERRORS as err:  # its shares unknown: an errors row, the rest still read
            errors.append((f"snapshot {ident} restore attribute", err))
            continue
        attrs = result[f"{key}AttributesResult"][f"{key}Attributes"]
        restore = [a.get("AttributeValues") or [] for a in attrs if a["AttributeName"] == "restore"]
        out[ident] = sorted(v for values in restore for v in values)
    return out


def rds_service(
    name: str, kind: Kind, engine_matches: Callable[[str], bool] = lambda engine: True
) -> Service:
    """The inventory of service ``name``: the resources of ``kind`` whose engine matches."""

    def listed(item: dict) -> bool:
        member = kind.members and item.get("DBClusterIdentifier")
        return not member and engine_matches(item.get("Engine", ""))

    def _all(scope: Scope, listing: tuple[str, str]) -> list[dict]:
        """One listing of the RDS API, read once per run and scope: Aurora and Neptune
        share the cluster and cluster-snapshot listings."""
        return scope.once(("rds", *listing), lambda: list(paginate(scope.client("rds"), *listing)))

    def _list(scope: Scope) -> list[dict]:
        return [d for d in _all(scope, kind.list) if listed(d)]

    def _point(scope: Scope, snap: dict) -> RecoveryPoint | None:
        if snap.get("Status") != "available" or not engine_matches(snap.get("Engine", "")):
            return None
        arn = scope.arn("rds", f"{kind.arn_part}:{snap[kind.ident]}")
        source = f"{name} {snap.get('SnapshotType', 'manual')} snapshot"
        point = scope.point(
            arn, source, snap["SnapshotCreateTime"], snap.get(kind.snapshot_arn, "")
        )
        encrypted = snap.get(kind.snapshot_encrypted)
        return replace(point, encrypted=encrypted, key=snap.get("KmsKeyId"))

    def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
        return recovery_points(_all(scope, kind.snapshots), lambda s: _point(scope, s))

    def _describe(scope: Scope, db: dict, snapshots: dict) -> Found:
        ident = db[kind.ident]
        arn = db.get(kind.arn) or scope.arn("rds", f"{kind.arn_part}:{ident}")
        row = scope.row(
            name,
            kind.resource_type,
            arn,
            ident,
            size_bytes=(db.get("AllocatedStorage") or 0) * 2**30 if kind.sized else None,
            encrypted=bool(db.get("StorageEncrypted")),
            kms_key=db.get("KmsKeyId"),
            tags=tag_dict(db.get("TagList")),
            created=db.get(kind.created),
            # settings the audit judges (DescribeDBInstances / DescribeDBClusters)
            deletion_protection=bool(db.get("DeletionProtection")),
            copy_tags_to_snapshot=bool(db.get("CopyTagsToSnapshot")),
        )
        protections, points = automated(db, arn, scope, name)
        errors: list[tuple[str, Exception]] = []
        row["snapshot_shares"] = shares(scope, kind, snapshots.get(arn, []), errors)
        row["snapshot_encryption"] = {  # snapshot identifier -> encrypted (the audit's)
            rp.id.rsplit(":", 1)[-1]: rp.encrypted for rp in snapshots.get(arn, [])
        }
        return Found(
            row=row,
            protections=protections,
            recovery_points=points + snapshots.get(arn, []),
            errors=errors,
        )

    return Service(
        name,
        list=_list,
        extras=_extras,
        describe=_describe,
        fixes=dict(FIXES),
    )
