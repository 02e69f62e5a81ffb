"""Where the extension keeps its records: on moto's own backup backend object.

moto keeps one ``BackupBackend`` per account and Region; the extension stores its
selections, jobs, recovery points and vault access policies in an ``ExtState``
attached to that object. moto's reset (``/moto-api/reset``, ``mock_aws`` start)
rebuilds the backend objects, which drops this state with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from moto.backup.models import BackupBackend, Vault, backup_backends

from .errors import ResourceNotFoundException

_ATTR = "_sandbox_backup_ext"


@dataclass
class ExtState:
    selections: dict[str, Any] = field(default_factory=dict)
    backup_jobs: dict[str, Any] = field(default_factory=dict)
    copy_jobs: dict[str, Any] = field(default_factory=dict)
    restore_jobs: dict[str, Any] = field(default_factory=dict)
    recovery_points: dict[str, Any] = field(default_factory=dict)
    access_policies: dict[str, str] = field(default_factory=dict)


def backend(account_id: str, region: str) -> BackupBackend:
    return backup_backends[account_id][region]


def ext_state(account_id: str, region: str) -> ExtState:
    be = backend(account_id, region)
    return be.__dict__.setdefault(_ATTR, ExtState())


def get_vault(account_id: str, region: str, vault_name: str) -> Vault:
    vault = backend(account_id, region).vaults.get(vault_name)
    if vault is None:
        raise ResourceNotFoundException(
            f"Backup vault {vault_name} does not exist in account {account_id} and Region {region}"
        )
    return vault


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Request timestamps arrive naive (UTC); make them comparable."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def split_arn(arn: str) -> tuple[str, str, str, str]:
    """Return (service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        from .errors import InvalidParameterValueException

        raise InvalidParameterValueException(f"Invalid ARN: {arn}")
    return parts[2], parts[3], parts[4], parts[5]


def paginate(
    items: list[Any], max_results: int | None, next_token: str | None
) -> tuple[list[Any], str | None]:
    start = int(next_token) if next_token and next_token.isdigit() else 0
    end = len(items) if not max_results else start + max_results
    token = str(end) if end < len(items) else None
    return items[start:end], token
