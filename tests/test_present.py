"""runbook_lib.present: verdict blocks and full tables, on hand-built data (no sandbox)."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from runbook_lib import present

ARN = "arn:aws:dynamodb:eu-west-1:111111111111:table/orders"


def cells(html: str) -> list[list[str]]:
    """The text of every body row's cells."""
    body = html.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_table_keeps_every_row_beyond_pandas_display_limits():
    df = pd.DataFrame({"name": [f"r{i}" for i in range(600)], "status": ["PASS", "FAIL"] * 300})
    with pd.option_context("display.max_rows", 10):
        t = present.table(df)
        rows = cells(t._repr_html_())
    assert len(rows) == 600 and rows[599] == ["r599", "FAIL"]
    assert 'data-rows="600"' in t.html
    assert "r599" in repr(t) and "[600 rows x 2 columns]" in repr(t)  # the text says so


def test_status_cells_are_coloured_by_verdict():
    t = present.table(pd.DataFrame({"status": ["PASS", "FAIL", "PASS_WEAK", "NOT_APPLICABLE"]}))
    assert f'<td style="background:{present.GREEN}">PASS</td>' in t.html
    assert f'<td style="background:{present.RED}">FAIL</td>' in t.html
    assert f'<td style="background:{present.AMBER}">PASS_WEAK</td>' in t.html
    assert f'<td style="background:{present.GREY}">NOT_APPLICABLE</td>' in t.html


def test_missing_values_are_empty_cells():
    df = pd.DataFrame(
        {
            "a": [np.nan, 1.5],
            "b": [None, "x"],
            "when": [pd.NaT, pd.Timestamp("2026-11-24T10:00:00Z")],
            "c": [math.inf, -math.inf],
            "d": pd.array([pd.NA, 2], dtype="Int64"),
        }
    )
    rows = cells(present.table(df).html)
    assert rows[0] == ["", "", "", "", ""]
    assert rows[1] == ["1.5", "x", "2026-11-24 10:00:00 UTC", "", "2"]
    assert not re.search(r"\b(nan|NaN|NaT|None|inf)\b", present.table(df).html)


def test_sizes_and_durations_are_human_readable_and_sort_by_value():
    df = pd.DataFrame({"size_bytes": [10737418240, 512], "rto_seconds": [0.0042, 3725.0]})
    t = present.table(df)
    assert cells(t.html) == [["10.0 GiB", "4 ms"], ["512 B", "1 h 02 min"]]
    assert 'data-order="10737418240' in t.html and 'data-order="3725.0"' in t.html
    assert present.human_size(1536) == "1.5 KiB"
    assert present.human_duration(90061) == "1 d 1 h"
    assert present.human_duration(12.34) == "12 s" and present.human_duration(2.5) == "2.5 s"
    assert present.human_duration(None) == ""


def test_arns_show_the_name_with_the_full_arn_in_the_tooltip():
    t = present.table(pd.DataFrame({"resource_arn": [ARN], "other": ["arn:aws:s3:::bucket"]}))
    assert f'<td title="{ARN}">orders</td>' in t.html
    assert '<td title="arn:aws:s3:::bucket">bucket</td>' in t.html
    assert present.short_name("arn:aws:rds:eu-west-1:1:db:shop-db") == "shop-db"
    assert present.short_name("arn:aws:logs:eu-west-1:1:log-group:/shop/app") == "app"


def test_text_is_escaped_and_long_text_wraps():
    t = present.table(pd.DataFrame({"reason": ["<b>x</b> " * 20], "name": ["<script>"]}))
    assert "<script>" not in t.html.split("</style>", 1)[1] and "&lt;script&gt;" in t.html
    assert '<td class="rb-long">&lt;b&gt;x' in t.html


def test_tags_and_other_mappings_read_as_written_not_as_escapes():
    """A tag value in any script is shown as written (HTML-escaped), not as \\u escapes."""
    tags = {"owner": "Équipe données <SRE>", "チーム": "東京 & 大阪"}
    assert present.plain(tags) == '{"owner": "Équipe données <SRE>", "チーム": "東京 & 大阪"}'
    html = present.table(pd.DataFrame({"tags": [tags]})).html
    assert "Équipe données &lt;SRE&gt;" in html and "東京 &amp; 大阪" in html
    assert "\\u00" not in html


