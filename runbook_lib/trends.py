"""Trends from the ledger (REL09-BP04 and the rest): coverage, findings pass rate per
practice, restore-test pass rate, and measured RTO/RPO against each tier's objectives.

    h = trends.load(rb)                # reads the ledger once (optionally only the last N days)
    h.runs()                           # how much history there is, per table, said plainly
    trends.coverage(h); trends.coverage_figure(h)
    trends.findings_pass_rate(h); trends.findings_figure(h)
    trends.restore_pass_rate(h); trends.restore_figure(h)
    trends.objectives(h); trends.objectives_by_tier(h); trends.objectives_over_time(h)
    trends.objectives_figure(h)

Everything reads only the ledger (no AWS call), and only the columns listed in ``COLUMNS``
(``Ledger.read`` pushes the projection and ``since`` down to the Parquet files). Tables that
are missing or empty give empty frames and figures that say so; a trend needs at least two
runs, and the output says when there are fewer.

Scale: tables are aggregates (per run, or per ``day`` / ``week`` / ``month`` with ``per=``),
and figures draw aggregates only (per run while there are at most ``MAX_POINTS`` runs, else
per day, week or month, whichever keeps ``MAX_POINTS`` points or fewer) plus at most
``WORST`` raw points per tier, so a figure's size does not grow with the history.

Drill-down: every table and figure takes the keyword filters ``service``, ``tier``,
``account`` (a value or a list of values), ``since`` and ``until`` (a duration back from
``as_of`` such as ``30d``, or an ISO 8601 time), e.g.
``trends.restore_pass_rate(h, service="dynamodb", tier="gold", since="30d")``;
``h.where(...)`` gives the filtered history itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from runbook_lib.errors import ParamsError
from runbook_lib.params import Params, parse_duration
from runbook_lib.present import integer_axis

MIN_RUNS = 2  # a trend needs at least two points in time
MAX_POINTS = 400  # per line in a figure: more runs than this are drawn per day/week/month
WORST = 10  # raw points per tier (and per RTO / RPO) drawn in objectives_figure
RESTORED = ("PASS", "PASS_WEAK")
NOT_JUDGED = ("NOT_SUPPORTED_ON_SANDBOX", "NOT_RESTORABLE", "SKIPPED")
PERIODS = {"day": "D", "week": "W", "month": "M"}
PRACTICE_COLORS = {
    "REL09-BP01": "#1565c0",
    "REL09-BP02": "#6a1b9a",
    "REL09-BP03": "#00838f",
    "REL09-BP04": "#ef6c00",
}
TIER_COLORS = ["#c62828", "#f9a825", "#2e7d32", "#1565c0", "#6a1b9a", "#00838f"]
_SCOPE = ("account", "region", "service", "tier")
#: the ledger columns trends reads, per table (and the time columns, first found first)
COLUMNS = {
    "inventory": (
        "run_id", "recorded_at", "as_of", *_SCOPE,
        "backup_required", "protected", "rpo_met", "classified",
    ),
    "findings": ("run_id", "recorded_at", "as_of", *_SCOPE, "practice", "status"),
    "restore_tests": (
        "run_id", "recorded_at", "restore_end", "restore_start", *_SCOPE,
        "test_id", "resource_arn", "status", "verdict", "rto_seconds", "rpo_seconds",
    ),
}  # fmt: skip
#: low-cardinality text columns, read as categoricals
CATEGORICAL = ("run_id", *_SCOPE, "practice", "status", "verdict", "resource_arn")
WHEN = {
    "inventory": ("as_of", "recorded_at"),
    "findings": ("as_of", "recorded_at"),
    "restore_tests": ("restore_end", "restore_start", "recorded_at"),
}
FILTERS = ("service", "tier", "account", "since", "until")


@dataclass
class History:
    params: Params
    as_of: datetime
    since: pd.Timestamp | None
    inventory: pd.DataFrame
    findings: pd.DataFrame
    restore_tests: pd.DataFrame
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)

    def runs(self) -> pd.DataFrame:
        """Per ledger table: runs recorded, first and last, and whether a trend can be drawn."""
        rows = []
        for table in COLUMNS:
            df = getattr(self, table)
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

    def where(
        self,
        *,
        service: str | list[str] | None = None,
        tier: str | list[str] | None = None,
        account: str | list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> History:
        """The history of only these services / tiers / accounts (a value or a list), and
        only between ``since`` and ``until`` (a duration back from ``as_of``, e.g. ``30d``,
        or an ISO 8601 time)."""
        scope = {"service": service, "tier": tier, "account": account}
        lo, hi = self._bound(since, "since"), self._bound(until, "until")
        if lo is None and hi is None and not any(scope.values()):
            return self
        frames = {}
        for table in COLUMNS:
            df = getattr(self, table)
            keep = pd.Series(True, index=df.index)
            for col, wanted in scope.items():
                if wanted:
                    values = [wanted] if isinstance(wanted, str) else list(wanted)
                    keep &= df[col].isin(values) if col in df else False
            if lo is not None:
                keep &= df.when >= lo
            if hi is not None:
                keep &= df.when <= hi
            frames[table] = df[keep].reset_index(drop=True)
        bounds = [t for t in (lo, self.since) if t is not None]
        start = max(bounds) if bounds else None
        return replace(self, since=start, **frames)

    def _bound(self, value: str | None, field: str) -> pd.Timestamp | None:
        if value is None or value == "":
            return None
        try:
            return pd.Timestamp(self.as_of) - parse_duration(value)
        except ValueError:
            pass
        from runbook_lib.ledger import utc_time

        try:
            return utc_time(value)
        except ValueError:
            problem = f"{field}: {value!r} is neither a duration (30d, 12h) nor an ISO 8601 time"
            raise ParamsError(field, [problem]) from None


def drill_down(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(h, ...)`` that also takes the keyword filters of :meth:`History.where`."""

    @functools.wraps(fn)
    def wrapper(h: History, *args: Any, **kwargs: Any) -> Any:
        where = {k: kwargs.pop(k) for k in FILTERS if k in kwargs}
        out = fn(h.where(**where), *args, **kwargs)
        return _plain(out) if isinstance(out, pd.DataFrame) else out

    sig = inspect.signature(fn)
    extra = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
        for k in FILTERS
        if k not in sig.parameters
    ]
    params = list(sig.parameters.values())
    wrapper.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return wrapper


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns (how the history holds its text) back as plain text for callers."""
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return df
    return df.assign(**{c: df[c].astype(df[c].cat.categories.dtype) for c in cats})


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


def _read(ledger: Any, table: str, since: pd.Timestamp | None) -> pd.DataFrame:
    # rows are recorded at or after the time they describe: a day of slack for clocks
    recorded_since = since - pd.Timedelta(days=1) if since is not None else None
    cols = list(COLUMNS[table])
    try:
        cats = [c for c in CATEGORICAL if c in cols]
        df = ledger.read(table, columns=cols, since=recorded_since, categorical=cats)
    except Exception:  # noqa: BLE001  (an unreadable table is no history, not a crash)
        df = pd.DataFrame()
    if "run_id" not in df:
        df = df.assign(run_id=pd.Series(dtype=object))
    return df


def load(ctx: Any, *, since: str = "", **where: Any) -> History:
    """Read the ledger tables the trends need; ``since`` (e.g. '90d') keeps only the last
    part of the history up to the run's ``as_of``; ``service``, ``tier``, ``account`` and
    ``until`` narrow it as :meth:`History.where` does.

    Only the columns in ``COLUMNS`` are read, and with ``since`` only the files recorded from
    a day before it on (a row recorded more than a day before the time it describes, i.e.
    with an ``as_of`` in the future, is then not read)."""
    unknown = sorted(set(where) - set(FILTERS))
    if unknown:
        raise ParamsError(
            "trends.load", [f"{k}: not a filter; allowed: {', '.join(FILTERS)}" for k in unknown]
        )
    start = None
    if since:
        try:
            start = pd.Timestamp(ctx.as_of) - parse_duration(since)
        except ValueError as err:
            raise ParamsError("since", [f"since: {err}"]) from None
    from runbook_lib.audit.evidence import ledger_cutoff

    as_of = ledger_cutoff(ctx.as_of)
    frames = {}
    for table, cols in WHEN.items():
        df = _read(ctx.ledger, table, start)
        df = df.assign(when=_when(df, *cols))
        keep = df.when.notna() & (df.when <= as_of)
        if start is not None:
            keep &= df.when >= start
        frames[table] = _normal(table, df[keep].sort_values("when", ignore_index=True))
    return History(ctx.params, ctx.as_of, start, **frames).where(**where)


def _normal(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Restore tests: ``status`` (older rows: ``verdict``) and ``tier`` ('' when untagged)
    always there; low-cardinality text as categoricals."""
    if table == "restore_tests" and len(df):
        verdict = df.get("verdict", pd.Series(None, index=df.index, dtype=object))
        status = df.get("status", pd.Series(None, index=df.index, dtype=object))
        tier = df.get("tier", pd.Series(None, index=df.index, dtype=object))
        df = df.assign(status=_filled(status, verdict), tier=_filled(tier, ""))
    return df


