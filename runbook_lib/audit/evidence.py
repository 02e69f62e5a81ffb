"""Everything the controls judge, gathered once per audit run.

- the inventory (resources with their classification and protection): all that the
  controls that make the inventory's gaps read (:func:`inventory_evidence`); the controls
  never read the gaps, the gaps are their FAIL findings;
- AWS Backup vaults per (account, Region): type (``VaultType``), key and key type, lock,
  access policy, and their recovery points (encryption, lifecycle) — read here because the inventory keeps only when a
  point was made;
- AWS Backup recovery points in the tiers' copy destinations outside the estate (the
  ``copy_region`` of every account, the ``copy_account`` in every Region): the evidence that
  a copy exists, each vault read once per run;
- the ``restore_tests`` ledger table (what restore tests proved, and when);
- settings per (account, Region) that no inventory row holds, each read by the service
  module that knows it (:func:`setting_read`, e.g. encryption by default, the rotation of
  the keys that encrypt backups), once per scope.

A table missing from the ledger is an empty frame: no evidence, which evidence-based
controls report as FAIL, never a crash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib.errors import AccessError
from runbook_lib.params import Params, Tier, format_duration
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")

VAULT_COLUMNS = [
    "account",
    "region",
    "name",
    "arn",
    "encryption_key_arn",
    "cmk",
    "locked",
    "min_retention_days",
    "max_retention_days",
    "recovery_points",
    "policy",
    "policy_status",
    "vault_type",  # BACKUP_VAULT, LOGICALLY_AIR_GAPPED_BACKUP_VAULT; None: not reported
    "encryption_key_type",  # AWS_OWNED_KMS_KEY, CUSTOMER_MANAGED_KMS_KEY; None: not reported
]
RECOVERY_POINT_COLUMNS = [
    "account",
    "region",
    "vault",
    "arn",
    "resource_arn",
    "resource_type",
    "created",
    "status",
    "encrypted",
    "encryption_key_arn",
    "delete_after_days",
    "vault_type",  # the type of the vault holding it (VAULT_COLUMNS)
    "encryption_key_type",  # the point's EncryptionKeyType; None: not reported
]
RESTORE_TEST_COLUMNS = [
    "test_id",
    "resource_arn",
    "tier",
    "status",
    "verdict",
    "content_verdict",
    "copy",
    "recovery_point_id",
    "reason",
    "tested_at",
    "rto_seconds",
    "rpo_seconds",
    "cleanup_status",
]
OK = "ok"
LIVE = pd.Timedelta(minutes=15)  # an as_of this close to now means "now"
NOT_SUPPORTED = "NOT_SUPPORTED_ON_SANDBOX"
_ERRORS = (ClientError, BotoCoreError, AccessError, NotImplementedError, OSError)
AIR_GAPPED = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"  # ListBackupVaults VaultType
AWS_OWNED = "AWS_OWNED_KMS_KEY"  # ListBackupVaults / recovery points EncryptionKeyType

#: Settings the audit reads per (account, Region) beyond the inventory: name -> read
#: ``(session, evidence, account, Region) -> value``, registered by a service's controls
#: module with :func:`setting_read` (``evidence`` holds the vaults already read).
SETTING_READS: dict[str, Callable[..., Any]] = {}


def setting_read(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``read(session, evidence, account, region)`` as the setting ``name``, read
    once per (account, Region) of the estate by :func:`gather` (``Evidence.settings``)."""

    def register(read: Callable[..., Any]) -> Callable[..., Any]:
        SETTING_READS[name] = read
        return read

    return register


@dataclass(frozen=True)
class Unread:
    """A setting that could not be read in one scope, and why."""

    why: str
    not_supported: bool = False  # the sandbox does not implement the read


