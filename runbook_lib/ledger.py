"""The ledger: an append-only record of every run, readable without this project.

Layout under one base location (a local folder, or ``s3://bucket/prefix``)::

    <base>/<table>/date=YYYY-MM-DD/<run_id>-<uuid>.parquet

Every append writes a new Parquet file under a unique name (to a temporary name first,
then an atomic rename on local disk; one PUT on S3), so a write never touches earlier
rows and two runs at once never collide. Read with pandas
(``pd.read_parquet("<base>/inventory")``) or DuckDB
(``SELECT * FROM read_parquet('<base>/inventory/*/*.parquet', hive_partitioning=true)``).
Columns per table are declared in ``runbook_lib.ledger_schema`` (enforced on every append)
and documented from it in ``docs/ledger.md``.
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from runbook_lib.errors import RunbookError
from runbook_lib.ledger_schema import SCHEMA, conform

TABLES = tuple(SCHEMA)


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261124T230712Z-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


class Ledger:
    def __init__(self, location: str, s3_client: Any = None) -> None:
        self.location = location.rstrip("/")
        self.is_s3 = self.location.startswith("s3://")
        self._s3 = s3_client

    def append(self, table: str, rows: pd.DataFrame | list[dict], run_id: str) -> str | None:
        """Append rows to ``table``; returns where they were written (None if no rows)."""
        if table not in TABLES:
            raise RunbookError(f"ledger: unknown table {table!r}; allowed: {', '.join(TABLES)}")
        from runbook_lib.arguments import check_run_id

        try:
            if not check_run_id(run_id):
                raise ValueError("empty")
        except ValueError as err:  # it names a file: no '/', no '..'
            raise RunbookError(f"ledger: run_id {run_id!r}: {err}") from None
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        if df.empty:
            return None
        df = _portable(df.assign(run_id=run_id, recorded_at=datetime.now(UTC)))
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        name = f"{table}/date={day}/{run_id}-{uuid.uuid4().hex[:8]}.parquet"
        buf = io.BytesIO()
        # the declared schema: same columns and types in every file of a table
        pq.write_table(conform(table, df), buf, compression="zstd")
        if self.is_s3:
            bucket, _, prefix = self.location[5:].partition("/")
            key = f"{prefix}/{name}" if prefix else name
            self._s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
            return f"s3://{bucket}/{key}"
        path = Path(self.location) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # a leading '.': pyarrow and pandas readers skip it while the write is in flight
        tmp = path.parent / f".{path.name}.tmp"
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)  # atomic: readers never see half a file
        return str(path)

    def read(self, table: str) -> pd.DataFrame:
        """Every row ever appended to ``table`` (empty frame if none)."""
        if self.is_s3:
            bucket, _, prefix = self.location[5:].partition("/")
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{prefix}/{table}/".lstrip("/")
            )
            frames = [
                pd.read_parquet(
                    io.BytesIO(self._s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
                )
                for page in pages
                for o in page.get("Contents", [])
                if o["Key"].endswith(".parquet")
            ]
        else:
            files = sorted((Path(self.location) / table).glob("date=*/*.parquet"))
            frames = [pd.read_parquet(f) for f in files]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _portable(df: pd.DataFrame) -> pd.DataFrame:
    """Columns any Parquet reader understands: dicts/lists as JSON text, times in UTC."""
    import json

    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, dict | list | tuple | set)).any():
            out[col] = s.map(
                lambda v: (
                    json.dumps(
                        sorted(v) if isinstance(v, set) else v, default=str, ensure_ascii=False
                    )
                    if v is not None and not (isinstance(v, float) and pd.isna(v))
                    else None
                )
            )
        elif pd.api.types.is_timedelta64_dtype(s):
            out[col] = s.dt.total_seconds()
    return out
