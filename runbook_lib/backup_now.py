"""On-demand backups before a risky change (REL09-BP03), recorded with content fingerprints.

    todo = backup_now.plan_backups(rb)                  # what would be backed up, how (reads only)
    done = backup_now.run(rb, approve=True)             # canary -> fingerprint -> backup -> wait -> ledger

For each chosen resource: optionally write a clearly marked canary record (forms:
``runbook_lib.restore.canary``), take the content fingerprint, then start an AWS Backup job
into the Region's protect vault (``ServiceSpec.aws_backup``), or the service's own backup
(``ServiceSpec.native_backup``) where AWS Backup does not reach, is not available, or
``method="native"`` asks for it. Wait with a timeout, then append one row per resource to
the ``backups`` ledger table; per-key digests go to a JSON sidecar file
``<ledger>/fingerprints/<run_id>/<safe name>.json``. Columns: docs/protect.md.

This flow names no service. Each service's ``runbook_lib/services/<package>/backup_now.py``
plugs in, keyed by the inventory's ``service`` name (``services.load("backup_now")``):

- :data:`NATIVE`: its native on-demand backup (:class:`NativeBackup`: start it, poll it);
- :data:`CANARIES`: its canary writer (:data:`CanaryWriter`);
- :data:`FINGERPRINTS`: its content fingerprint taker (:data:`FingerprintTaker`).

A service neither AWS Backup nor a native method reaches declares why in its spec's
``unsupported["backup_now"]``; its rows are ``NO_METHOD`` with that reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from runbook_lib import fingerprint as fpr
from runbook_lib import services
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.model import NOT_SUPPORTED_ON_SANDBOX
from runbook_lib.params import _ARN_RE
from runbook_lib.progress import progress as tqdm
from runbook_lib.protect import central, objectives
from runbook_lib.protect.estate import DataResource, read_resources
from runbook_lib.protect.model import APPLIERS, Step
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")

TERMINAL = {
    "COMPLETED",
    "FAILED",
    "ABORTED",
    "EXPIRED",
    "PARTIAL",
    "TIMEOUT",
    NOT_SUPPORTED_ON_SANDBOX,
}

COLUMNS = [
    "account",
    "region",
    "service",
    "resource_arn",
    "resource_name",
    "tier",
    "method",
    "job_id",
    "recovery_point_arn",
    "native_id",
    "vault",
    "vault_type",
    "created",
    "completed",
    "status",
    "status_message",
    "encrypted",
    "kms_key",
    "delete_after_days",
    "fingerprint_kind",
    "fingerprint_count",
    "fingerprint_digest",
    "fingerprint_location",
    "fingerprint_taken_at",
    "key_names",
    "canary_key",
    "canary_written_at",
]


# --------------------------------------------------------------------------- plug-ins

#: () -> (state, fields): state is one of TERMINAL or e.g. RUNNING; fields update the row
#: (encrypted, kms_key, completed, recovery_point_arn, status_message)
Poll = Callable[[], tuple[str, dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class NativeStarted:
    """A native backup just started: its ids for the ``backups`` row and how to poll it."""

    native_id: str
    poll: Poll
    recovery_point_arn: str | None = None
    created: datetime | None = None


#: (session, res, *, run_id, ident) -> NativeStarted; ``ident`` is :func:`backup_ident`
NativeStart = Callable[..., NativeStarted]
#: (session, res, run_id, now) -> (canary key or None, why none was written)
CanaryWriter = Callable[[Any, DataResource, str, datetime], tuple[str | None, str]]
#: (session, res) -> (fingerprint, key names the per-key digests use)
FingerprintTaker = Callable[[Any, DataResource], tuple[fpr.Fingerprint, list[str]]]


@dataclass(frozen=True, kw_only=True)
class NativeBackup:
    """A service's own on-demand backup."""

    method: str  # the backups row's method: the service's ServiceSpec.native_backup
    start: NativeStart


