"""Notifications: one message per scheduled run that failed, timed out or whose evidence is
red (a failed restore test, a missed RTO/RPO objective, a critical finding: the job's
``fail_on`` rules), published to the SNS topic the params name (``notify_topic_arn``).

The message says what failed (job, notebook, the run's verdict counts, the red items) and
where the evidence is (the run folder or ``s3://`` URI, the HTML report, ``run.json``). A
green run publishes nothing. A publish that fails never changes the run's result: the
scheduler records what happened (:func:`notify` returns it) and prints it.

This module is SNS's one home in ``runbook_lib``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("runbook_lib")

#: SNS limits: a subject of at most 100 printable ASCII characters; a message of 256 KiB
SUBJECT_MAX = 100
MESSAGE_MAX = 250_000
#: how many red rows of a table the message details (the run's exports hold them all)
DETAIL_ROWS = 5
#: outcome statuses that notify
NOTIFY_ON = ("failed", "timed_out", "red")


def wanted(outcome: Any) -> bool:
    """Whether a scheduled run's outcome publishes a message (never for ok or skipped)."""
    return outcome.status in NOTIFY_ON


def compose(outcome: Any, results: list[Any]) -> tuple[str, str, dict[str, str]]:
    """(subject, message, attributes) for one scheduled run: ``outcome`` from the scheduler,
    ``results`` the :class:`runbook_lib.runner.RunResult` of each attempt (None for an
    attempt that could not start)."""
    last = next((r for r in reversed(results) if r is not None), None)
    word = {"red": "RED", "timed_out": "TIMED OUT", "failed": "FAILED"}.get(
        outcome.status, outcome.status.upper()
    )
    red = [r["rule"] for r in last.red if r["rule"] in last.fail_on] if last else []
    why = {"timed_out": "time-out", "failed": "did not run to the end"}.get(outcome.status)
    why = why or ", ".join(red) or "red evidence"
    subject = _ascii(f"runbook {word}: {outcome.job} ({why})")[:SUBJECT_MAX]
    lines = [
        f"Scheduled job {outcome.job!r} is {word} (exit status {outcome.code}).",
        f"Notebook: {outcome.notebook}",
    ]
    if last is not None:
        lines.append(
            f"Run: {last.run_id} (attempt {len(results)}), "
            f"{last.started} to {last.finished}, params {last.params_file}"
        )
        if last.fail_on:
            lines.append(f"Red when (fail_on): {', '.join(last.fail_on)}")
    elif outcome.run_id:
        lines.append(f"Run: {outcome.run_id} (attempt {len(results)}): it wrote no run folder")
    lines += ["", "What failed:"] + [f"  - {m}" for m in outcome.messages or ["(no detail)"]]
    if last is not None:
        if last.verdicts:
            lines += ["", "Verdicts of the run:"]
            lines += [
                f"  {table}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                for table, counts in last.verdicts.items()
            ]
        also = [r for r in last.red if r["rule"] not in last.fail_on]
        if also:
            lines += ["", "Also red by rules this job does not fail on:"]
            lines += [f"  - {r['rule']}: {r['rows']} row(s) of {r['table']}" for r in also]
        details = _red_rows(last)
        if details:
            lines += ["", "Red items:"] + [f"  - {d}" for d in details]
        lines += ["", "Evidence:", f"  run folder: {last.folder}"]
        for nb in last.notebooks:
            if nb.html:
                lines.append(f"  report (HTML): {nb.html}")
            if nb.output:
                lines.append(f"  executed notebook: {nb.output}")
        lines.append(f"  manifest: {last.folder.rstrip('/')}/run.json")
    earlier = outcome.attempts[:-1] if outcome.attempts else []
    if earlier:
        lines += ["", "Earlier attempts:"]
        lines += [
            f"  - {a.get('run_id') or '(not started)'}: {a['status']} -> {a.get('folder') or '-'}"
            for a in earlier
        ]
    text = "\n".join(lines)
    if len(text.encode()) > MESSAGE_MAX:
        text = text.encode()[:MESSAGE_MAX].decode(errors="ignore") + "\n(cut: see the run folder)"
    attributes = {
        "job": outcome.job,
        "status": outcome.status,
        "run_id": outcome.run_id or "-",
    }
    return subject, text, attributes


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "-" for c in text)


