"""REL09-BP02: data and its backups are encrypted, and backups are protected from deletion."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from runbook_lib.audit.controls import (
    backup_row,
    declared_in,
    fix,
    manual,
    points_named,
    recovery_point_groups,
    result,
    step,
)
from runbook_lib.audit.evidence import AIR_GAPPED, AWS_OWNED, Evidence
from runbook_lib.audit.evidence import NOT_SUPPORTED as EV_NOT_SUPPORTED
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, NOT_SUPPORTED, PASS, Result
from runbook_lib.params import format_duration

control = declared_in(__name__)  # the controls' metadata: secure.json beside this file
DELETE_ACTIONS = ("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle")


@control("resource_encrypted_at_rest")
def resource_encrypted_at_rest(ev: Evidence) -> Iterator[Result]:
    """Unencrypted data gives unencrypted snapshots: the backup inherits the weakness."""
    for row in ev.rows():
        enc = row.get("encrypted")
        if enc is True:
            key = row.get("kms_key")
            yield result(
                row,
                PASS,
                f"encrypted ({key if isinstance(key, str) and key else 'service-managed key'})",
                expected="encrypted",
            )
        elif enc is False:
            yield result(
                row,
                FAIL,
                "not encrypted at rest",
                expected="encrypted",
                remediation=fix(ev, row, "resource_encrypted_at_rest", "encryption at rest"),
            )
        else:
            yield result(
                row,
                FAIL,
                "encryption state could not be read",
                expected="encrypted",
                remediation=_unread(),
            )


def _unread() -> str:
    return manual(
        "the encryption setting could not be read (the inventory's errors table says why): "
        "grant the read, run the inventory again"
    )


@control("resource_cmk_when_required")
def resource_cmk_when_required(ev: Evidence) -> Iterator[Result]:
    """A customer-managed key lets the owner control, audit and revoke access to the data
    and to every backup made from it."""
    for row in ev.rows():
        tier = ev.tier(row.get("tier"))
        if not tier.require_cmk:
            yield result(
                row,
                NOT_APPLICABLE,
                f"tier {row.get('tier')} does not require a customer-managed key",
                expected="require_cmk=false",
            )
        elif row.get("cmk") is True:
            yield result(
                row, PASS, f"customer-managed key {row.get('kms_key')}", expected="require_cmk=true"
            )
        else:
            reason, remediation = _no_cmk(ev, row)
            yield result(row, FAIL, reason, expected="require_cmk=true", remediation=remediation)


def _no_cmk(ev: Evidence, row: dict[str, Any]) -> tuple[str, str]:
    """(reason, remediation) of a resource whose tier requires a customer-managed key it
    is not shown to have."""
    if row.get("encrypted") is False:
        reason = "not encrypted at all"
        return reason, fix(ev, row, "resource_encrypted_at_rest", "encryption at rest")
    if row.get("cmk") is not False and row.get("encrypted") is None:
        return "encryption state could not be read", _unread()
    reason = (
        "encrypted with an AWS-managed or AWS-owned key"
        if row.get("cmk") is False
        else f"key {row.get('kms_key')} could not be described"
    )
    return reason, fix(ev, row, "resource_cmk_when_required", "customer-managed key")


# ------------------------------------------------------------------ vaults


def _vault_row(v: dict[str, Any]) -> dict[str, Any]:
    return backup_row(account=v["account"], region=v["region"], arn=v["arn"], name=v["name"])


def _missing_vaults(ev: Evidence) -> Iterator[dict[str, Any]]:
    """(account, Region) scopes holding data that needs backups but no vault at all."""
    r = ev.resources
    if r.empty:
        return
    need = r[r.backup_required.fillna(True).astype(bool)] if "backup_required" in r else r
    have = set(map(tuple, ev.vaults[["account", "region"]].values)) if len(ev.vaults) else set()
    for account, region in sorted(set(map(tuple, need[["account", "region"]].values)) - have):
        arn = f"arn:aws:backup:{region}:{account}:backup-vault:*"
        yield backup_row(account=account, region=region, arn=arn, name="(none)")


def _no_vault(ev: Evidence, expected: str) -> Iterator[Result]:
    """A vault control's FAIL for each scope holding data to back up but no vault."""
    for row in _missing_vaults(ev):
        reason = "no backup vault in this account and Region, though it holds data to back up"
        yield result(row, FAIL, reason, expected=expected)


def _true(value: Any) -> bool:
    """A flag read from the API: True only when it is (numpy's bool too; NaN is not)."""
    return value is True or (hasattr(value, "item") and value.item() is True)


def _days(value: Any) -> str | None:
    """A retention in days as read (int or float in the frame); None when not reported."""
    if value is None or value != value:
        return None
    return f"{float(value):g}"


