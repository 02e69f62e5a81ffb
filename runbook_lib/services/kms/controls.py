"""KMS's audit control: automatic rotation of the keys that protect backups (REL09-BP02).

The keys judged, per (account, Region) of the estate: each AWS Backup vault's encryption
key, and the key behind protect's ``protect.key_alias`` (the one protect creates, rotates
and gives to vaults and encrypted copies). One DescribeKey and, for a customer-managed
symmetric key, one GetKeyRotationStatus per key (``evidence.setting_read``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib.audit.controls import declared_in, manual, result, step
from runbook_lib.audit.evidence import Evidence, Unread, setting_read
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, NOT_SUPPORTED, PASS, Result
from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import error_code

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file
SETTING = "backup_keys"
ROTATABLE_SPEC = "SYMMETRIC_DEFAULT"  # automatic rotation: symmetric keys with KMS material


def _where(key: str, account: str, region: str) -> tuple[str, str]:
    """(account, Region) of a key ARN; a bare id or alias lives in the scope's."""
    if key.startswith("arn:"):
        parts = key.split(":")
        return parts[4] or account, parts[3] or region
    return account, region


@setting_read(SETTING)
def read_backup_keys(session, ev: Evidence, account: str, region: str) -> list[dict[str, Any]]:
    """The keys that protect backups in one scope, each with what uses it, whether it is
    customer-managed and whether its automatic rotation is on."""
    used: dict[str, list[str]] = {}
    v = ev.vaults
    if len(v):
        here = v[(v.account == account) & (v.region == region)]
        for name, key in zip(here.name, here.encryption_key_arn, strict=True):
            if isinstance(key, str) and key:
                used.setdefault(key, []).append(f"vault {name}")
    kms = session.client("kms", account, region)
    alias = ev.params.protect.key_alias
    try:
        arn = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
        used.setdefault(arn, []).append(f"protect.key_alias {alias}")
    except ClientError as err:
        if error_code(err) != "NotFoundException":  # no alias here: protect made no key
            raise
    resolver = KeyResolver(session)
    return [_key(session, resolver, key, whom, account, region) for key, whom in used.items()]


def _key(session, resolver, key: str, whom: list[str], account: str, region: str) -> dict:
    key_account, key_region = _where(key, account, region)
    fact: dict[str, Any] = {"key": key, "account": key_account, "region": key_region}
    fact.update(used_by=whom, cmk=None, rotation=None, period_days=None, error="", spec="")
    in_estate = key_account in session.params.account_ids
    kms = session.client("kms", key_account if in_estate else account, key_region)
    try:
        fact["cmk"] = resolver.is_cmk(key, key_account, key_region)
        if not fact["cmk"]:  # AWS-managed (or unknown: resolver.failures says why)
            if fact["cmk"] is None and resolver.failures:
                fact["error"] = str(resolver.failures[-1][3]).splitlines()[0][:200]
            return fact
        meta = kms.describe_key(KeyId=key)["KeyMetadata"]
        fact["arn"], fact["spec"] = meta.get("Arn", key), meta.get("KeySpec", ROTATABLE_SPEC)
        fact["origin"] = meta.get("Origin", "AWS_KMS")
        if fact["spec"] == ROTATABLE_SPEC and fact["origin"] == "AWS_KMS":
            status = kms.get_key_rotation_status(KeyId=fact["arn"])
            fact["rotation"] = bool(status.get("KeyRotationEnabled"))
            fact["period_days"] = status.get("RotationPeriodInDays")
    except (ClientError, BotoCoreError) as err:  # this key unknown, the others still read
        fact["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return fact


def _facts(ev: Evidence) -> tuple[dict[str, dict], list[tuple[tuple[str, str], Unread]]]:
    """Every key read (merged across scopes by ARN) and the scopes that could not be read."""
    keys: dict[str, dict] = {}
    unread = []
    for scope, value in sorted(ev.settings.get(SETTING, {}).items()):
        if isinstance(value, Unread):
            unread.append((scope, value))
            continue
        for fact in value:
            arn = fact.get("arn") or fact["key"]
            if arn in keys:
                keys[arn]["used_by"] = sorted({*keys[arn]["used_by"], *fact["used_by"]})
            else:
                keys[arn] = {**fact, "used_by": sorted(fact["used_by"])}
    return keys, unread


@control("backup_key_rotation_enabled")
def backup_key_rotation_enabled(ev: Evidence) -> Iterator[Result]:
    """A customer-managed key that encrypts backups should rotate its key material
    automatically (yearly by default): a leaked key version then protects ever less."""
    expected = "KeyRotationEnabled = true"
    keys, unread = _facts(ev)
    for arn, f in sorted(keys.items()):
        row = {"account": f["account"], "region": f["region"], "service": "kms", "arn": arn}
        row["name"] = "; ".join(f["used_by"])
        if f["error"]:
            yield result(
                row,
                FAIL,
                f"key could not be read ({f['error']})",
                expected=expected,
                remediation=manual("grant kms:DescribeKey and kms:GetKeyRotationStatus, rerun"),
            )
        elif f["cmk"] is False:
            yield result(
                row,
                NOT_APPLICABLE,
                "AWS-managed key: AWS rotates it every year; its rotation cannot be set",
                expected=expected,
            )
        elif f["cmk"] is None:
            yield result(
                row,
                FAIL,
                "whether the key is customer-managed could not be told",
                expected=expected,
                remediation=manual("grant kms:DescribeKey and kms:ListAliases, rerun"),
            )
        elif f["rotation"] is None:
            why = f"key spec {f['spec']}, origin {f.get('origin')}"
            yield result(
                row,
                NOT_APPLICABLE,
                f"automatic rotation is not available for this key ({why})",
                expected=expected,
            )
        elif f["rotation"]:
            every = f" every {f['period_days']} days" if f.get("period_days") else ""
            yield result(row, PASS, f"KeyRotationEnabled = true{every}", expected=expected)
        else:
            ours = any(u.startswith("protect.key_alias") for u in f["used_by"])
            yield result(
                row,
                FAIL,
                "KeyRotationEnabled = false",
                expected=expected,
                remediation=step("key rotation")
                if ours
                else manual(f"enable automatic rotation of key {arn} (kms EnableKeyRotation)"),
            )
    for (account, region), why in unread:
        row = {"account": account, "region": region, "service": "kms"}
        row.update(arn=f"estate:{account}/{region}", name="keys that protect backups")
        status = NOT_SUPPORTED if why.not_supported else FAIL
        yield result(row, status, f"keys could not be read: {why.why}", expected=expected)