@dataclass
class Evidence:
    params: Params
    as_of: datetime
    sandbox: bool
    resources: pd.DataFrame  # inventory.table(): one row per data resource
    inventory_errors: pd.DataFrame  # scopes or resources the inventory could not read
    problems: dict[str, str]  # arn -> classification problem (unclassified, unknown_tier:x)
    vaults: pd.DataFrame  # VAULT_COLUMNS
    recovery_points: pd.DataFrame  # RECOVERY_POINT_COLUMNS (AWS Backup points)
    restore_tests: pd.DataFrame  # the ledger's restore_tests, up to as_of (+ tested_at)
    protection_detail: pd.DataFrame = field(default_factory=pd.DataFrame)  # per mechanism
    backup_scopes: dict[tuple[str, str], str] = field(default_factory=dict)  # -> ok | why not
    aws_backup_services: frozenset[str] = frozenset()
    #: AWS Backup points read in copy destinations outside the estate (RECOVERY_POINT_COLUMNS)
    copy_recovery_points: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=RECOVERY_POINT_COLUMNS)
    )
    #: (account, Region) -> ok | why not, for the copy destinations outside the estate
    copy_scopes: dict[tuple[str, str], str] = field(default_factory=dict)
    #: setting name (SETTING_READS) -> (account, Region) -> its value, or :class:`Unread`
    settings: dict[str, dict[tuple[str, str], Any]] = field(default_factory=dict)

    # ------------------------------------------------------------ helpers for controls
    def tier(self, name: str | None) -> Tier:
        return self.params.tier(name)

    def rows(self) -> list[dict[str, Any]]:
        return self.resources.to_dict("records")

    def only(self, services: tuple[str, ...]) -> Evidence:
        """This evidence with the data resources of ``services`` only."""
        r = self.resources
        return replace(self, resources=r[r.service.isin(services)] if len(r) else r)

    def row(self, arn: str) -> dict[str, Any] | None:
        """The inventory row of ``arn`` (None if the inventory does not hold it)."""
        hit = self.resources[self.resources.arn == arn] if len(self.resources) else []
        return hit.iloc[0].to_dict() if len(hit) else None

    def tests_for(self, arn: str) -> pd.DataFrame:
        t = self.restore_tests
        return t[t.resource_arn == arn].sort_values("tested_at") if len(t) else t

    def copies_of(self, arn: str) -> pd.DataFrame:
        """Completed AWS Backup recovery points of ``arn`` in any scope read (the estate's
        and the copy destinations'), made by ``as_of``; newest last."""
        frames = [f for f in (self.recovery_points, self.copy_recovery_points) if len(f)]
        if not frames:
            return pd.DataFrame(columns=RECOVERY_POINT_COLUMNS)
        points = pd.concat(frames, ignore_index=True)
        points = points[
            (points.resource_arn == arn)
            & points.status.fillna("COMPLETED").isin(["COMPLETED", ""])
            & points.created.notna()
            & (points.created <= ledger_cutoff(self.as_of))
        ]
        return points.sort_values("created", ignore_index=True)

    def scope_read(self, account: str, region: str) -> str:
        """``ok``, or why AWS Backup in (account, Region) was not read."""
        return self.copy_scopes.get((account, region)) or self.backup_scopes.get(
            (account, region), "not read: outside the estate and no tier copies there"
        )

    def window(self, tier: str | None) -> tuple[pd.Timestamp, str]:
        every = self.tier(tier).restore_test_every
        secs = int(every.total_seconds())
        text = f"{secs // 86400}d" if secs % 86400 == 0 else format_duration(every)
        return pd.Timestamp(self.as_of) - every, text


def reproducible(row: dict[str, Any]) -> str | None:
    value = row.get("reproducible_from")
    return value if isinstance(value, str) and value else None


