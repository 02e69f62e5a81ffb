"""Vault types: logically air-gapped backup vaults, and the vault type every vault reports.

moto 5.2.5 knows one kind of vault and never says its type. As on AWS (botocore model):

- ``CreateLogicallyAirGappedBackupVault`` (``PUT /logically-air-gapped-backup-vaults/{name}``)
  makes a vault of type ``LOGICALLY_AIR_GAPPED_BACKUP_VAULT``; ``MinRetentionDays`` (at least
  7) and ``MaxRetentionDays`` (at most 36500, not below the minimum) are required, and the
  vault is locked with them at once (compliance mode: the lock can be neither changed nor
  removed). Without ``EncryptionKeyArn`` it is encrypted with an AWS-owned key
  (``EncryptionKeyType`` ``AWS_OWNED_KMS_KEY``, no key ARN); with one, the customer-managed
  key (``CUSTOMER_MANAGED_KMS_KEY``). The create answer says ``VaultState`` ``CREATING``;
  the vault is ``AVAILABLE`` from the first describe or list on (AWS takes a few minutes).
- ``DescribeBackupVault`` and ``ListBackupVaults`` report ``VaultType`` (``BACKUP_VAULT`` for
  the vaults ``CreateBackupVault`` makes) and ``VaultState``; ``ListBackupVaults`` honours
  ``ByVaultType``, lists every type without it, and ``ByShared=true`` lists nothing (the
  sandbox shares no vault across accounts).
- A copy into an air-gapped vault (``StartCopyJob``, a plan rule's copy action) must keep
  the recovery point for a retention (``Lifecycle.DeleteAfterDays``) within the vault's
  minimum and maximum; otherwise ``StartCopyJob`` is refused with
  InvalidParameterValueException and a plan's copy job FAILS with that reason
  (:func:`check_copy_target`). Its recovery points report the vault's type and key type.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from moto.backup.models import Vault
from moto.core.responses import ActionResult

from .errors import (
    AlreadyExistsException,
    InvalidParameterValueException,
    MissingParameterValueException,
)
from .state import backend, get_vault, paginate

ORDINARY = "BACKUP_VAULT"
AIR_GAPPED = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"
VAULT_TYPES = (ORDINARY, AIR_GAPPED, "RESTORE_ACCESS_BACKUP_VAULT")
AWS_OWNED, CUSTOMER_MANAGED = "AWS_OWNED_KMS_KEY", "CUSTOMER_MANAGED_KMS_KEY"
NAME = re.compile(r"^[a-zA-Z0-9\-\_]{2,50}$")  # the model's pattern for this operation
MIN_RETENTION, MAX_RETENTION = 7, 36500


def vault_type(vault: Vault) -> str:
    return getattr(vault, "vault_type", ORDINARY)


def key_type(vault: Vault) -> str | None:
    """``EncryptionKeyType`` of an air-gapped vault (None for ordinary ones: not reported)."""
    return getattr(vault, "encryption_key_type", None)


def is_air_gapped(vault: Vault) -> bool:
    return vault_type(vault) == AIR_GAPPED


def _when(value: Any) -> Any:
    """moto keeps vault times as epoch seconds; the serialiser wants datetimes."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value


def summary(vault: Vault) -> dict[str, Any]:
    """One vault as ``ListBackupVaults`` / ``DescribeBackupVault`` answer it."""
    out = dict(vault.to_list_dict())
    out["CreationDate"] = _when(out["CreationDate"])
    if "LockDate" in out:
        out["LockDate"] = _when(out["LockDate"])
    out["NumberOfRecoveryPoints"] = vault.num_of_recovery_points
    out["VaultType"] = vault_type(vault)
    out["VaultState"] = "AVAILABLE"
    if key_type(vault):
        out["EncryptionKeyType"] = key_type(vault)
    return {k: v for k, v in out.items() if v is not None}


