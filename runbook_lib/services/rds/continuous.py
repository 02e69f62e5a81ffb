"""RDS, Aurora and Neptune automated backups: the point-in-time restore window of a DB
instance (``describe_db_instances`` and its automated backup's ``RestoreWindow``) or a DB
cluster (``describe_db_clusters``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runbook_lib.post_incident.continuous import (
    REPORTED,
    Window,
    reader,
    sandbox_note,
    utc,
)
from runbook_lib.services.rds.names import CLUSTER, INSTANCE, Kind
from runbook_lib.session import is_not_supported


def _described(session: Any, row: dict, kind: Kind) -> tuple[Any, dict[str, Any]]:
    """(the RDS client of ``row``'s scope, the DB instance or cluster ``row`` names)."""
    rds = session.client("rds", row["account"], row["region"])
    return rds, kind.describe_one(rds, row["name"])


@reader("rds", "rds automated backups")
def rds_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    rds, db = _described(session, row, INSTANCE)
    days = db.get("BackupRetentionPeriod") or 0
    if days <= 0:
        return None
    latest = utc(db.get("LatestRestorableTime"))
    earliest, e_basis = None, REPORTED
    try:  # AWS gives the restore window on the automated backup, not on the instance
        autos = rds.describe_db_instance_automated_backups(DBInstanceIdentifier=row["name"])
        for a in autos.get("DBInstanceAutomatedBackups", []):
            w = a.get("RestoreWindow") or {}
            earliest = utc(w.get("EarliestTime")) or earliest
            latest = latest or utc(w.get("LatestTime"))
    except Exception as err:  # noqa: BLE001  (an estimate below is better than nothing)
        if not is_not_supported(err) and "NotFound" not in type(err).__name__ + str(err):
            raise
    if earliest is None and latest is not None:
        created = utc(db.get("InstanceCreateTime")) or utc(row.get("created"))
        earliest = latest - timedelta(days=days)
        if created is not None:
            earliest = max(earliest, created)
        e_basis = f"estimated: max(creation, latest - {days} days retention); the API gave no EarliestTime"
    return Window(
        f"{row['service']} automated backups (PITR)", earliest, latest, earliest_basis=e_basis
    )


@reader("neptune", "neptune automated backups")
@reader("aurora", "aurora automated backups")
def cluster_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    _rds, c = _described(session, row, CLUSTER)
    if (c.get("BackupRetentionPeriod") or 0) <= 0:
        return None
    return Window(
        f"{row['service']} automated backups (PITR)",
        utc(c.get("EarliestRestorableTime")),
        utc(c.get("LatestRestorableTime")),
    )


sandbox_note(
    ("rds", "aurora", "neptune"),
    "sandbox: RDS LatestRestorableTime is the time of the describe call, and moto "
    "gives no EarliestRestorableTime for DB instances (estimated from creation and "
    "retention)",
)
