"""The restore timeline around an incident: what the ledger recorded (backups, restore
tests, protect actions, incident restores) and the recovery points the inventory found,
per resource, as a table and a plotly figure with the incident window shaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from runbook_lib.ledger import TABLES

EVENT_COLUMNS = [
    "resource", "arn", "kind", "start", "end", "status", "detail", "source", "during_incident",
]  # fmt: skip
ESTATE = "(estate settings)"
MIN_LOOKBACK = timedelta(days=1)
KIND_STYLE = {  # kind -> (marker symbol, colour)
    "recovery point": ("circle", "#1565c0"),
    "backup": ("diamond", "#2e7d32"),
    "restore test": ("square", "#ef6c00"),
    "incident restore": ("star", "#6a1b9a"),
    "protect action": ("triangle-up", "#607d8b"),
    "point chosen": ("x", "#c62828"),
}


@dataclass(frozen=True)
class Source:
    """One ledger table read into timeline events."""

    table: str
    kind: str
    arn_columns: tuple[str, ...]
    start_columns: tuple[str, ...]
    end_columns: tuple[str, ...] = ()
    status_column: str = "status"
    detail_columns: tuple[str, ...] = ()


#: Ledger tables that become events (only those the ledger knows are read).
SOURCES = [
    # a backup holds the data of when it started (created); completed ends the bar
    Source("backups", "backup", ("resource_arn",), ("created", "completed", "recorded_at"),
           ("completed",), status_column="status", detail_columns=("method", "recovery_point_arn", "native_id")),
    Source("restore_tests", "restore test", ("resource_arn",), ("restore_start", "recorded_at"),
           ("restore_end",), status_column="verdict", detail_columns=("rto_seconds", "recovery_point_id", "reason")),
    Source("protect_actions", "protect action", ("resource",), ("applied_at", "recorded_at"),
           status_column="status", detail_columns=("setting", "action")),
    Source("incident_restores", "incident restore", ("source_arn",), ("restore_start", "recorded_at"),
           ("restore_end",), status_column="status",
           detail_columns=("target_name", "recovery_point_id", "restored_to_time", "restore_seconds", "error")),
]  # fmt: skip


def _first(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    out = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    for col in columns:
        if col in df:
            out = out.fillna(pd.to_datetime(df[col], utc=True, errors="coerce"))
    return out


def begins(review: Any) -> dict[str, pd.Timestamp]:
    """Where each resource's recovery points start: its own RPO objective (at least a day;
    the largest in scope when it has none) before the incident start, and never after its
    chosen recovery point. Key ``""``: where everything else starts (the ledger's events),
    the earliest of all."""
    s = review.summary
    start = pd.Timestamp(review.window.start)
    rpos = [timedelta(seconds=x) for x in s.rpo_objective_seconds.dropna()]
    largest = max([MIN_LOOKBACK, *rpos])
    out: dict[str, pd.Timestamp] = {}
    for r in s.itertuples():
        rpo = r.rpo_objective_seconds
        lookback = largest if pd.isna(rpo) else max(MIN_LOOKBACK, timedelta(seconds=rpo))
        begin = start - lookback
        if pd.notna(r.recovery_point_time):
            begin = min(begin, pd.Timestamp(r.recovery_point_time))
        out[r.arn] = begin
    out[""] = min([start - largest, *out.values()])
    return out


def view(review: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The figure's time range: its events with a margin (the incident window when there
    is none); the shaded window may run past either edge."""
    t, w = review.timeline, review.window
    times = (
        [x for x in (t.start.min(), t.start.max(), t.end.max()) if pd.notna(x)] if len(t) else []
    )
    if not times:
        times = [pd.Timestamp(w.start), pd.Timestamp(w.end)]
    begin, end = min(times), max(times)
    pad = max((end - begin) * 0.05, pd.Timedelta(minutes=1))
    return begin - pad, end + pad


def build_timeline(ledger: Any, review: Any, recovery_points: pd.DataFrame) -> pd.DataFrame:
    s = review.summary
    names = dict(zip(s.arn, s.name, strict=True))
    accounts = set(s.account.dropna())
    starts = begins(review)
    end = pd.Timestamp(review.window.as_of)
    events: list[pd.DataFrame] = []
    for src in SOURCES:
        if src.table not in TABLES:
            continue
        df = ledger.read(src.table)
        if df.empty:
            continue
        arn = pd.Series(None, index=df.index, dtype=object)
        for col in src.arn_columns:
            if col in df:
                arn = arn.fillna(df[col])
        start = _first(df, src.start_columns)
        stop = _first(df, src.end_columns) if src.end_columns else start
        detail = df.apply(
            lambda r, cols=src.detail_columns: "; ".join(
                f"{c}={r[c]}" for c in cols if c in r and r[c] is not None and not (isinstance(r[c], float) and pd.isna(r[c])) and r[c] != ""
            ),
            axis=1,
        )  # fmt: skip
        ev = pd.DataFrame(
            {
                "resource": arn.map(names),
                "arn": arn,
                "kind": src.kind,
                "start": start,
                "end": stop.fillna(start),
                "status": df[src.status_column] if src.status_column in df else None,
                "detail": detail,
                "source": f"ledger: {src.table}",
            }
        )
        if src.kind == "protect action" and "account" in df:
            estate = ev.resource.isna() & df.account.isin(accounts)
            ev.loc[estate, "resource"] = ESTATE
        events.append(ev[ev.resource.notna()])
    if not recovery_points.empty:
        rp = recovery_points[recovery_points.resource_arn.isin(names)]
        events.append(
            pd.DataFrame(
                {
                    "resource": rp.resource_arn.map(names),
                    "arn": rp.resource_arn,
                    "kind": "recovery point",
                    "start": rp.created,
                    "end": rp.created,
                    "status": "AVAILABLE",
                    "detail": rp.source + " " + rp.arn.fillna(""),
                    "source": "inventory",
                }
            )
        )
    chosen = s[s.recovery_point_time.notna()]
    events.append(
        pd.DataFrame(
            {
                "resource": chosen.name,
                "arn": chosen.arn,
                "kind": "point chosen",
                "start": chosen.recovery_point_time,
                "end": chosen.recovery_point_time,
                "status": chosen.status,
                "detail": chosen.recovery_point_source,
                "source": "this review",
            }
        )
    )
    events = [e for e in events if not e.empty]
    if not events:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    out = pd.concat(events, ignore_index=True)
    out["start"] = pd.to_datetime(out.start, utc=True)
    out["end"] = pd.to_datetime(out.end, utc=True)
    # the recovery points (hundreds per resource with hourly backups) from the resource's
    # own lane start; the ledger's few events from the earliest
    points = out.kind == "recovery point"
    begin = out.arn.map(starts).where(points).fillna(starts[""])
    out = out[(out.end >= begin) & (out.start <= end)]
    out = out.assign(
        during_incident=(out.end >= pd.Timestamp(review.window.start))
        & (out.start <= pd.Timestamp(review.window.end))
    )
    # an event of one instant has no end (the table stays short; the figure draws a marker)
    out["end"] = out.end.mask(out.end == out.start)
    return out.sort_values(["start", "resource", "kind"], ignore_index=True)


_ARN = re.compile(r"arn:[\w-]+:[\w-]+:([\w-]*):[^\s;]*")


def hover_detail(detail: Any) -> str:
    """An event's detail as its hover says it: each ARN shortened to its Region (the table
    beside the figure holds them in full), so thousands of points stay light."""
    text = "" if detail is None or (isinstance(detail, float) and pd.isna(detail)) else str(detail)
    return _ARN.sub(lambda m: f"[{m[1]}]" if m[1] else "[arn]", text).strip()


def figure(review: Any) -> go.Figure:
    """One row per resource; markers per event kind; restore tests as bars; the incident
    window shaded red; the point each resource would be restored to as a red x."""
    t = review.timeline
    w = review.window
    begin, end = view(review)
    fig = go.Figure()
    lanes = list(
        dict.fromkeys(
            list(review.summary.name.dropna()) + ([ESTATE] if (t.resource == ESTATE).any() else [])
        )
    )
    for kind, (symbol, color) in KIND_STYLE.items():
        part = t[t.kind == kind] if len(t) else t
        if part.empty:
            continue
        if kind in ("restore test", "incident restore"):
            for r in part.itertuples():
                stop = r.start if pd.isna(r.end) else r.end
                fig.add_trace(go.Scatter(x=[r.start, stop], y=[r.resource, r.resource], mode="lines",
                                         line={"color": color, "width": 8}, showlegend=False, hoverinfo="skip"))  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=part.start.dt.strftime("%Y-%m-%d %H:%M:%S"), y=part.resource, mode="markers",
                name=kind, marker={"symbol": symbol, "size": 12 if kind == "point chosen" else 10, "color": color},
                customdata=pd.concat([part.status.astype(str), part.detail.map(hover_detail)], axis=1).values,
                hovertemplate="%{y}<br>%{x|%Y-%m-%d %H:%M:%S}<br>" + kind
                + ": %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            )
        )  # fmt: skip
    fig.add_vrect(x0=w.start, x1=w.end, fillcolor="#c62828", opacity=0.12, line_width=0,
                  annotation_text="incident", annotation_position="top left")  # fmt: skip
    fig.update_layout(
        title=f"Restore timeline around the incident ({review.headline_text()})",
        xaxis={"title": "time (UTC)", "range": [begin, end]},
        yaxis={
            "title": "",
            "categoryorder": "array",
            "categoryarray": lanes[::-1],
            "type": "category",
        },
        height=max(350, 28 * len(lanes) + 150),
        legend_title="event",
    )
    if not lanes:
        fig.add_annotation(
            text="no data resource in scope",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
    return fig
