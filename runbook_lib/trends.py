"""Trends from the ledger (REL09-BP04 and the rest): coverage, findings pass rate per
practice, restore-test pass rate, and measured RTO/RPO against each tier's objectives.

    h = trends.load(rb)                # reads the ledger once (optionally only the last N days)
    h.runs()                           # how much history there is, per table, said plainly
    trends.coverage(h); trends.coverage_figure(h)
    trends.findings_pass_rate(h); trends.findings_figure(h)
    trends.restore_pass_rate(h); trends.restore_figure(h)
    trends.objectives(h); trends.objectives_by_tier(h); trends.objectives_figure(h)

Everything reads only the ledger (no AWS call). Tables that are missing or empty give empty
frames and figures that say so; a trend needs at least two runs, and the output says when
there are fewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from runbook_lib.errors import ParamsError
from runbook_lib.params import Params, parse_duration

MIN_RUNS = 2  # a trend needs at least two points in time
RESTORED = ("PASS", "PASS_WEAK")
NOT_JUDGED = ("NOT_SUPPORTED_ON_SANDBOX", "NOT_RESTORABLE", "SKIPPED")
PRACTICE_COLORS = {
    "REL09-BP01": "#1565c0",
    "REL09-BP02": "#6a1b9a",
    "REL09-BP03": "#00838f",
    "REL09-BP04": "#ef6c00",
}
TIER_COLORS = ["#c62828", "#f9a825", "#2e7d32", "#1565c0", "#6a1b9a", "#00838f"]


@dataclass
class History:
    params: Params
    as_of: datetime
    since: pd.Timestamp | None
    inventory: pd.DataFrame
    findings: pd.DataFrame
    restore_tests: pd.DataFrame

    def runs(self) -> pd.DataFrame:
        """Per ledger table: runs recorded, first and last, and whether a trend can be drawn."""
        rows = []
        for table, df in (
            ("inventory", self.inventory),
            ("findings", self.findings),
            ("restore_tests", self.restore_tests),
        ):
            n = df.run_id.nunique() if len(df) else 0
            rows.append(
                {
                    "table": table,
                    "rows": len(df),
                    "runs": n,
                    "first": df.when.min() if len(df) else pd.NaT,
                    "last": df.when.max() if len(df) else pd.NaT,
                    "trend": "yes" if n >= MIN_RUNS else _not_enough(n),
                }
            )
        return pd.DataFrame(rows).set_index("table")

    def notes(self) -> list[str]:
        """Plain sentences about what the history can and cannot show."""
        out = []
        for table, r in self.runs().iterrows():
            if r.runs < MIN_RUNS:
                out.append(f"{table}: {_not_enough(r.runs)}")
        return out

    def tier_order(self) -> list[str]:
        return list(self.params.tiers)


def _not_enough(n: int) -> str:
    if n == 0:
        return "no history yet: no run recorded"
    return f"not enough history: {n} run recorded, a trend needs at least {MIN_RUNS}"


def _when(df: pd.DataFrame, *cols: str) -> pd.Series:
    out = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    for col in cols:
        if col in df:
            t = pd.to_datetime(df[col], utc=True, errors="coerce", format="ISO8601")
            out = out.fillna(t)
    return out


def _read(ledger: Any, table: str) -> pd.DataFrame:
    try:
        df = ledger.read(table)
    except Exception:  # noqa: BLE001  (an unreadable table is no history, not a crash)
        df = pd.DataFrame()
    if "run_id" not in df:
        df = df.assign(run_id=pd.Series(dtype=object))
    return df


def load(ctx: Any, *, since: str = "") -> History:
    """Read the ledger tables the trends need; ``since`` (e.g. '90d') keeps only the last
    part of the history up to the run's ``as_of``."""
    start = None
    if since:
        try:
            start = pd.Timestamp(ctx.as_of) - parse_duration(since)
        except ValueError as err:
            raise ParamsError("since", [f"since: {err}"]) from None
    from runbook_lib.audit.evidence import ledger_cutoff

    as_of = ledger_cutoff(ctx.as_of)
    frames = {}
    for table, cols in (
        ("inventory", ("as_of", "recorded_at")),
        ("findings", ("as_of", "recorded_at")),
        ("restore_tests", ("restore_end", "restore_start", "recorded_at")),
    ):
        df = _read(ctx.ledger, table)
        df = df.assign(when=_when(df, *cols))
        df = df[df.when.notna() & (df.when <= as_of)]
        if start is not None:
            df = df[df.when >= start]
        frames[table] = df.sort_values("when", ignore_index=True)
    return History(ctx.params, ctx.as_of, start, **frames)


