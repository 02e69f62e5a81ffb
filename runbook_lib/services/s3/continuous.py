"""S3 versioning: every overwrite and delete is kept, so a bucket can be restored to any
second since versioning began (bounded by a noncurrent-version expiration)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from runbook_lib.post_incident.continuous import Window, reader, utc


@reader("s3", "s3 versioning")
def s3_window(
    session: Any, row: dict, retention_days: float | None, as_of: datetime
) -> Window | None:
    """Versioning keeps every overwrite and delete (until a noncurrent-version expiration).
    When versioning was switched on is not readable, so the bucket's creation is used."""
    created = utc(row.get("created"))
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