def _air_gapped(v: dict[str, Any]) -> bool:
    return v.get("vault_type") == AIR_GAPPED


def _air_gapped_lock(v: dict[str, Any]) -> str | None:
    """The lock of a vault ListBackupVaults reports as logically air-gapped, in words, when
    the listing also reports it locked with a minimum retention (``Locked``,
    ``MinRetentionDays``, ``MaxRetentionDays``): such a vault is locked in compliance mode
    from its creation. None for any other vault, or one whose lock is not reported: the
    lock is read, never assumed from the type."""
    if not _air_gapped(v) or not _true(v.get("locked")):
        return None
    low, high = _days(v.get("min_retention_days")), _days(v.get("max_retention_days"))
    if low is None:
        return None
    return f"min retention {low} days, " + (f"max {high} days" if high else "no maximum reported")


def _statements(policy: str | None) -> list[dict]:
    if not isinstance(policy, str) or not policy:
        return []
    try:
        doc = json.loads(policy)
    except ValueError:
        return []
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in _as_list(principal.get("AWS", []))
    return False


def _covers(patterns: list[str], action: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(action.lower(), p.lower()) for p in patterns)


def denied_actions(policy: str | None) -> set[str]:
    """Which of DELETE_ACTIONS the policy denies to every principal (conditions allowed:
    they exempt break-glass roles)."""
    out: set[str] = set()
    for st in _statements(policy):
        if st.get("Effect") != "Deny" or not _everyone(st.get("Principal")):
            continue
        actions = [str(a) for a in _as_list(st.get("Action", []))]
        out |= {a for a in DELETE_ACTIONS if _covers(actions, a)}
    return out


@control("vault_prevents_manual_deletion")
def vault_prevents_manual_deletion(ev: Evidence) -> Iterator[Result]:
    """A stolen administrator credential must not be able to delete the backups: a vault
    access policy denies it to every principal, or the vault is logically air-gapped, locked
    in compliance mode from its creation (VaultType, Locked and MinRetentionDays read from
    ListBackupVaults), which refuses it to every principal until the retention ends."""
    expected = "Deny " + ", ".join(DELETE_ACTIONS) + " to *"
    for v in ev.vaults.to_dict("records"):
        row = _vault_row(v)
        lock = _air_gapped_lock(v)
        if lock:
            # Vault Lock in compliance mode refuses DeleteRecoveryPoint and a shorter
            # lifecycle to every principal, the root user included: what the Deny asks for
            reason = (
                f"logically air-gapped vault (VaultType {AIR_GAPPED}): Vault Lock in compliance "
                f"mode since creation ({lock}), so no principal can delete its recovery points "
                "or shorten their retention before it ends; no access policy is needed"
            )
            yield result(row, PASS, reason, expected=expected)
            continue
        unlocked = (
            "logically air-gapped vault whose lock is not reported (Locked, MinRetentionDays): "
            if _air_gapped(v)
            else ""
        )
        if v["policy_status"] == EV_NOT_SUPPORTED:
            yield result(
                row,
                NOT_SUPPORTED,
                "the sandbox cannot read vault access policies",
                expected=expected,
            )
            continue
        denied = denied_actions(v["policy"])
        missing = [a for a in DELETE_ACTIONS if a not in denied]
        if not isinstance(v["policy"], str) or not v["policy"]:
            yield result(
                row,
                FAIL,
                unlocked
                + "no access policy: anyone with backup permissions can delete recovery points",
                expected=expected,
            )
        elif missing:
            yield result(
                row,
                FAIL,
                unlocked + f"access policy does not deny {', '.join(missing)} to every principal",
                expected=expected,
            )
        else:
            yield result(
                row, PASS, "access policy denies " + ", ".join(sorted(denied)), expected=expected
            )
    yield from _no_vault(ev, expected)


@control("vault_lock_enabled")
def vault_lock_enabled(ev: Evidence) -> Iterator[Result]:
    """Vault Lock (WORM) keeps recovery points for their minimum retention even against
    the root user; its minimum must be at least the one the params ask for."""
    lock = ev.params.protect.vault_lock
    want = lock.min_retention.total_seconds() / 86400 if lock else None
    expected = (
        f"locked, min retention >= {format_duration(lock.min_retention)}" if lock else "locked"
    )
    for v in ev.vaults.to_dict("records"):
        row = _vault_row(v)
        min_days = v.get("min_retention_days")
        gapped = _air_gapped_lock(v)
        if not _true(v.get("locked")):
            yield result(row, FAIL, "vault lock is not set", expected=expected)
        elif want and (min_days is None or min_days != min_days or float(min_days) < want):
            yield result(
                row,
                FAIL,
                f"vault lock min retention {_days(min_days)} days is below {want:g} days"
                + (" (logically air-gapped vault: its lock cannot be changed)" if gapped else ""),
                expected=expected,
                remediation=_new_air_gapped_vault(v, f"MinRetentionDays >= {want:g}")
                if gapped
                else "",
            )
        elif gapped:
            reason = (
                f"logically air-gapped vault: locked in compliance mode since creation ({gapped})"
            )
            yield result(row, PASS, reason, expected=expected)
        else:
            yield result(
                row,
                PASS,
                f"vault lock set (min retention {_days(min_days)} days, "
                f"max {_days(v.get('max_retention_days'))} days)",
                expected=expected,
            )
    yield from _no_vault(ev, expected)