def as_list(value: Any) -> list:
    """Copy Regions/accounts as a list, whether a list, tuple, JSON text or missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value)


# ----------------------------------------------------------------- gathering


def inventory_evidence(
    inventory: Any, *, as_of: datetime | None = None, sandbox: bool | None = None
) -> Evidence:
    """Evidence from the inventory alone: no AWS call, no ledger read. What the controls
    that make the inventory's gaps judge (``Control.makes_gaps``); the AWS Backup and
    ledger parts are empty."""
    from runbook_lib.inventory import SERVICES

    points = pd.DataFrame(columns=RECOVERY_POINT_COLUMNS)
    points["created"] = pd.to_datetime(points["created"], utc=True)
    tests = pd.DataFrame(columns=RESTORE_TEST_COLUMNS)
    tests["tested_at"] = pd.to_datetime(tests["tested_at"], utc=True)
    return Evidence(
        params=inventory.params,
        as_of=as_of or inventory.as_of,
        sandbox=bool(getattr(inventory, "sandbox", False) if sandbox is None else sandbox),
        resources=with_settings(inventory.table(), getattr(inventory, "found", {})),
        inventory_errors=inventory.errors,
        problems=dict(getattr(inventory, "problems", {}) or {}),
        vaults=pd.DataFrame(columns=VAULT_COLUMNS),
        recovery_points=points,
        restore_tests=tests,
        protection_detail=getattr(inventory, "protection_detail", pd.DataFrame()),
        aws_backup_services=frozenset(n for n, s in SERVICES.items() if s.aws_backup),
    )


def with_settings(table: pd.DataFrame, found: dict[str, Any]) -> pd.DataFrame:
    """``table`` with a column per setting a service's inventory read beyond the resource
    columns (its ``Scope.row`` values, e.g. ``deletion_protection``): what the controls of
    those settings judge; None where a resource's service does not read it."""
    settings: dict[str, dict[str, Any]] = {}
    for arn, f in (found or {}).items():
        for key, value in f.row.items():
            if key not in table.columns:
                settings.setdefault(key, {})[arn] = value
    if not settings or table.empty:
        return table
    table = table.copy()
    for key, by_arn in sorted(settings.items()):
        table[key] = pd.Series([by_arn.get(a) for a in table.arn], index=table.index, dtype=object)
    return table


def gather(ctx: Any, inventory: Any = None, *, progress: bool = True) -> Evidence:
    """Read the inventory (discovering it if not given), AWS Backup and the ledger."""
    from runbook_lib.inventory import discover

    if inventory is None:
        inventory = discover(ctx, progress=progress)
    session, params = ctx.session, ctx.params
    vaults, points, scopes = _backup(session, params)
    copy_points, copy_status = _copy_destinations(session, params, scopes)
    keys = _key_resolver(session)
    if keys is not None and len(vaults):
        vaults["cmk"] = [
            _safe_cmk(keys, k, a, r)
            for k, a, r in vaults[["encryption_key_arn", "account", "region"]].values
        ]
    ev = replace(
        inventory_evidence(inventory, as_of=ctx.as_of, sandbox=session.sandbox),
        params=params,
        vaults=vaults,
        recovery_points=points,
        restore_tests=read_restore_tests(ctx.ledger, ctx.as_of),
        backup_scopes=scopes,
        copy_recovery_points=copy_points,
        copy_scopes=copy_status,
    )
    return replace(ev, settings=read_settings(session, ev))


def read_settings(session, ev: Evidence) -> dict[str, dict[tuple[str, str], Any]]:
    """Every registered setting (:data:`SETTING_READS`) in every (account, Region) of the
    estate; a read that fails is an :class:`Unread` naming the error, never a guess."""
    from runbook_lib import services

    services.load("controls")  # the services' controls modules register their reads
    scopes = [(a, r) for a in ev.params.account_ids for r in ev.params.regions]
    out: dict[str, dict[tuple[str, str], Any]] = {name: {} for name in SETTING_READS}
    jobs = [(name, read, s) for name, read in sorted(SETTING_READS.items()) for s in scopes]
    with ThreadPoolExecutor(ev.params.target.max_workers, thread_name_prefix="audit") as pool:
        futures = [(name, s, pool.submit(read, session, ev, *s)) for name, read, s in jobs]
        for name, scope, fut in futures:
            try:
                out[name][scope] = fut.result()
            except _ERRORS as err:
                why = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                log.warning("audit: %s in %s/%s could not be read: %s", name, *scope, why)
                out[name][scope] = Unread(why, bool(session.sandbox and is_not_supported(err)))
    return out


