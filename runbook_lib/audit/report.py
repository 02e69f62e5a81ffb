"""Evaluate the controls into findings; summarise, chart and record them."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from runbook_lib.audit import controls as _controls  # noqa: F401  (registers every control)
from runbook_lib.audit.evidence import Evidence, gather, inventory_evidence
from runbook_lib.audit.model import (
    CONTROLS,
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    NOT_SUPPORTED,
    PASS,
    PRACTICES,
    SEVERITIES,
    Control,
)
from runbook_lib.errors import ParamsError

log = logging.getLogger("runbook_lib")

COLUMNS = [
    "control_id",
    "title",
    "practice",
    "severity",
    "account",
    "region",
    "service",
    "arn",
    "name",
    "tier",
    "status",
    "reason",
    "expected",
    "remediation",
    "as_of",
]
SUMMARY_COLUMNS = [
    "evaluated",
    "passed",
    "failed",
    "not_applicable",
    "not_supported",
    "errors",
    "pass_rate_pct",
]
PRACTICE_COLORS = {
    "REL09-BP01": "#1565c0",
    "REL09-BP02": "#6a1b9a",
    "REL09-BP03": "#00838f",
    "REL09-BP04": "#ef6c00",
}


def controls_table() -> pd.DataFrame:
    """The control catalogue: one row per registered control with its metadata."""
    return pd.DataFrame([c.metadata() for c in select_controls()]).set_index("control_id")


def select_controls(spec: str | list[str] | None = None) -> list[Control]:
    """Controls by id or practice (``'REL09-BP04, dynamodb_pitr_enabled'``); '' = all."""
    ordered = sorted(CONTROLS.values(), key=lambda c: c.practice)  # stable: registry order within
    if not spec:
        return ordered
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [s for s in items if s]
    unknown = [s for s in items if s not in CONTROLS and s not in PRACTICES]
    if unknown:
        raise ParamsError(
            "controls",
            [
                f"controls: unknown {unknown}; allowed: a practice ({', '.join(PRACTICES)}) "
                f"or a control id ({', '.join(CONTROLS)})"
            ],
        )
    return [c for c in ordered if c.id in items or c.practice in items]


@dataclass
class Findings:
    """Every control's verdict per resource, with summaries and a chart."""

    as_of: datetime
    frame: pd.DataFrame  # COLUMNS
    controls: list[Control]
    evidence: Evidence | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return self.frame

    def failed(self) -> pd.DataFrame:
        """FAIL and ERROR rows, most severe first: the to-do list."""
        f = self.frame[self.frame.status.isin([FAIL, ERROR])]
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return f.sort_values(
            ["severity", "practice", "control_id", "account", "region", "arn"],
            key=lambda s: s.map(order) if s.name == "severity" else s,
            ignore_index=True,
        )[
            [
                "severity",
                "control_id",
                "account",
                "region",
                "service",
                "name",
                "reason",
                "remediation",
            ]
        ]

    def by_control(self) -> pd.DataFrame:
        meta = pd.DataFrame(
            [
                {
                    "control_id": c.id,
                    "title": c.title,
                    "practice": c.practice,
                    "severity": c.severity,
                }
                for c in self.controls
            ],
            columns=["control_id", "title", "practice", "severity"],
        )
        counts = _counts(self.frame, "control_id")
        out = meta.merge(counts, on="control_id", how="left")
        for col in SUMMARY_COLUMNS[:-1]:
            out[col] = out[col].fillna(0).astype(int)
        out["pass_rate_pct"] = _rate(out)
        return out.set_index("control_id")

    def by_practice(self) -> pd.DataFrame:
        counts = _counts(self.frame, "practice")
        out = pd.DataFrame({"practice": list(PRACTICES), "description": list(PRACTICES.values())})
        out["controls"] = [sum(c.practice == p for c in self.controls) for p in PRACTICES]
        out = out[out.controls > 0].merge(counts, on="practice", how="left")
        for col in SUMMARY_COLUMNS[:-1]:
            out[col] = out[col].fillna(0).astype(int)
        out["pass_rate_pct"] = _rate(out)
        return out.set_index("practice")

    def summary(self) -> pd.DataFrame:
        f = self.frame
        judged = f[f.status.isin([PASS, FAIL, ERROR])]
        rate = round(100 * (judged.status == PASS).mean(), 1) if len(judged) else None
        ev = self.evidence
        rows = [
            ("as of", f"{pd.Timestamp(self.as_of):%Y-%m-%d %H:%M} UTC"),
            ("controls", len(self.controls)),
            ("results", len(f)),
            ("PASS", int((f.status == PASS).sum())),
            ("FAIL", int((f.status == FAIL).sum())),
            ("NOT_APPLICABLE", int((f.status == NOT_APPLICABLE).sum())),
            (NOT_SUPPORTED, int((f.status == NOT_SUPPORTED).sum())),
            ("ERROR (control could not run)", int((f.status == ERROR).sum())),
            ("pass rate %", rate if rate is not None else "nothing evaluated"),
            ("data resources", len(ev.resources) if ev else "?"),
            ("restore tests in the ledger (up to as of)", len(ev.restore_tests) if ev else "?"),
            ("seconds", round(self.seconds, 1)),
        ]
        return pd.DataFrame(rows, columns=["measure", "value"]).set_index("measure").astype(str)

    def figure(self) -> go.Figure:
        """Pass rate per control, grouped and coloured by practice (NaN = nothing judged)."""
        bc = self.by_control().reset_index()
        bp = self.by_practice()
        bc = bc.sort_values(["practice", "control_id"], ascending=[False, False])
        fig = go.Figure()
        for practice, part in bc.groupby("practice", sort=True):
            rate = bp.pass_rate_pct.get(practice)
            label = (
                f"{practice}: {rate:g}% pass"
                if rate is not None and rate == rate
                else f"{practice}: nothing judged"
            )
            fig.add_bar(
                name=label,
                orientation="h",
                y=part.control_id,
                x=part.pass_rate_pct.fillna(0),
                marker_color=PRACTICE_COLORS.get(practice, "#607d8b"),
                customdata=part[
                    ["passed", "failed", "not_applicable", "not_supported", "title"]
                ].values,
                text=[
                    f"{p}/{p + f}" if (p + f) else "n/a"
                    for p, f in zip(part.passed, part.failed + part.errors, strict=True)
                ],
                textposition="outside",
                hovertemplate="%{y}: %{x:.0f}% pass<br>%{customdata[4]}<br>PASS %{customdata[0]}, "
                "FAIL %{customdata[1]}, N/A %{customdata[2]}, not on sandbox %{customdata[3]}<extra></extra>",
            )
        fig.update_layout(
            title=f"REL 9 controls: pass rate per control (as of {pd.Timestamp(self.as_of):%Y-%m-%d %H:%M} UTC)",
            xaxis={"title": "pass rate % (PASS / (PASS + FAIL))", "range": [0, 115]},
            yaxis={"title": ""},
            legend_title="practice",
            height=max(400, 24 * len(bc) + 150),
            barmode="overlay",
        )
        return fig

    def practice_figure(self) -> go.Figure:
        bp = self.by_practice().reset_index()
        fig = go.Figure(
            go.Bar(
                x=bp.practice,
                y=bp.pass_rate_pct.fillna(0),
                marker_color=[PRACTICE_COLORS.get(p, "#607d8b") for p in bp.practice],
                text=[f"{r:g}%" if r == r else "n/a" for r in bp.pass_rate_pct],
                textposition="outside",
                customdata=bp[["passed", "failed", "description"]].values,
                hovertemplate="%{x}: %{y:.0f}% pass (%{customdata[0]} PASS, %{customdata[1]} FAIL)<br>%{customdata[2]}<extra></extra>",
            )
        )
        fig.update_layout(
            title="REL 9 pass rate per practice",
            yaxis={"title": "pass rate %", "range": [0, 110]},
            height=380,
        )
        return fig