def _filled(s: pd.Series, other: pd.Series | str) -> pd.Series:
    """``s`` with its gaps filled from ``other``, as a categorical."""
    if not s.isna().any():
        return s.astype("category")
    other = other.astype(object) if isinstance(other, pd.Series) else other
    return s.astype(object).fillna(other).astype("category")


def _cached(h: History, key: str, make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    if key not in h._cache:
        h._cache[key] = make()
    return h._cache[key]


# ------------------------------------------------------------------ aggregation


def _check_per(per: str) -> str:
    if per != "run" and per not in PERIODS:
        raise ParamsError("per", [f"per: {per!r}; allowed: run, {', '.join(PERIODS)}"])
    return per


def _period(when: pd.Series, per: str) -> pd.Series:
    """The start of the day / week (Monday) / month each time falls in (UTC)."""
    days = when.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    if per == "week":  # 1970-01-01 was a Thursday: Monday is 3 days before
        days = days - (days.astype("int64") + 3) % 7
    elif per == "month":
        days = days.astype("datetime64[M]").astype("datetime64[D]")
    start = pd.Series(days, index=when.index).astype("datetime64[us]")
    return start.dt.tz_localize("UTC")


def _auto_per(df: pd.DataFrame) -> str:
    """``run`` while there are at most MAX_POINTS runs, else the finest period that keeps
    MAX_POINTS points or fewer (counted from the history's first and last day)."""
    if df.empty or df.run_id.nunique() <= MAX_POINTS:
        return "run"
    ends = _period(pd.Series([df.when.min(), df.when.max()]), "day")
    days = (ends.iloc[1] - ends.iloc[0]).days + 1
    if days <= MAX_POINTS:
        return "day"
    return "week" if days // 7 + 2 <= MAX_POINTS else "month"


def _tally(df: pd.DataFrame, keys: list[str], per: str, sums: dict[str, str]) -> pd.DataFrame:
    """Rows grouped per run (``per='run'``) or per period and ``keys``: the latest time,
    the runs, and the sum of each boolean / count column (``name -> column``)."""
    if per == "run":
        group = ["run_id", *keys]
    else:
        df = df.assign(period=_period(df.when, per))
        group = ["period", *keys]
    spec: dict[str, tuple[str, str]] = {"when": ("when", "max"), "runs": ("run_id", "nunique")}
    spec.update({name: (col, "sum") for name, col in sums.items()})
    out = df.groupby(group, as_index=False, observed=True).agg(**spec)
    if per == "run":
        out = out.drop(columns="runs")
    return out


def _pct(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (100 * part / whole.where(whole > 0)).round(1)


def _last_of_period(out: pd.DataFrame, per: str, keys: list[str]) -> pd.DataFrame:
    """Per period, the latest run's row (a snapshot: the state at the period's end), with
    the number of runs in the period."""
    if per == "run":
        return out
    out = out.assign(period=_period(out.when, per))
    runs = out.groupby(["period", *keys], observed=True).run_id.transform("nunique")
    last = out.assign(runs=runs).sort_values("when")
    last = last.groupby(["period", *keys], observed=True).tail(1)
    return last.drop(columns="run_id")


def _key_columns(per: str) -> list[str]:
    return ["run_id"] if per == "run" else ["period", "runs"]


def _resolve_per(per: str, df: pd.DataFrame) -> str:
    if per == "auto":
        return _auto_per(df)
    if per != "run" and per not in PERIODS:
        raise ParamsError("per", [f"per: {per!r}; allowed: auto, run, {', '.join(PERIODS)}"])
    return per


def _x(df: pd.DataFrame) -> pd.Series:
    """A figure's x: the run's time, or the period's start."""
    return df.period if "period" in df else df.when


def _drawn(per: str) -> str:
    return "one point per run" if per == "run" else f"one point per {per}"


def _drawn_table(table: Callable[..., pd.DataFrame], h: History, rows: pd.DataFrame, title: str):
    """What a figure draws: ``table`` per run, or per the period that keeps it small; and
    the title saying which."""
    per = _auto_per(rows)
    return table(h, per=per), f"{title}; {_drawn(per)})"


# ------------------------------------------------------------------ coverage


def _flag(df: pd.DataFrame, col: str, default: bool) -> pd.Series:
    if col not in df:
        return pd.Series(default, index=df.index)
    return df[col].map(lambda v: default if v is None or v != v else bool(v)).astype(bool)


@drill_down
def coverage(h: History, *, per: str = "run") -> pd.DataFrame:
    """Per inventory run: resources, backup required, protected %, meeting RPO %, classified %.
    With ``per`` = day / week / month: the last run of each period (and how many runs it had)."""
    df = h.inventory
    per = _resolve_per(per, df)
    cols = [*_key_columns(per), "when", "resources", "backup_required"]
    cols += ["protected_pct", "rpo_met_pct", "classified_pct"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    req = _flag(df, "backup_required", True)
    df = df.assign(
        n=1,
        req=req,
        prot=req & _flag(df, "protected", False),
        rpo=req & _flag(df, "rpo_met", False),
        cls=_flag(df, "classified", False),
    )
    sums = {"resources": "n", "backup_required": "req", "protected": "prot", "rpo_met": "rpo"}
    out = _tally(df, [], "run", {**sums, "classified": "cls"})
    out["protected_pct"] = _pct(out.protected, out.backup_required)
    out["rpo_met_pct"] = _pct(out.rpo_met, out.backup_required)
    out["classified_pct"] = _pct(out.classified, out.resources)
    out = _last_of_period(out, per, [])
    return out.sort_values("when", ignore_index=True)[cols]


def _empty_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(title=title, height=300, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def _note(fig: go.Figure, runs: int) -> go.Figure:
    """With too few runs for a trend, a figure that says so instead of one point on an axis
    stretched to a millisecond; the tables beside it hold the values."""
    if 0 < runs < MIN_RUNS:
        return _empty_figure(
            fig.layout.title.text or "", f"one run: no trend yet ({_not_enough(runs)})"
        )
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


@drill_down
def coverage_figure(h: History) -> go.Figure:
    c, title = _drawn_table(
        coverage, h, h.inventory, "Backup coverage over time (from the inventory ledger"
    )
    if c.empty:
        return _empty_figure(title, "no inventory run in the ledger yet: run the inventory runbook")
    fig = go.Figure()
    for col, name, color in (
        ("protected_pct", "protected (of backup required)", "#2e7d32"),
        ("rpo_met_pct", "meeting the tier RPO", "#f9a825"),
        ("classified_pct", "classified (of all)", "#1565c0"),
    ):
        fig.add_scatter(x=_x(c), y=c[col], name=name, mode="lines+markers", line={"color": color})
    fig.update_layout(
        title=title, yaxis={"title": "%", "range": [0, 105]}, xaxis_title="run", height=400
    )
    return _note(fig, h.inventory.run_id.nunique())


# ------------------------------------------------------------------ findings


@drill_down
def findings_pass_rate(h: History, *, per: str = "run") -> pd.DataFrame:
    """Per audit run and practice: PASS, FAIL (FAIL + ERROR) and the pass rate %. With
    ``per`` = day / week / month: the last audit run of each period."""
    df = h.findings
    per = _resolve_per(per, df)
    cols = [*_key_columns(per), "when", "practice", "passed", "failed", "pass_rate_pct"]
    if df.empty or "practice" not in df or "status" not in df:
        return pd.DataFrame(columns=cols)
    df = df.assign(passed=df.status == "PASS", failed=df.status.isin(["FAIL", "ERROR"]))
    out = _tally(df, ["practice"], "run", {"passed": "passed", "failed": "failed"})
    out["pass_rate_pct"] = _pct(out.passed, out.passed + out.failed)
    out = _last_of_period(out, per, ["practice"])
    return out.sort_values(["when", "practice"], ignore_index=True)[cols]


@drill_down
def findings_figure(h: History) -> go.Figure:
    about = "Audit pass rate per practice over time (from the findings ledger"
    f, title = _drawn_table(findings_pass_rate, h, h.findings, about)
    if f.empty:
        return _empty_figure(title, "no audit run in the ledger yet: run the audit runbook")
    fig = go.Figure()
    for practice, part in f.groupby("practice", sort=True, observed=True):
        fig.add_scatter(
            x=_x(part),
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
    return _note(fig, h.findings.run_id.nunique())


# ------------------------------------------------------------------ restore tests


def _tests(h: History) -> pd.DataFrame:
    df = h.restore_tests
    return df.iloc[0:0] if df.empty or "status" not in df else df


@drill_down
def restore_pass_rate(h: History, *, by_tier: bool = False, per: str = "run") -> pd.DataFrame:
    """Per restore-test run (or ``per`` day / week / month; and tier): tests, restored and
    checked out (PASS / PASS_WEAK), content proven (PASS), not judged (sandbox / no SDK
    path), pass rate % of judged tests."""
    df = _tests(h)
    per = _resolve_per(per, df)
    keys = ["tier"] if by_tier else []
    cols = [*_key_columns(per), *keys, "when", "tests", "passed", "content_proven", "not_judged"]
    cols.append("pass_rate_pct")
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[["run_id", "when", *keys]].assign(
        n=1, ok=df.status.isin(RESTORED), proven=df.status == "PASS", nj=df.status.isin(NOT_JUDGED)
    )
    sums = {"tests": "n", "passed": "ok", "content_proven": "proven", "not_judged": "nj"}
    out = _tally(df, keys, per, sums)
    out["pass_rate_pct"] = _pct(out.passed, out.tests - out.not_judged)
    return out.sort_values(["when", *keys], ignore_index=True)[cols]


@drill_down
def restore_figure(h: History) -> go.Figure:
    about = "Restore tests over time: pass rate and content proven (from the restore_tests ledger"
    r, title = _drawn_table(restore_pass_rate, h, _tests(h), about)
    if r.empty:
        return _empty_figure(
            title, "no restore test in the ledger yet: run the restore_test runbook"
        )
    x = _x(r)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=x, y=r.tests, name="tests", marker_color="#b0bec5", secondary_y=True)
    fig.add_bar(
        x=x, y=r.content_proven, name="content proven", marker_color="#2e7d32", secondary_y=True
    )
    fig.add_scatter(
        x=x,
        y=r.pass_rate_pct,
        name="pass rate % (of judged)",
        mode="lines+markers",
        line={"color": "#ef6c00"},
        secondary_y=False,
    )
    fig.update_yaxes(title_text="pass rate %", range=[0, 105], secondary_y=False)
    fig.update_yaxes(title_text="tests", secondary_y=True, **integer_axis(r.tests.max()))
    fig.update_layout(title=title, height=400, barmode="overlay")
    return _note(fig, _tests(h).run_id.nunique())


OBJECTIVE_COLUMNS = [
    "when", "run_id", "test_id", "tier", "service", "resource_arn", "status",
    "rto_seconds", "rto_objective_seconds", "rto_pct", "rto_met",
    "rpo_seconds", "rpo_objective_seconds", "rpo_pct", "rpo_met",
]  # fmt: skip


@drill_down
def objectives(h: History) -> pd.DataFrame:
    """One row per restore test that measured an RTO or RPO, against its tier's objective
    (the objective as of now, from the params)."""
    return _objectives(h).copy()


def _objectives(h: History) -> pd.DataFrame:
    return _cached(h, "objectives", lambda: _measure(h))


def _measure(h: History) -> pd.DataFrame:
    df = _tests(h)
    if df.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=float if c.endswith(("_seconds", "_pct")) else object)
                for c in OBJECTIVE_COLUMNS
            }
        )
    df = df[[c for c in df.columns if c in OBJECTIVE_COLUMNS]]
    tiers = {t: h.params.tier(t or None) for t in df.tier.unique()}
    for kind in ("rto", "rpo"):
        measured = pd.to_numeric(df.get(f"{kind}_seconds"), errors="coerce")
        objective = df.tier.map({t: getattr(v, kind).total_seconds() for t, v in tiers.items()})
        df[f"{kind}_seconds"] = measured
        df[f"{kind}_objective_seconds"] = objective.astype(float)
        df[f"{kind}_pct"] = (100 * measured / df[f"{kind}_objective_seconds"]).round(1)
        df[f"{kind}_met"] = measured.le(df[f"{kind}_objective_seconds"]).where(measured.notna())
    for col in ("test_id", "service", "resource_arn"):
        if col not in df:
            df[col] = ""
    df = df[df.rto_seconds.notna() | df.rpo_seconds.notna()]
    return df[OBJECTIVE_COLUMNS].reset_index(drop=True)


def _tiers(h: History, o: pd.DataFrame) -> list[str]:
    return h.tier_order() + sorted(set(o.tier.unique()) - set(h.tier_order()))


@drill_down
def objectives_by_tier(h: History) -> pd.DataFrame:
    """Per tier: tests measured, median / 95th percentile / worst RTO and RPO (seconds)
    against the objective, and the share that met it."""
    o = _objectives(h)
    tiers = _tiers(h, o)
    out = pd.DataFrame(index=pd.Index(tiers, name="tier"))
    out["tests"] = o.groupby("tier", observed=True).size().reindex(tiers).fillna(0).astype(int)
    for kind in ("rto", "rpo"):
        t = o[o[f"{kind}_seconds"].notna()]
        t = t.assign(met=t[f"{kind}_seconds"] <= t[f"{kind}_objective_seconds"])
        g = t.groupby("tier", observed=True)
        s = g[f"{kind}_seconds"]
        out[f"{kind}_objective_seconds"] = [
            getattr(h.params.tier(x if x in h.params.tiers else None), kind).total_seconds()
            for x in tiers
        ]
        out[f"{kind}_p50_seconds"] = s.median().round(1)
        out[f"{kind}_p95_seconds"] = s.quantile(0.95).round(1)
        out[f"{kind}_max_seconds"] = s.max().round(1)
        out[f"{kind}_met_pct"] = (100 * g.met.mean()).round(1)
    return out


@drill_down
def objectives_over_time(h: History, *, per: str = "auto") -> pd.DataFrame:
    """Per run (or day / week / month; ``auto`` picks the finest that keeps MAX_POINTS
    points or fewer), tier and measure (``rto`` / ``rpo``): tests measured, median, 95th
    percentile and worst as % of the tier objective, and the share that met it."""
    o = _objectives(h)
    per = _resolve_per(per, o)
    cols = [*_key_columns(per), "tier", "measure", "when", "tests"]
    cols += ["p50_pct", "p95_pct", "worst_pct", "met_pct"]
    frames = []
    for kind in ("rto", "rpo"):
        d = o[o[f"{kind}_pct"].notna()]
        if d.empty:
            continue
        d = d[["run_id", "when", "tier", f"{kind}_pct"]].assign(met=d[f"{kind}_met"].astype(bool))
        if per != "run":
            d = d.assign(period=_period(d.when, per))
        g = d.groupby([_key_columns(per)[0], "tier"], observed=True)
        pct = g[f"{kind}_pct"]
        part = pd.DataFrame(
            {
                "runs": g.run_id.nunique(),
                "when": g.when.max(),
                "tests": pct.size(),
                "p50_pct": pct.median(),
                "p95_pct": pct.quantile(0.95).round(1),
                "worst_pct": pct.max(),
                "met_pct": (100 * g.met.mean()).round(1),
            }
        ).reset_index()
        frames.append(part.assign(measure=kind))
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True).sort_values(["when", "tier"], ignore_index=True)[
        cols
    ]