def test_index_and_empty_tables():
    s = pd.DataFrame({"measure": ["a"], "value": [1]}).set_index("measure")
    assert "<th>measure</th>" in present.table(s).html
    empty = present.table(pd.DataFrame(columns=["x"]), empty="no gaps")
    assert "no gaps" in empty.html and present.TABLE_CLASS + '"' not in empty.html
    assert "no rows" in repr(present.table(pd.DataFrame(columns=["x"])))
    with pytest.raises(TypeError, match="DataFrame"):
        present.table([1, 2])


def test_headline_verdicts_and_text():
    green = present.headline(title="T", checked="3 things", counts={"PASS": 3})
    assert green.verdict == "GREEN" and "nothing red" in green.text()
    red = present.headline(
        title="T",
        checked="3 things",
        counts={"PASS": 2, "FAIL": 1},
        red=[present.Red(what="FAIL: orders", fix="take a new backup")],
    )
    assert red.is_red and "red: FAIL: orders -> take a new backup" in red.text()
    h = red._repr_html_()
    assert h.startswith(f'<div class="{present.HEADLINE_CLASS}" data-verdict="RED"')
    assert "take a new backup" in h and "FAIL: <b>1</b>" in h
    amber = present.headline(
        title="T", checked="x", amber=True, red=[present.Red(what="a", count=0)]
    )
    assert amber.verdict == "AMBER"  # a red item with count 0 is not red
    with pytest.raises(ValueError, match="verdict: 'BLUE' is not allowed"):
        present.Headline(title="T", verdict="BLUE", summary="", checked="")


def test_grouped_red_counts_and_takes_the_fix():
    gaps = pd.DataFrame(
        {"gap": ["a", "a", "b"], "closed_by": ["plan step x", "plan step x", ""], "arn": [1, 2, 3]}
    )
    red = present.grouped_red(gaps, "gap", "closed_by")
    assert [(r.what, r.count, r.fix) for r in red] == [("a", 2, "plan step x"), ("b", 1, "")]


def _tests(**over):
    base = {
        "service": "dynamodb",
        "resource_name": "orders",
        "tier": "gold",
        "status": "PASS",
        "reason": "",
        "rto_seconds": 30.0,
        "rto_objective_seconds": 3600.0,
        "rpo_seconds": 7200.0,
        "rpo_objective_seconds": 3600.0,
        "cleanup_status": "DELETED",
    }
    return {**base, **over}


def test_restore_test_headline_measures_rto_rpo_against_objectives():
    tests = pd.DataFrame(
        [
            _tests(),
            _tests(resource_name="carts", status="FAIL", reason="fingerprint differs"),
            _tests(resource_name="sessions", status="NO_RECOVERY_POINT", rto_seconds=None),
        ]
    )
    h = present.restore_test_headline(pd.DataFrame(index=range(3)), tests)
    assert h.verdict == "RED" and h.counts == {"PASS": 1, "FAIL": 1, "NO_RECOVERY_POINT": 1}
    assert "1 of 3 restored and checked out" in h.summary
    whats = [r.what for r in h.red]
    assert "FAIL: dynamodb carts: fingerprint differs" in whats
    assert "NO_RECOVERY_POINT: dynamodb sessions" in whats
    m = h.measures.set_index("resource")
    assert len(m) == 2  # the untested one has no measure
    assert (
        m.loc["dynamodb orders", "RTO"] == "30 s" and m.loc["dynamodb orders", "RTO met"] == "yes"
    )
    assert (
        m.loc["dynamodb orders", "RPO"] == "2 h 00 min"
        and m.loc["dynamodb orders", "RPO met"] == "NO"
    )
    empty = present.restore_test_headline(pd.DataFrame(), pd.DataFrame(columns=["status"]))
    assert empty.verdict == "AMBER" and "no restore test ran" in empty.summary


def test_audit_headline_groups_fails_by_control_with_remediation():
    frame = pd.DataFrame(
        {
            "status": ["PASS", "FAIL", "FAIL", "NOT_APPLICABLE"],
            "arn": ["a", "b", "c", "a"],
        }
    )
    failed = pd.DataFrame(
        {
            "severity": ["critical", "critical"],
            "control_id": ["resource_backed_up", "resource_backed_up"],
            "remediation": ["protect runbook: backup plan", "protect runbook: backup plan"],
        }
    )
    findings = SimpleNamespace(controls=[1, 2], table=lambda: frame, failed=lambda: failed)
    h = present.audit_headline(findings)
    assert h.verdict == "RED" and "pass rate 33.3%" in h.summary
    assert [(r.what, r.count, r.fix) for r in h.red] == [
        ("critical resource_backed_up", 2, "protect runbook: backup plan")
    ]
    assert "3 resources: 4 results" in h.checked


