"""Recovery points: records of restorable copies kept in a vault."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from moto.backup.models import Vault

from . import policy, resources, vaults
from .errors import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from .state import as_utc, ext_state, get_vault, now, split_arn


@dataclass
class RecoveryPoint:
    arn: str
    account_id: str
    region: str
    vault: Vault
    resource_arn: str
    resource_type: str
    resource_name: str
    payload: resources.Payload
    iam_role_arn: str | None
    lifecycle: dict[str, Any] | None
    created_by: dict[str, str] | None = None
    source_vault_arn: str | None = None
    creation_date: dt.datetime = field(default_factory=now)
    completion_date: dt.datetime = field(default_factory=now)
    status: str = "COMPLETED"
    last_restore_time: dt.datetime | None = None
    damaged: dict[str, int] = field(default_factory=dict)
    storage_class: str = "WARM"  # COLD once the lifecycle moved it (runbook_sandbox.clock)

    @property
    def calculated_lifecycle(self) -> dict[str, dt.datetime]:
        out = {}
        lc = self.lifecycle or {}
        if lc.get("MoveToColdStorageAfterDays"):
            out["MoveToColdStorageAt"] = self.creation_date + dt.timedelta(
                days=lc["MoveToColdStorageAfterDays"]
            )
        if lc.get("DeleteAfterDays"):
            out["DeleteAt"] = self.creation_date + dt.timedelta(days=lc["DeleteAfterDays"])
        return out

    def describe(self) -> dict[str, Any]:
        out = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault.backup_vault_name,
            "BackupVaultArn": self.vault.backup_vault_arn,
            "SourceBackupVaultArn": self.source_vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "ResourceName": self.resource_name,
            "CreatedBy": self.created_by,
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status,
            "CreationDate": self.creation_date,
            "InitiationDate": self.creation_date,
            "CompletionDate": self.completion_date,
            "BackupSizeInBytes": self.payload.size,
            "CalculatedLifecycle": self.calculated_lifecycle,
            "Lifecycle": self.lifecycle,
            "EncryptionKeyArn": self.vault.encryption_key_arn,
            "IsEncrypted": True,
            "StorageClass": self.storage_class,
            "LastRestoreTime": self.last_restore_time,
            "IsParent": False,
            "VaultType": vaults.vault_type(self.vault),
            "EncryptionKeyType": vaults.key_type(self.vault),
        }
        return {k: v for k, v in out.items() if v is not None}

    def by_vault(self) -> dict[str, Any]:
        return self.describe()

    def by_resource(self) -> dict[str, Any]:
        d = self.describe()
        keys = (
            "RecoveryPointArn CreationDate Status BackupSizeInBytes EncryptionKeyArn "
            "BackupVaultName IsParent ResourceName VaultType EncryptionKeyType"
        ).split()
        out = {k: d[k] for k in keys if k in d}
        out["BackupSizeBytes"] = d.get("BackupSizeInBytes")
        return out


def add(rp: RecoveryPoint) -> None:
    ext_state(rp.account_id, rp.region).recovery_points[rp.arn] = rp
    _count(rp.vault, +1)


def _count(vault: Vault, delta: int) -> None:
    # moto's list_backup_vaults reads num_of_recovery_points; describe_backup_vault
    # serialises the attribute named after the API member.
    vault.num_of_recovery_points = max(0, vault.num_of_recovery_points + delta)
    vault.number_of_recovery_points = vault.num_of_recovery_points


def get(account_id: str, region: str, vault_name: str | None, arn: str) -> RecoveryPoint:
    if vault_name is not None:
        get_vault(account_id, region, vault_name)
    rp = ext_state(account_id, region).recovery_points.get(arn)
    if rp is None or (vault_name is not None and rp.vault.backup_vault_name != vault_name):
        where = f"backup vault {vault_name}" if vault_name else f"Region {region}"
        raise ResourceNotFoundException(f"Recovery point {arn} not found in {where}")
    return rp


def find(arn: str) -> RecoveryPoint:
    """A recovery point anywhere, by its ARN (the ARN names account and Region)."""
    _, region, account_id, _ = split_arn(arn)
    return get(account_id, region, None, arn)


def list_by_vault(account_id: str, region: str, vault_name: str, p: dict[str, Any]) -> list:
    get_vault(account_id, region, vault_name)
    points = [
        rp
        for rp in ext_state(account_id, region).recovery_points.values()
        if rp.vault.backup_vault_name == vault_name
    ]
    if p.get("ByResourceArn"):
        points = [rp for rp in points if rp.resource_arn == p["ByResourceArn"]]
    if p.get("ByResourceType"):
        points = [rp for rp in points if rp.resource_type == p["ByResourceType"]]
    if p.get("ByBackupPlanId"):
        points = [
            rp for rp in points if (rp.created_by or {}).get("BackupPlanId") == p["ByBackupPlanId"]
        ]
    if p.get("ByCreatedAfter"):
        points = [rp for rp in points if rp.creation_date >= as_utc(p["ByCreatedAfter"])]
    if p.get("ByCreatedBefore"):
        points = [rp for rp in points if rp.creation_date <= as_utc(p["ByCreatedBefore"])]
    return sorted(points, key=lambda rp: rp.creation_date, reverse=True)


def list_by_resource(account_id: str, region: str, resource_arn: str) -> list:
    points = [
        rp
        for rp in ext_state(account_id, region).recovery_points.values()
        if rp.resource_arn == resource_arn
    ]
    return sorted(points, key=lambda rp: rp.creation_date, reverse=True)


def retained_until(rp: RecoveryPoint) -> dt.datetime | None:
    """Until when the vault's Vault Lock keeps ``rp`` (None: no lock minimum)."""
    vault = rp.vault
    if vault.locked and vault.min_retention_days:
        return rp.creation_date + dt.timedelta(days=vault.min_retention_days)
    return None


