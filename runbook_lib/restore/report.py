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
    """Measured RTO and RPO per test (horizontal bars, log scale, coloured by result, one
    legend entry per result) against the tier objective (black marks)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("RTO: restore + validation", "RPO: age of the recovery point"),
    )
    df = tests[tests["recovery_point_id"].notna()] if not tests.empty else tests
    if df.empty:
        fig.add_annotation(text="no restore test reached a recovery point", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)  # fmt: skip
        fig.update_layout(height=300, title="Restore tests against tier objectives")
        return fig
    df = df.assign(label=(df["service"] + " " + df["resource_name"]).str.slice(0, 40))
    for col, (measured, objective) in enumerate(
        (("rto_seconds", "rto_objective_seconds"), ("rpo_seconds", "rpo_objective_seconds")), 1
    ):
        for status, part in df.groupby("status", sort=False):
            fig.add_trace(
                go.Bar(y=part["label"], x=part[measured].astype(float).clip(lower=0.01), orientation="h",
                       marker_color=COLORS.get(status, "#757575"), name=status, legendgroup=status,
                       showlegend=col == 1, hovertemplate="%{y}: %{x:.3s} s<extra>" + status + "</extra>"),
                row=1, col=col,
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(y=df["label"], x=df[objective].astype(float), mode="markers",
                       marker={"symbol": "line-ns-open", "size": 18, "color": "black", "line": {"width": 3}},
                       name="tier objective", legendgroup="objective", showlegend=col == 1,
                       hovertemplate="%{y}: objective %{x:.3s} s<extra></extra>"),
            row=1, col=col,
        )  # fmt: skip
        fig.update_xaxes(type="log", title_text="seconds (log scale)", row=1, col=col)
    n = df["label"].nunique()
    fig.update_yaxes(autorange="reversed", automargin=True, categoryorder="array",
                     categoryarray=list(dict.fromkeys(df["label"])))  # fmt: skip
    fig.update_layout(
        title="Restore tests against tier objectives (bar colour: result; black mark: objective)",
        height=max(320, 30 * n + 170),
        barmode="overlay",
        legend={"title": "result"},
        margin={"l": 10, "t": 80},
    )
    return fig
