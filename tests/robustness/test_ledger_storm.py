"""Twenty writers append to one ledger table while a reader reads it the documented way
(``pd.read_parquet(<ledger>/<table>)``) and some writers are killed with SIGKILL: the reader
never fails, every row a surviving writer wrote is there exactly once, and the table stays
readable."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pandas as pd

from runbook_lib.ledger import Ledger

WRITERS, ROWS, KILLED = 20, 40, 5


def _writer(base: str, n: int, who: int) -> None:
    led = Ledger(base)
    for i in range(n):
        led.append("restore_tests", [{"account": str(who), "test_id": str(i)}], f"run-{who}")


def test_twenty_writers_a_reader_and_killed_writers(tmp_path):
    base = str(tmp_path / "ledger")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(base, ROWS, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    reads, seen = 0, 0
    killed: set[int] = set()
    deadline = time.monotonic() + 180
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        folder = tmp_path / "ledger" / "restore_tests"
        if folder.is_dir():
            df = pd.read_parquet(folder)  # never sees a file being written (they start with '.')
            reads += 1
            seen = max(seen, len(df))
            if len(killed) < KILLED and len(df) > 20:  # mid-run: kill writers still writing
                alive = [w for w, p in enumerate(procs) if w not in killed and p.is_alive()]
                for w in alive[: KILLED - len(killed)]:
                    os.kill(procs[w].pid, signal.SIGKILL)
                    killed.add(w)
        time.sleep(0.02)
    for p in procs:
        p.join(30)
    df = pd.read_parquet(tmp_path / "ledger" / "restore_tests")
    counts = df.groupby("account")["test_id"].agg(["count", "nunique"])
    survivors = [w for w in range(WRITERS) if w not in killed]
    lost = sum(ROWS - int(counts.loc[str(w), "count"]) for w in survivors if str(w) in counts.index)
    lost += ROWS * sum(str(w) not in counts.index for w in survivors)
    doubled = int((counts["count"] != counts["nunique"]).sum())
    print(f"\nledger storm: {WRITERS} writers ({len(killed)} killed with SIGKILL), {reads} reads "
          f"during the writes, {len(df)} rows; rows lost by surviving writers: {lost}, "
          f"rows doubled: {doubled}")  # fmt: skip
    assert reads > 0 and lost == 0 and doubled == 0
