"""On-demand backups before a risky change (REL09-BP03), recorded with content fingerprints.

    todo = backup_now.plan_backups(rb)                  # what would be backed up, how (reads only)
    done = backup_now.run(rb, approve=True)             # canary -> fingerprint -> backup -> wait -> ledger

For each chosen resource: optionally write a clearly marked canary record (DynamoDB item
``pk=__restore_canary__#<time>``, S3 object ``__restore_canary__/<time>``), take the content
fingerprint (DynamoDB items; S3 objects: key, size, SHA-256 of the body), then start an AWS
Backup job into the Region's protect vault, or a native backup where AWS Backup does not
reach (ElastiCache) or is not available. Wait with a timeout, then append one row per
resource to the ``backups`` ledger table; per-key digests go to a JSON sidecar file
``<ledger>/fingerprints/<run_id>/<safe name>.json``. Columns: docs/protect.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from runbook_lib import fingerprint as fpr
from runbook_lib.errors import ParamsError
from runbook_lib.params import _ARN_RE
from runbook_lib.progress import progress as tqdm
from runbook_lib.protect import central, objectives
from runbook_lib.protect.estate import DataResource, read_resources
from runbook_lib.protect.model import APPLIERS, Step
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")

CANARY_PREFIX = "__restore_canary__"
AWS_BACKUP_SERVICES = {"dynamodb", "s3", "ebs", "rds", "aurora", "neptune", "efs"}
NATIVE_METHODS = {
    "dynamodb": "dynamodb-backup",
    "ebs": "ebs-snapshot",
    "rds": "rds-snapshot",
    "aurora": "rds-cluster-snapshot",
    "neptune": "rds-cluster-snapshot",
    "elasticache": "elasticache-snapshot",
}
FINGERPRINTED = {"dynamodb": "dynamodb-items", "s3": "s3-objects"}
TERMINAL = {
    "COMPLETED",
    "FAILED",
    "ABORTED",
    "EXPIRED",
    "PARTIAL",
    "TIMEOUT",
    "NOT_SUPPORTED_ON_SANDBOX",
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
    bad = [a for a in items if not _ARN_RE.match(a) and not a.startswith("arn:aws:s3:::")]
    if bad:
        raise ParamsError(
            "arns",
            [f"arns: {a!r} is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)" for a in bad],
        )
    return items


def choose(
    ctx: Any, arns: list[str] | str | None = None, tag_filter: str | dict | None = None
) -> list[DataResource]:
    """The resources to back up: by ARN, else by tags; by default the strictest tier."""
    wanted = check_arns(arns)
    tags = parse_tag_filter(tag_filter)
    params = ctx.params
    if not wanted and not tags:
        tags = {params.tag_keys.tier: objectives.ranked_tiers(params)[0]}
    resources, _errors = read_resources(
        ctx.session, params.workload_accounts or params.account_ids, params
    )
    if wanted:
        by_arn = {r.arn: r for r in resources}
        missing = [a for a in wanted if a not in by_arn]
        if missing:
            raise ParamsError(
                "arns",
                [
                    f"arns: {a!r} was not found in the estate's accounts and Regions"
                    for a in missing
                ],
            )
        return [by_arn[a] for a in wanted]
    reproducible = params.tag_keys.reproducible
    return [
        r
        for r in resources
        if all(r.tags.get(k) == v for k, v in tags.items())
        and not (reproducible in r.tags and reproducible not in tags)
    ]


def method_for(res: DataResource) -> str:
    return (
        "aws-backup"
        if res.service in AWS_BACKUP_SERVICES
        else NATIVE_METHODS.get(res.service, "none")
    )


def plan_backups(
    ctx: Any,
    arns: list[str] | str | None = None,
    tag_filter: str | dict | None = None,
    write_canary: bool = True,
) -> pd.DataFrame:
    """What :func:`run` would back up, and how. Reads only."""
    rows = []
    vaults: dict[tuple[str, str], bool] = {}
    for r in choose(ctx, arns, tag_filter):
        scope = (r.account, r.region)
        if scope not in vaults:
            vaults[scope] = central.describe_vault(ctx.session, ctx.params, *scope) is not None
        method = method_for(r)
        rows.append(
            {
                "account": r.account,
                "region": r.region,
                "service": r.service,
                "resource_arn": r.arn,
                "resource_name": r.name,
                "tier": r.tier,
                "method": method,
                "vault": ctx.params.protect.vault_name if method == "aws-backup" else "",
                "vault_exists": vaults[scope] if method == "aws-backup" else None,
                "fingerprint": FINGERPRINTED.get(
                    r.service, "none (no data held by the sandbox / service)"
                ),
                "canary": write_canary and r.service in FINGERPRINTED,
                "status": "PLANNED" if method != "none" else "NO_METHOD",
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- canaries and fingerprints


def _ts(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


def write_canary(
    session: Any, res: DataResource, run_id: str
) -> tuple[str | None, datetime | None, str]:
    """Write one marked canary record; returns (key, written_at, reason if skipped)."""
    now = utcnow()
    if res.service == "dynamodb":
        ddb = session.client("dynamodb", res.account, res.region)
        table = ddb.describe_table(TableName=res.name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        if any(types[n] != "S" for n in keys.values()):
            return None, None, "the table's key is not a string: no canary written"
        pk = f"{CANARY_PREFIX}#{_ts(now)}"
        item = {
            keys["HASH"]: {"S": pk},
            "restore_canary": {"BOOL": True},
            "written_at": {"S": now.isoformat()},
            "run_id": {"S": run_id},
        }
        if "RANGE" in keys:
            item[keys["RANGE"]] = {"S": "canary"}
        ddb.put_item(TableName=res.name, Item=item)
        return (
            fpr.dynamodb_key(item, [keys["HASH"]] + ([keys["RANGE"]] if "RANGE" in keys else [])),
            now,
            "",
        )
    if res.service == "s3":
        key = f"{CANARY_PREFIX}/{_ts(now)}"
        body = json.dumps(
            {"restore_canary": True, "written_at": now.isoformat(), "run_id": run_id}
        ).encode()
        session.client("s3", res.account, res.region).put_object(
            Bucket=res.name, Key=key, Body=body, Metadata={"restore-canary": "true"}
        )
        return key, now, ""
    return None, None, f"no canary for {res.service}"


def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint | None, list[str]]:
    if res.service == "dynamodb":
        ddb = session.client("dynamodb", res.account, res.region)
        names = res.current.get("key_names") or [
            k["AttributeName"] for k in ddb.describe_table(TableName=res.name)["Table"]["KeySchema"]
        ]
        items = (
            it
            for page in ddb.get_paginator("scan").paginate(TableName=res.name, ConsistentRead=True)
            for it in page.get("Items", [])
        )
        return fpr.fingerprint_dynamodb_items(items, names), names
    if res.service == "s3":
        s3 = session.client("s3", res.account, res.region)

        def objects():
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=res.name):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket=res.name, Key=o["Key"])["Body"].read()
                    yield o["Key"], len(body), hashlib.sha256(body).hexdigest()

        return fpr.fingerprint_s3_objects(objects()), ["key"]
    return None, []


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


@dataclass
class Pending:
    res: DataResource
    row: dict[str, Any]
    poll: Any = None  # () -> (state, fields) ; None when already final
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_vault(ctx: Any, account: str, region: str) -> None:
    """Create the protect key, vault and backup role for one scope if absent (approved runs)."""
    session, params = ctx.session, ctx.params
    state = central.ApplyState(session, params)
    key = central.find_key(session, params, account, region)
    if key:
        state.keys[(account, region)] = key
    for step in central.plan_roles(session, params, [account]):
        if step.is_change and step.args["which"] == "backup":
            APPLIERS["role"](session, step, state)
    if central.describe_vault(session, params, account, region) is None:
        if not key:
            for kind in ("key", "key_rotation"):
                step = Step(0, account, region, "", "", None, None, "create", "", kind)
                APPLIERS[kind](session, step, state)
        APPLIERS["vault"](
            session, Step(0, account, region, "", "", None, None, "create", "", "vault"), state
        )
        log.info(
            "backup_now: created vault %s in %s/%s", params.protect.vault_name, account, region
        )


def _start_aws_backup(ctx: Any, res: DataResource, row: dict) -> Pending:
    params = ctx.params
    backup = ctx.session.client("backup", res.account, res.region)
    delete_after = objectives.days(params.tiers[res.tier].retention)
    out = backup.start_backup_job(
        BackupVaultName=params.protect.vault_name,
        ResourceArn=res.arn,
        IamRoleArn=central.role_arn(params, res.account, "backup"),
        IdempotencyToken=f"{ctx.run_id}-{hashlib.blake2b(res.arn.encode(), digest_size=6).hexdigest()}",
        StartWindowMinutes=60,
        CompleteWindowMinutes=objectives.completion_window_minutes(params.tiers[res.tier].rpo),
        Lifecycle={"DeleteAfterDays": delete_after},
        RecoveryPointTags={
            params.tag_keys.tier: res.tier,
            "created-by": "backup-now",
            "run-id": ctx.run_id,
        },
    )
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
            fields.update(encrypted=rp.get("IsEncrypted"), kms_key=rp.get("EncryptionKeyArn"))
        return j["State"], fields

    return Pending(res, row, poll)


def _start_native(ctx: Any, res: DataResource, row: dict) -> Pending:
    s, name = ctx.session, res.name
    ident = f"backup-now-{ctx.run_id}".lower().replace("_", "-")[:60]
    row.update(method=NATIVE_METHODS[res.service], vault="")
    if res.service == "dynamodb":
        ddb = s.client("dynamodb", res.account, res.region)
        b = ddb.create_backup(TableName=name, BackupName=f"{name[:200]}-{ident}"[:255])[
            "BackupDetails"
        ]
        row.update(
            native_id=b["BackupArn"],
            recovery_point_arn=b["BackupArn"],
            created=b.get("BackupCreationDateTime"),
        )

        def poll() -> tuple[str, dict]:
            d = ddb.describe_backup(BackupArn=b["BackupArn"])["BackupDescription"]
            st = d["BackupDetails"]["BackupStatus"]
            sse = (d.get("SourceTableFeatureDetails") or {}).get("SSEDescription") or {}
            return ("COMPLETED" if st == "AVAILABLE" else st), {
                "encrypted": True,
                "kms_key": sse.get("KMSMasterKeyArn"),
            }
    elif res.service == "ebs":
        ec2 = s.client("ec2", res.account, res.region)
        snap = ec2.create_snapshot(
            VolumeId=res.id,
            Description=f"backup_now {ctx.run_id}",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [
                        {"Key": "created-by", "Value": "backup-now"},
                        {"Key": "run-id", "Value": ctx.run_id},
                    ],
                }
            ],
        )
        row.update(native_id=snap["SnapshotId"], created=snap.get("StartTime"))

        def poll() -> tuple[str, dict]:
            d = ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]
            st = {"completed": "COMPLETED", "error": "FAILED"}.get(d["State"], "RUNNING")
            return st, {"encrypted": d.get("Encrypted"), "kms_key": d.get("KmsKeyId")}
    elif res.service in ("rds", "aurora", "neptune"):
        rds = s.client("rds", res.account, res.region)
        sid = f"{name[:30]}-{ident}"[:63].rstrip("-")
        if res.resource_type == "rds:cluster":
            d = rds.create_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=sid, DBClusterIdentifier=name
            )["DBClusterSnapshot"]
            row.update(
                native_id=d["DBClusterSnapshotArn"], recovery_point_arn=d["DBClusterSnapshotArn"]
            )

            def describe() -> dict:
                return rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=sid)[
                    "DBClusterSnapshots"
                ][0]
        else:
            d = rds.create_db_snapshot(DBSnapshotIdentifier=sid, DBInstanceIdentifier=name)[
                "DBSnapshot"
            ]
            row.update(native_id=d["DBSnapshotArn"], recovery_point_arn=d["DBSnapshotArn"])

            def describe() -> dict:
                return rds.describe_db_snapshots(DBSnapshotIdentifier=sid)["DBSnapshots"][0]

        row["created"] = d.get("SnapshotCreateTime")

        def poll() -> tuple[str, dict]:
            x = describe()
            st = {"available": "COMPLETED", "failed": "FAILED"}.get(x["Status"], "RUNNING")
            return st, {"encrypted": x.get("StorageEncrypted"), "kms_key": x.get("KmsKeyId")}
    elif res.service == "elasticache":
        ec = s.client("elasticache", res.account, res.region)
        sname = f"{name[:40]}-{ident}"[:100]
        d = ec.create_snapshot(ReplicationGroupId=name, SnapshotName=sname)["Snapshot"]
        row.update(native_id=sname, recovery_point_arn=d.get("ARN"))

        def poll() -> tuple[str, dict]:
            x = ec.describe_snapshots(SnapshotName=sname)["Snapshots"][0]
            st = {"available": "COMPLETED", "failed": "FAILED"}.get(
                x.get("SnapshotStatus"), "RUNNING"
            )
            return st, {"encrypted": res.encrypted, "kms_key": x.get("KmsKeyId")}
    else:
        raise NotImplementedError(f"no on-demand backup method for {res.service}")
    return Pending(res, row, poll)


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
) -> pd.DataFrame:
    """Take on-demand backups; without ``approve`` returns the plan (nothing changes).

    ``method``: ``auto`` (AWS Backup where it reaches, native otherwise) or ``native``
    (the service's own backup/snapshot API where there is one)."""
    from runbook_lib.arguments import approval

    approve = approval(approve)
    if method not in ("auto", "native"):
        raise ParamsError("method", [f"method: {method!r} is not allowed; allowed: auto, native"])
    if not approve:
        log.info(
            "backup_now: not approved; showing the plan only (set approve=True to take backups)"
        )
        return plan_backups(ctx, arns, tag_filter, write_canary)
    chosen = choose(ctx, arns, tag_filter)
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
            if write_canary and res.service in FINGERPRINTED:
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
            if method_for(res) == "aws-backup" and not (
                method == "native" and res.service in NATIVE_METHODS
            ):
                scope = (res.account, res.region)
                if scope not in vault_ok:
                    if create_vault:
                        ensure_vault(ctx, *scope)
                    vault_ok[scope] = central.describe_vault(session, params, *scope) is not None
                if vault_ok[scope]:
                    try:
                        item = _start_aws_backup(ctx, res, row)
                    except ClientError as err:
                        if not is_not_supported(err) or res.service not in NATIVE_METHODS:
                            raise
                        row["status_message"] += (
                            " AWS Backup not available here; native backup used."
                        )
            if item is None and res.service in NATIVE_METHODS:
                item = _start_native(ctx, res, row)
            if item is None:
                row.update(
                    status="NO_METHOD",
                    method="none",
                    status_message=f"backup_now has no on-demand backup for {res.service} "
                    "(logs: protect's export to S3; OpenSearch: the domain's _snapshot API)",
                )
                pending.append(Pending(res, row))
            else:
                row["status"] = "RUNNING"
                pending.append(item)
            log.info("backup_now: %s %s: %s started", res.service, res.name, row["method"])
        except Exception as err:
            if session.sandbox and is_not_supported(err):
                row.update(
                    status="NOT_SUPPORTED_ON_SANDBOX",
                    status_message=f"{type(err).__name__}: {err}"[:500],
                )
            else:
                row.update(status="FAILED", status_message=f"{type(err).__name__}: {err}"[:500])
            log.warning("backup_now: %s %s: %s", res.service, res.name, row["status_message"])
            pending.append(Pending(res, row))
    _wait(pending, timeout, poll_every)
    rows = [p.row for p in pending]
    ctx.ledger.append("backups", rows, ctx.run_id)
    return pd.DataFrame(rows, columns=COLUMNS)


write_canary_fn = write_canary  # the run() parameter shadows the function's name


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
    "COLUMNS",
    "choose",
    "plan_backups",
    "read_sidecar",
    "run",
    "take_fingerprint",
    "write_canary",
]