@control("vault_key_customer_managed")
def vault_key_customer_managed(ev: Evidence) -> Iterator[Result]:
    """Applies when any tier requires a customer-managed key: the backups must then be under
    a key the owner controls, separate from AWS-managed keys."""
    if not any(t.require_cmk for t in ev.params.tiers.values()):
        for v in ev.vaults.to_dict("records"):
            yield result(_vault_row(v), NOT_APPLICABLE, "no tier requires a customer-managed key")
        return
    for v in ev.vaults.to_dict("records"):
        row, key = _vault_row(v), v.get("encryption_key_arn")
        key = key if isinstance(key, str) and key else None
        if v.get("cmk") is True:
            yield result(row, PASS, f"customer-managed key {key}", expected="customer-managed key")
        elif v.get("encryption_key_type") == AWS_OWNED:
            # an air-gapped vault's default: AWS holds the key, the owner cannot control it
            what = "logically air-gapped vault" if _air_gapped(v) else "vault"
            yield result(
                row,
                FAIL,
                f"AWS-owned key (EncryptionKeyType {AWS_OWNED}) of this {what}",
                expected="customer-managed key",
                remediation=_new_air_gapped_vault(v, "EncryptionKeyArn = a customer-managed key")
                if _air_gapped(v)
                else "",
            )
        elif v.get("cmk") is False:
            yield result(
                row,
                FAIL,
                f"AWS-managed key {key}" if key else "no key ARN reported (AWS-managed or owned)",
                expected="customer-managed key",
            )
        else:
            yield result(
                row, FAIL, f"key {key} could not be described", expected="customer-managed key"
            )


def _new_air_gapped_vault(v: dict[str, Any], setting: str) -> str:
    """The remediation of a logically air-gapped vault's fixed setting (its key, its lock)."""
    return manual(
        f"the vault {v.get('name')} cannot be changed: create a logically air-gapped vault "
        f"with {setting} (CreateLogicallyAirGappedBackupVault) and copy the recovery points "
        "into it; protect plans no air-gapped vault"
    )


@control("recovery_point_encrypted")
def recovery_point_encrypted(ev: Evidence) -> Iterator[Result]:
    """Every copy of the data is as sensitive as the data: judged per resource and vault
    over all its recovery points, the unencrypted ones named."""
    expected = "every recovery point encrypted"
    for row, points in recovery_point_groups(ev.recovery_points):
        clear = [p for p in points if p.get("encrypted") is not True]
        if clear:
            why = f"{len(clear)} of {len(points)} not encrypted: {points_named(clear)}"
            yield result(row, FAIL, why, expected=expected)
            continue
        keys = sorted({_key_named(p) for p in points})
        yield result(
            row,
            PASS,
            f"all {len(points)} recovery point(s) encrypted with {', '.join(keys)}",
            expected=expected,
        )


def _key_named(point: dict[str, Any]) -> str:
    """A recovery point's key ARN; an AWS-owned key where its EncryptionKeyType says so;
    else, none named (None, NaN), the vault's key."""
    key = point.get("encryption_key_arn")
    if isinstance(key, str) and key:
        return key
    if point.get("encryption_key_type") == AWS_OWNED:
        return "an AWS-owned key"
    return "the vault key"


# ------------------------------------------------------------------ deletion protection