def _red_rows(result: Any) -> list[str]:
    """The first red rows of each rule the run fails on, read from the run's exports when
    they are on this machine (an ``s3://`` archive: the names in ``result.red`` only)."""
    import pandas as pd

    from runbook_lib.exports import EXPORT_DIR, RULES

    out = []
    for red in result.red:
        if red["rule"] not in result.fail_on:
            continue
        path = Path(result.folder) / EXPORT_DIR / f"{red['table']}.json"
        if result.folder.startswith("s3://") or not path.is_file():
            out += [f"{red['rule']}: {name}" for name in red.get("first", [])]
            continue
        df = pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
        hit = df[RULES[red["rule"]].matches(df).fillna(False).astype(bool)]
        for row in hit.head(DETAIL_ROWS).to_dict("records"):
            out.append(f"{red['rule']}: {_describe(row)}")
        if len(hit) > DETAIL_ROWS:
            out.append(f"{red['rule']}: ... {len(hit) - DETAIL_ROWS} more in {path}")
    return out


def _describe(row: dict[str, Any]) -> str:
    name = next(
        (row[k] for k in ("resource_name", "name", "resource_arn", "arn") if row.get(k)), "?"
    )
    parts = [str(name)]
    for key in ("control_id", "status", "severity"):
        if row.get(key):
            parts.append(f"{key}={row[key]}")
    for key, what in (("rto_met", "RTO"), ("rpo_met", "RPO")):
        if str(row.get(key)).lower() == "false":  # missed (not unknown)
            parts.append(f"{what} objective missed")
    detail = row.get("verdict_detail") or row.get("reason") or row.get("error") or ""
    if detail:
        parts.append(str(detail)[:300])
    return "; ".join(parts)


def publish(params: Any, subject: str, text: str, attributes: dict[str, str]) -> str:
    """Publish one message to ``params.notify_topic_arn`` (the topic's own Region and, when
    the params list it, account); returns SNS's message id. Raises what the call raises."""
    from runbook_lib.session import AwsSession

    arn = params.notify_topic_arn
    _, _, _, region, account, name = arn.split(":", 5)
    session = AwsSession(params)
    client = session.client(
        "sns", account if account in params.account_ids else None, region=region
    )
    extra: dict[str, Any] = {}
    if name.endswith(".fifo"):
        extra = {
            "MessageGroupId": attributes["job"],
            "MessageDeduplicationId": attributes["run_id"],
        }
    reply = client.publish(
        TopicArn=arn,
        Subject=subject,
        Message=text,
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
        **extra,
    )
    return reply["MessageId"]


def notify(params_file: str, outcome: Any, results: list[Any]) -> dict[str, Any]:
    """Publish the message of one scheduled run when it is wanted; what happened, as a
    record for the scheduler's history: ``{"status": "off" | "sent" | "failed" |
    "not sent", "topic": ..., "message_id" | "error": ...}``. Never raises."""
    from runbook_lib.params import find_params_file, load_params
    from runbook_lib.targets import ENV_URL

    try:
        params = load_params(find_params_file(params_file))
    except Exception as err:  # noqa: BLE001  (the run's result must survive)
        return {"status": "not sent", "topic": "", "error": f"params {params_file}: {err}"}
    topic = params.notify_topic_arn
    if not topic:
        return {"status": "off", "topic": ""}
    if params.target.kind == "sandbox" and not (
        params.target.endpoint_url or os.environ.get(ENV_URL)
    ):
        return {
            "status": "not sent",
            "topic": topic,
            "error": "the in-process sandbox this run used is gone; serve one "
            "(`runbook sandbox serve`) and set target.endpoint_url to notify on the sandbox",
        }
    subject, text, attributes = compose(outcome, results)
    try:
        message_id = publish(params, subject, text, attributes)
    except Exception as err:  # noqa: BLE001  (recorded and said; the run's result stands)
        log.error("notification to %s failed: %s: %s", topic, type(err).__name__, err)
        return {"status": "failed", "topic": topic, "error": f"{type(err).__name__}: {err}"}
    log.info("notification sent to %s (message %s)", topic, message_id)
    return {"status": "sent", "topic": topic, "message_id": message_id}