def _counts(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[by, *SUMMARY_COLUMNS[:-1]])
    s = frame.status
    out = (
        frame.assign(
            passed=s == PASS,
            failed=s == FAIL,
            not_applicable=s == NOT_APPLICABLE,
            not_supported=s == NOT_SUPPORTED,
            errors=s == ERROR,
        )
        .groupby(by)[["passed", "failed", "not_applicable", "not_supported", "errors"]]
        .sum()
        .reset_index()
    )
    out["evaluated"] = out.passed + out.failed + out.errors
    return out


def _rate(df: pd.DataFrame) -> pd.Series:
    judged = df.passed + df.failed + df.errors
    return (100 * df.passed / judged.where(judged > 0)).round(1)


def evaluate(
    ctx: Any,
    inventory: Any = None,
    *,
    controls: str | list[str] | None = None,
    evidence: Evidence | None = None,
    progress: bool = True,
) -> Findings:
    """Evaluate the controls (all, or those named) against the estate and the ledger."""
    chosen = select_controls(controls)  # bad input fails before any AWS call
    started = time.perf_counter()
    ev = evidence or gather(ctx, inventory, progress=progress)
    frame = judge(chosen, ev)
    findings = Findings(ev.as_of, frame, chosen, ev, time.perf_counter() - started)
    log.info(
        "audit: %d controls, %d results: %d PASS, %d FAIL",
        len(chosen),
        len(frame),
        int((frame.status == PASS).sum()),
        int((frame.status == FAIL).sum()),
    )
    return findings


