"""CloudWatch Logs: a log group cannot be restored (there is no backup of it in AWS Backup);
its recovery point is an export to S3 (``create_export_task``). The test reads the exported
files and compares them with the log events of the same window, taken from the log group now.

Limits, said plainly: events older than the group's retention are gone from the log group,
so they cannot be compared; export lines carry the time to the millisecond and the message,
not the ingestion time. Sandbox: moto writes each stream to a random folder rather than
``<prefix>/<taskId>/<stream>/``, and drops the milliseconds; the fingerprint compares times
to the second for that reason.
"""

from __future__ import annotations

import gzip
import time
from datetime import datetime
from typing import Any

from runbook_lib.fingerprint import Fingerprint, canonical
from runbook_lib.restore.fp import add_digest
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored
from runbook_lib.restore.registry import Content, ServiceHandler, finder, handler, point, restorer
from runbook_lib.services.logs.inventory import export_data_end
from runbook_lib.session import utcnow

KIND = "log-export-events"


def _logs(session, account, region):
    return session.client("logs", account, region)


@finder("logs", "logs-export")
def find_exports(session, ref: ResourceRef) -> list[RecoveryPoint]:
    logs = _logs(session, ref.account, ref.region)
    s3 = session.client("s3", ref.account, ref.region)
    out = []
    kwargs: dict[str, Any] = {"statusCode": "COMPLETED"}
    while True:
        page = logs.describe_export_tasks(**kwargs)
        for t in page.get("exportTasks", []):
            if (
                t.get("logGroupName") != ref.name
                or (t.get("status") or {}).get("code") != "COMPLETED"
            ):
                continue
            # when its data ends (to, or when it ran), never when we read it; None if unknown
            until, basis = export_data_end(t, s3, session.sandbox, utcnow())
            out.append(
                point(
                    ref,
                    "logs-export",
                    id=t["taskId"],
                    created=until,
                    details={
                        "bucket": t["destination"],
                        "prefix": t.get("destinationPrefix") or "exportedlogs",
                        "from": int(t["from"]),
                        "to": int(t["to"]),
                        "dated_by": basis,
                    },
                )
            )
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


@restorer("logs", "logs-export")
def locate_export(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
):
    d = rp.details
    out = Restored("logs", rp.account, rp.region, f"s3://{d['bucket']}/{d['prefix']}/{rp.id}/")
    out.details.update(d, task_id=rp.id, log_group=ref.name)
    out.notes.append("a log export is read in place: nothing is restored, nothing to clean up")
    return out


def _export_files(
    s3, bucket: str, prefix: str, task_id: str, sandbox: bool
) -> tuple[dict[str, list[str]], str]:
    """stream -> object keys of one export task; and a note when the layout was guessed."""

    def listing(p: str) -> list[dict[str, Any]]:
        return [
            o
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=p)
            for o in page.get("Contents", [])
        ]

    base = f"{prefix}/{task_id}/"
    found = [o for o in listing(base) if o["Key"].endswith(".gz")]
    files: dict[str, list[str]] = {}
    if found:
        for o in found:
            stream = o["Key"][len(base) :].rsplit("/", 1)[0]
            files.setdefault(stream, []).append(o["Key"])
        return files, ""
    if not sandbox:
        return {}, f"no files under s3://{bucket}/{base}"
    newest: dict[
        str, tuple[datetime, str, list[str]]
    ] = {}  # moto: <prefix>/<random>/<stream>/000000.gz
    for o in listing(f"{prefix}/"):
        parts = o["Key"][len(prefix) + 1 :].split("/")
        if len(parts) < 3 or not o["Key"].endswith(".gz"):
            continue
        folder, stream = parts[0], "/".join(parts[1:-1])
        when = o["LastModified"]
        if stream not in newest or (when, folder) > newest[stream][:2]:
            newest[stream] = (when, folder, [o["Key"]])
        elif folder == newest[stream][1]:
            newest[stream][2].append(o["Key"])
    note = (
        "sandbox: moto writes each stream of an export to a random folder instead of <prefix>/<taskId>/<stream>/; "
        "the newest export of each stream under the prefix was read"
    )
    return {s: v[2] for s, v in newest.items()}, note


def _line_record(stream: str, line: str) -> tuple[str, bytes] | None:
    stamp, _, message = line.partition(" ")
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    second = int(when.timestamp())
    return f"{stream}@{second}", canonical([stream, second, message])


@handler
class Logs(ServiceHandler):
    service = "logs"
    not_found = ("ResourceNotFoundException",)
    has_data = True
    makes_scratch = False
    test_minutes = 2

    def read_content(self, session, restored: Restored, *, workers: int = 8) -> Content:
        started = time.perf_counter()
        d = restored.details
        s3 = session.client("s3", restored.account, restored.region)
        files, note = _export_files(s3, d["bucket"], d["prefix"], d["task_id"], session.sandbox)
        fp = Fingerprint(KIND)
        for stream, keys in sorted(files.items()):
            for key in keys:
                body = s3.get_object(Bucket=d["bucket"], Key=key)["Body"].read()
                text = gzip.decompress(body).decode("utf-8", errors="replace")
                for i, line in enumerate(text.splitlines()):
                    rec = _line_record(stream, line)
                    if rec:
                        add_digest(fp, f"{rec[0]}#{i}", rec[1])
        if note:
            restored.notes.append(note)
        return Content(
            KIND,
            fp.count,
            {"export": fp},
            [],
            time.perf_counter() - started,
            f"{sum(len(v) for v in files.values())} export file(s), {len(files)} stream(s)",
        )

    def reference_fingerprint(self, session, ref: ResourceRef, rp: RecoveryPoint):
        logs = _logs(session, ref.account, ref.region)
        fp = Fingerprint(KIND)
        per_stream: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "logGroupName": ref.name,
            "startTime": rp.details["from"],
            "endTime": rp.details["to"],
        }
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for e in page.get("events", []):
                stream = (
                    e["logStreamName"].replace("/", "-") if session.sandbox else e["logStreamName"]
                )
                second = int(e["timestamp"] // 1000)
                i = per_stream.get(stream, 0)
                per_stream[stream] = i + 1
                add_digest(fp, f"{stream}@{second}#{i}", canonical([stream, second, e["message"]]))
        return fp, (
            "log events of the export window, read from the log group now (events past the group's "
            "retention are gone and cannot be compared)"
        )

    def source_metadata(self, session, ref):
        g = next(
            (
                g
                for g in _logs(session, ref.account, ref.region).describe_log_groups(
                    logGroupNamePrefix=ref.name
                )["logGroups"]
                if g["logGroupName"] == ref.name
            ),
            {},
        )
        return {"retention_days": g.get("retentionInDays"), "kms_key": g.get("kmsKeyId")}

    def delete(self, session, restored):
        return None  # nothing was created