def _key_resolver(session):
    try:
        from runbook_lib.inventory.keys import KeyResolver

        return KeyResolver(session)
    except ImportError:  # pragma: no cover - the inventory package moved it
        return None


def _safe_cmk(keys, key, account, region) -> bool | None:
    if not isinstance(key, str):  # no key named (NaN in the frame): an AWS-owned key
        key = None
    try:
        return keys.is_cmk(key, account, region)
    except _ERRORS:
        return None


def _backup(session, params: Params):
    scopes = [(a, r) for a in params.account_ids for r in params.regions]
    return _read_scopes(session, params, scopes, policies=True)


def copy_destinations(params: Params) -> list[tuple[str, str]]:
    """Every (account, Region) a tier's copy may live in: the ``copy_region`` in each
    account, the ``copy_account`` in each Region of the estate and in the copy Region."""
    out: dict[tuple[str, str], None] = {}
    for tier in params.tiers.values():
        if tier.copy_region:
            for account in params.account_ids:
                out[(account, tier.copy_region)] = None
        if tier.copy_account:
            for region in [*params.regions, *([tier.copy_region] if tier.copy_region else [])]:
                out[(tier.copy_account, region)] = None
    return list(out)


def _copy_destinations(session, params: Params, done: dict[tuple[str, str], str]):
    """The recovery points of the copy destinations the estate's scopes did not cover
    (each vault listed once), and whether each such scope was read."""
    todo = [s for s in copy_destinations(params) if s not in done]
    if not todo:
        return pd.DataFrame(columns=RECOVERY_POINT_COLUMNS), {}
    _vaults, points, status = _read_scopes(session, params, todo, policies=False)
    return points, status


def _read_scopes(session, params: Params, scopes: list[tuple[str, str]], *, policies: bool):
    vaults: list[dict] = []
    points: list[dict] = []
    status: dict[tuple[str, str], str] = {}
    with ThreadPoolExecutor(params.target.max_workers, thread_name_prefix="audit") as pool:
        futures = {s: pool.submit(_backup_scope, session, *s, policies=policies) for s in scopes}
        for scope, fut in futures.items():
            try:
                v, p, st = fut.result()
            except _ERRORS as err:
                why = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                log.warning("audit: AWS Backup in %s/%s could not be read: %s", *scope, why)
                status[scope] = f"not read: {why}"
                continue
            vaults += v
            points += p
            status[scope] = st
    vdf = pd.DataFrame(vaults, columns=VAULT_COLUMNS)
    pdf = pd.DataFrame(points, columns=RECOVERY_POINT_COLUMNS)
    pdf["created"] = pd.to_datetime(pdf["created"], utc=True)
    return vdf, pdf, status


def _listed_vaults(backup) -> list[dict]:
    """The scope's vaults: the default listing, and the logically air-gapped ones asked for
    by type (``ByVaultType``), each once. A listing that ignores the filter (one that
    reports no ``VaultType``) adds nothing: only a vault reported as air-gapped counts."""
    paginator = backup.get_paginator("list_backup_vaults")
    vaults = [v for page in paginator.paginate() for v in page.get("BackupVaultList", [])]
    seen = {v["BackupVaultArn"] for v in vaults}
    for page in paginator.paginate(ByVaultType=AIR_GAPPED):
        for v in page.get("BackupVaultList", []):
            if v.get("VaultType") == AIR_GAPPED and v["BackupVaultArn"] not in seen:
                seen.add(v["BackupVaultArn"])
                vaults.append(v)
    return vaults