def setting_control(
    setting: str,
    *,
    label: str,
    remedy: str = "",
    applies: Callable[[Any, dict[str, Any]], str | None] = lambda ev, row: None,
    fixed_by: str = "",
) -> Callable[[Evidence], Iterator[Result]]:
    """A control on the boolean ``setting`` a service's inventory reads into each row
    (``Evidence.resources`` column): PASS when on, FAIL naming its value when off, and
    NOT_APPLICABLE where ``applies(ev, row)`` says why not. Resources whose inventory does
    not read the setting are not judged. A FAIL's remediation is the protect plan step
    ``fixed_by`` (its setting), else ``manual``: ``remedy`` formatted with the row's
    ``name``, ``service``, ``region``, ``account``, ``tier``."""

    def evaluate(ev: Evidence) -> Iterator[Result]:
        expected = f"{label} = true"
        for row in ev.rows():
            value = row.get(setting)
            if value is None or value != value:  # not read for this resource (None / NaN)
                continue
            why_not = applies(ev, row)
            if why_not:
                yield result(row, NOT_APPLICABLE, why_not, expected=f"{label}: not asked")
            elif value is True:
                yield result(row, PASS, f"{label} = true", expected=expected)
            else:
                yield result(
                    row,
                    FAIL,
                    f"{label} = {str(value).lower()}",
                    expected=expected,
                    remediation=step(fixed_by)
                    if fixed_by
                    else manual(remedy.format(**{k: row.get(k) for k in FIELDS})),
                )

    return evaluate


FIELDS = ("name", "service", "region", "account", "tier")


def _deletion_protection_asked(ev: Evidence, row: dict[str, Any]) -> str | None:
    if ev.tier(row.get("tier")).deletion_protection:
        return None
    return (
        f"tier {row.get('tier')} does not ask for deletion protection (deletion_protection: false)"
    )


control("resource_deletion_protection")(
    setting_control(
        "deletion_protection",
        label="deletion protection",
        applies=_deletion_protection_asked,
        fixed_by="deletion protection",  # protect plans it for the tiers that ask
    )
)


# ------------------------------------------------------------------ shared snapshots


@control("snapshot_not_shared_outside")
def snapshot_not_shared_outside(ev: Evidence) -> Iterator[Result]:
    """A snapshot restorable by every AWS account, or by an account outside the estate, is
    a copy of the data anyone there can restore: the data leaks, and the copy outlives
    every deletion the owner makes."""
    ours = set(ev.params.account_ids)
    expected = "restorable only by the params' accounts"
    for row in ev.rows():
        shares = row.get("snapshot_shares")
        if not isinstance(shares, dict):
            continue  # the service's inventory does not read snapshot shares
        if not shares:
            yield result(row, NOT_APPLICABLE, "no shareable snapshot", expected=expected)
            continue
        outside = {
            snap: [who for who in whom if who == "all" or who not in ours]
            for snap, whom in sorted(shares.items())
        }
        outside = {snap: whom for snap, whom in outside.items() if whom}
        if not outside:
            reason = f"{len(shares)} snapshot(s), none restorable outside the params' accounts"
            yield result(row, PASS, reason, expected=expected)
            continue
        named = "; ".join(
            f"{snap} restorable by "
            + ", ".join("all accounts (public)" if w == "all" else w for w in whom)
            for snap, whom in outside.items()
        )
        fix_it = manual(
            f"remove the share of {', '.join(outside)} (EBS: ModifySnapshotAttribute "
            "createVolumePermission remove; RDS: ModifyDBSnapshotAttribute / "
            "ModifyDBClusterSnapshotAttribute restore ValuesToRemove)"
        )
        yield result(row, FAIL, named, expected=expected, remediation=fix_it)


# ------------------------------------------------------------------ native snapshot encryption


@control("snapshot_encrypted")
def snapshot_encrypted(ev: Evidence) -> Iterator[Result]:
    """A service's own snapshots (not AWS Backup's recovery points, judged by
    ``recovery_point_encrypted``) are copies of the data: each must be encrypted."""
    expected = "every snapshot encrypted"
    for row in ev.rows():
        snaps = row.get("snapshot_encryption")
        if not isinstance(snaps, dict):
            continue  # the service's inventory does not read its snapshots' encryption
        if not snaps:
            yield result(row, NOT_APPLICABLE, "no snapshot", expected=expected)
            continue
        clear = sorted(s for s, enc in snaps.items() if enc is False)
        unknown = sorted(s for s, enc in snaps.items() if enc is not True and enc is not False)
        if clear:
            yield result(
                row,
                FAIL,
                f"{len(clear)} of {len(snaps)} snapshot(s) not encrypted: {', '.join(clear)}",
                expected=expected,
                remediation=fix(
                    ev,
                    row,
                    "snapshot_encrypted",
                    "manual: copy {snapshots} with encryption on, delete the unencrypted "
                    "snapshot(s), and encrypt the {service} resource itself",
                    snapshots=", ".join(clear),
                ),
            )
        elif unknown:
            yield result(
                row,
                FAIL,
                f"encryption of snapshot(s) {', '.join(unknown)} not reported",
                expected=expected,
                remediation=_unread(),
            )
        else:
            yield result(row, PASS, f"{len(snaps)} snapshot(s), all encrypted", expected=expected)
