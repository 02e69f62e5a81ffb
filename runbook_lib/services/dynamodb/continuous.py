"""DynamoDB point-in-time recovery: the window ``describe_continuous_backups`` reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbook_lib.post_incident.continuous import (
    REPORTED,
    Window,
    reader,
    sandbox_note,
    utc,
)


def _sandbox_latest(
    session: Any, reported: datetime | None, as_of: datetime
) -> tuple[datetime | None, str]:
    """On the sandbox, moto never moves a PITR window's end forward; AWS keeps it about
    five minutes behind now while PITR is enabled. Say so rather than read a frozen value
    as a real gap."""
    if session.sandbox and reported is not None and reported < as_of:
        return as_of, (
            f"sandbox: moto does not advance LatestRestorableDateTime (reported "
            f"{reported:%Y-%m-%dT%H:%M:%SZ}); taken as as_of while PITR is ENABLED"
        )
    return reported, REPORTED


@reader("dynamodb", "dynamodb PITR")
def dynamodb_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    ddb = session.client("dynamodb", row["account"], row["region"])
    desc = ddb.describe_continuous_backups(TableName=row["name"])["ContinuousBackupsDescription"]
    pitr = desc.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    latest, basis = _sandbox_latest(session, utc(pitr.get("LatestRestorableDateTime")), as_of)
    return Window(
        "dynamodb PITR",
        utc(pitr.get("EarliestRestorableDateTime")),
        latest,
        latest_basis=basis,
    )


sandbox_note(
    ("dynamodb",),
    "sandbox: moto's DynamoDB PITR window does not move forward (Earliest = Latest = "
    "when PITR was enabled); while PITR is ENABLED its end is taken as as_of, as AWS "
    "keeps it about 5 minutes behind now. On AWS the reported window is used as is",
)
