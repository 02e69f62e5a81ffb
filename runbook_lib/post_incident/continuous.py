"""Continuous backup windows: the span of time a resource can be restored to any second of
(DynamoDB PITR, RDS/Aurora/Neptune automated backups, S3 versioning).

One reader per service, registered in ``READERS``; a reader makes at most one or two read
calls for one resource and returns a :class:`Window` (or None when the resource has none).
Adding a service is one function and one ``READERS`` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from runbook_lib.session import is_not_supported

REPORTED = "reported"


@dataclass(frozen=True)
class Window:
    """[earliest, latest]: every second inside can be restored to."""

    mechanism: str
    earliest: datetime | None
    latest: datetime | None
    earliest_basis: str = REPORTED  # how the earliest time was obtained
    latest_basis: str = REPORTED
    note: str = ""

    def covers(self, t: datetime) -> bool:
        return (
            self.earliest is not None
            and self.latest is not None
            and self.earliest <= t <= self.latest
        )


def _utc(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


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


def dynamodb_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    ddb = session.client("dynamodb", row["account"], row["region"])
    desc = ddb.describe_continuous_backups(TableName=row["name"])["ContinuousBackupsDescription"]
    pitr = desc.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    latest, basis = _sandbox_latest(session, _utc(pitr.get("LatestRestorableDateTime")), as_of)
    return Window(
        "dynamodb PITR",
        _utc(pitr.get("EarliestRestorableDateTime")),
        latest,
        latest_basis=basis,
    )


def rds_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    rds = session.client("rds", row["account"], row["region"])
    db = rds.describe_db_instances(DBInstanceIdentifier=row["name"])["DBInstances"][0]
    days = db.get("BackupRetentionPeriod") or 0
    if days <= 0:
        return None
    latest = _utc(db.get("LatestRestorableTime"))
    earliest, e_basis = None, REPORTED
    try:  # AWS gives the restore window on the automated backup, not on the instance
        autos = rds.describe_db_instance_automated_backups(DBInstanceIdentifier=row["name"])
        for a in autos.get("DBInstanceAutomatedBackups", []):
            w = a.get("RestoreWindow") or {}
            earliest = _utc(w.get("EarliestTime")) or earliest
            latest = latest or _utc(w.get("LatestTime"))
    except Exception as err:  # noqa: BLE001  (an estimate below is better than nothing)
        if not is_not_supported(err) and "NotFound" not in type(err).__name__ + str(err):
            raise
    if earliest is None and latest is not None:
        created = _utc(db.get("InstanceCreateTime")) or _utc(row.get("created"))
        earliest = latest - timedelta(days=days)
        if created is not None:
            earliest = max(earliest, created)
        e_basis = f"estimated: max(creation, latest - {days} days retention); the API gave no EarliestTime"
    return Window(
        f"{row['service']} automated backups (PITR)", earliest, latest, earliest_basis=e_basis
    )


def cluster_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    rds = session.client("rds", row["account"], row["region"])
    c = rds.describe_db_clusters(DBClusterIdentifier=row["name"])["DBClusters"][0]
    if (c.get("BackupRetentionPeriod") or 0) <= 0:
        return None
    return Window(
        f"{row['service']} automated backups (PITR)",
        _utc(c.get("EarliestRestorableTime")),
        _utc(c.get("LatestRestorableTime")),
    )


def s3_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    """Versioning keeps every overwrite and delete (until a noncurrent-version expiration).
    When versioning was switched on is not readable, so the bucket's creation is used."""
    created = _utc(row.get("created"))
    earliest = created
    if (
        retention_days is not None
        and not pd.isna(retention_days)
        and retention_days != float("inf")
    ):
        floor = as_of - timedelta(days=float(retention_days))
        earliest = max(earliest, floor) if earliest else floor
    return Window(
        "s3 versioning",
        earliest,
        as_of,
        earliest_basis="bucket creation (when versioning was enabled is not readable)"
        + (f", bounded by noncurrent expiration {retention_days:g} days" if retention_days else ""),
        latest_basis="as_of (every version is kept as it is written)",
    )


Reader = Callable[[Any, dict, "float | None", datetime], "Window | None"]

#: (service, mechanism prefix as the inventory names it) -> reader
READERS: dict[tuple[str, str], Reader] = {
    ("dynamodb", "dynamodb PITR"): dynamodb_window,
    ("rds", "rds automated backups"): rds_window,
    ("aurora", "aurora automated backups"): cluster_window,
    ("neptune", "neptune automated backups"): cluster_window,
    ("s3", "s3 versioning"): s3_window,
}


def read_window(
    session: Any, row: dict, mechanisms: list[tuple[str, float | None]], as_of: datetime
) -> tuple[Window | None, str]:
    """The continuous window of one resource, and a note if it could not be read."""
    for (service, prefix), reader in READERS.items():
        if service != row["service"]:
            continue
        for mechanism, retention in mechanisms:
            if mechanism.startswith(prefix):
                try:
                    return reader(session, row, retention, as_of), ""
                except Exception as err:  # noqa: BLE001  (one resource must not stop the review)
                    kind = "not supported on the sandbox" if is_not_supported(err) else "failed"
                    return None, f"{prefix} window {kind}: {type(err).__name__}: {err}"[:300]
    return None, ""
