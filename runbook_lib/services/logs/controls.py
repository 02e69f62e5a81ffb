"""CloudWatch Logs' own audit control: log group retention against the tier (REL09-BP03)."""

from __future__ import annotations

from collections.abc import Iterator

from runbook_lib.audit.controls import days, declared_in, duration, result, step
from runbook_lib.audit.evidence import Evidence, reproducible
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, PASS, Result

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file


@control("logs_retention_meets_tier")
def logs_retention_meets_tier(ev: Evidence) -> Iterator[Result]:
    """CloudWatch Logs deletes events older than the log group's retention: a retention
    shorter than the tier's deletes history the tier promises to keep."""
    for row in ev.rows():
        kept = row.get("log_retention_days")
        if kept is None or kept != kept:
            continue  # not read for this resource
        tier = ev.tier(row.get("tier"))
        want = tier.retention.total_seconds() / 86400
        expected = f"retention >= {duration(tier.retention)}"
        source = reproducible(row)
        if source:
            yield result(row, NOT_APPLICABLE, f"reproducible from {source}", expected=expected)
        elif float(kept) >= want:
            yield result(row, PASS, f"events kept {days(float(kept))}", expected=expected)
        else:
            yield result(
                row,
                FAIL,
                f"events kept {days(float(kept))}, less than {days(want)}",
                expected=expected,
                remediation=step("log retention (days)"),
            )