NATIVE: dict[str, NativeBackup] = {}
CANARIES: dict[str, CanaryWriter] = {}
FINGERPRINTS: dict[str, FingerprintTaker] = {}
#: services whose fingerprint is taken again once the backup completed (see :func:`_after`)
AGAIN: set[str] = set()


def native_backup(*names: str) -> Callable[[NativeStart], NativeStart]:
    """Register ``start`` as the native backup of the services ``names`` (each spec must
    name its ``native_backup`` method)."""

    def register(start: NativeStart) -> NativeStart:
        for name in names:
            method = services.spec(name).native_backup
            if not method:
                raise ValueError(f"{name}: ServiceSpec.native_backup is empty; name the method")
            NATIVE[name] = NativeBackup(method=method, start=start)
        return start

    return register


def canary_writer(*names: str) -> Callable[[CanaryWriter], CanaryWriter]:
    def register(writer: CanaryWriter) -> CanaryWriter:
        for name in names:
            CANARIES[name] = writer
        return writer

    return register


def fingerprint_taker(
    *names: str, again: bool = False
) -> Callable[[FingerprintTaker], FingerprintTaker]:
    """Register ``taker`` for the services ``names`` (each spec must name its fingerprint).
    ``again``: take it a second time once the backup completed; when the two differ (the
    source was written while the backup ran) the sidecar keeps both, and a restore is
    checked within those bounds instead of exactly."""

    def register(taker: FingerprintTaker) -> FingerprintTaker:
        for name in names:
            if not services.spec(name).fingerprint:
                raise ValueError(f"{name}: ServiceSpec.fingerprint is empty; name the kind")
            FINGERPRINTS[name] = taker
            if again:
                AGAIN.add(name)
        return taker

    return register


def _plugins() -> None:
    services.load("backup_now")  # every service's backup_now module registers itself


def _spec(service: str) -> services.ServiceSpec | None:
    return services.specs().get(service)


def backup_ident(run_id: str) -> str:
    """The run's part of a native backup's name: ``backup-now-<run id>``, lowercase."""
    return f"backup-now-{run_id}".lower().replace("_", "-")[:60]


def no_method_reason(service: str) -> str:
    """Why backup_now takes no backup of ``service`` (its spec's declaration)."""
    spec = _spec(service)
    why = spec.unsupported.get("backup_now", "") if spec else "not a registered service"
    return f"backup_now has no on-demand backup for {service}" + (f": {why}" if why else "")


# --------------------------------------------------------------------------- choosing