def create(account_id: str, region: str, name: str, p: dict[str, Any]) -> Vault:
    """A logically air-gapped vault, checked as AWS checks the request."""
    if not NAME.match(name or ""):
        raise InvalidParameterValueException(
            f"BackupVaultName {name!r}: 2 to 50 letters, digits, '-' or '_' "
            f"(pattern {NAME.pattern})"
        )
    days = {}
    for field in ("MinRetentionDays", "MaxRetentionDays"):
        if p.get(field) is None:
            raise MissingParameterValueException(
                f"{field} is required for a logically air-gapped backup vault"
            )
        days[field] = int(p[field])
    low, high = days["MinRetentionDays"], days["MaxRetentionDays"]
    if low < MIN_RETENTION:
        raise InvalidParameterValueException(
            f"MinRetentionDays {low}: must be at least {MIN_RETENTION} days"
        )
    if high > MAX_RETENTION:
        raise InvalidParameterValueException(
            f"MaxRetentionDays {high}: cannot exceed {MAX_RETENTION} days"
        )
    if low > high:
        raise InvalidParameterValueException(
            f"MinRetentionDays {low} cannot be greater than MaxRetentionDays {high}"
        )
    be = backend(account_id, region)
    if name in be.vaults:
        raise AlreadyExistsException(msg=f"Backup vault {name} already exists")
    key = p.get("EncryptionKeyArn")
    vault = Vault(
        backup_vault_name=name,
        encryption_key_arn=key,
        creator_request_id=p.get("CreatorRequestId"),
        backend=be,
    )
    vault.vault_type = AIR_GAPPED
    vault.encryption_key_type = CUSTOMER_MANAGED if key else AWS_OWNED
    # locked in compliance mode from the start: moto refuses to change or remove a lock
    # whose LockDate has passed
    vault.locked = True
    vault.min_retention_days, vault.max_retention_days = low, high
    vault.lock_date = vault.creation_date
    if p.get("BackupVaultTags"):
        be.tag_resource(vault.backup_vault_arn, p["BackupVaultTags"])
    be.vaults[name] = vault
    return vault


def check_copy_target(vault: Vault, lifecycle: dict[str, Any] | None) -> None:
    """A copy into an air-gapped vault keeps its recovery point within the vault's
    retention range (AWS fails the copy otherwise)."""
    if not is_air_gapped(vault):
        return
    keep = (lifecycle or {}).get("DeleteAfterDays")
    low, high = vault.min_retention_days, vault.max_retention_days
    if keep is None:
        raise InvalidParameterValueException(
            f"Lifecycle.DeleteAfterDays is required for a copy into the logically air-gapped "
            f"vault {vault.backup_vault_name} (allowed {low} to {high} days); without it the "
            "recovery point would be kept forever"
        )
    if not low <= int(keep) <= high:
        raise InvalidParameterValueException(
            f"Lifecycle.DeleteAfterDays {keep} is outside the retention range of the logically "
            f"air-gapped vault {vault.backup_vault_name}: allowed {low} to {high} days"
        )


# ------------------------------------------------------------------ operations


def _params(self: Any) -> dict[str, Any]:
    self.parse_parameters(self.normalized_request)
    return dict(self.params)


def create_logically_air_gapped_backup_vault(self: Any) -> ActionResult:
    p = _params(self)
    name = p.get("BackupVaultName") or self.path.rstrip("/").split("/")[-1]
    vault = create(self.current_account, self.region, name, p)
    return ActionResult(
        {
            "BackupVaultName": vault.backup_vault_name,
            "BackupVaultArn": vault.backup_vault_arn,
            "CreationDate": _when(vault.creation_date),
            "VaultState": "CREATING",
        }
    )


def describe_backup_vault(self: Any) -> ActionResult:
    p = _params(self)
    name = p.get("BackupVaultName") or self.path.rstrip("/").split("/")[-1]
    return ActionResult(summary(get_vault(self.current_account, self.region, name)))


def list_backup_vaults(self: Any) -> ActionResult:
    p = _params(self)
    wanted = p.get("ByVaultType")
    if wanted is not None and wanted not in VAULT_TYPES:
        raise InvalidParameterValueException(
            f"ByVaultType {wanted!r}: allowed {', '.join(VAULT_TYPES)}"
        )
    vaults = list(backend(self.current_account, self.region).vaults.values())
    if p.get("ByShared"):
        vaults = []  # no vault is shared with this account on the sandbox
    items = [summary(v) for v in vaults if wanted is None or vault_type(v) == wanted]
    page, token = paginate(items, p.get("MaxResults"), p.get("NextToken"))
    out: dict[str, Any] = {"BackupVaultList": page}
    if token:
        out["NextToken"] = token
    return ActionResult(out)


OPERATIONS = {
    f.__name__: f
    for f in (create_logically_air_gapped_backup_vault, describe_backup_vault, list_backup_vaults)
}
URL_PATTERNS = ["{0}/logically-air-gapped-backup-vaults/(?P<vault>[^/]+)$"]
