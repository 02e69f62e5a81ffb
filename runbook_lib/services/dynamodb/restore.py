"""DynamoDB: restore from an on-demand backup or to a point in time; read back with a
parallel scan and fingerprint every item.

Sandbox limits (moto 5.2): point-in-time restore ignores the time and copies the table's
current items; LatestRestorableDateTime stays at the moment PITR was enabled; the source's
encryption (SSESpecificationOverride) is not carried to the restored table.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from runbook_lib.fingerprint import Fingerprint, canonical, dynamodb_key
from runbook_lib.inventory.model import tag_list
from runbook_lib.restore.canary import DYNAMODB_PREFIX, canary_time
from runbook_lib.restore.fp import add_digest, merge
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, utc
from runbook_lib.restore.registry import (
    Content,
    ServiceHandler,
    finder,
    handler,
    native_points,
    point,
    restorer,
)


def _ddb(session, account: str, region: str):
    return session.client("dynamodb", account, region)


def describe(session, account: str, region: str, name: str) -> dict[str, Any]:
    return _ddb(session, account, region).describe_table(TableName=name)["Table"]


def key_names(table: dict[str, Any]) -> list[str]:
    schema = sorted(table["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    return [k["AttributeName"] for k in schema]


def _sse_override(table: dict[str, Any]) -> dict[str, Any] | None:
    sse = table.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "ENABLING") and sse.get("SSEType") == "KMS":
        return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": sse.get("KMSMasterKeyArn")}
    return None


# --------------------------------------------------------------------------- finders


@finder("dynamodb", "dynamodb-backup")
def find_backups(session, ref: ResourceRef) -> list[RecoveryPoint]:
    pages = _ddb(session, ref.account, ref.region).get_paginator("list_backups")
    return native_points(
        ref,
        "dynamodb-backup",
        (b for page in pages.paginate(TableName=ref.name) for b in page["BackupSummaries"]),
        by_aws_backup=lambda b: b.get("BackupType") == "AWS_BACKUP",
        fields=lambda b: {
            "id": b["BackupArn"],
            "created": utc(b["BackupCreationDateTime"]),
            "size_bytes": b.get("BackupSizeBytes"),
            "status": b.get("BackupStatus", "AVAILABLE"),
            "details": {"backup_name": b.get("BackupName")},
        },
    )


@finder("dynamodb", "dynamodb-pitr")
def find_pitr(session, ref: ResourceRef) -> list[RecoveryPoint]:
    ddb = _ddb(session, ref.account, ref.region)
    desc = ddb.describe_continuous_backups(TableName=ref.name)["ContinuousBackupsDescription"]
    pitr = desc.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return []
    latest = utc(pitr.get("LatestRestorableDateTime"))
    return [
        point(
            ref,
            "dynamodb-pitr",
            id=f"dynamodb-pitr:{ref.arn}@latest",
            created=latest,
            details={
                "earliest": utc(pitr.get("EarliestRestorableDateTime")),
                "latest": latest,
            },
        )
    ]


# --------------------------------------------------------------------------- restorers


def _finish(session, rp: RecoveryPoint, target: str, tags: dict[str, str], desc: dict) -> Restored:
    ddb = _ddb(session, rp.account, rp.region)
    arn = desc.get("TableArn") or describe(session, rp.account, rp.region, target)["TableArn"]
    if tags:
        ddb.tag_resource(ResourceArn=arn, Tags=tag_list(tags))
    return Restored("dynamodb", rp.account, rp.region, target, arn)


@restorer("dynamodb", "dynamodb-backup")
def restore_backup(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
):
    ddb = _ddb(session, rp.account, rp.region)
    kwargs: dict[str, Any] = {"TargetTableName": target, "BackupArn": rp.id}
    try:
        sse = _sse_override(describe(session, ref.account, ref.region, ref.name))
    except ddb.exceptions.ResourceNotFoundException:
        sse = None  # the source is gone (an incident): the backup's own settings apply
    if sse:
        kwargs["SSESpecificationOverride"] = sse
    desc = ddb.restore_table_from_backup(**kwargs)["TableDescription"]
    out = _finish(session, rp, target, tags, desc)
    out.details["sse_requested"] = bool(sse)
    return out


@restorer("dynamodb", "dynamodb-pitr")
def restore_pitr(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
):
    ddb = _ddb(session, rp.account, rp.region)
    kwargs: dict[str, Any] = {"SourceTableName": ref.name, "TargetTableName": target}
    when = restore_time or rp.details.get("restore_time")
    if when:
        kwargs["RestoreDateTime"] = when
    else:
        kwargs["UseLatestRestorableTime"] = True
    sse = _sse_override(describe(session, ref.account, ref.region, ref.name))
    if sse:
        kwargs["SSESpecificationOverride"] = sse
    desc = ddb.restore_table_to_point_in_time(**kwargs)["TableDescription"]
    out = _finish(session, rp, target, tags, desc)
    out.details.update(restore_time=when, sse_requested=bool(sse))
    if session.sandbox:
        out.notes.append(
            "sandbox: moto ignores RestoreDateTime and copies the table's current items; on AWS the "
            "restored table holds the items as of the requested time"
        )
    return out


# --------------------------------------------------------------------------- handler


def scan_fingerprint(
    ddb, table: str, keys: list[str], workers: int = 8
) -> tuple[Content, dict[str, int]]:
    """Parallel scan of ``table``; fingerprints with and without canary items."""
    hash_key = keys[0]
    started = time.perf_counter()

    def segment(seg: int) -> tuple[Fingerprint, list[tuple[str, int, datetime | None]]]:
        every = Fingerprint("dynamodb-items")
        canaries: list[tuple[str, int, datetime | None]] = []
        kwargs: dict[str, Any] = {"TableName": table, "Segment": seg, "TotalSegments": workers}
        while True:
            page = ddb.scan(**kwargs)
            for item in page.get("Items", []):
                key = dynamodb_key(item, keys)
                digest = add_digest(every, key, canonical(item))
                hv = item.get(hash_key, {}).get("S", "")
                if hv.startswith(DYNAMODB_PREFIX):
                    canaries.append((key, digest, canary_time(hv)))
            if "LastEvaluatedKey" not in page:
                return every, canaries
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(segment, range(workers)))
    every = merge("dynamodb-items", [p[0] for p in parts])
    found = [c for p in parts for c in p[1]]
    plain = every
    if found:  # the same set without canary records: subtract them (one digest per item)
        drop = {k for k, _, _ in found}
        plain = Fingerprint(
            "dynamodb-items",
            every.count - len(found),
            (every.digest - sum(d for _, d, _ in found)) % (1 << 128),
            {k: v for k, v in every.key_digests.items() if k not in drop},
        )
    canaries = sorted(t for _, _, t in found if t is not None)
    content = Content(
        "dynamodb-items",
        plain.count,
        {"all items": every, "without canaries": plain},
        canaries,
        time.perf_counter() - started,
        f"parallel scan, {workers} segments",
    )
    return content, {"segments": workers}


@handler
class DynamoDB(ServiceHandler):
    service = "dynamodb"
    has_data = True
    test_minutes = 10
    example_source = True  # the incident runbook's example plan: the strictest-tier table
    backup_resource_type = "DynamoDB"
    not_found = ("ResourceNotFoundException",)
    ready_when = ("TableStatus", "ACTIVE")

    def describe(self, session, where: ResourceRef | Restored) -> dict[str, Any]:
        return describe(session, where.account, where.region, where.name)

    def read_content(self, session, restored: Restored, *, workers: int = 8) -> Content:
        table = self.describe(session, restored)
        ddb = _ddb(session, restored.account, restored.region)
        content, _ = scan_fingerprint(ddb, restored.name, key_names(table), workers)
        return content

    def record_values(self, session, restored: Restored, key: str) -> dict[str, Any] | None:
        """The item ``pk=...|sk=...`` of the restored table, as plain values."""
        ddb = _ddb(session, restored.account, restored.region)
        table = ddb.describe_table(TableName=restored.name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        parts = dict(p.split("=", 1) for p in key.split("|") if "=" in p)
        item = ddb.get_item(
            TableName=restored.name, Key={k: {types.get(k, "S"): v} for k, v in parts.items()}
        ).get("Item")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def plan_notes(self, session, rp: RecoveryPoint) -> list[str]:
        if rp.source == "dynamodb-pitr" and session.sandbox:
            return [
                "sandbox: moto ignores the restore time of a DynamoDB point-in-time restore and copies the current items"
            ]
        return []

    def metadata_of(self, table: dict[str, Any]) -> dict[str, Any]:
        sse = table.get("SSEDescription") or {}
        return {
            "key_schema": ",".join(
                f"{k['AttributeName']}:{k['KeyType']}" for k in table["KeySchema"]
            ),
            "encrypted_cmk": sse.get("SSEType") == "KMS" and sse.get("Status") == "ENABLED",
            "kms_key": sse.get("KMSMasterKeyArn"),
            "indexes": ",".join(
                sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", []))
            ),
        }

    def tag(self, session, restored: Restored, tags: dict[str, str]) -> None:
        arn = restored.arn or self.describe(session, restored)["TableArn"]
        _ddb(session, restored.account, restored.region).tag_resource(
            ResourceArn=arn, Tags=tag_list(tags)
        )

    def delete(self, session, restored: Restored) -> None:
        ddb = _ddb(session, restored.account, restored.region)
        try:
            ddb.delete_table(TableName=restored.name)
        except ddb.exceptions.ResourceNotFoundException:
            pass

    def backup_restore_metadata(self, target: str) -> dict[str, str]:
        return {"targetTableName": target}

    def list_tagged(self, session, account: str, region: str, tag_key: str) -> list[Restored]:
        from runbook_lib.restore.naming import PREFIX

        ddb = _ddb(session, account, region)
        out = []
        for page in ddb.get_paginator("list_tables").paginate():
            for name in page.get("TableNames", []):
                if not name.startswith(PREFIX + "-"):
                    continue
                arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
                tags = {
                    t["Key"]: t["Value"]
                    for t in ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
                }
                if tag_key in tags:
                    out.append(self.tagged(account, region, name, arn, tags))
        return out

    def handover(self, session, ref: ResourceRef, restored: Restored) -> list[dict[str, str]]:
        ddb = _ddb(session, ref.account, ref.region)
        steps = []
        try:
            src = ddb.describe_table(TableName=ref.name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            src = {}
        stream = (src.get("StreamSpecification") or {}).get("StreamEnabled")
        steps.append(
            {
                "step": "re-enable streams",
                "why": "a restored table has no stream; consumers (Lambda triggers, replication) stop",
                "how": f"update_table(TableName='{restored.name}', StreamSpecification={{StreamEnabled: true, "
                f"StreamViewType: '{(src.get('StreamSpecification') or {}).get('StreamViewType', 'NEW_AND_OLD_IMAGES')}'}}) "
                "then re-point the triggers",
                "needed": "yes" if stream else "only if the application used one (source had none)",
            }
        )
        try:
            ttl = ddb.describe_time_to_live(TableName=ref.name)["TimeToLiveDescription"]
        except Exception:  # noqa: BLE001  (source gone: say so)
            ttl = {}
        steps.append(
            {
                "step": "re-enable TTL",
                "why": "time to live is not restored",
                "how": f"update_time_to_live(TableName='{restored.name}', TimeToLiveSpecification="
                f"{{Enabled: true, AttributeName: '{ttl.get('AttributeName', '<ttl attribute>')}'}})",
                "needed": "yes"
                if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
                else "check",
            }
        )
        steps.append(
            {
                "step": "enable point-in-time recovery",
                "why": "PITR is off on a restored table: the new table has no continuous backup yet",
                "how": f"update_continuous_backups(TableName='{restored.name}', "
                "PointInTimeRecoverySpecification={PointInTimeRecoveryEnabled: true})",
                "needed": "yes",
            }
        )
        steps.append(
            {
                "step": "auto scaling, alarms, IAM",
                "why": "scaling policies, CloudWatch alarms and IAM policies name the old table",
                "how": f"re-create scaling targets and alarms for table/{restored.name}; update IAM "
                "policies that name the old table ARN",
                "needed": "yes",
            }
        )
        return steps
