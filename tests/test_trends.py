"""Trends from the ledger: built from rows appended to a real ledger, no AWS call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from runbook_lib import trends
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def ctx_for(path, as_of=AS_OF) -> RunContext:
    return RunContext(load_params("sandbox"), None, Ledger(str(path)), "trends-test", as_of)


def inventory_rows(when, protected: int, total: int = 4):
    return [
        {
            "arn": f"arn:aws:dynamodb:eu-west-1:111111111111:table/t{i}",
            "backup_required": True,
            "protected": i < protected,
            "rpo_met": i < protected,
            "classified": True,
            "as_of": pd.Timestamp(when),
        }
        for i in range(total)
    ]


def finding_rows(when, passed: int, failed: int, practice="REL09-BP04"):
    rows = [{"practice": practice, "status": "PASS"}] * passed
    rows += [{"practice": practice, "status": "FAIL"}] * failed
    rows += [{"practice": practice, "status": "NOT_APPLICABLE"}]
    return [{**r, "control_id": "x", "as_of": pd.Timestamp(when)} for r in rows]


def test_empty_ledger_says_there_is_no_history(tmp_path):
    h = trends.load(ctx_for(tmp_path))
    runs = h.runs()
    assert runs.runs.tolist() == [0, 0, 0]
    assert all("no history yet" in n for n in h.notes())
    for fn in (
        trends.coverage,
        trends.findings_pass_rate,
        trends.restore_pass_rate,
        trends.objectives,
    ):
        assert fn(h).empty
    fig = trends.coverage_figure(h)
    assert "no inventory run" in fig.layout.annotations[0].text
    assert "no restore test" in trends.objectives_figure(h).layout.annotations[0].text
    assert trends.objectives_by_tier(h).tests.tolist() == [0, 0, 0]


def test_one_run_is_not_enough_and_says_so(tmp_path):
    ctx = ctx_for(tmp_path)
    ctx.ledger.append("inventory", inventory_rows(AS_OF - timedelta(days=1), 1), "inv-1")
    h = trends.load(ctx)
    assert h.runs().loc["inventory", "trend"].startswith("not enough history: 1 run")
    fig = trends.coverage_figure(h)
    assert any("not enough history" in a.text for a in fig.layout.annotations)
    assert trends.coverage(h).protected_pct.tolist() == [25.0]


def test_coverage_and_pass_rates_over_runs(tmp_path):
    ctx = ctx_for(tmp_path)
    for i, protected in enumerate((1, 3)):
        when = AS_OF - timedelta(days=10 - i)
        ctx.ledger.append("inventory", inventory_rows(when, protected), f"inv-{i}")
        ctx.ledger.append("findings", finding_rows(when, protected, 4 - protected), f"audit-{i}")
    # a run after as_of is not part of the history as of then
    ctx.ledger.append("inventory", inventory_rows(AS_OF + timedelta(days=1), 4), "inv-future")
    h = trends.load(ctx)
    assert h.runs().loc["inventory", "runs"] == 2 and h.runs().loc["inventory", "trend"] == "yes"
    cov = trends.coverage(h)
    assert cov.run_id.tolist() == ["inv-0", "inv-1"]
    assert cov.protected_pct.tolist() == [25.0, 75.0]
    f = trends.findings_pass_rate(h)
    assert f.pass_rate_pct.tolist() == [25.0, 75.0]  # NOT_APPLICABLE left out
    fig = trends.findings_figure(h)
    assert [tr.name for tr in fig.data] == ["REL09-BP04"]
    assert not any("not enough" in (a.text or "") for a in fig.layout.annotations)
    # only the last 9 days and a half: the first run drops out
    h2 = trends.load(ctx, since="9d")
    assert trends.coverage(h2).run_id.tolist() == ["inv-1"]


def test_restore_tests_pass_rate_and_objectives_per_tier(tmp_path):
    ctx = ctx_for(tmp_path)

    def test(run, days_ago, tier, status, rto, rpo):
        end = AS_OF - timedelta(days=days_ago)
        return {
            "test_id": f"{run}-{tier}-{status}",
            "resource_arn": f"arn:aws:dynamodb:eu-west-1:111111111111:table/{tier}",
            "service": "dynamodb",
            "tier": tier,
            "status": status,
            "verdict": status,
            "restore_end": end,
            "rto_seconds": rto,
            "rpo_seconds": rpo,
        }

    ctx.ledger.append(
        "restore_tests",
        [
            test("r1", 9, "gold", "PASS", 60.0, 600.0),
            test("r1", 9, "silver", "FAIL", 50_000.0, 3_600.0),  # silver RTO is 12h = 43200 s
            test("r1", 9, "bronze", "NOT_SUPPORTED_ON_SANDBOX", None, None),
        ],
        "r1",
    )
    ctx.ledger.append(
        "restore_tests",
        [test("r2", 2, "gold", "PASS_WEAK", 120.0, 7_200.0)],  # gold RPO is 1h
        "r2",
    )
    h = trends.load(ctx)
    r = trends.restore_pass_rate(h)
    assert r.run_id.tolist() == ["r1", "r2"]
    assert r.tests.tolist() == [3, 1]
    assert r.not_judged.tolist() == [1, 0]
    assert r.pass_rate_pct.tolist() == [50.0, 100.0]
    assert r.content_proven.tolist() == [1, 0]
    by_tier = trends.restore_pass_rate(h, by_tier=True)
    assert set(by_tier.tier) == {"gold", "silver", "bronze"}
    o = trends.objectives(h).set_index("test_id")
    assert o.loc["r1-silver-FAIL", "rto_met"] == False  # noqa: E712
    assert o.loc["r1-gold-PASS", "rto_pct"] == round(100 * 60 / 14_400, 1)
    assert o.loc["r2-gold-PASS_WEAK", "rpo_met"] == False  # noqa: E712
    assert "r1-bronze-NOT_SUPPORTED_ON_SANDBOX" not in o.index  # nothing measured
    t = trends.objectives_by_tier(h)
    assert t.loc["gold", "tests"] == 2
    assert t.loc["gold", "rpo_met_pct"] == 50.0
    assert t.loc["gold", "rto_max_seconds"] == 120.0
    assert t.loc["silver", "rto_met_pct"] == 0.0
    fig = trends.objectives_figure(h)
    names = {tr.name for tr in fig.data}
    assert {"gold median", "gold p95", "gold worst", "gold worst tests"} <= names
    assert {n.split()[0] for n in names} == {"gold", "silver"}
    worst = next(tr for tr in fig.data if tr.name == "silver worst tests" and tr.xaxis == "x")
    assert list(worst.y) == [round(100 * 50_000 / 43_200, 1)]  # the raw point, with its ARN
    assert worst.customdata[0][0].endswith("table/silver")
    assert len(trends.restore_figure(h).data) == 3


def test_bad_since_is_a_clear_error(tmp_path):
    with pytest.raises(ParamsError, match="since"):
        trends.load(ctx_for(tmp_path), since="ninety days")


def _many_runs(path, runs: int, per_run: int = 4, days: int = 730) -> None:
    """``runs`` restore-test runs over ``days`` days, written in one Parquet file per 100 runs
    (cast to the declared schema, as an append would)."""
    import numpy as np
    import pyarrow.parquet as pq

    from runbook_lib.ledger_schema import conform

    rng = np.random.default_rng(7)
    start = AS_OF - timedelta(days=days)
    tiers, services = ["gold", "silver", "bronze"], ["dynamodb", "s3"]
    for chunk in range(0, runs, 100):
        rows = []
        for r in range(chunk, min(chunk + 100, runs)):
            end = start + timedelta(days=days) * r / runs
            for k in range(per_run):
                rows.append({
                    "test_id": f"t{r}-{k}", "run_id": f"run-{r:05d}", "tier": tiers[k % 3],
                    "service": services[k % 2], "account": "111111111111" if k < 2 else "222222222222",
                    "resource_arn": f"arn:aws:dynamodb:eu-west-1:111111111111:table/r{k}",
                    "status": "PASS" if rng.random() > 0.1 else "FAIL", "restore_end": end,
                    "rto_seconds": float(rng.uniform(10, 20_000)), "rpo_seconds": float(rng.uniform(10, 9_000)),
                    "recorded_at": end,
                })  # fmt: skip
        folder = path / "restore_tests" / f"date={AS_OF:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(conform("restore_tests", pd.DataFrame(rows)), folder / f"c{chunk}.parquet")


def _points(fig) -> list[int]:
    return [len(tr.x) for tr in fig.data if tr.x is not None]


def test_figures_stay_bounded_whatever_the_history(tmp_path):
    """2,000 runs over two years: figures draw per-week aggregates and at most WORST raw
    points per tier, so their HTML stays small; the tables still give every run."""
    _many_runs(tmp_path, 2_000)
    h = trends.load(ctx_for(tmp_path))
    assert h.runs().loc["restore_tests", "runs"] == 2_000
    assert len(trends.restore_pass_rate(h)) == 2_000  # the table: per run, as asked
    weekly = trends.restore_pass_rate(h, per="week")
    assert len(weekly) <= 106 and weekly.tests.sum() == 8_000 and weekly.runs.sum() == 2_000
    for fig in (trends.restore_figure(h), trends.objectives_figure(h)):
        assert max(_points(fig)) <= trends.MAX_POINTS
        assert "per week" in fig.layout.title.text
        assert len(fig.to_html(include_plotlyjs=False, full_html=False)) < 400_000
    raw = [tr for tr in trends.objectives_figure(h).data if tr.name.endswith("worst tests")]
    assert len(raw) == 6 and all(len(tr.x) == trends.WORST for tr in raw)
    # the worst points are the worst tests of the tier
    o = trends.objectives(h)
    gold = next(tr for tr in raw if tr.name == "gold worst tests" and tr.xaxis == "x")
    assert max(gold.y) == o[o.tier == "gold"].rto_pct.max()


def test_aggregates_per_period_and_over_time(tmp_path):
    _many_runs(tmp_path, 60, days=59)  # one run a day
    h = trends.load(ctx_for(tmp_path))
    monthly = trends.restore_pass_rate(h, per="month", by_tier=True)
    assert set(monthly.columns[:3]) == {"period", "runs", "tier"}
    assert monthly.groupby("period").tests.sum().sum() == 240
    over = trends.objectives_over_time(h, per="week")
    gold = over[(over.tier == "gold") & (over.measure == "rto")]
    o = trends.objectives(h)
    first = o[(o.tier == "gold") & (o.when < gold.period.iloc[1])]
    assert gold.tests.iloc[0] == len(first)
    assert gold.p50_pct.iloc[0] == first.rto_pct.median()
    assert gold.worst_pct.iloc[0] == first.rto_pct.max()
    assert (over.p50_pct <= over.p95_pct).all() and (over.p95_pct <= over.worst_pct).all()
    assert len(trends.objectives_over_time(h, per="run")) == 60 * 3 * 2
    with pytest.raises(ParamsError, match="per: 'fortnight'; allowed: auto, run, day"):
        trends.restore_pass_rate(h, per="fortnight")


def test_drill_down_by_service_tier_account_and_time(tmp_path):
    _many_runs(tmp_path, 30, days=29)
    h = trends.load(ctx_for(tmp_path))
    every = trends.restore_pass_rate(h)
    gold = trends.restore_pass_rate(h, tier="gold")
    assert gold.tests.sum() == 2 * 30 and every.tests.sum() == 4 * 30  # k = 0 and 3 are gold
    s3 = trends.objectives_by_tier(h, service="s3", account="111111111111")
    assert s3.tests.sum() == 30  # k = 1 only
    assert trends.objectives_by_tier(h, service=["s3", "dynamodb"]).tests.sum() == 120
    recent = trends.restore_pass_rate(h, since="10d")
    assert recent.when.min() >= pd.Timestamp(AS_OF) - pd.Timedelta(days=10)
    window = trends.restore_pass_rate(h, since="2026-05-10", until="2026-05-12T23:59:59Z")
    assert len(window) == 3
    fig = trends.objectives_figure(h, tier="silver")
    assert {tr.name.split()[0] for tr in fig.data} == {"silver"}
    assert h.where(tier="platinum").restore_tests.empty
    with pytest.raises(ParamsError, match="since: 'last week' is neither a duration"):
        trends.restore_pass_rate(h, since="last week")
    # load takes the same filters
    assert trends.load(ctx_for(tmp_path), tier="gold").restore_tests.tier.unique().tolist() == [
        "gold"
    ]
    with pytest.raises(ParamsError, match="colour: not a filter"):
        trends.load(ctx_for(tmp_path), colour="red")


def test_load_reads_only_the_columns_and_time_it_needs(tmp_path):
    seen = []

    class Spy(Ledger):
        def read(self, table, **kwargs):
            seen.append((table, kwargs))
            return super().read(table, **kwargs)

    ctx = RunContext(load_params("sandbox"), None, Spy(str(tmp_path)), "t", AS_OF)
    trends.load(ctx, since="30d")
    assert {t for t, _ in seen} == {"inventory", "findings", "restore_tests"}
    for table, kwargs in seen:
        assert kwargs["columns"] == list(trends.COLUMNS[table])
        assert kwargs["since"] == pd.Timestamp(AS_OF) - pd.Timedelta(days=31)


def test_tables_hold_plain_text_not_categoricals(tmp_path):
    _many_runs(tmp_path, 5, days=4)
    h = trends.load(ctx_for(tmp_path))
    for table in (
        trends.restore_pass_rate(h, by_tier=True),
        trends.objectives(h),
        trends.objectives_over_time(h),
    ):
        assert not any(isinstance(t, pd.CategoricalDtype) for t in table.dtypes)
        assert all(isinstance(v, str) for v in table.tier)