def parse_tag_filter(value: str | dict[str, str] | None) -> dict[str, str]:
    """``'backup-tier=gold'`` or ``{'backup-tier': 'gold'}`` (several: comma-separated)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for part in str(value).split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ParamsError(
                "tag_filter", [f"tag_filter: {part!r} is not KEY=VALUE; e.g. backup-tier=gold"]
            )
        out[key.strip()] = val.strip()
    return out


def check_arns(arns: list[str] | str | None) -> list[str]:
    if not arns:
        return []
    items = [
        a.strip() for a in (arns.split(",") if isinstance(arns, str) else arns) if a and a.strip()
    ]
    # ARNs that name no Region or account (S3 buckets): the registry's global ARN services
    global_ = tuple(f"arn:aws:{svc}:::" for svc in services.global_arn_services())
    bad = [a for a in items if not _ARN_RE.match(a) and not a.startswith(global_)]
    if bad:
        raise ParamsError(
            "arns",
            [f"arns: {a!r} is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)" for a in bad],
        )
    return items


def choose(
    ctx: Any,
    arns: list[str] | str | None = None,
    tag_filter: str | dict | None = None,
    *,
    inventory: Any = None,
) -> list[DataResource]:
    """The resources to back up: by ARN, else by tags; by default the strictest tier.
    They come from ``inventory`` (an ``inventory.discover`` result), discovered when not given."""
    wanted = check_arns(arns)
    tags = parse_tag_filter(tag_filter)
    params = ctx.params
    if not wanted and not tags:
        tags = {params.tag_keys.tier: objectives.ranked_tiers(params)[0]}
    resources, errors = read_resources(
        ctx.session, params.workload_accounts or params.account_ids, params, inventory=inventory
    )
    # what could not be read may hold a resource to back up: never choose without it silently
    unread = [e for e in errors if e.get("status") != NOT_SUPPORTED_ON_SANDBOX]
    if wanted:
        by_arn = {r.arn: r for r in resources}
        missing = [a for a in wanted if a not in by_arn]
        if missing and unread:
            raise EstateUnread(_unread_text(unread, f"{len(missing)} of the arns not found"))
        if missing:
            raise ParamsError(
                "arns",
                [
                    f"arns: {a!r} was not found in the estate's accounts and Regions"
                    for a in missing
                ],
            )
        return [by_arn[a] for a in wanted]
    if unread:
        raise EstateUnread(_unread_text(unread, f"the resources tagged {tags} may be more"))
    reproducible = params.tag_keys.reproducible
    return [
        r
        for r in resources
        if all(r.tags.get(k) == v for k, v in tags.items())
        and not (reproducible in r.tags and reproducible not in tags)
    ]


class EstateUnread(RunbookError):
    """Part of the estate could not be read, so the resources to back up cannot be told."""


class StartUnknown(RunbookError):
    """A backup start whose answer was lost: the job may exist."""


def _unread_text(unread: list[dict], what: str) -> str:
    where = "; ".join(
        f"{e.get('service')} in {e.get('account')}/{e.get('region')}: {e.get('error', '')[:160]}"
        for e in unread[:5]
    )
    more = f" (and {len(unread) - 5} more)" if len(unread) > 5 else ""
    return (
        f"backup_now: {len(unread)} part(s) of the estate could not be read ({where}{more}); "
        f"{what}. Nothing was backed up: fix the cause (credentials, permissions, the "
        "network) and run again, or pass arns= naming resources that were read."
    )


def method_for(res: DataResource, method: str = "auto") -> str:
    """How ``res`` is backed up: AWS Backup where it reaches the service, unless ``method`` is
    ``native`` and the service has a backup API of its own; else that API; else none."""
    spec = _spec(res.service)
    if spec is None:
        return "none"
    if spec.aws_backup and not (method == "native" and res.service in NATIVE):
        return "aws-backup"
    return spec.native_backup or "none"


def plan_backups(
    ctx: Any,
    arns: list[str] | str | None = None,
    tag_filter: str | dict | None = None,
    write_canary: bool = True,
    *,
    inventory: Any = None,
    method: str = "auto",
) -> pd.DataFrame:
    """What :func:`run` would back up, and how (``method`` as :func:`run` takes it). Reads
    only."""
    _plugins()
    rows = []
    vaults: dict[tuple[str, str], bool] = {}
    for r in choose(ctx, arns, tag_filter, inventory=inventory):
        scope = (r.account, r.region)
        if scope not in vaults:
            vaults[scope] = central.describe_vault(ctx.session, ctx.params, *scope) is not None
        how = method_for(r, method)
        rows.append(
            {
                "account": r.account,
                "region": r.region,
                "service": r.service,
                "resource_arn": r.arn,
                "resource_name": r.name,
                "tier": r.tier,
                "method": how,
                "vault": ctx.params.protect.vault_name if how == "aws-backup" else "",
                "vault_exists": vaults[scope] if how == "aws-backup" else None,
                "fingerprint": getattr(_spec(r.service), "fingerprint", "")
                or "none (no data held by the sandbox / service)",
                "canary": write_canary and r.service in CANARIES,
                "status": "PLANNED" if how != "none" else "NO_METHOD",
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- canaries and fingerprints


def write_canary(
    session: Any, res: DataResource, run_id: str
) -> tuple[str | None, datetime | None, str]:
    """Write one marked canary record; returns (key, written_at, reason if skipped)."""
    _plugins()
    writer = CANARIES.get(res.service)
    if writer is None:
        return None, None, f"no canary for {res.service}"
    now = utcnow()
    key, why = writer(session, res, run_id, now)
    return (key, now, "") if key else (None, None, why)


def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint | None, list[str]]:
    """The content fingerprint of ``res`` and the key names of its per-key digests."""
    _plugins()
    taker = FINGERPRINTS.get(res.service)
    return taker(session, res) if taker else (None, [])


def safe_name(res: DataResource) -> str:
    base = re.sub(
        r"[^A-Za-z0-9._-]+", "_", f"{res.account}_{res.region}_{res.service}_{res.name}"
    ).strip("_")
    return f"{base[:120]}-{hashlib.blake2b(res.arn.encode(), digest_size=4).hexdigest()}"


def write_sidecar(
    ledger: Any,
    run_id: str,
    res: DataResource,
    fp: fpr.Fingerprint,
    taken_at: datetime,
    key_names: list[str],
) -> str:
    """Per-key digests as JSON next to the ledger; returns where (path or s3:// URL)."""
    doc = {
        "resource_arn": res.arn,
        "taken_at": taken_at.isoformat(),
        "key_names": key_names,
        **fp.to_dict(with_keys=True),
    }
    data = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
    rel = f"fingerprints/{run_id}/{safe_name(res)}.json"
    if ledger.is_s3:
        bucket, _, prefix = ledger.location[5:].partition("/")
        key = f"{prefix}/{rel}" if prefix else rel
        ledger._s3.put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"
    path = Path(ledger.location) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def read_sidecar(location: str, s3_client: Any = None) -> fpr.Fingerprint:
    """The fingerprint (with per-key digests) a backups row points at."""
    if location.startswith("s3://"):
        bucket, _, key = location[5:].partition("/")
        doc = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    else:
        doc = json.loads(Path(location).read_text(encoding="utf-8"))
    return fpr.Fingerprint.from_dict(doc)


# --------------------------------------------------------------------------- taking backups


@dataclass(kw_only=True)
class Pending:
    res: DataResource
    row: dict[str, Any]
    poll: Poll | None = None  # None when already final
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_vault(ctx: Any, account: str, region: str) -> None:
    """Create the protect key, vault and backup role for one scope if absent (approved runs)."""
    session, params = ctx.session, ctx.params
    state = central.ApplyState(session=session, params=params)
    key = central.find_key(session, params, account, region)
    if key:
        state.keys[(account, region)] = key
    for step in central.plan_roles(session, params, [account]):
        if step.is_change and step.args["which"] == "backup":
            APPLIERS["role"](session, step, state)
    if central.describe_vault(session, params, account, region) is None:

        def create(kind: str, **args: Any) -> Step:
            # applied at once, in this order: the phase does not matter
            make = central.step_maker("key", account=account, region=region, resource="")
            return make(
                kind=kind, setting="", current=None, desired=None, action="create", args=args
            )

        # a key an earlier run made without its alias (the alias call failed, the answer
        # was lost) is adopted, never doubled: protect's plan does the same
        orphans = [] if key else central.orphan_keys(session, params, account, region)
        if orphans:
            APPLIERS["key_adopt"](session, create("key_adopt", key=orphans[0]), state)
            APPLIERS["key_rotation"](session, create("key_rotation"), state)
        elif not key:
            for kind in ("key", "key_rotation"):
                APPLIERS[kind](session, create(kind), state)
        APPLIERS["vault"](session, create("vault"), state)
        log.info(
            "backup_now: created vault %s in %s/%s", params.protect.vault_name, account, region
        )


def _start_aws_backup(ctx: Any, res: DataResource, row: dict) -> Pending:
    params = ctx.params
    backup = ctx.session.client("backup", res.account, res.region)
    delete_after = objectives.days(params.tiers[res.tier].retention)
    kwargs = dict(
        BackupVaultName=params.protect.vault_name,
        ResourceArn=res.arn,
        IamRoleArn=central.role_arn(params, res.account, "backup"),
        # one token per start, reused only to ask again after a lost answer: a deliberate
        # second backup of the same resource (a re-run with the same run_id) is a new job
        IdempotencyToken=f"backup-now-{uuid.uuid4().hex}",
        StartWindowMinutes=60,
        CompleteWindowMinutes=objectives.completion_window_minutes(params.tiers[res.tier].rpo),
        Lifecycle={"DeleteAfterDays": delete_after},
        RecoveryPointTags={
            params.tag_keys.tier: res.tier,
            "created-by": "backup-now",
            "run-id": ctx.run_id,
        },
    )
    try:
        out = backup.start_backup_job(**kwargs)
    except (ConnectionClosedError, ReadTimeoutError) as lost:
        # the call may have started the job: ask again with the same IdempotencyToken, which
        # AWS answers with the job it started (or starts it now)
        log.warning("backup_now: %s: start answer lost (%s); asking again", res.name, lost)
        try:
            out = backup.start_backup_job(**kwargs)
        except Exception as err:
            raise StartUnknown(
                f"the answer to StartBackupJob was lost ({type(lost).__name__}) and asking "
                f"again failed ({type(err).__name__}: {err}); a backup job may have started: "
                f"check list-backup-jobs --by-resource-arn {res.arn}"
            ) from err
    row.update(
        method="aws-backup",
        job_id=out["BackupJobId"],
        recovery_point_arn=out.get("RecoveryPointArn"),
        vault=params.protect.vault_name,
        created=out.get("CreationDate"),
        delete_after_days=delete_after,
    )

    def poll() -> tuple[str, dict]:
        j = backup.describe_backup_job(BackupJobId=out["BackupJobId"])
        fields = {
            "recovery_point_arn": j.get("RecoveryPointArn"),
            "completed": j.get("CompletionDate"),
            "status_message": j.get("StatusMessage") or "",
            "percent": j.get("PercentDone"),
        }
        if j["State"] == "COMPLETED" and j.get("RecoveryPointArn"):
            rp = backup.describe_recovery_point(
                BackupVaultName=params.protect.vault_name, RecoveryPointArn=j["RecoveryPointArn"]
            )
            fields.update(
                encrypted=rp.get("IsEncrypted"),
                kms_key=rp.get("EncryptionKeyArn"),
                vault_type=rp.get("VaultType"),
            )
        return j["State"], fields

    return Pending(res=res, row=row, poll=poll)


def _start_native(ctx: Any, res: DataResource, row: dict) -> Pending:
    native = NATIVE[res.service]
    row.update(method=native.method, vault="")
    started = native.start(ctx.session, res, run_id=ctx.run_id, ident=backup_ident(ctx.run_id))
    row.update(
        native_id=started.native_id,
        recovery_point_arn=started.recovery_point_arn,
        created=started.created,
    )
    return Pending(res=res, row=row, poll=started.poll)


def run(
    ctx: Any,
    *,
    arns: list[str] | str | None = None,
    tag_filter: str | dict | None = None,
    approve: bool = False,
    write_canary: bool = True,
    timeout: float = 900.0,
    poll_every: float = 2.0,
    create_vault: bool = True,
    method: str = "auto",
    fingerprint: bool = True,
    inventory: Any = None,
) -> pd.DataFrame:
    """Take on-demand backups; without ``approve`` returns the plan (nothing changes).

    ``method``: ``auto`` (AWS Backup where it reaches, native otherwise) or ``native``
    (the service's own backup/snapshot API where there is one). ``inventory``: choose from
    this ``inventory.discover`` result (discovered when not given)."""
    from runbook_lib.arguments import approval

    approve = approval(approve)
    _plugins()
    if method not in ("auto", "native"):
        raise ParamsError("method", [f"method: {method!r} is not allowed; allowed: auto, native"])
    if not approve:
        log.info(
            "backup_now: not approved; showing the plan only (set approve=True to take backups)"
        )
        return plan_backups(ctx, arns, tag_filter, write_canary, inventory=inventory, method=method)
    chosen = choose(ctx, arns, tag_filter, inventory=inventory)
    session, params = ctx.session, ctx.params
    pending: list[Pending] = []
    vault_ok: dict[tuple[str, str], bool] = {}
    for res in tqdm(chosen, desc="backup_now start", unit="resource", disable=None):
        row: dict[str, Any] = {c: None for c in COLUMNS}
        row.update(
            account=res.account,
            region=res.region,
            service=res.service,
            resource_arn=res.arn,
            resource_name=res.name,
            tier=res.tier,
            status="STARTING",
            status_message="",
        )
        try:
            if write_canary and res.service in CANARIES:
                key, at, why = write_canary_fn(session, res, ctx.run_id)
                row.update(canary_key=key, canary_written_at=at)
                if why:
                    row["status_message"] = why
            fp, names = take_fingerprint(session, res) if fingerprint else (None, [])
            if fp is not None:
                taken = utcnow()
                row.update(
                    fingerprint_kind=fp.kind,
                    fingerprint_count=fp.count,
                    fingerprint_digest=fp.hexdigest,
                    fingerprint_taken_at=taken,
                    key_names=names,
                    fingerprint_location=write_sidecar(
                        ctx.ledger, ctx.run_id, res, fp, taken, names
                    ),
                )
            item = None
            if method_for(res, method) == "aws-backup":
                scope = (res.account, res.region)
                if scope not in vault_ok:
                    if create_vault:
                        ensure_vault(ctx, *scope)
                    vault_ok[scope] = central.describe_vault(session, params, *scope) is not None
                if vault_ok[scope]:
                    try:
                        item = _start_aws_backup(ctx, res, row)
                    except ClientError as err:
                        if not is_not_supported(err) or res.service not in NATIVE:
                            raise
                        row["status_message"] += (
                            " AWS Backup not available here; native backup used."
                        )
            if item is None and res.service in NATIVE:
                item = _start_native(ctx, res, row)
            if item is None:
                why = no_method_reason(res.service)
                if method_for(res, method) == "aws-backup":  # only AWS Backup reaches it
                    why = (
                        f"AWS Backup vault {params.protect.vault_name} not found in "
                        f"{res.account}/{res.region}"
                        + ("" if create_vault else " (create_vault=False)")
                    )
                row.update(status="NO_METHOD", method="none", status_message=why)
                pending.append(Pending(res=res, row=row))
            else:
                row["status"] = "RUNNING"
                pending.append(item)
            log.info("backup_now: %s %s: %s started", res.service, res.name, row["method"])
        except Exception as err:
            if isinstance(err, StartUnknown):  # never FAILED: the job may well exist
                row.update(status="UNKNOWN", status_message=str(err)[:500])
            elif session.sandbox and is_not_supported(err):
                row.update(
                    status=NOT_SUPPORTED_ON_SANDBOX,
                    status_message=f"{type(err).__name__}: {err}"[:500],
                )
            else:
                row.update(status="FAILED", status_message=f"{type(err).__name__}: {err}"[:500])
            log.warning("backup_now: %s %s: %s", res.service, res.name, row["status_message"])
            pending.append(Pending(res=res, row=row))
    _wait(pending, timeout, poll_every)
    for p in pending:
        try:
            _after(ctx, p)
        except Exception as err:  # noqa: BLE001  (the backup is done: record it whatever)
            p.row["status_message"] = " ".join(
                m
                for m in (
                    p.row.get("status_message"),
                    f"Second fingerprint not taken ({type(err).__name__}: {err})"[:300],
                )
                if m
            )
    rows = [p.row for p in pending]
    ctx.ledger.append("backups", rows, ctx.run_id)
    return pd.DataFrame(rows, columns=COLUMNS)


write_canary_fn = write_canary  # the run() parameter shadows the function's name


def _after(ctx: Any, p: Pending) -> None:
    """The second fingerprint (services in :data:`AGAIN`), once the backup COMPLETED. Equal to
    the first: the backup holds exactly that content. Different: the sidecar's ``after``
    keeps it, and the row says the content is bounded, not exact."""
    row = p.row
    if p.res.service not in AGAIN or row["status"] != "COMPLETED":
        return
    if not row.get("fingerprint_location"):
        return
    fp, _ = take_fingerprint(ctx.session, p.res)
    if fp is None or (fp.count, fp.hexdigest) == (
        row["fingerprint_count"],
        row["fingerprint_digest"],
    ):
        return
    location = str(row["fingerprint_location"])
    if location.startswith("s3://"):
        bucket, _, key = location[5:].partition("/")
        doc = json.loads(ctx.ledger._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    else:
        doc = json.loads(Path(location).read_text(encoding="utf-8"))
    doc["after"] = {"taken_at": utcnow().isoformat(), **fp.to_dict(with_keys=True)}
    data = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
    if location.startswith("s3://"):
        ctx.ledger._s3.put_object(Bucket=bucket, Key=key, Body=data)
    else:
        Path(location).write_bytes(data)
    note = (
        f"Written to while the backup ran ({row['fingerprint_count']} records before, "
        f"{fp.count} after): a restore is checked within those bounds, not exactly."
    )
    row["status_message"] = " ".join(m for m in (row.get("status_message"), note) if m)


def _wait(pending: list[Pending], timeout: float, poll_every: float) -> None:
    deadline = time.monotonic() + timeout
    open_ = [p for p in pending if p.poll is not None]
    bar = tqdm(total=len(open_), desc="backup_now wait", unit="backup", disable=None)
    unread: dict[int, str] = {}  # id(pending) -> why its status could not be read
    while open_:
        for p in list(open_):
            try:
                state, fields = p.poll()
                unread.pop(id(p), None)
            except Exception as err:  # noqa: BLE001 - a failed read says nothing of the backup
                # The backup may well have succeeded: an unread status is UNKNOWN and read
                # again on the next round, never FAILED.
                unread[id(p)] = f"{type(err).__name__}: {err}"[:300]
                continue
            msg = fields.pop("status_message", "")
            fields.pop("percent", None)
            p.row.update({k: v for k, v in fields.items() if v is not None})
            if msg:
                p.row["status_message"] = (p.row.get("status_message") or "") + msg
            p.row["status"] = state
            if state in TERMINAL:
                p.row["completed"] = p.row.get("completed") or utcnow()
                open_.remove(p)
                bar.update()
                log.info("backup_now: %s %s: %s", p.res.service, p.res.name, state)
        if not open_:
            break
        if time.monotonic() > deadline:
            for p in open_:
                if id(p) in unread:
                    p.row.update(
                        status="UNKNOWN",
                        status_message=(
                            f"status could not be read until the wait ended ({unread[id(p)]}); "
                            "the backup may have completed: check the job / recovery point"
                        ),
                    )
                    continue
                p.row.update(
                    status="TIMEOUT",
                    status_message=f"not finished after {timeout:.0f}s; still running in AWS",
                )
            log.warning("backup_now: %d backup(s) not finished after %.0fs", len(open_), timeout)
            break
        time.sleep(poll_every)
    bar.close()


__all__ = [
    "CANARIES",
    "COLUMNS",
    "FINGERPRINTS",
    "NATIVE",
    "CanaryWriter",
    "FingerprintTaker",
    "NativeBackup",
    "NativeStarted",
    "backup_ident",
    "canary_writer",
    "fingerprint_taker",
    "native_backup",
    "choose",
    "plan_backups",
    "read_sidecar",
    "run",
    "take_fingerprint",
    "write_canary",
]
