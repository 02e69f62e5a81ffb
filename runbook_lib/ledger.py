"""The ledger: an append-only record of every run, readable without this project.

Layout under one base location (a local folder, or ``s3://bucket/prefix``)::

    <base>/<table>/date=YYYY-MM-DD/<run_id>-<uuid>.parquet
    <base>/<table>/date=YYYY-MM-DD/compacted-<uuid>.parquet   (a day's files merged)
    <base>/<table>/date=YYYY-MM/compacted-<uuid>.parquet      (a month's files merged)

Every append writes a new Parquet file under a unique name (to a temporary name first,
then an atomic rename on local disk; one PUT on S3), so a write never touches earlier
rows and two runs at once never collide. Read with pandas
(``pd.read_parquet("<base>/inventory")``) or DuckDB
(``SELECT * FROM read_parquet('<base>/inventory/*/*.parquet', hive_partitioning=true)``).
Columns per table are declared in ``runbook_lib.ledger_schema`` (enforced on every append)
and documented from it in ``docs/ledger.md``.

``Ledger.read`` reads a table as one dataset (``pyarrow.dataset``) with the filters pushed
down: only the columns asked for, only the day folders a time range can touch, only the
runs asked for. ``Ledger.compact`` merges a day's or a month's small files into one file,
checking row count and content fingerprint before it removes anything (``docs/ledger.md``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import operator
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from runbook_lib.clock import utcnow
from runbook_lib.errors import RunbookError
from runbook_lib.fingerprint import Fingerprint
from runbook_lib.ledger_schema import SCHEMA, arrow_schema, conform

TABLES = tuple(SCHEMA)
PARTITION = "date"
MERGED_PREFIX = "compacted-"  # a compaction's output; its metadata names the files it merged
SOURCES_KEY = b"runbook.compacted_from"
LOCK = ".compact.lock"
READ_TRIES = 3
S3_WORKERS = 16
FINGERPRINT_KIND = "ledger-rows"
HASH_KEYS = ("runbook-ledger-1", "runbook-ledger-2")  # 16 characters each (pandas' hash key)

TimeLike = datetime | date | pd.Timestamp | str | None


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261124T230712Z-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


class Ledger:
    def __init__(self, location: str, s3_client: Any = None) -> None:
        self.location = location.rstrip("/")
        self.is_s3 = self.location.startswith("s3://")
        self._s3 = s3_client
        self._store = (
            _S3Store(self.location, s3_client) if self.is_s3 else _LocalStore(self.location)
        )

    def append(self, table: str, rows: pd.DataFrame | list[dict], run_id: str) -> str | None:
        """Append rows to ``table``; returns where they were written (None if no rows)."""
        _table(table)
        from runbook_lib.arguments import check_run_id

        try:
            if not check_run_id(run_id):
                raise ValueError("empty")
        except ValueError as err:  # it names a file: no '/', no '..'
            raise RunbookError(f"ledger: run_id {run_id!r}: {err}") from None
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        if df.empty:
            return None
        now = utcnow()  # the target's clock: rows sort with the times they describe
        df = _portable(df.assign(run_id=run_id, recorded_at=now))
        day = now.strftime("%Y-%m-%d")
        name = f"{PARTITION}={day}/{run_id}-{uuid.uuid4().hex[:8]}.parquet"
        buf = io.BytesIO()
        # the declared schema: same columns and types in every file of a table
        pq.write_table(conform(table, df), buf, compression="zstd")
        return self._store.write(table, name, buf.getvalue())

    def read(
        self,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        run_ids: Iterable[str] | None = None,
        categorical: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Rows of ``table``, read as one dataset; with no filter, every row ever appended
        (an empty frame if none).

        ``columns`` reads only those columns; ``since`` / ``until`` (datetime, date or ISO 8601
        text; UTC when no zone is given) keep rows recorded in that range (``recorded_at``,
        bounds included), and only the day folders that can hold them are opened; ``run_ids``
        keeps the rows of those runs. ``categorical`` columns come back as pandas categoricals
        (for text with few distinct values: cheaper to hold, filter and group). Rows a
        compaction merged are read once, from the merged file, even while it is removing the
        files it merged."""
        schema = arrow_schema(_table(table))
        cols = _columns(table, schema, columns)
        as_category = _columns(table, schema, categorical) if categorical else []
        lo, hi = _time(since, "since"), _time(until, "until")
        if lo is not None and hi is not None and lo > hi:
            raise RunbookError(f"ledger: since ({lo}) is after until ({hi}); give since <= until")
        ids = None if run_ids is None else _run_ids(run_ids)
        keep = _in_range(lo, hi)
        unfiltered = columns is None and lo is None and hi is None and ids is None
        for attempt in range(READ_TRIES):
            try:
                names, _ = self._visible(table, keep)
                if not names:
                    return _empty(schema, cols, unfiltered)
                expr = _row_filter(lo, hi, ids)
                found = self._store.scan(table, names, cols, expr, schema, as_category)
                return found.to_pandas()
            except _Gone:  # a compaction removed a file after it was listed: list again
                if attempt == READ_TRIES - 1:
                    raise RunbookError(
                        f"ledger: table {table!r}: files kept disappearing while being read "
                        f"({READ_TRIES} tries); is a compaction looping?"
                    ) from None
        raise AssertionError("unreachable")

    def compact(
        self, table: str, *, day: str | None = None, month: str | None = None, dry_run: bool = False
    ) -> Compaction:
        """Merge the files of one day (``YYYY-MM-DD``) or one month (``YYYY-MM``) of ``table``
        into one file, keeping every row unchanged.

        The row count and an order-independent content fingerprint are taken over the files
        to merge, the merged file is written under a hidden name and read back, and only when
        both agree is it made visible (atomically) and are the files it merged removed. Files
        appended meanwhile are not touched. On any disagreement nothing changes and
        :class:`CompactionRefused` says why. One compaction per table at a time (a lock file)."""
        schema = arrow_schema(_table(table))
        period = _period(day, month)
        folder = f"{PARTITION}={period}"

        def keep(part: str) -> bool:
            return part == period or (len(period) == 7 and part[:7] == period)

        with self._store.lock(table):
            names, leftovers = self._visible(table, keep)
            parts = [_conformed(table, n, self._store.read_file(table, n), schema) for n in names]
            # the rows as read from the files, side by side (concatenation copies no value)
            merged = pa.concat_tables(parts) if parts else schema.empty_table()
            before = fingerprint_rows(merged)
            if len(names) < 2 and not leftovers:
                return Compaction(table=table, period=period, status="nothing to compact",
                                  files=len(names), before=before, after=before)  # fmt: skip
            if dry_run:
                return Compaction(table=table, period=period, status="dry run", files=len(names),
                                  before=before, removed=tuple(names + leftovers))  # fmt: skip
            final = f"{folder}/{MERGED_PREFIX}{uuid.uuid4().hex}.parquet"
            hidden = _hidden(final)
            self._store.write(table, hidden, _encode(merged, names + leftovers))
            try:
                after = fingerprint_rows(self._store.read_file(table, hidden))
                if not before.matches(after):
                    raise CompactionRefused(
                        f"ledger: compaction of {table!r} {period} refused, nothing changed: the "
                        f"merged file read back holds {after.count} rows (fingerprint "
                        f"{after.hexdigest}), the {len(names)} files hold {before.count} "
                        f"(fingerprint {before.hexdigest})"
                    )
                self._store.publish(table, hidden, final)
            except BaseException:
                self._store.delete(table, [hidden])
                raise
            self._store.delete(table, names + leftovers)
        return Compaction(table=table, period=period, status="compacted", files=len(names),
                          before=before, after=after, written=self._store.url(table, final),
                          removed=tuple(names + leftovers))  # fmt: skip

    def _visible(self, table: str, keep: Callable[[str], bool]) -> tuple[list[str], list[str]]:
        """The files a reader reads (``date=P/name.parquet``, sorted; files in flight left
        out, and files a merged file already holds), and those files a merged file already
        holds that are still there (a compaction stopped before removing them)."""
        names = self._store.list(table, keep)
        merged = {
            source
            for n in names
            if n.rpartition("/")[2].startswith(MERGED_PREFIX)
            for source in _sources(self._store.metadata(table, n))
        }
        return [n for n in names if n not in merged], [n for n in names if n in merged]