def _worst(o: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The WORST tests of each tier with the highest RTO (or RPO) as % of the objective."""
    pct = o[f"{kind}_pct"].dropna()
    top = pct.groupby(o.tier[pct.index], observed=True).nlargest(WORST)
    return o.loc[top.index.get_level_values(-1)]


@drill_down
def objectives_figure(h: History) -> go.Figure:
    """Measured RTO and RPO as % of the tier objective over time (100% = the objective):
    median, 95th percentile and worst per run or period, and the WORST worst tests of each
    tier as points (hover: the resource)."""
    o = _objectives(h)
    title = "Measured RTO and RPO against the tier objectives (100% = objective)"
    if o.empty:
        return _empty_figure(title, "no restore test has measured an RTO or RPO yet")
    per = _auto_per(o)
    t = objectives_over_time(h, per=per)
    worst = {kind: _worst(o, kind) for kind in ("rto", "rpo")}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("RTO % of objective", "RPO % of objective"))
    for i, tier in enumerate(_tiers(h, o)):
        color = TIER_COLORS[i % len(TIER_COLORS)]
        for col, kind in ((1, "rto"), (2, "rpo")):
            part = t[(t.tier == tier) & (t.measure == kind)]
            if part.empty:
                continue
            for stat, dash, label in (
                ("p50", "solid", "median"),
                ("p95", "dash", "p95"),
                ("worst", "dot", "worst"),
            ):
                fig.add_scatter(
                    x=_x(part), y=part[f"{stat}_pct"], mode="lines", name=f"{tier} {label}",
                    legendgroup=tier, showlegend=col == 1, line={"color": color, "dash": dash},
                    customdata=part[["tests"]].values,
                    hovertemplate=f"%{{x}}: {label} %{{y:.1f}}% of %{{customdata[0]}} tests<extra>{tier}</extra>",
                    row=1, col=col,
                )  # fmt: skip
            cols = ["when", "resource_arn", f"{kind}_seconds", f"{kind}_objective_seconds"]
            pts = worst[kind]
            pts = pts[pts.tier == tier]
            fig.add_scatter(
                x=pts.when, y=pts[f"{kind}_pct"], mode="markers", name=f"{tier} worst tests",
                legendgroup=tier, showlegend=col == 1, marker={"color": color, "size": 9},
                customdata=pts[cols[1:]].values,
                hovertemplate="%{customdata[0]}<br>%{customdata[1]:.0f} s of %{customdata[2]:.0f} s (%{y:.1f}%)<extra>"
                + tier + "</extra>",
                row=1, col=col,
            )  # fmt: skip
    for col in (1, 2):
        fig.add_hline(y=100, line_dash="dash", line_color="#c62828", row=1, col=col)
        fig.update_yaxes(type="log", title_text="% of objective (log)", row=1, col=col)
    fig.update_layout(
        title=f"{title}; {_drawn(per)}, the {WORST} worst tests per tier as points",
        height=420,
        legend_title="tier",
    )
    return _note(fig, o.run_id.nunique())
