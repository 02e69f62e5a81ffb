"""The data model of an inventory: one row per data resource, the same columns for every
service, plus what protects each resource and the recovery points found for it.

The row (:data:`COLUMNS`, made by :meth:`Scope.row`) is the one resource model: protect's
``DataResource`` and restore's ``ResourceRef`` are views over it. A recovery point is the
one :class:`runbook_lib.model.RecoveryPoint` every flow shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib.errors import AccessError
from runbook_lib.model import NOT_SUPPORTED_ON_SANDBOX, RecoveryPoint

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable

    from runbook_lib.inventory.keys import KeyResolver
    from runbook_lib.inventory.reads import Reads
    from runbook_lib.params import Params
    from runbook_lib.session import AwsSession

#: The columns of the resource table, in order (docs/ledger.md describes each).
COLUMNS = [
    "account",
    "region",
    "service",
    "resource_type",
    "arn",
    "name",
    "size_bytes",
    "encrypted",
    "kms_key",
    "cmk",
    "tags",
    "tier",
    "reproducible_from",
    "classified",
    "created",
]

NEVER = math.inf  # retention of data that is never deleted (days)
CONTINUOUS_RPO = timedelta(minutes=5)  # PITR / continuous backup: about five minutes
DAILY_RPO = timedelta(hours=24)
SUPPORTED = "ok"
NOT_SUPPORTED = NOT_SUPPORTED_ON_SANDBOX  # a Protection the sandbox cannot read or make
#: what a failed read raises once the session's retries are spent (a row of ``errors``)
READ_ERRORS = (ClientError, BotoCoreError, AccessError, NotImplementedError, OSError)


@dataclass(frozen=True, kw_only=True)
class Protection:
    """One thing that protects one resource (a setting or a backup plan rule)."""

    mechanism: str  # e.g. "dynamodb PITR", "aws backup plan daily / rule gold-daily"
    rpo: timedelta | None = None  # achievable RPO; None = gives no restore point by itself
    retention_days: float | None = None  # how long restore points are kept; NEVER = forever
    copy_regions: tuple[str, ...] = ()
    copy_accounts: tuple[str, ...] = ()
    status: str = SUPPORTED  # ok | NOT_SUPPORTED_ON_SANDBOX
    detail: str = ""

    @property
    def protects(self) -> bool:
        return self.status == SUPPORTED and self.rpo is not None


@dataclass(kw_only=True)
class Found:
    """What a service module returns per resource: the row, its protections, its points."""

    row: dict[str, Any]
    protections: list[Protection] = field(default_factory=list)
    recovery_points: list[RecoveryPoint] = field(default_factory=list)
    # reads that failed without losing the resource (the row says unknown): (what, error);
    # each becomes an errors row, so the inventory is never called complete over them
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    #: the listed item ``describe`` was given (discovery sets it): what protect's readers of
    #: current settings read, so that protect plans from the inventory's one listing
    item: Any = None


@dataclass
class Scope:
    """One (account, Region) of the estate, with what a service module needs to list it."""

    session: AwsSession
    account: str
    region: str
    keys: KeyResolver
    #: the run's shared reads (batched tags, listings two services share); None: this
    #: scope shares nothing
    reads: Reads | None = None

    @property
    def params(self) -> Params:
        return self.session.params

    def client(self, service: str):
        return self.session.client(service, self.account, self.region)

    def once(self, what: Hashable, read: Callable[[], Any]) -> Any:
        """``read()`` once per run for this account, Region and ``what`` (e.g. a listing two
        services make), shared by every service and thread of the run."""
        if self.reads is None:
            return read()
        return self.reads.once((self.account, self.region, what), read)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def point(self, resource_arn: str, source: str, created: Any, rp_id: str = "") -> RecoveryPoint:
        """A recovery point held in this scope (``rp_id``: its ARN or id, "" if none)."""
        return RecoveryPoint(
            resource_arn=resource_arn,
            source=source,
            created=as_utc(created),
            account=self.account,
            region=self.region,
            id=rp_id,
        )

    def row(self, service: str, resource_type: str, arn: str, name: str, **values: Any) -> dict:
        """A resource row with every column present (``cmk`` filled in from ``kms_key``)."""
        where = {"account": self.account, "region": self.region, "service": service}
        named = {"resource_type": resource_type, "arn": arn, "name": name, "tags": {}}
        row = {**dict.fromkeys(COLUMNS), **where, **named, **values}
        row["created"] = as_utc(row.get("created"))
        if row.get("encrypted") is False:
            row["cmk"] = False
        elif "cmk" not in values:
            row["cmk"] = self.keys.is_cmk(row.get("kms_key"), self.account, self.region)
        return row


def by_resource(points: Iterable[RecoveryPoint]) -> dict[str, list[RecoveryPoint]]:
    """Recovery points grouped by the resource they restore (a per-scope ``extras``)."""
    out: dict[str, list[RecoveryPoint]] = {}
    for rp in points:
        out.setdefault(rp.resource_arn, []).append(rp)
    return out


def paginate(client, operation: str, key: str, **kwargs: Any):
    """Every item under ``key`` across all pages of ``operation``."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def tag_dict(tags: list[dict] | dict | None, k: str = "Key", v: str = "Value") -> dict[str, str]:
    if not tags:
        return {}
    if isinstance(tags, dict):
        return dict(tags)
    return {t[k]: t.get(v, "") for t in tags}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """``tags`` as AWS APIs take them: ``[{"Key": ..., "Value": ...}]`` (:func:`tag_dict`'s
    inverse)."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):  # epoch milliseconds (CloudWatch Logs)
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def error_code(err: Exception) -> str:
    # botocore's connection errors (time-out, closed connection) carry ``response=None``
    return (getattr(err, "response", None) or {}).get("Error", {}).get("Code", "") if err else ""