@dataclass(frozen=True, kw_only=True)
class Compaction:
    """What a compaction did (or, in a dry run, would do)."""

    table: str
    period: str  # YYYY-MM-DD or YYYY-MM
    status: str  # compacted, dry run, nothing to compact
    files: int  # files merged
    before: Fingerprint  # rows and content of the files merged
    after: Fingerprint | None = None  # of the merged file, read back
    written: str | None = None
    removed: tuple[str, ...] = ()

    def summary(self) -> str:
        head = f"{self.table} {self.period}: {self.status}"
        rows = (
            f"{self.before.count} rows in {self.files} file(s), fingerprint {self.before.hexdigest}"
        )
        if self.status == "compacted":
            return (
                f"{head}: {rows} -> 1 file ({self.written}), {self.after.count} rows, "
                f"fingerprint {self.after.hexdigest} (equal); {len(self.removed)} file(s) removed"
            )
        if self.status == "dry run":
            return f"{head}: {rows} would be merged into one file; nothing changed"
        return f"{head}: {rows}; nothing changed"


class CompactionRefused(RunbookError):
    """A compaction that would change a row: nothing was changed."""


# ------------------------------------------------------------------ arguments


def _table(table: str) -> str:
    if table not in TABLES:
        raise RunbookError(f"ledger: unknown table {table!r}; allowed: {', '.join(TABLES)}")
    return table


