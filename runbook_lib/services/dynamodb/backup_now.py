"""DynamoDB in backup_now: the native on-demand backup (``create_backup``), the canary item
(hash key ``__restore_canary__#<time>``) and the content fingerprint (every item, scanned
with consistent reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbook_lib import fingerprint as fpr
from runbook_lib.backup_now import NativeStarted, canary_writer, fingerprint_taker, native_backup
from runbook_lib.protect.estate import DataResource
from runbook_lib.restore.canary import DYNAMODB_PREFIX, stamp


@native_backup("dynamodb")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    ddb = session.client("dynamodb", res.account, res.region)
    name = res.name
    b = ddb.create_backup(TableName=name, BackupName=f"{name[:200]}-{ident}"[:255])["BackupDetails"]

    def poll() -> tuple[str, dict]:
        d = ddb.describe_backup(BackupArn=b["BackupArn"])["BackupDescription"]
        st = d["BackupDetails"]["BackupStatus"]
        sse = (d.get("SourceTableFeatureDetails") or {}).get("SSEDescription") or {}
        return ("COMPLETED" if st == "AVAILABLE" else st), {
            "encrypted": True,
            "kms_key": sse.get("KMSMasterKeyArn"),
        }

    return NativeStarted(
        native_id=b["BackupArn"],
        recovery_point_arn=b["BackupArn"],
        created=b.get("BackupCreationDateTime"),
        poll=poll,
    )


@canary_writer("dynamodb")
def write_canary(
    session: Any, res: DataResource, run_id: str, now: datetime
) -> tuple[str | None, str]:
    """One item ``<hash key>=__restore_canary__#<time>`` (range key ``canary``); its key in
    the fingerprint's form (``pk=...|sk=canary``). Skipped when a key is not a string."""
    ddb = session.client("dynamodb", res.account, res.region)
    table = ddb.describe_table(TableName=res.name)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    if any(types[n] != "S" for n in keys.values()):
        return None, "the table's key is not a string: no canary written"
    item = {
        keys["HASH"]: {"S": f"{DYNAMODB_PREFIX}{stamp(now)}"},
        "restore_canary": {"BOOL": True},
        "written_at": {"S": now.isoformat()},
        "run_id": {"S": run_id},
    }
    if "RANGE" in keys:
        item[keys["RANGE"]] = {"S": "canary"}
    ddb.put_item(TableName=res.name, Item=item)
    return fpr.dynamodb_key(item, [keys["HASH"]] + ([keys["RANGE"]] if "RANGE" in keys else [])), ""


@fingerprint_taker("dynamodb")
def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint, list[str]]:
    """Every item (consistent scan) keyed by the table's key attributes."""
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