def _run_times(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("run_id", as_index=False).agg(when=("when", "max"))


# ------------------------------------------------------------------ coverage


def _flag(df: pd.DataFrame, col: str, default: bool) -> pd.Series:
    if col not in df:
        return pd.Series(default, index=df.index)
    return df[col].map(lambda v: default if v is None or v != v else bool(v))


def coverage(h: History) -> pd.DataFrame:
    """Per inventory run: resources, backup required, protected %, meeting RPO %, classified %."""
    cols = [
        "run_id",
        "when",
        "resources",
        "backup_required",
        "protected_pct",
        "rpo_met_pct",
        "classified_pct",
    ]
    df = h.inventory
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.assign(
        req=_flag(df, "backup_required", True),
        prot=_flag(df, "protected", False),
        rpo=_flag(df, "rpo_met", False),
        cls=_flag(df, "classified", False),
    )
    df = df.assign(prot=df.req & df.prot, rpo=df.req & df.rpo)
    out = df.groupby("run_id", as_index=False).agg(
        when=("when", "max"),
        resources=("req", "size"),
        backup_required=("req", "sum"),
        protected=("prot", "sum"),
        rpo_met=("rpo", "sum"),
        classified=("cls", "sum"),
    )
    req = out.backup_required.where(out.backup_required > 0)
    out["protected_pct"] = (100 * out.protected / req).round(1)
    out["rpo_met_pct"] = (100 * out.rpo_met / req).round(1)
    out["classified_pct"] = (100 * out.classified / out.resources).round(1)
    return out.sort_values("when", ignore_index=True)[cols]


def _empty_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(title=title, height=300, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def _note(fig: go.Figure, runs: int) -> go.Figure:
    if runs < MIN_RUNS:
        fig.add_annotation(
            text=_not_enough(runs),
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=1.08,
            font={"color": "#c62828"},
        )
    return fig


def coverage_figure(h: History) -> go.Figure:
    c = coverage(h)
    title = "Backup coverage over time (from the inventory ledger)"
    if c.empty:
        return _empty_figure(title, "no inventory run in the ledger yet: run the inventory runbook")
    fig = go.Figure()
    for col, name, color in (
        ("protected_pct", "protected (of backup required)", "#2e7d32"),
        ("rpo_met_pct", "meeting the tier RPO", "#f9a825"),
        ("classified_pct", "classified (of all)", "#1565c0"),
    ):
        fig.add_scatter(x=c.when, y=c[col], name=name, mode="lines+markers", line={"color": color})
    fig.update_layout(
        title=title, yaxis={"title": "%", "range": [0, 105]}, xaxis_title="run", height=400
    )
    return _note(fig, len(c))


# ------------------------------------------------------------------ findings


def findings_pass_rate(h: History) -> pd.DataFrame:
    """Per audit run and practice: PASS, FAIL (FAIL + ERROR) and the pass rate %."""
    cols = ["run_id", "when", "practice", "passed", "failed", "pass_rate_pct"]
    df = h.findings
    if df.empty or "practice" not in df or "status" not in df:
        return pd.DataFrame(columns=cols)
    df = df.assign(passed=df.status == "PASS", failed=df.status.isin(["FAIL", "ERROR"]))
    out = df.groupby(["run_id", "practice"], as_index=False).agg(
        when=("when", "max"), passed=("passed", "sum"), failed=("failed", "sum")
    )
    judged = (out.passed + out.failed).where(lambda s: s > 0)
    out["pass_rate_pct"] = (100 * out.passed / judged).round(1)
    return out.sort_values(["when", "practice"], ignore_index=True)[cols]


def findings_figure(h: History) -> go.Figure:
    f = findings_pass_rate(h)
    title = "Audit pass rate per practice over time (from the findings ledger)"
    if f.empty:
        return _empty_figure(title, "no audit run in the ledger yet: run the audit runbook")
    fig = go.Figure()
    for practice, part in f.groupby("practice", sort=True):
        fig.add_scatter(
            x=part.when,
            y=part.pass_rate_pct,
            name=practice,
            mode="lines+markers",
            line={"color": PRACTICE_COLORS.get(practice)},
            customdata=part[["passed", "failed"]].values,
            hovertemplate="%{x}: %{y:.0f}% (%{customdata[0]} PASS, %{customdata[1]} FAIL)<extra>"
            + practice
            + "</extra>",
        )
    fig.update_layout(title=title, yaxis={"title": "pass rate %", "range": [0, 105]}, height=400)
    return _note(fig, f.run_id.nunique())


# ------------------------------------------------------------------ restore tests


def _tests(h: History) -> pd.DataFrame:
    df = h.restore_tests
    if df.empty or "status" not in df:
        return df.iloc[0:0]
    status = df.status.fillna(df.get("verdict", pd.Series(index=df.index, dtype=object)))
    return df.assign(status=status, tier=df.get("tier", pd.Series("", index=df.index)).fillna(""))


def restore_pass_rate(h: History, *, by_tier: bool = False) -> pd.DataFrame:
    """Per restore-test run (and tier): tests, restored and checked out (PASS / PASS_WEAK),
    content proven (PASS), not judged (sandbox / no SDK path), pass rate % of judged tests."""
    keys = ["run_id", "tier"] if by_tier else ["run_id"]
    cols = [*keys, "when", "tests", "passed", "content_proven", "not_judged", "pass_rate_pct"]
    df = _tests(h)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.assign(
        ok=df.status.isin(RESTORED), proven=df.status == "PASS", nj=df.status.isin(NOT_JUDGED)
    )
    out = df.groupby(keys, as_index=False).agg(
        when=("when", "max"),
        tests=("status", "size"),
        passed=("ok", "sum"),
        content_proven=("proven", "sum"),
        not_judged=("nj", "sum"),
    )
    judged = (out.tests - out.not_judged).where(lambda s: s > 0)
    out["pass_rate_pct"] = (100 * out.passed / judged).round(1)
    return out.sort_values(["when", *keys[1:]], ignore_index=True)[cols]


def restore_figure(h: History) -> go.Figure:
    r = restore_pass_rate(h)
    title = "Restore tests over time: pass rate and content proven (from the restore_tests ledger)"
    if r.empty:
        return _empty_figure(
            title, "no restore test in the ledger yet: run the restore_test runbook"
        )
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=r.when, y=r.tests, name="tests", marker_color="#b0bec5", secondary_y=True)
    fig.add_bar(
        x=r.when,
        y=r.content_proven,
        name="content proven",
        marker_color="#2e7d32",
        secondary_y=True,
    )
    fig.add_scatter(
        x=r.when,
        y=r.pass_rate_pct,
        name="pass rate % (of judged)",
        mode="lines+markers",
        line={"color": "#ef6c00"},
        secondary_y=False,
    )
    fig.update_yaxes(title_text="pass rate %", range=[0, 105], secondary_y=False)
    fig.update_yaxes(title_text="tests", secondary_y=True, rangemode="tozero")
    fig.update_layout(title=title, height=400, barmode="overlay")
    return _note(fig, len(r))


def objectives(h: History) -> pd.DataFrame:
    """One row per restore test that measured an RTO or RPO, against its tier's objective
    (the objective as of now, from the params)."""
    cols = [
        "when",
        "run_id",
        "test_id",
        "tier",
        "service",
        "resource_arn",
        "status",
        "rto_seconds",
        "rto_objective_seconds",
        "rto_pct",
        "rto_met",
        "rpo_seconds",
        "rpo_objective_seconds",
        "rpo_pct",
        "rpo_met",
    ]
    df = _tests(h)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.copy()
    for kind in ("rto", "rpo"):
        df[f"{kind}_seconds"] = pd.to_numeric(df.get(f"{kind}_seconds"), errors="coerce")
        df[f"{kind}_objective_seconds"] = [
            getattr(h.params.tier(t or None), kind).total_seconds() for t in df.tier
        ]
        df[f"{kind}_pct"] = (100 * df[f"{kind}_seconds"] / df[f"{kind}_objective_seconds"]).round(1)
        df[f"{kind}_met"] = (
            df[f"{kind}_seconds"]
            .le(df[f"{kind}_objective_seconds"])
            .where(df[f"{kind}_seconds"].notna())
        )
    for col in ("test_id", "service", "resource_arn"):
        if col not in df:
            df[col] = ""
    df = df[df.rto_seconds.notna() | df.rpo_seconds.notna()]
    return df[cols].reset_index(drop=True)


def objectives_by_tier(h: History) -> pd.DataFrame:
    """Per tier: tests measured, median / 95th percentile / worst RTO and RPO (seconds)
    against the objective, and the share that met it."""
    o = objectives(h)
    rows = []
    for tier in h.tier_order() + sorted(set(o.tier) - set(h.tier_order())):
        part = o[o.tier == tier]
        t = h.params.tier(tier if tier in h.params.tiers else None)
        row: dict[str, Any] = {"tier": tier, "tests": len(part)}
        for kind in ("rto", "rpo"):
            s = part[f"{kind}_seconds"].dropna()
            row[f"{kind}_objective_seconds"] = getattr(t, kind).total_seconds()
            row[f"{kind}_p50_seconds"] = round(s.median(), 1) if len(s) else None
            row[f"{kind}_p95_seconds"] = round(s.quantile(0.95), 1) if len(s) else None
            row[f"{kind}_max_seconds"] = round(s.max(), 1) if len(s) else None
            row[f"{kind}_met_pct"] = (
                round(100 * (s <= row[f"{kind}_objective_seconds"]).mean(), 1) if len(s) else None
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("tier")


def objectives_figure(h: History) -> go.Figure:
    """Measured RTO and RPO as % of the tier objective over time (100% = the objective)."""
    o = objectives(h)
    title = "Measured RTO and RPO against the tier objectives (100% = objective)"
    if o.empty:
        return _empty_figure(title, "no restore test has measured an RTO or RPO yet")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("RTO % of objective", "RPO % of objective"))
    tiers = h.tier_order() + sorted(set(o.tier) - set(h.tier_order()))
    for i, tier in enumerate(tiers):
        part = o[o.tier == tier]
        if part.empty:
            continue
        color = TIER_COLORS[i % len(TIER_COLORS)]
        for col, kind in ((1, "rto"), (2, "rpo")):
            pts = part[part[f"{kind}_pct"].notna()]
            fig.add_scatter(
                x=pts.when,
                y=pts[f"{kind}_pct"],
                mode="markers",
                name=tier,
                legendgroup=tier,
                showlegend=col == 1,
                marker={"color": color, "size": 9},
                customdata=pts[
                    ["resource_arn", f"{kind}_seconds", f"{kind}_objective_seconds"]
                ].values,
                hovertemplate="%{customdata[0]}<br>%{customdata[1]:.0f} s of %{customdata[2]:.0f} s (%{y:.1f}%)<extra>"
                + tier
                + "</extra>",
                row=1,
                col=col,
            )
    for col in (1, 2):
        fig.add_hline(y=100, line_dash="dash", line_color="#c62828", row=1, col=col)
        fig.update_yaxes(type="log", title_text="% of objective (log)", row=1, col=col)
    fig.update_layout(title=title, height=420, legend_title="tier")
    return _note(fig, o.run_id.nunique())
