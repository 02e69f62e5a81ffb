"""Trends at scale: a year of restore tests in the ledger, read and drawn by the trends runbook.

Generates a ``restore_tests`` ledger of N rows written as M runs (default 1,000,000 rows in
1,000 runs, one Parquet file per run, the runs spread evenly over a year), each file cast to
the declared schema (``ledger_schema.conform``, the path ``Ledger.append`` takes) and placed
where an append on that day would have put it. Then, timed in one process:

* the ledger read the trends runbook does (``Ledger.read`` with only the columns trends needs),
  against the plain read of every file one by one (what ``Ledger.read`` did before it read
  the table as one dataset);
* the trends runbook's own calls, in the notebook's order (``load``, ``runs``, every table,
  every figure), with the HTML size of each figure (``fig.to_html(include_plotlyjs=False)``);
* compaction of every month of the table: row count and content fingerprint before and
  after, and the time it took; then the trends calls again on the compacted table.

Times are wall-clock, with the process's CPU time beside them and the machine's load
average: on a machine busy with other work, wall time says more about the machine.

Targets printed against: every trends call on 1,000,000 rows in 1,000 files under 10 s in
all, every figure's HTML under 2 MB, compaction keeps every row (fingerprint equal).

    .venv/bin/python bench/bench_trends.py [--rows 1000000] [--runs 1000] [--days 365]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from runbook_lib import trends
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.ledger_schema import conform
from runbook_lib.params import load_params

TABLE = "restore_tests"
SERVICES = ["dynamodb", "s3", "rds", "ebs", "efs", "logs"]
ACCOUNTS = ["111111111111", "222222222222"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]
STATUSES = np.array(["PASS"] * 80 + ["PASS_WEAK"] * 12 + ["FAIL"] * 5 + ["NOT_RESTORABLE"] * 3)
TARGET_SECONDS, TARGET_HTML = 10.0, 2_000_000


def run_rows(rng: np.random.Generator, n: int, run_at: datetime, tiers: dict) -> pd.DataFrame:
    """One restore-test run of ``n`` resources, with the columns a real run fills."""
    names = list(tiers)
    res = rng.integers(0, 20_000, n)
    tier = np.array(names)[res % len(names)]
    service = np.array(SERVICES)[res % len(SERVICES)]
    account = np.array(ACCOUNTS)[res % len(ACCOUNTS)]
    region = np.array(REGIONS)[(res // 7) % len(REGIONS)]
    rto_obj = np.array([tiers[t].rto.total_seconds() for t in names])[res % len(names)]
    rpo_obj = np.array([tiers[t].rpo.total_seconds() for t in names])[res % len(names)]
    restore = rng.lognormal(np.log(rto_obj / 20), 0.8)
    validation = rng.lognormal(np.log(30), 0.5, n)
    rpo = rng.lognormal(np.log(rpo_obj / 3), 0.7)
    status = rng.choice(STATUSES, n)
    measured = status != "NOT_RESTORABLE"
    end = pd.Timestamp(run_at) + pd.to_timedelta(rng.uniform(60, 3_000, n), unit="s")
    arn = [f"arn:aws:{s}:{r}:{a}:resource/res-{i:05d}" for s, r, a, i in zip(service, region, account, res, strict=True)]  # fmt: skip
    run_tag = run_at.strftime("%Y%m%dt%H%M%S")
    return pd.DataFrame(
        {
            "test_id": [f"rt-{run_tag}-{i:06x}" for i in range(n)],
            "account": account, "region": region, "service": service, "resource_arn": arn,
            "resource_name": [a.rsplit("/", 1)[1] for a in arn], "tier": tier,
            "recovery_point_id": [f"arn:aws:backup:{r}:{a}:recovery-point:{i:08x}" for r, a, i in zip(region, account, rng.integers(0, 2**31, n), strict=True)],  # fmt: skip
            "recovery_point_source": "aws-backup",
            "recovery_point_time": end - pd.to_timedelta(rpo, unit="s"),
            "recovery_point_choice": "newest recovery point with a recorded fingerprint (within the RPO)",
            "copy": "local", "recovery_point_region": region,
            "restore_start": end - pd.to_timedelta(restore + validation, unit="s"),
            "restore_end": end,
            "restore_seconds": np.where(measured, restore, np.nan),
            "validation_seconds": np.where(measured, validation, np.nan),
            "verdict": status, "status": status,
            "content_verdict": np.where(measured, np.where(status == "FAIL", "FAIL", "PASS"), None),
            "verdict_detail": np.where(status == "FAIL", "fingerprint: expected 1200 records, found 1199", "all checks passed"),
            "evidence": json.dumps(["fingerprint=PASS", "canary=PASS", "metadata:kms_key=PASS"]),
            "records_found": rng.integers(0, 100_000, n),
            "rto_seconds": np.where(measured, restore + validation, np.nan),
            "rto_objective_seconds": rto_obj,
            "rpo_seconds": np.where(measured, rpo, np.nan),
            "rpo_objective_seconds": rpo_obj,
            "scratch_name": [f"rt-{run_tag}-{i:06x}" for i in range(n)],
            "cleanup_status": "DELETED",
            "run_id": f"{run_tag}Z-{rng.integers(0, 16**6):06x}",
            "recorded_at": end.max() + pd.Timedelta(seconds=5),
        }
    )  # fmt: skip


def generate(base: Path, rows: int, runs: int, days: int, tiers: dict, end: datetime) -> float:
    """Write ``runs`` Parquet files (one per run, conformed to the declared schema) into the
    day partition an append at each run's time would have used; returns seconds taken."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(16)
    step = timedelta(days=days) / max(runs - 1, 1)
    per_run = np.full(runs, rows // runs)
    per_run[: rows % runs] += 1
    for i, n in enumerate(per_run):
        run_at = end - timedelta(days=days, hours=1) + i * step
        df = run_rows(rng, int(n), run_at, tiers)
        df["rto_met"] = df.rto_seconds.le(df.rto_objective_seconds).where(df.rto_seconds.notna())
        df["rpo_met"] = df.rpo_seconds.le(df.rpo_objective_seconds).where(df.rpo_seconds.notna())
        for col in ("recovery_point_time", "restore_start", "restore_end", "recorded_at"):
            df[col] = df[col].dt.floor("ms")
        day = df.recorded_at.iloc[0].strftime("%Y-%m-%d")
        path = base / TABLE / f"date={day}" / f"{df.run_id.iloc[0]}-{uuid.uuid4().hex[:8]}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(conform(TABLE, df), path, compression="zstd")
    return time.perf_counter() - t0


def read_one_by_one(base: Path) -> pd.DataFrame:
    """What ``Ledger.read`` did before: open every file, then concatenate."""
    frames = [pd.read_parquet(f) for f in sorted((base / TABLE).glob("*/*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def timed(label: str, fn, *args, **kwargs):
    """``fn``'s result, ``label``, its wall time; its CPU time is kept in ``CPU[label]``."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    CPU[label] = time.process_time() - c
    return out, label, time.perf_counter() - t


CPU: dict[str, float] = {}


def machine() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def trends_calls(ctx: RunContext, since: str) -> float:
    """The trends runbook's calls in its order; prints each one's time and figure size."""
    steps = []
    h, *rest = timed("load", trends.load, ctx, since=since)
    steps.append(rest)
    print(f"  {'load':<20} {rest[1]:6.2f} s  (CPU {CPU['load']:5.2f} s)  "
          f"{len(h.restore_tests):,} restore-test rows read")  # fmt: skip
    for name, kwargs in (
        ("runs", None),
        ("coverage", {}),
        ("coverage_figure", {}),
        ("findings_pass_rate", {}),
        ("findings_figure", {}),
        ("restore_pass_rate", {"by_tier": True}),
        ("restore_figure", {}),
        ("objectives_by_tier", {}),
        ("objectives_figure", {}),
    ):
        fn = h.runs if kwargs is None else getattr(trends, name)
        out, label, secs = timed(name, fn) if kwargs is None else timed(name, fn, h, **kwargs)
        size = ""
        if name.endswith("_figure"):
            t = time.perf_counter()
            html = len(out.to_html(include_plotlyjs=False, full_html=False).encode())
            mark = "ok" if html < TARGET_HTML else "OVER 2 MB"
            size = f"  HTML {html:>11,} bytes ({mark}; to_html {time.perf_counter() - t:.2f} s)"
        else:
            size = f"  {len(out):,} rows"
        steps.append((label, secs))
        print(f"  {label:<20} {secs:6.2f} s  (CPU {CPU[label]:5.2f} s){size}")
    total = sum(s for _, s in steps)
    mark = "ok" if total < TARGET_SECONDS else "OVER"
    cpu = sum(CPU[label] for label, _ in steps)
    print(f"  all trends calls     {total:6.2f} s  (CPU {cpu:5.2f} s)  "
          f"target < {TARGET_SECONDS:.0f} s wall: {mark}; {machine()}")  # fmt: skip
    return total


def compact_all(ledger: Ledger, base: Path) -> None:
    """Every month of the table merged into one file, each checked (count + fingerprint)."""
    months = sorted({p.name[5:12] for p in (base / TABLE).glob("date=*")})
    rows_before = len(ledger.read(TABLE, columns=["run_id"]))
    print(f"\ncompaction of every month ({len(months)} months)")
    total, kept = 0.0, 0
    for month in months:
        t = time.perf_counter()
        result = ledger.compact(TABLE, month=month, dry_run=False)
        secs = time.perf_counter() - t
        total += secs
        same = result.after is not None and result.before.matches(result.after)
        kept += same
        print(f"  {month}: {result.files:4} files, {result.before.count:7,} rows -> 1 file, "
              f"{result.after.count:7,} rows, fingerprint {result.before.hexdigest} -> "
              f"{result.after.hexdigest} ({'equal' if same else 'DIFFERENT'}) {secs:5.2f} s")  # fmt: skip
    files = sum(1 for _ in (base / TABLE).glob("*/*.parquet"))
    rows_after = len(ledger.read(TABLE, columns=["run_id"]))
    print(f"  {kept} of {len(months)} months compacted with equal fingerprints in {total:.1f} s; "
          f"rows {rows_before:,} before, {rows_after:,} after; the table now has {files} files")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1_000)
    ap.add_argument("--days", type=int, default=365, help="first to last run")
    ap.add_argument("--keep", default="", help="write the ledger here and keep it (default: temp)")
    ap.add_argument(
        "--reuse", action="store_true", help="with --keep: read the ledger already there"
    )
    args = ap.parse_args()
    logging.getLogger("runbook_lib").setLevel(logging.WARNING)
    params = load_params("sandbox")
    as_of = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp) / "ledger"
        if args.reuse and (base / TABLE).is_dir():
            as_of = datetime.fromtimestamp((base / TABLE).stat().st_mtime, UTC)
            secs = 0.0
        else:
            secs = generate(base, args.rows, args.runs, args.days, params.tiers, as_of)
        files = sum(1 for _ in (base / TABLE).glob("*/*.parquet"))
        print(f"generated {args.rows:,} {TABLE} rows as {args.runs:,} runs in {files:,} files "
              f"over {args.days} days ({secs:.1f} s)")  # fmt: skip
        ledger = Ledger(str(base))
        ctx = RunContext(params, None, ledger, "bench-trends", as_of)

        print("\nledger read")
        _, _, old = timed("", read_one_by_one, base)
        print(f"  every file one by one (the read before)  {old:6.2f} s")
        _, _, new = timed("", ledger.read, TABLE)
        print(f"  Ledger.read, one dataset, every column   {new:6.2f} s  ({old / new:.1f}x)")
        _, _, proj = timed("", ledger.read, TABLE, columns=list(trends.COLUMNS[TABLE]))
        print(f"  Ledger.read, the columns trends needs    {proj:6.2f} s  ({old / proj:.1f}x)")
        since = as_of - timedelta(days=90)
        _, _, recent = timed("", ledger.read, TABLE, since=since)
        print(f"  Ledger.read, since 90 days ago           {recent:6.2f} s  ({old / recent:.1f}x)")

        print(f"\ntrends runbook calls, whole history ({args.rows:,} rows)")
        trends_calls(ctx, since="")
        print("\ntrends runbook calls, since=90d")
        trends_calls(ctx, since="90d")

        compact_all(ledger, base)
        print("\ntrends runbook calls after compacting every month")
        trends_calls(ctx, since="")


if __name__ == "__main__":
    main()
