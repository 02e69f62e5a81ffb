"""The demo's days of operation (runbook_sandbox.demo): each day the sandbox clock moves a
day and the day's runbooks run as runs of their own, recorded in the ledger at the
sandbox's time, so the trends draw one point per run.

On an estate generated from other params than the demo's (accounts, Regions, tier names,
tag key), with the seeded history on. The full ``make demo`` (14 days, then every
notebook) prints its own figures; it is too long for the suite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runbook_lib import clock as target_clock
from runbook_lib.ledger import Ledger

DAYS = 2


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo-params")
    doc = {
        "name": "demo-days",
        "target": {"kind": "sandbox", "seed": 5, "max_workers": 4},
        "accounts": [
            {"id": "700000000007", "name": "web", "kind": "workload"},
            {"id": "800000000008", "name": "bi", "kind": "workload"},
        ],
        "regions": ["ca-central-1", "sa-east-1"],
        "default_tier": "cold",
        "tiers": {
            "hot": {
                "rpo": "6h",
                "rto": "1h",
                "retention": "3d",
                "restore_test_every": "2d",
                "copy_region": "sa-east-1",
            },
            "warm": {"rpo": "1d", "rto": "8h", "retention": "10d", "restore_test_every": "20d"},
            "cold": {"rpo": "7d", "rto": "3d", "retention": "30d", "restore_test_every": "120d"},
        },  # fmt: skip
        "tag_keys": {"tier": "dataTier"},
        "ledger": str(folder / "ledger"),
        "run_archive": str(folder / "runs"),
    }
    path = folder / "demo-days.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def operated(params_file, tmp_path_factory) -> Iterator[dict]:
    from runbook_sandbox import ENV_URL, clock
    from runbook_sandbox.demo import Timings, day_runs
    from runbook_sandbox.seed import HISTORY_ENV
    from runbook_sandbox.server import running_sandbox

    mp = pytest.MonkeyPatch()
    mp.setenv(HISTORY_ENV, "1d")
    ledger = str(tmp_path_factory.mktemp("demo-ledger"))
    timings = Timings()
    started = dt.datetime.now(dt.UTC)
    days = []
    try:
        with running_sandbox(str(params_file)) as url:
            mp.setenv(ENV_URL, url)
            seeded_at = clock.now(endpoint_url=url)
            for _ in range(DAYS):
                moved = clock.advance("1d", endpoint_url=url)
                days.append((moved, day_runs(str(params_file), ledger, timings, per_tier=1)))
            yield {
                "ledger": ledger,
                "timings": timings,
                "days": days,
                "started": started,
                "seeded_at": seeded_at,
                "url": url,
            }
    finally:
        mp.undo()
        target_clock.set_offset(dt.timedelta(0), target_clock.LOCAL)


def test_the_seeded_history_protected_the_estate_and_moved_a_day(operated):
    assert operated["seeded_at"] - operated["started"] >= dt.timedelta(days=1)
    for moved, _summary in operated["days"]:
        assert any(e.kind == "backup" and e.state == "COMPLETED" for e in moved.events)


def test_each_day_is_one_run_per_runbook_at_the_sandbox_time(operated):
    ledger = Ledger(operated["ledger"])
    for table in ("inventory", "findings"):
        df = ledger.read(table)
        runs = df.groupby("run_id").as_of.max().sort_values()
        assert len(runs) == DAYS, table
        gaps = runs.diff().dropna()
        assert all(abs(g - pd.Timedelta(days=1)) < pd.Timedelta(minutes=30) for g in gaps)
        assert runs.min() >= pd.Timestamp(operated["started"]) + pd.Timedelta(days=2)
    tests = ledger.read("restore_tests")
    assert tests.run_id.nunique() == DAYS
    # every tier is tested every day (one per tier here)
    tiers = tests.groupby("run_id").tier.nunique()
    assert (tiers == 3).all(), tests[["run_id", "tier", "resource_name", "status"]]
    # the rotation moves on: the second day tests other resources than the first
    by_run = tests.groupby("run_id").resource_arn.apply(frozenset)
    assert by_run.iloc[0] != by_run.iloc[1]
    assert set(operated["timings"].count) >= {"inventory", "audit", "restore test"}
    assert all(n == DAYS for n in operated["timings"].count.values())


def test_trends_draw_one_point_per_run(operated, params_file):
    from runbook_sandbox.demo import points_per_series

    points = points_per_series(str(params_file), operated["ledger"])
    assert points["coverage (inventory runs)"] == DAYS
    assert points["restore pass rate (restore runs)"] == DAYS
    findings = {k: v for k, v in points.items() if k.startswith("findings")}
    assert findings and set(findings.values()) == {DAYS}
    measured = {k: v for k, v in points.items() if k.startswith(("RTO", "RPO"))}
    assert measured and max(measured.values()) == DAYS
