"""How the RDS API names its two kinds of resource, DB instances and DB clusters (Aurora's
and Neptune's too): the one home of the operation, result and field names that the
inventory, the restore, the continuous-backup window and the database login use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore import xform_name


@dataclass(frozen=True, kw_only=True)
class Kind:
    """How the RDS API names one kind of resource and its snapshots (:func:`_kind`)."""

    word: str  # Instance | Cluster
    arn_part: str  # db | cluster (arn:aws:rds:<region>:<account>:<arn_part>:<identifier>)
    resource_type: str
    list: tuple[str, str]  # (operation, result key)
    snapshots: tuple[str, str]
    snapshot: str  # what the API calls a snapshot of this kind (DBSnapshot, DBClusterSnapshot)
    ident: str  # the identifier's field, in the resource and in its snapshots
    arn: str  # the resource's ARN field
    snapshot_arn: str
    snapshot_id: str  # a snapshot's identifier field
    snapshot_encrypted: str  # DB snapshots say Encrypted, DB cluster snapshots StorageEncrypted
    create_snapshot: str  # the operation that takes a manual snapshot
    created: str
    status: str  # the field that says "available"
    modify: str  # the operation that changes its settings (the master password)
    members: bool = False  # the listing also returns cluster members (left to their cluster)
    sized: bool = False  # AllocatedStorage (GiB) is its size; clusters grow on demand

    def describe_one(self, client: Any, identifier: str) -> dict[str, Any]:
        """The description of the resource ``identifier`` (one Describe call)."""
        operation, key = self.list
        return getattr(client, operation)(**{self.ident: identifier})[key][0]

    def describe_snapshot(self, client: Any, snapshot_id: str) -> dict[str, Any]:
        """The description of the snapshot ``snapshot_id`` (one Describe call)."""
        operation, key = self.snapshots
        return getattr(client, operation)(**{self.snapshot_id: snapshot_id})[key][0]


def _kind(
    word: str, snapshot: str, arn_part: str, status: str, encrypted: str, **flags: bool
) -> Kind:
    """The RDS API names a kind of resource after one ``word`` (``DB<word>Identifier``,
    ``DB<word>Arn``, ``DescribeDB<word>s``, ``ModifyDB<word>``, ``<word>CreateTime``) and its
    snapshots after another (``<snapshot>Identifier``, ``<snapshot>Arn``, ``Create<snapshot>``,
    ``Describe<snapshot>s``, ``Describe<snapshot>Attributes``); ``status`` and ``encrypted``
    are the fields that differ by more than the word."""
    return Kind(
        word=word,
        arn_part=arn_part,
        resource_type=f"rds:{arn_part}",
        list=(xform_name(f"DescribeDB{word}s"), f"DB{word}s"),
        snapshots=(xform_name(f"Describe{snapshot}s"), f"{snapshot}s"),
        snapshot=snapshot,
        ident=f"DB{word}Identifier",
        arn=f"DB{word}Arn",
        snapshot_arn=f"{snapshot}Arn",
        snapshot_id=f"{snapshot}Identifier",
        snapshot_encrypted=encrypted,
        create_snapshot=xform_name(f"Create{snapshot}"),
        created=f"{word}CreateTime",
        status=status,
        modify=xform_name(f"ModifyDB{word}"),
        **flags,
    )


INSTANCE = _kind(
    "Instance", "DBSnapshot", "db", "DBInstanceStatus", "Encrypted", members=True, sized=True
)
CLUSTER = _kind("Cluster", "DBClusterSnapshot", "cluster", "Status", "StorageEncrypted")


def kind_of(resource_type: str) -> Kind:
    """The kind of the inventory's ``resource_type``: ``rds:cluster`` a DB cluster, any other
    a DB instance."""
    return CLUSTER if resource_type == CLUSTER.resource_type else INSTANCE
