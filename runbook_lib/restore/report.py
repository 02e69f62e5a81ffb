"""What the restore-test notebook shows: a results table and RTO/RPO against objectives."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from runbook_lib.restore.model import FAIL, PASS, PASS_WEAK

COLORS = {PASS: "#2e7d32", PASS_WEAK: "#9e9d24", FAIL: "#c62828"}


def results_table(tests: pd.DataFrame) -> pd.DataFrame:
    """One line per test: what was restored, the verdict, timings against objectives, clean-up."""
    if tests.empty:
        return pd.DataFrame(columns=["service", "resource", "status", "reason"])
    out = pd.DataFrame(
        {
            "service": tests["service"],
            "resource": tests["resource_name"],
            "tier": tests["tier"],
            "recovery point": tests["recovery_point_source"],
            "from Region": tests.get("recovery_point_region"),
            "status": tests["status"],
            "records": tests["records_found"],
            "RTO s": tests["rto_seconds"].astype(float).round(2),
            "RTO objective s": tests["rto_objective_seconds"],
            "RPO s": tests["rpo_seconds"].astype(float).round(0),
            "RPO objective s": tests["rpo_objective_seconds"],
            "canary freshness s": tests["canary_freshness_seconds"].astype(float).round(0),
            "clean-up": tests["cleanup_status"],
            "reason": tests["reason"],
        }
    )
    return out.reset_index(drop=True)


def checks_table(tests: pd.DataFrame) -> pd.DataFrame:
    """Every validation check of every test (the evidence behind each verdict)."""
    rows = []
    for t in tests.to_dict("records"):
        checks = t.get("checks")
        if isinstance(checks, str):
            checks = json.loads(checks)
        for c in checks or []:
            rows.append({"service": t["service"], "resource": t["resource_name"], **c})
    return pd.DataFrame(rows, columns=["service", "resource", "check", "status", "detail"])


def rto_rpo_chart(tests: pd.DataFrame, div_id: str = "restore-rto-rpo") -> go.Figure:
    """Measured RTO and RPO per test (bars, log scale) against the tier objective (markers)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("RTO: restore + validation", "RPO: age of the recovery point"),
    )
    df = tests[tests["recovery_point_id"].notna()] if not tests.empty else tests
    labels = (df["service"] + " " + df["resource_name"]).tolist() if not df.empty else []
    colors = [COLORS.get(s, "#757575") for s in df.get("status", [])]
    for col, (measured, objective) in enumerate(
        (("rto_seconds", "rto_objective_seconds"), ("rpo_seconds", "rpo_objective_seconds")), 1
    ):
        if df.empty:
            continue
        fig.add_trace(
            go.Bar(x=labels, y=df[measured].astype(float).clip(lower=0.01), marker_color=colors, name=f"{measured.split('_')[0].upper()} measured", showlegend=False,
                   hovertext=df["status"]),
            row=1, col=col,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=labels, y=df[objective].astype(float), mode="markers", marker={"symbol": "line-ew-open", "size": 24, "color": "black"},
                       name="objective", showlegend=col == 1),
            row=1, col=col,
        )  # fmt: skip
        fig.update_yaxes(type="log", title_text="seconds", row=1, col=col)
    fig.update_layout(
        title="Restore tests against tier objectives (bar colour: result)", height=450, bargap=0.3
    )
    return fig
