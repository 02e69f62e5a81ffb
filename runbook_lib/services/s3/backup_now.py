"""S3 in backup_now: no native on-demand backup (AWS Backup takes it); the canary object
``__restore_canary__/<time>`` and the content fingerprint (key, size, SHA-256 of each body)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from runbook_lib import fingerprint as fpr
from runbook_lib.backup_now import canary_writer, fingerprint_taker
from runbook_lib.protect.estate import DataResource
from runbook_lib.restore.canary import S3_PREFIX, stamp


@canary_writer("s3")
def write_canary(
    session: Any, res: DataResource, run_id: str, now: datetime
) -> tuple[str | None, str]:
    """One object ``__restore_canary__/<time>`` with a JSON body and ``restore-canary`` metadata."""
    key = f"{S3_PREFIX}{stamp(now)}"
    body = json.dumps(
        {"restore_canary": True, "written_at": now.isoformat(), "run_id": run_id}
    ).encode()
    session.client("s3", res.account, res.region).put_object(
        Bucket=res.name, Key=key, Body=body, Metadata={"restore-canary": "true"}
    )
    return key, ""


@fingerprint_taker("s3")
def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint, list[str]]:
    """Every current object: (key, size, SHA-256 of the body)."""
    s3 = session.client("s3", res.account, res.region)

    def objects() -> Iterator[tuple[str, int, str]]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=res.name):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=res.name, Key=o["Key"])["Body"].read()
                yield o["Key"], len(body), hashlib.sha256(body).hexdigest()

    return fpr.fingerprint_s3_objects(objects()), ["key"]