def _columns(table: str, schema: pa.Schema, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(schema.names)
    if isinstance(columns, str):
        columns = [columns]
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise RunbookError(
            f"ledger: table {table!r}: column(s) {unknown} unknown; allowed: {', '.join(schema.names)}"
        )
    return list(dict.fromkeys(columns))


def utc_time(value: TimeLike) -> pd.Timestamp | None:
    """A datetime, date or ISO 8601 text as a UTC timestamp (read as UTC when it names no
    zone); None for None or ''. Raises ValueError for anything else."""
    if value is None or value == "":
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        t = pd.NaT
    if pd.isna(t):
        raise ValueError(f"{value!r} is not a time")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _time(value: TimeLike, field: str) -> pd.Timestamp | None:
    try:
        return utc_time(value)
    except ValueError:
        raise RunbookError(
            f"ledger: {field} {value!r} is not a time; give a datetime, a date or ISO 8601 text "
            "(2026-05-01, 2026-05-01T12:00:00Z)"
        ) from None


def _run_ids(run_ids: Iterable[str]) -> list[str]:
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    bad = [r for r in ids if not isinstance(r, str)]
    if bad:
        raise RunbookError(f"ledger: run_ids must be text (run ids); got {bad[:3]}")
    return ids


def _period(day: str | None, month: str | None) -> str:
    if (day is None) == (month is None):
        raise RunbookError(
            "ledger compact: give exactly one of day (YYYY-MM-DD) or month (YYYY-MM)"
        )
    field, value, fmt = ("day", day, "%Y-%m-%d") if day is not None else ("month", month, "%Y-%m")
    try:
        ok = datetime.strptime(str(value), fmt).strftime(fmt) == value
    except ValueError:
        ok = False
    if not ok:
        example = "2026-05-03" if field == "day" else "2026-05"
        raise RunbookError(f"ledger compact: {field} {value!r} is not {fmt[1:].replace('%', '')} "
                           f"(e.g. {example})")  # fmt: skip
    return str(value)


# ------------------------------------------------------------------ reading


def _in_range(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> Callable[[str], bool]:
    """Which partitions (``YYYY-MM-DD`` days, ``YYYY-MM`` merged months) can hold rows
    recorded in [lo, hi]. A file lands in the day its append ended, on or after its rows'
    ``recorded_at``: one day of slack after ``hi``."""
    first = lo.strftime("%Y-%m-%d") if lo is not None else None
    last = (hi + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if hi is not None else None

    def keep(part: str) -> bool:
        n = len(part)
        if n not in (7, 10):
            return True  # not a shape this ledger writes: read it rather than miss it
        return (first is None or part >= first[:n]) and (last is None or part <= last[:n])

    return keep


def _row_filter(lo, hi, ids) -> pc.Expression | None:
    parts = []
    ts = pa.timestamp("us", tz="UTC")
    if lo is not None:
        parts.append(pc.field("recorded_at") >= pa.scalar(lo.to_pydatetime(), ts))
    if hi is not None:
        parts.append(pc.field("recorded_at") <= pa.scalar(hi.to_pydatetime(), ts))
    if ids is not None:
        parts.append(pc.field("run_id").isin(pa.array(ids, pa.string())))
    return functools.reduce(operator.and_, parts) if parts else None


def _dictionary(found: pa.Table, names: list[str]) -> pa.Table:
    for name in names:
        if name in found.column_names:
            i = found.column_names.index(name)
            found = found.set_column(
                i, name, pc.dictionary_encode(found.column(name).combine_chunks())
            )
    return found


def _empty(schema: pa.Schema, cols: list[str], unfiltered: bool) -> pd.DataFrame:
    if unfiltered:
        return pd.DataFrame()
    return schema.empty_table().select(cols).to_pandas()


def _visible_file(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def _split(rel: str) -> tuple[str, str] | None:
    """``date=P/name`` -> (P, name); None for anything else."""
    folder, sep, name = rel.partition("/")
    if not sep or "/" in name or not folder.startswith(f"{PARTITION}="):
        return None
    return folder[len(PARTITION) + 1 :], name


# ------------------------------------------------------------------ compaction


def _hidden(name: str) -> str:
    folder, _, base = name.rpartition("/")
    return f"{folder}/.{base}.tmp"


def _sources(meta: dict[bytes, bytes] | None) -> list[str]:
    raw = (meta or {}).get(SOURCES_KEY)
    return json.loads(raw) if raw else []


def _encode(table: pa.Table, sources: list[str]) -> bytes:
    meta = dict(table.schema.metadata or {})
    meta[SOURCES_KEY] = json.dumps(sources).encode()
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf, compression="zstd")
    return buf.getvalue()


def _conformed(table: str, name: str, part: pa.Table, schema: pa.Schema) -> pa.Table:
    """``part`` with exactly the declared columns and types; refused when that would drop or
    change a value (an undeclared column, another type)."""
    for f in part.schema:
        if f.name not in schema.names:
            raise CompactionRefused(
                f"ledger: compaction of {table!r} refused, nothing changed: {name} has column "
                f"{f.name!r}, not in the declared schema (merging would drop it)"
            )
        want = schema.field(f.name).type
        if f.type != want and not pa.types.is_null(f.type):
            raise CompactionRefused(
                f"ledger: compaction of {table!r} refused, nothing changed: {name} column "
                f"{f.name!r} is {f.type}, declared {want} (merging would change its values)"
            )
    cols = [
        part.column(f.name).cast(f.type)
        if f.name in part.column_names
        else pa.nulls(len(part), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def fingerprint_rows(table: pa.Table) -> Fingerprint:
    """Row count and an order-independent content hash of ``table``: each row hashed twice
    (``pandas.util.hash_pandas_object`` under two keys, 64 bits each) and the hashes summed
    modulo 2**64, so the order of rows or files does not matter and two equal rows do not
    cancel. Whole numbers and booleans are hashed as text, so a file's nulls do not change
    how its other values are hashed."""
    fp = Fingerprint(FINGERPRINT_KIND)
    if table.num_rows == 0:
        return fp
    cols = sorted(table.column_names)
    arrays = [
        pc.cast(table.column(c), pa.string())
        if pa.types.is_integer(table.schema.field(c).type)
        or pa.types.is_boolean(table.schema.field(c).type)
        else table.column(c)
        for c in cols
    ]
    df = pa.Table.from_arrays(arrays, names=cols).to_pandas()
    sums = [
        int(
            pd.util.hash_pandas_object(df, index=False, hash_key=key)
            .to_numpy("uint64")
            .sum(dtype="uint64")
        )
        for key in HASH_KEYS
    ]
    fp.count, fp.digest = table.num_rows, (sums[0] << 64) | sums[1]
    return fp


# ------------------------------------------------------------------ storage


class _Gone(Exception):
    """A listed file was removed before it was read (by a compaction)."""


class _LocalStore:
    def __init__(self, location: str) -> None:
        self.root = Path(location)

    def url(self, table: str, name: str) -> str:
        return str(self.root / table / name)

    def list(self, table: str, keep: Callable[[str], bool]) -> list[str]:
        names = []
        try:
            folders = [e for e in os.scandir(self.root / table) if e.is_dir()]
        except FileNotFoundError:
            return []
        for folder in folders:
            split = _split(f"{folder.name}/x")
            if split is None or not keep(split[0]):
                continue
            try:
                names += [
                    f"{folder.name}/{f.name}"
                    for f in os.scandir(folder.path)
                    if _visible_file(f.name)
                ]
            except FileNotFoundError:
                continue
        return sorted(names)

    def metadata(self, table: str, name: str) -> dict[bytes, bytes] | None:
        try:
            return pq.read_metadata(self.url(table, name)).metadata
        except FileNotFoundError:
            raise _Gone(name) from None

    def scan(self, table, names, columns, row_filter, schema, dictionary) -> pa.Table:
        paths = [self.url(table, n) for n in names]
        # text columns asked for as categoricals are read as Parquet stores them: dictionaries
        options = ds.ParquetReadOptions(dictionary_columns=dictionary)
        text = pa.dictionary(pa.int32(), pa.string())
        schema = pa.schema([pa.field(f.name, text) if f.name in dictionary else f for f in schema])
        try:
            dataset = ds.dataset(
                paths, format=ds.ParquetFileFormat(read_options=options), schema=schema
            )
            return dataset.to_table(columns=columns, filter=row_filter).unify_dictionaries()
        except FileNotFoundError:
            raise _Gone(table) from None

    def read_file(self, table: str, name: str) -> pa.Table:
        try:
            return pq.read_table(self.url(table, name))
        except FileNotFoundError:
            raise _Gone(name) from None

    def write(self, table: str, name: str, data: bytes) -> str:
        path = self.root / table / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name.startswith("."):
            path.write_bytes(data)
            return str(path)
        # a leading '.': pyarrow and pandas readers skip it while the write is in flight
        tmp = path.parent / f".{path.name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: readers never see half a file
        return str(path)

    def publish(self, table: str, hidden: str, final: str) -> None:
        os.replace(self.root / table / hidden, self.root / table / final)

    def delete(self, table: str, names: list[str]) -> None:
        for n in names:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.root / table / n)

    @contextlib.contextmanager
    def lock(self, table: str):
        path = self.root / table / LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise RunbookError(_locked(str(path))) from None
        try:
            os.write(fd, f"{os.getpid()} {datetime.now(UTC).isoformat()}\n".encode())
            os.close(fd)
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


class _S3Store:
    """The same layout on S3, through the project's session (its retries and call counts):
    one listing, then the files fetched concurrently and read as one table."""

    def __init__(self, location: str, client: Any) -> None:
        self.bucket, _, prefix = location[5:].partition("/")
        self.prefix = prefix.strip("/")
        self.client = client

    def key(self, table: str, name: str) -> str:
        return "/".join(p for p in (self.prefix, table, name) if p)

    def url(self, table: str, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(table, name)}"

    def list(self, table: str, keep: Callable[[str], bool]) -> list[str]:
        root = self.key(table, "") + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root
        )
        names = []
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(root) :]
                split = _split(rel)
                if split and keep(split[0]) and _visible_file(split[1]):
                    names.append(rel)
        return sorted(names)

    def _get(self, table: str, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(table, name))[
                "Body"
            ].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise _Gone(name) from None
            raise

    def metadata(self, table: str, name: str) -> dict[bytes, bytes] | None:
        return pq.read_metadata(pa.BufferReader(self._get(table, name))).metadata

    def read_file(self, table: str, name: str) -> pa.Table:
        return pq.read_table(pa.BufferReader(self._get(table, name)))

    def scan(self, table, names, columns, row_filter, schema, dictionary) -> pa.Table:
        def one(name: str) -> pa.Table:
            buf = pa.BufferReader(self._get(table, name))
            return pq.read_table(buf, columns=columns, filters=row_filter, schema=schema)

        with ThreadPoolExecutor(min(S3_WORKERS, len(names))) as pool:
            return _dictionary(pa.concat_tables(pool.map(one, names)), dictionary)

    def write(self, table: str, name: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.key(table, name), Body=data)
        return self.url(table, name)

    def publish(self, table: str, hidden: str, final: str) -> None:
        source = {"Bucket": self.bucket, "Key": self.key(table, hidden)}
        self.client.copy_object(Bucket=self.bucket, Key=self.key(table, final), CopySource=source)
        self.delete(table, [hidden])

    def delete(self, table: str, names: list[str]) -> None:
        for i in range(0, len(names), 1000):
            keys = [{"Key": self.key(table, n)} for n in names[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    @contextlib.contextmanager
    def lock(self, table: str):
        from botocore.exceptions import ClientError

        key = self.key(table, LOCK)
        try:  # a conditional PUT: only one holder
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"", IfNoneMatch="*")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise RunbookError(_locked(f"s3://{self.bucket}/{key}")) from None
            raise
        try:
            yield
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=key)


def _locked(where: str) -> str:
    return (
        f"ledger compact: another compaction of this table is running (lock {where}); "
        "wait for it, or remove the lock if that compaction was killed"
    )


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