def delete(account_id: str, region: str, vault_name: str, arn: str) -> None:
    rp = get(account_id, region, vault_name, arn)
    vault = rp.vault
    keep_until = retained_until(rp)
    if keep_until is not None:
        if now() < keep_until:
            raise InvalidRequestException(
                f"Recovery point {arn} cannot be deleted: backup vault {vault_name} has a "
                f"Vault Lock with MinRetentionDays={vault.min_retention_days}; it is "
                f"retained until {keep_until.isoformat()}"
            )
    doc = ext_state(account_id, region).access_policies.get(vault_name)
    if doc and policy.denies(doc, "backup:DeleteRecoveryPoint", account_id):
        raise policy.access_denied(account_id, "backup:DeleteRecoveryPoint", vault)
    remove(rp)


def remove(rp: RecoveryPoint) -> None:
    """Drop ``rp`` and its data (no checks: a delete request or the lifecycle checked)."""
    del ext_state(rp.account_id, rp.region).recovery_points[rp.arn]
    _count(rp.vault, -1)
    resources.discard(rp.payload, rp.account_id)


def update_lifecycle(
    account_id: str, region: str, vault_name: str, arn: str, lifecycle: dict | None
) -> RecoveryPoint:
    rp = get(account_id, region, vault_name, arn)
    lifecycle = lifecycle or {}
    cold, delete_after = (
        lifecycle.get("MoveToColdStorageAfterDays"),
        lifecycle.get("DeleteAfterDays"),
    )
    if cold and delete_after and delete_after < cold + 90:
        raise InvalidParameterValueException(
            "DeleteAfterDays must be at least 90 days greater than MoveToColdStorageAfterDays"
        )
    vault = rp.vault
    doc = ext_state(account_id, region).access_policies.get(vault_name)
    if doc and policy.denies(doc, "backup:UpdateRecoveryPointLifecycle", account_id):
        raise policy.access_denied(account_id, "backup:UpdateRecoveryPointLifecycle", vault)
    if vault.locked and vault.min_retention_days and delete_after:
        if delete_after < vault.min_retention_days:
            raise InvalidRequestException(
                f"DeleteAfterDays {delete_after} is shorter than the Vault Lock "
                f"MinRetentionDays {vault.min_retention_days} of {vault_name}"
            )
    rp.lifecycle = lifecycle
    return rp