def gap_controls() -> list[Control]:
    """The controls whose FAIL findings are the inventory's gaps (``Control.makes_gaps``):
    BP01-BP03, about one data resource, judged from the inventory's own facts."""
    return [c for c in select_controls() if c.makes_gaps]


def inventory_findings(inventory: Any) -> pd.DataFrame:
    """:func:`gap_controls` evaluated on the inventory alone (no AWS call, no ledger read):
    the same verdicts, reasons and remediation the audit gives for that inventory."""
    return judge(gap_controls(), inventory_evidence(inventory))


def judge(chosen: list[Control], ev: Evidence) -> pd.DataFrame:
    """Every chosen control's results on ``ev`` (COLUMNS); a control that raises is one
    ERROR row, the others still run."""
    rows: list[dict[str, Any]] = []
    for ctl in chosen:
        try:
            results = list(ctl.evaluate(ev))
        except Exception as err:  # noqa: BLE001  (one broken control must not hide the others)
            log.warning("audit: control %s could not be evaluated: %s", ctl.id, err)
            rows.append(
                _row(
                    ctl,
                    ev,
                    {
                        "status": ERROR,
                        "reason": f"control could not run: {type(err).__name__}: {err}",
                    },
                )
            )
            continue
        for r in results:
            rows.append(_row(ctl, ev, r.__dict__))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["as_of"] = pd.Timestamp(ev.as_of)
    return frame


def _row(ctl: Control, ev: Evidence, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "control_id": ctl.id,
        "title": ctl.title,
        "practice": ctl.practice,
        "severity": ctl.severity,
        "account": r.get("account", ""),
        "region": r.get("region", ""),
        "service": r.get("service", ""),
        "arn": r.get("arn", ""),
        "name": r.get("name", ""),
        "tier": r.get("tier", ""),
        "status": r["status"],
        "reason": r["reason"],
        "expected": r.get("expected", ""),
        "remediation": r.get("remediation") or ctl.remediation
        if r["status"] in (FAIL, ERROR)
        else "",
    }


def record(ctx: Any, findings: Findings) -> str | None:
    """Append the findings to the ledger's ``findings`` table; returns where they went."""
    return ctx.ledger.append("findings", findings.frame, ctx.run_id)


__all__ = [
    "COLUMNS", "Findings", "controls_table", "evaluate", "gap_controls", "inventory_findings",
    "judge", "record", "select_controls",
]  # fmt: skip