def test_integer_axis_ticks_whole_numbers():
    assert present.integer_axis(3) == {
        "tick0": 0,
        "dtick": 1,
        "tickformat": "d",
        "rangemode": "tozero",
    }
    assert present.integer_axis(29.07)["dtick"] == 4
    assert present.integer_axis(None)["dtick"] == 1


def test_rto_rpo_chart_has_a_legend_per_result_and_room_per_test():
    from runbook_lib.restore.report import rto_rpo_chart

    tests = pd.DataFrame(
        [_tests(resource_name=f"t{i}", recovery_point_id=f"rp{i}") for i in range(12)]
        + [_tests(resource_name="bad", status="FAIL", recovery_point_id="rpx")]
    )
    fig = rto_rpo_chart(tests)
    legend = {t.name for t in fig.data if t.showlegend}
    assert legend == {"PASS", "FAIL", "tier objective"}
    assert all(t.orientation == "h" for t in fig.data if t.type == "bar")
    assert fig.layout.height >= 30 * 13  # one line per test, labels never squeezed
    empty = rto_rpo_chart(pd.DataFrame(columns=tests.columns))
    assert "no restore test reached a recovery point" in empty.layout.annotations[-1].text


def test_timeline_view_is_zoomed_to_the_events():
    from runbook_lib.post_incident.timeline import view

    t0 = pd.Timestamp("2026-12-01T12:00:00Z")
    window = SimpleNamespace(start=t0 - pd.Timedelta(days=7), end=t0 + pd.Timedelta(minutes=30))
    events = pd.DataFrame(
        {"start": [t0, t0 + pd.Timedelta(minutes=10)], "end": [t0, t0 + pd.Timedelta(minutes=20)]}
    )
    begin, end = view(SimpleNamespace(timeline=events, window=window))
    assert t0 - pd.Timedelta(minutes=2) <= begin < t0 and t0 + pd.Timedelta(minutes=20) < end
    assert end - begin < pd.Timedelta(hours=1)  # not the 7 days of the window
    begin, end = view(SimpleNamespace(timeline=events.iloc[0:0], window=window))
    assert begin < window.start and end > window.end  # no event: the window


def test_manual_protect_steps_are_amber_and_refused_ones_red():
    frame = pd.DataFrame(
        {
            "setting": ["encryption at rest", "backup plan (gold)", "retention"],
            "action": ["manual", "none", "refused"],
        }
    )
    plan = SimpleNamespace(frame=lambda: frame, changes=[])
    h = present.protect_headline(plan, pd.DataFrame())
    assert h.verdict == "RED" and [r.level for r in h.red] == ["RED", "AMBER"]
    assert "red: refused: retention -> put the objective back" in h.text()
    manual_only = SimpleNamespace(frame=lambda: frame[frame.action != "refused"], changes=[])
    h = present.protect_headline(manual_only, pd.DataFrame())
    assert h.verdict == "AMBER" and "amber: manual: encryption at rest" in h.text()
    assert "nothing left to apply" in h.summary
    with pytest.raises(ValueError, match="level: 'BLUE' is not allowed"):
        present.Red(what="x", level="BLUE")


def test_an_arn_in_a_mixed_column_is_shortened_too():
    t = present.table(pd.DataFrame({"resource": [ARN, "alias/runbook-backup"]}))
    assert f'<td title="{ARN}">orders</td>' in t.html and "<td>alias/runbook-backup</td>" in t.html


def test_trend_charts_with_one_run_say_so_instead_of_drawing_a_point(tmp_path):
    from datetime import UTC, datetime

    from runbook_lib import trends
    from runbook_lib.context import RunContext
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params

    as_of = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ctx = RunContext(load_params("sandbox"), None, Ledger(str(tmp_path)), "t", as_of)
    row = {"arn": ARN, "backup_required": True, "protected": True, "rpo_met": True,
           "classified": True, "as_of": pd.Timestamp("2026-05-31T12:00:00Z")}  # fmt: skip
    ctx.ledger.append("inventory", [row], "inv-1")
    fig = trends.coverage_figure(trends.load(ctx))
    assert not fig.data  # no lone point on a stretched axis
    assert "one run: no trend yet" in fig.layout.annotations[0].text
    h = present.trends_headline(trends.load(ctx))
    assert (
        h.verdict == "AMBER"
        and "no trend yet for inventory (one run), findings (no run)" in h.summary
    )
