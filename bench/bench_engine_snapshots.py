"""What a snapshot of a sandbox engine server costs: a new physical copy (``pg_basebackup``,
``mariabackup``, Redis ``SAVE``) against a snapshot of an unchanged server that shares the
previous copy (the engine's change check only), on a server holding the demo's tables
(runbook_sandbox.seed.DEMO_TABLES) or 3,000 Redis keys.

    .venv/bin/python bench/bench_engine_snapshots.py [--rounds 5]

Prints seconds per snapshot (median of the rounds) and the ratio copy / shared, measured in
this run. A scheduled backup of a demo database that nobody wrote to since the previous one
is the shared case; one after a write (here: one INSERT) is the copy case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["RUNBOOK_SANDBOX_ENGINES"] = "on"

from runbook_sandbox.engines import common, mariadb, postgres, rds, redis  # noqa: E402
from runbook_sandbox.seed import DEMO_TABLES  # noqa: E402


def _pg_server():
    server = postgres.new_server()
    server.setup_master("bench_owner", "bench-pw-1", "benchdb")
    with server.admin("benchdb") as conn:
        for sql in DEMO_TABLES["postgres"]:
            conn.execute(sql)

    def write() -> None:
        with server.admin("benchdb") as conn:
            conn.execute("INSERT INTO audit_events VALUES (now(), 'bench')")

    return server, write


def _mariadb_server():
    server = mariadb.new_server()
    server.setup_master("bench_owner", "bench-pw-1", None)
    server._run(*((sql, None) for sql in DEMO_TABLES["mysql"]))

    def write() -> None:
        server._run(("INSERT INTO reporting.audit_events VALUES (NOW(), 'bench')", None))

    return server, write


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_rds_engine(name: str, make, rounds: int) -> tuple[float, float, int]:
    """Median seconds of a snapshot after a write (a new copy) and of one with no write
    since (shared), and how many copies the 2 x rounds snapshots made."""
    server, write = make()
    key = ("000000000000", "bench", "db", name)
    copies: list[str] = []
    changed, unchanged = [], []
    try:
        for _ in range(rounds):
            write()
            changed.append(_timed(lambda: copies.append(rds.snapshot_copy(key, server))))
            unchanged.append(_timed(lambda: copies.append(rds.snapshot_copy(key, server))))
    finally:
        for data in copies:
            rds._release(data)
        server.stop()
    return statistics.median(changed), statistics.median(unchanged), len(set(copies))


def bench_redis(rounds: int) -> float:
    server = redis.new_server()
    try:
        with server.admin() as r:
            p = r.pipeline(transaction=False)
            for n in range(3000):
                p.set(f"key:{n}", f"value {n}")
            p.execute()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            common.remove_dir(server.snapshot())
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    try:
        print(f"engine snapshots, median of {args.rounds} rounds (seconds per snapshot)")
        for name, make, missing in (
            ("postgres", _pg_server, postgres.missing_reason()),
            ("mariadb", _mariadb_server, mariadb.missing_reason()),
        ):
            if missing:
                print(f"  {name}: skipped: {missing}")
                continue
            copy, shared, n = bench_rds_engine(name, make, args.rounds)
            print(
                f"  {name:<9} after a write (copy) {copy:6.3f} s   unchanged (shared) "
                f"{shared:6.3f} s   ratio {copy / shared:5.1f}x   copies made {n} "
                f"of {2 * args.rounds} snapshots"
            )
        if redis.missing_reason():
            print(f"  redis: skipped: {redis.missing_reason()}")
        else:
            print(f"  redis     SAVE + copy of dump.rdb {bench_redis(args.rounds):6.3f} s")
    finally:
        rds.stop_all()
        common.remove_root()


if __name__ == "__main__":
    main()
