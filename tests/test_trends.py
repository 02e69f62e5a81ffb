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
    assert {tr.name for tr in fig.data} == {"gold", "silver"}
    assert len(trends.restore_figure(h).data) == 3


def test_bad_since_is_a_clear_error(tmp_path):
    with pytest.raises(ParamsError, match="since"):
        trends.load(ctx_for(tmp_path), since="ninety days")