def _backup_scope(session, account: str, region: str, *, policies: bool = True):
    backup = session.client("backup", account, region)
    vaults, points, status = [], [], OK
    for v in _listed_vaults(backup):
        name = v["BackupVaultName"]
        policy, policy_status = None, OK
        try:
            if policies:
                policy = backup.get_backup_vault_access_policy(BackupVaultName=name).get("Policy")
        except backup.exceptions.ResourceNotFoundException:
            policy = None
        except _ERRORS as err:
            if session.sandbox and is_not_supported(err):
                policy_status = status = NOT_SUPPORTED
            else:
                raise
        vaults.append(
            {
                "account": account,
                "region": region,
                "name": name,
                "arn": v["BackupVaultArn"],
                "encryption_key_arn": v.get("EncryptionKeyArn"),
                "cmk": None,
                "locked": bool(v.get("Locked")),
                "min_retention_days": v.get("MinRetentionDays"),
                "max_retention_days": v.get("MaxRetentionDays"),
                "recovery_points": v.get("NumberOfRecoveryPoints"),
                "policy": policy,
                "policy_status": policy_status,
                "vault_type": v.get("VaultType"),
                "encryption_key_type": v.get("EncryptionKeyType"),
            }
        )
        try:
            pages = list(
                backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
                    BackupVaultName=name
                )
            )
        except _ERRORS as err:
            if session.sandbox and is_not_supported(err):
                status = NOT_SUPPORTED
                continue
            raise
        for page in pages:
            for rp in page.get("RecoveryPoints", []):
                points.append(
                    {
                        "account": account,
                        "region": region,
                        "vault": name,
                        "arn": rp["RecoveryPointArn"],
                        "resource_arn": rp.get("ResourceArn", ""),
                        "resource_type": rp.get("ResourceType", ""),
                        "created": rp.get("CreationDate"),
                        "status": rp.get("Status", ""),
                        "encrypted": rp.get("IsEncrypted"),
                        "encryption_key_arn": rp.get("EncryptionKeyArn"),
                        "delete_after_days": (rp.get("Lifecycle") or {}).get("DeleteAfterDays"),
                        "vault_type": v.get("VaultType"),
                        "encryption_key_type": rp.get("EncryptionKeyType"),
                    }
                )
    return vaults, points, status


def ledger_cutoff(as_of: datetime) -> pd.Timestamp:
    """Ledger rows count up to ``as_of`` when it lies in the past (a report as of then);
    when ``as_of`` is about now (the default), rows recorded later in the same run count too."""
    now = pd.Timestamp(utcnow())  # the target's clock (runbook_lib.clock)
    t = pd.Timestamp(as_of)
    return t if now - t > LIVE else max(t, now)


def read_restore_tests(ledger: Any, as_of: datetime) -> pd.DataFrame:
    """The ledger's restore tests that ended by ``as_of``, with a ``tested_at`` time."""
    try:
        df = ledger.read("restore_tests")
    except Exception as err:  # noqa: BLE001  (an unreadable ledger is no evidence, said in the log)
        log.warning("audit: restore_tests could not be read from the ledger: %s", err)
        df = pd.DataFrame()
    if df.empty or "resource_arn" not in df:
        return pd.DataFrame(columns=RESTORE_TEST_COLUMNS)
    df = df.copy()
    for col in RESTORE_TEST_COLUMNS:
        if col not in df:
            df[col] = None
    when = None
    for col in ("restore_end", "restore_start", "recorded_at"):
        if col in df:
            t = pd.to_datetime(df[col], utc=True, errors="coerce", format="ISO8601")
            when = t if when is None else when.fillna(t)
    df["tested_at"] = when
    df["status"] = df["status"].fillna(df["verdict"])
    for col in ("rto_seconds", "rpo_seconds"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df[df.tested_at.notna() & (df.tested_at <= ledger_cutoff(as_of))]
    return df.sort_values("tested_at", ignore_index=True)


__all__ = [
    "AIR_GAPPED", "AWS_OWNED", "Evidence", "SETTING_READS", "Unread", "gather", "inventory_evidence",
    "read_restore_tests", "read_settings", "setting_read",
]  # fmt: skip
