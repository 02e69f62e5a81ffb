"""The records every flow shares: one :class:`RecoveryPoint` (what the inventory finds and a
restore starts from) and the one word for what the sandbox cannot do.

This module imports nothing of the project, so every flow (inventory, restore, backup_now,
post_incident, the service modules) can import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The outcome of anything the sandbox (moto) cannot do although AWS can: the ``status`` word
#: of inventory protections, restore tests, incident restores, backups, protect's applied
#: steps and audit findings. (Protect's *plan* says ``not_supported`` in its ``action``
#: column: a plan action is a lower-case verb of what a step will do, see
#: ``runbook_lib.protect.model``; applying such a step records this outcome.)
NOT_SUPPORTED_ON_SANDBOX = "NOT_SUPPORTED_ON_SANDBOX"


@dataclass(frozen=True, kw_only=True)
class RecoveryPoint:
    """One restorable copy of one resource, whatever made it (AWS Backup, a native snapshot
    or backup, continuous backup, an S3 version set, a log export)."""

    resource_arn: str  # the resource it restores
    source: str  # what made it: a restore finder's source (registry.sources()), or the
    # inventory's description (e.g. "ebs snapshot", "aws backup (<vault>)", "<service> PITR")
    created: datetime | None  # when its data ends (a continuous point: the latest restorable time)
    account: str = ""
    region: str = ""  # where it is held (a copy: the copy's Region)
    #: recovery point ARN / backup ARN / snapshot id or ARN / export location; "" where the
    #: service names none (continuous backup)
    id: str = ""
    service: str = ""  # the inventory's service of the resource ("" where the lister cannot tell)
    vault: str | None = None
    encrypted: bool | None = None
    key: str | None = None  # the KMS key that encrypts it
    size_bytes: int | None = None
    status: str = "AVAILABLE"
    #: AWS Backup's lifecycle (``DeleteAfterDays``, ``MoveToColdStorageAfterDays``) where known
    lifecycle: dict[str, Any] | None = field(default=None, hash=False)
    #: source-specific (snapshot ids, the earliest restorable time, the copy's source)
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def as_row(self) -> dict[str, Any]:
        """The point as a table row (restore's columns; the inventory keeps a subset)."""
        return {
            "recovery_point_id": self.id,
            **attrs(self, "resource_arn service source created account region vault encrypted"),
            **attrs(self, "key size_bytes status"),
        }


def attrs(obj: Any, names: str) -> dict[str, Any]:
    """``{name: obj.name}`` for the space-separated ``names``, in that order: a record's
    fields as a table row's columns."""
    return {name: getattr(obj, name) for name in names.split()}
