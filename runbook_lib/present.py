"""How the runbooks show their results: a verdict first, then every row of the evidence.

Pure functions over data the flows return (no AWS call):

- :func:`headline` renders a verdict block: what was checked, counts by status, what is red
  and the step that fixes it, and optional measures (a restore test's RTO/RPO against the
  objectives). The ``*_headline`` functions build one per runbook from its results.
- :func:`table` renders a DataFrame with every row: status cells coloured, sizes in
  KiB/MiB/GiB, durations in ms/s/min/h/d, ARNs shortened to their name with the full ARN in
  the cell's tooltip, and nothing printed for a missing value (NaN, NaT, None, inf).

Both are plain HTML (inline styles, no script), so they render in JupyterLab, in a static
viewer and in the HTML copy; :func:`runbook_lib.runner.to_html` makes the tables of the
HTML copy searchable and sortable with the DataTables library that itables bundles, loaded
once per run folder.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

#: the CSS class of every table :func:`table` renders (the HTML copy enhances these)
TABLE_CLASS = "rb-table"
#: the text form of a table shows at most this many rows (the HTML form shows all)
TEXT_ROWS = 60
#: the CSS class of the verdict block (the first output of every runbook)
HEADLINE_CLASS = "rb-headline"

GREEN, AMBER, RED, GREY = "#d4edda", "#fff3cd", "#f8d7da", "#eceff1"
VERDICT_COLORS = {"GREEN": "#2e7d32", "AMBER": "#b26a00", "RED": "#c62828"}
#: status words (upper-cased) and the colour of their cell; anything else is not coloured
STATUS_COLORS: dict[str, str] = {
    **dict.fromkeys(
        "PASS COMPLETED APPLIED DELETED OK YES RECOVERABLE RESTORED DONE READY NONE_NEEDED "
        "PROTECTED GREEN".split(),
        GREEN,
    ),
    **dict.fromkeys(
        "PASS_WEAK WARN WARNING TIMEOUT RPO_BREACHED MANUAL NOT_RUN PARTIAL PLANNED CREATE "
        "UPDATE MEDIUM HIGH SKIPPED_NEEDS_IRREVERSIBLE_APPROVAL PENDING RUNNING NOT_DELETED "
        "WEAKENS IRREVERSIBLE AMBER".split(),
        AMBER,
    ),
    **dict.fromkeys(
        "FAIL FAILED ERROR UNRECOVERABLE NO_RECOVERY_POINT REFUSED CRITICAL BLOCKED NO NOT_FOUND "
        "NOT_PROTECTED ABORTED EXPIRED RED".split(),
        RED,
    ),
    **dict.fromkeys(
        "NOT_APPLICABLE NOT_SUPPORTED_ON_SANDBOX NOT_SUPPORTED NOT_RESTORABLE SKIP SKIPPED "
        "REPRODUCIBLE CREATED_AFTER_START NO_METHOD UNKNOWN LOW".split(),
        GREY,
    ),
}
#: columns whose values are statuses (coloured), by name
STATUS_COLUMN = re.compile(
    r"(^|_| )(status|verdict|result|action|risk|severity|assessment|clean-up|cleanup)$", re.I
)
SIZE_COLUMN = re.compile(r"(^|_| )(size|bytes)(_bytes)?$|_bytes$", re.I)
DURATION_COLUMN = re.compile(r"(_seconds$| s$|^seconds$|(^|_)duration$)", re.I)
ARN_COLUMN = re.compile(r"(^|_| )arn$", re.I)
#: wide free text: allowed to wrap at word boundaries in a wider column
LONG_TEXT_COLUMN = re.compile(
    r"(reason|detail|missing|why|remediation|closed_by|notes?|description|title|message|"
    r"error|current|desired|fix|step)s?$",
    re.I,
)

_CSS = f"""<style>
.{TABLE_CLASS}-wrap {{overflow-x:auto;max-width:100%}}
table.{TABLE_CLASS} {{border-collapse:collapse;font-size:13px;width:auto}}
.{TABLE_CLASS}-wrap th {{background:#f5f5f5}}
.{TABLE_CLASS}-wrap th, .{TABLE_CLASS}-wrap td {{border:1px solid #ddd;padding:3px 6px;
 vertical-align:top;white-space:nowrap;text-align:left !important}}
.{TABLE_CLASS}-wrap td.rb-long {{white-space:normal;min-width:16em;max-width:36em;
 overflow-wrap:break-word}}
.{TABLE_CLASS}-wrap td.rb-num {{text-align:right !important}}
</style>"""


# ------------------------------------------------------------------ values


def is_missing(value: Any) -> bool:
    """None, NaN, NaT, pd.NA and +/-inf: shown as an empty cell."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float | int) and not isinstance(value, bool):
        return not math.isfinite(value)
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict | set) else False
    except (TypeError, ValueError):
        return False


def human_size(n: Any) -> str:
    """Bytes in binary units: 1073741824 -> '1.0 GiB'; missing -> ''."""
    if is_missing(n):
        return ""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: Any) -> str:
    """Seconds for a reader: 0.0042 -> '4 ms', 12.3 -> '12.3 s', 3725 -> '1 h 02 min'."""
    if is_missing(seconds):
        return ""
    if isinstance(seconds, timedelta | pd.Timedelta):
        seconds = seconds.total_seconds()
    s = float(seconds)
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 1:
        text = f"{s * 1000:.0f} ms"
    elif s < 60:
        text = f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    elif s < 3600:
        text = f"{int(s // 60)} min {int(s % 60):02d} s"
    elif s < 86400:
        text = f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
    else:
        text = f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"
    return sign + text


def short_name(arn: str) -> str:
    """The resource name an ARN ends with: 'arn:aws:dynamodb:…:table/orders' -> 'orders'."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return str(arn)
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    for sep in ("/", ":"):
        if sep in resource:
            resource = resource.rsplit(sep, 1)[1] or resource
    return resource


def plain(value: Any) -> str:
    """Any cell value as short readable text, '' when missing."""
    if isinstance(value, list | tuple | set):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, separators=(", ", ": "), ensure_ascii=False)
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy arrays
        return plain(value.tolist())
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_convert("UTC") if ts.tzinfo else ts
        return ts.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if ts.tzinfo else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta | pd.Timedelta):
        return human_duration(value)
    if isinstance(value, float):
        return (
            f"{value:.0f}"
            if value.is_integer()
            else f"{value:.3g}"
            if abs(value) < 1
            else (f"{value:.2f}".rstrip("0").rstrip("."))
        )
    return str(value)


def status_color(value: Any) -> str | None:
    """The background of a status cell, or None for a value that is not a known status."""
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    return STATUS_COLORS.get(value.strip().upper())


# ------------------------------------------------------------------ tables


@dataclass(frozen=True, kw_only=True)
class Table:
    """Every row of a DataFrame as an HTML table; ``frame`` is the data as given."""

    frame: pd.DataFrame
    html: str
    caption: str | None = None

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        """The text form (what a terminal or a diff shows): a long table is shown by its
        first and last rows and its size; the HTML form holds every row."""
        if self.frame.empty:
            return f"{self.caption or 'table'}: no rows"
        with pd.option_context(
            "display.max_rows", TEXT_ROWS, "display.min_rows", 20, "display.max_columns", None
        ):
            return repr(self.frame)

    def __len__(self) -> int:
        return len(self.frame)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """A named or multi-level index becomes columns; a plain 0..n-1 index is dropped."""
    if isinstance(df.columns, pd.MultiIndex):
        df = df.set_axis([" ".join(map(str, c)).strip() for c in df.columns], axis=1)
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        return df.reset_index()
    if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
        return df
    return df.reset_index(names="" if "index" in df.columns else "index")


def _kind(name: str, column: pd.Series, status_columns: set[str]) -> str:
    if name in status_columns:
        return "status"
    if ARN_COLUMN.search(name) or (
        not pd.api.types.is_numeric_dtype(column)
        and len(column.dropna())
        and column.dropna().map(lambda v: isinstance(v, str) and v.startswith("arn:")).all()
    ):
        return "arn"
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and SIZE_COLUMN.search(name):
        return "size"
    if (numeric or pd.api.types.is_timedelta64_dtype(column)) and DURATION_COLUMN.search(name):
        return "duration"
    if numeric:
        return "number"
    if LONG_TEXT_COLUMN.search(name):
        return "long"
    return "text"


def _cell(value: Any, kind: str) -> str:
    if kind in ("arn", "text") and isinstance(value, str) and value.startswith("arn:"):
        full = html.escape(value)
        return f'<td title="{full}">{html.escape(short_name(value))}</td>'
    if kind in ("size", "duration") and not is_missing(value):
        text = human_size(value) if kind == "size" else human_duration(value)
        sort = value.total_seconds() if isinstance(value, timedelta | pd.Timedelta) else value
        return f'<td class="rb-num" data-order="{float(sort)!r}" title="{plain(value)}">{text}</td>'
    text = html.escape(plain(value))
    if kind == "status":
        color = status_color(value)
        return f'<td style="background:{color}">{text}</td>' if color else f"<td>{text}</td>"
    if kind == "number":
        return f'<td class="rb-num">{text}</td>'
    if kind == "long" or len(text) > 60:
        return f'<td class="rb-long">{text}</td>'
    return f"<td>{text}</td>"


def table(
    df: pd.DataFrame | pd.Series,
    *,
    caption: str | None = None,
    status: Iterable[str] = (),
    empty: str = "no rows",
    searchable: bool = True,
) -> Table:
    """Every row of ``df`` as an HTML table (see the module docstring for the formatting).

    Status columns are found by name (status, verdict, action, severity, ...) or named in
    ``status``; ``empty`` is what an empty table says; ``searchable=False`` keeps a table out
    of the HTML copy's search and sort (the verdict's own small tables)."""
    frame = df.to_frame() if isinstance(df, pd.Series) else df
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table: a pandas DataFrame is needed, not {type(df).__name__}")
    flat = _flat(frame)
    names = [str(c) for c in flat.columns]
    status_columns = {n for n in names if STATUS_COLUMN.search(n)} | {str(s) for s in status}
    kinds = [_kind(n, flat.iloc[:, i], status_columns) for i, n in enumerate(names)]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    if flat.empty:
        body = f'<tr><td colspan="{max(len(names), 1)}">{html.escape(empty)}</td></tr>'
        attrs = f'class="{TABLE_CLASS}-empty"'
    else:
        rows = (
            "<tr>" + "".join(_cell(v, k) for v, k in zip(row, kinds, strict=True)) + "</tr>"
            for row in flat.itertuples(index=False, name=None)
        )
        body = "\n".join(rows)
        kind = TABLE_CLASS if searchable else f"{TABLE_CLASS}-plain"
        attrs = f'class="{kind}" data-rows="{len(flat)}"'
    out = (
        f'{_CSS}<div class="{TABLE_CLASS}-wrap"><table {attrs}>{cap}'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )
    return Table(frame=frame, html=out, caption=caption)


# ------------------------------------------------------------------ headlines


@dataclass(frozen=True, kw_only=True)
class Red:
    """One thing that is red (or, with ``level="AMBER"``, that needs a person but did not
    fail): what, how many, and the step that fixes it."""

    what: str
    fix: str = ""
    count: int = 1
    level: str = "RED"

    def __post_init__(self) -> None:
        if self.level not in ("RED", "AMBER"):
            raise ValueError(f"level: {self.level!r} is not allowed; allowed: RED, AMBER")


@dataclass(frozen=True, kw_only=True)
class Headline:
    """A runbook's verdict: rendered as HTML first in the report, as text elsewhere."""

    title: str
    verdict: str  # GREEN | AMBER | RED
    summary: str
    checked: str
    counts: Mapping[str, int] = field(default_factory=dict)
    red: Sequence[Red] = ()
    measures: pd.DataFrame | None = None
    notes: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICT_COLORS:
            raise ValueError(
                f"verdict: {self.verdict!r} is not allowed; allowed: {', '.join(VERDICT_COLORS)}"
            )

    @property
    def is_red(self) -> bool:
        return self.verdict == "RED"

    def text(self) -> str:
        lines = [f"{self.verdict}: {self.title}: {self.summary}", f"checked: {self.checked}"]
        if self.counts:
            lines.append("counts: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        lines += [
            f"{r.level.lower()}: {r.what}"
            + (f" ({r.count})" if r.count != 1 else "")
            + f" -> {r.fix}"
            for r in self.red
        ]
        if self.measures is not None and not self.measures.empty:
            lines.append(self.measures.to_string(index=False))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        esc = html.escape
        color = VERDICT_COLORS[self.verdict]
        chips = " ".join(
            f'<span style="background:{status_color(k) or GREY};padding:1px 8px;'
            f'border-radius:9px;margin-right:4px;white-space:nowrap">{esc(str(k))}: '
            f"<b>{v}</b></span>"
            for k, v in self.counts.items()
        )
        parts = [
            f'<div class="{HEADLINE_CLASS}" data-verdict="{self.verdict}" style="border-left:8px '
            f'solid {color};background:#fafafa;padding:10px 14px;margin:4px 0 12px 0">',
            f'<div style="font-size:1.35em;font-weight:bold;color:{color}">{self.verdict} · '
            f"{esc(self.title)}</div>",
            f'<div style="font-size:1.1em;margin:4px 0">{esc(self.summary)}</div>',
            f'<div style="color:#444">Checked: {esc(self.checked)}</div>',
        ]
        if chips:
            parts.append(f'<div style="margin:6px 0">{chips}</div>')
        if self.red:
            items = pd.DataFrame(
                [
                    {
                        "level": r.level,
                        "what": r.what,
                        "count": r.count,
                        "step that fixes it": r.fix,
                    }
                    for r in self.red
                ]
            )
            parts.append(
                "<div><b>What is red or needs a person, and the step that fixes it</b></div>"
            )
            parts.append(table(items, status=["level"], searchable=False).html)
        if self.measures is not None and not self.measures.empty:
            parts.append(table(self.measures, searchable=False).html)
        parts += [f'<div style="color:#555;margin-top:4px">{esc(n)}</div>' for n in self.notes]
        parts.append("</div>")
        return "\n".join(parts)


def headline(
    *,
    title: str,
    checked: str,
    counts: Mapping[str, int] | None = None,
    red: Iterable[Red] = (),
    summary: str = "",
    measures: pd.DataFrame | None = None,
    notes: Iterable[str] = (),
    amber: bool = False,
) -> Headline:
    """A verdict block: RED when anything is red, AMBER when ``amber`` (something needs a
    person but nothing failed), GREEN otherwise."""
    red = sorted((r for r in red if r.count), key=lambda r: r.level != "RED")  # RED first
    verdict = "RED" if any(r.level == "RED" for r in red) else "AMBER" if amber or red else "GREEN"
    counts = {str(k): int(v) for k, v in (counts or {}).items()}
    if not summary:
        summary = (
            f"{sum(r.count for r in red)} red item(s) in {len(red)} group(s)"
            if red
            else "nothing red"
        )
    return Headline(
        title=title,
        verdict=verdict,
        summary=summary,
        checked=checked,
        counts=counts,
        red=tuple(red),
        measures=measures,
        notes=tuple(n for n in notes if n),
    )


def count_by(values: Iterable[Any]) -> dict[str, int]:
    """Counts of each value, most frequent first, missing values left out."""
    s = pd.Series(list(values), dtype=object)
    s = s[~s.map(is_missing)]
    return {str(k): int(v) for k, v in s.value_counts(sort=True).items()}


def grouped_red(
    df: pd.DataFrame, what: str | Sequence[str], fix: str, *, label: str = "{}"
) -> list[Red]:
    """One :class:`Red` per distinct ``what`` (one or more columns) with its count and the
    first ``fix`` of the group, in the order the rows come."""
    if df is None or df.empty:
        return []
    cols = [what] if isinstance(what, str) else list(what)
    out = []
    for key, part in df.groupby(cols, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        fixes = [plain(v) for v in part[fix] if plain(v)] if fix in part else []
        out.append(
            Red(
                what=label.format(*(plain(k) for k in key)),
                fix=fixes[0] if fixes else "",
                count=len(part),
            )
        )
    return out


# ------------------------------------------------------------------ one headline per runbook


def _rows(df: pd.DataFrame | None, column: str, values: Iterable[str]) -> pd.DataFrame:
    if df is None or df.empty or column not in df:
        return pd.DataFrame()
    return df[df[column].astype(str).isin(set(values))]


def inventory_headline(inv: Any) -> Headline:
    """01: resources by protection status; red: each missing control with its fix."""
    t = inv.table()
    summary = inv.summary()["value"]
    gaps = inv.gaps()
    red = grouped_red(gaps, "gap", "closed_by")
    if inv.partial:
        red.insert(0, Red(what="scopes or resources that could not be read (PARTIAL)",
                          fix="see the Errors table: role trust, permissions or Region",
                          count=len(inv.errors)))  # fmt: skip
    return headline(
        title="Inventory (REL09-BP01)",
        checked=f"{len(t)} data resources in {summary['accounts x Regions read']} accounts x "
        f"Regions, as of {plain(inv.as_of)}",
        counts={**count_by(inv.status()), "gaps": len(gaps), "errors": len(inv.errors)},
        red=red,
        summary=f"{summary['protected']} of {summary['backup required']} resources that need a "
        f"backup are protected; {len(gaps)} gap(s) on "
        f"{gaps['arn'].nunique() if len(gaps) else 0} resource(s)",
    )


PROTECT_LEVEL = {"refused": "RED", "manual": "AMBER"}
PROTECT_RED = {
    "refused": "put the objective back in the params, or set protect.allow_weakening: true",
    "manual": "plan a migration with the owner (cannot be done in place)",
}


def protect_headline(plan: Any, result: pd.DataFrame | None = None, replan: Any = None) -> Headline:
    """02: planned steps by action; after an approved apply, steps by status."""
    frame = plan.frame()
    applied = result is not None and len(result) > 0
    red = [Red(what=f"{a}: {s}", fix=PROTECT_RED[a], count=len(p), level=PROTECT_LEVEL[a])
           for (a, s), p in _rows(frame, "action", PROTECT_RED).groupby(["action", "setting"])]  # fmt: skip
    if applied:
        failed = _rows(result, "status", ["FAILED", "NOT_RUN"])
        red += grouped_red(failed, ["status", "setting"], "error" if "error" in failed else "status",
                           label="{}: {}")  # fmt: skip
    open_ = len(replan.changes) if replan is not None else len(plan.changes)
    counts = count_by(result["status"]) if applied else count_by(frame.get("action", []))
    return headline(
        title="Protect (REL09-BP02, BP03)",
        checked=f"{len(frame)} settings on keys, vaults, plans and resources",
        counts=counts,
        red=red,
        amber=open_ > 0,
        summary=(f"{counts.get('APPLIED', 0)} step(s) applied; " if applied else "")
        + (
            f"{open_} change(s) still to apply (approve=True applies them)"
            if open_
            else "nothing left to apply"
        ),  # fmt: skip
    )


def backup_headline(planned: pd.DataFrame, done: pd.DataFrame) -> Headline:
    """03: backups taken by status (or the plan when not approved)."""
    ran = done is not None and len(done) > 0 and "PLANNED" not in set(done.get("status", []))
    rows = done if ran else planned
    bad = _rows(rows, "status", ["FAILED", "TIMEOUT", "NO_METHOD"])
    msg = "status_message" if "status_message" in bad else "status"
    return headline(
        title="Backup now (REL09-BP03)",
        checked=f"{len(planned)} resource(s) chosen for an on-demand backup",
        counts=count_by(rows.get("status", [])),
        red=grouped_red(bad, ["status", "service"], msg, label="{} ({})"),
        amber=not ran and len(planned) > 0,
        summary=f"{int((rows.get('status') == 'COMPLETED').sum()) if ran else 0} recovery "
        f"point(s) completed" + ("" if ran else "; nothing taken (approve=True takes them)"),
    )


RESTORE_FIX = {
    "FAIL": "read the reason: a differing fingerprint -> take a new backup (03) and keep the bad "
    "point; older than the RPO -> check the backup jobs and plan (02)",
    "ERROR": "the restore itself failed: read the reason, fix and run again",
    "NO_RECOVERY_POINT": "nothing protects it: apply the protect runbook (02)",
}


def restore_test_headline(selection: pd.DataFrame, tests: pd.DataFrame) -> Headline:
    """04: tests by status, each red test with its reason, RTO/RPO against the objectives."""
    bad = _rows(tests, "status", RESTORE_FIX)
    red = [  # a failed test each (its reason differs), the other statuses one line each
        Red(what=f"FAIL: {r['service']} {r['resource_name']}: {plain(r.get('reason'))}",
            fix=RESTORE_FIX["FAIL"])
        for r in bad[bad.status == "FAIL"].to_dict("records")
    ] if len(bad) else []  # fmt: skip
    for status, part in bad[bad.status != "FAIL"].groupby("status") if len(bad) else ():
        names = ", ".join(part["service"] + " " + part["resource_name"])
        red.append(Red(what=f"{status}: {names}", fix=RESTORE_FIX[status], count=len(part)))
    left = _rows(tests, "cleanup_status", ["FAILED", "NOT_DELETED"])
    red += [Red(what="scratch copy not deleted", fix="the sweep removes it after its expiry",
                count=len(left))]  # fmt: skip
    measured = tests[tests["rto_seconds"].notna()] if len(tests) else tests
    measures = None
    if len(measured):
        measures = pd.DataFrame(
            {
                "resource": measured["service"] + " " + measured["resource_name"],
                "tier": measured["tier"],
                "status": measured["status"],
                "RTO": measured["rto_seconds"].map(human_duration),
                "RTO objective": measured["rto_objective_seconds"].map(human_duration),
                "RTO met": _met(measured["rto_seconds"], measured["rto_objective_seconds"]),
                "RPO": measured["rpo_seconds"].map(human_duration),
                "RPO objective": measured["rpo_objective_seconds"].map(human_duration),
                "RPO met": _met(measured["rpo_seconds"], measured["rpo_objective_seconds"]),
            }
        )
    n_ok = int(tests["status"].isin(["PASS", "PASS_WEAK"]).sum()) if len(tests) else 0
    return headline(
        title="Restore test (REL09-BP04)",
        checked=f"{len(tests)} restore test(s) of {len(selection)} selected resource(s)",
        counts=count_by(tests["status"]) if len(tests) else {},
        red=red,
        measures=measures,
        amber=len(tests) == 0,
        summary=f"{n_ok} of {len(tests)} restored and checked out"
        if len(tests)
        else "no restore test ran (dry run, or nothing due)",
    )


def _met(measured: pd.Series, objective: pd.Series) -> list[str]:
    return [
        "" if is_missing(m) or is_missing(o) else "yes" if float(m) <= float(o) else "NO"
        for m, o in zip(measured, objective, strict=True)
    ]


def incident_headline(plan: Any, result: pd.DataFrame) -> Headline:
    """05: the plan's status, or the restore's."""
    status = plain(result["status"].iloc[0]) if len(result) else "PLANNED"
    red = []
    if status in ("BLOCKED", "FAILED"):
        detail = plain(result.get("detail", result.get("error", pd.Series([""]))).iloc[0])
        red = [Red(what=f"{status}: {detail}", fix="fix the parameters (source_arn, "
                   "restore_time, recovery_point, target_name) and run again")]  # fmt: skip
    return headline(
        title="Incident restore",
        checked=f"{plan.ref.service} {short_name(plan.ref.arn)} -> {plan.target_name}",
        counts={status: 1},
        red=red,
        amber=status == "PLANNED",
        summary={"PLANNED": "plan only: approve=True restores",
                 "RESTORED": "restored: work through the hand-over list below"}.get(status, status),
    )  # fmt: skip


def audit_headline(findings: Any) -> Headline:
    """06: findings by status; red: each failing control with its count and remediation."""
    failed = findings.failed()
    f = findings.table()
    judged = f[f.status.isin(["PASS", "FAIL", "ERROR"])]
    rate = f"{100 * (judged.status == 'PASS').mean():.1f}%" if len(judged) else "n/a"
    return headline(
        title="Audit (REL09-BP01..BP04)",
        checked=f"{len(findings.controls)} controls on "
        f"{f['arn'].nunique() if 'arn' in f else '?'} resources: {len(f)} results",
        counts=count_by(f["status"]),
        red=grouped_red(failed, ["severity", "control_id"], "remediation", label="{} {}"),
        summary=f"pass rate {rate}; {len(failed)} FAIL/ERROR result(s)",
    )


def trends_headline(history: Any) -> Headline:
    """07: how much history there is and what it can show (a trend needs two runs)."""
    runs = history.runs()
    n = {str(t): int(r["runs"]) for t, r in runs.iterrows()}
    short = [t for t, r in runs.iterrows() if r["trend"] != "yes"]
    return headline(
        title="Trends (REL09-BP04)",
        checked="ledger tables " + ", ".join(f"{t} ({k} run{'' if k == 1 else 's'})" for t, k in n.items()),
        counts={"tables with a trend": len(runs) - len(short), "too short": len(short)},
        amber=bool(short),
        summary="every table has a trend"
        if not short
        else "no trend yet for "
        + ", ".join(f"{t} ({'one run' if n[t] == 1 else 'no run'})" for t in short),
        notes=history.notes(),
    )  # fmt: skip


POST_INCIDENT_FIX = {
    "UNRECOVERABLE": "rebuild that data another way; close the gap with inventory (01) and "
    "protect (02)",
    "RPO_BREACHED": "the schedule or mechanism is too weak for the tier: protect (02)",
    "NOT_FOUND": "check the ARN given in resources",
}


def post_incident_headline(rv: Any) -> Headline:
    """08: resources by recoverability; red: what could not be recovered within the RPO."""
    s = rv.summary
    red = grouped_red(_rows(s, "status", POST_INCIDENT_FIX), "status", "status", label="{}")
    red = [Red(what=r.what, fix=POST_INCIDENT_FIX[r.what], count=r.count) for r in red]
    w = rv.window
    return headline(
        title="Post-incident review",
        checked=f"{len(s)} resource(s) for the incident window {plain(w.start)} to {plain(w.end)}",
        counts={k: v for k, v in rv.counts().items() if v},
        red=red,
        summary=rv.headline_text(),
        notes=[f"{len(rv.known_risks)} FAIL finding(s) were known before the incident"
               if len(rv.known_risks) else ""],
    )  # fmt: skip


@dataclass(frozen=True)
class Bullets:
    """Plain sentences as a bulleted list (HTML) or one per line (text)."""

    lines: tuple[str, ...]

    def _repr_html_(self) -> str:
        if not self.lines:
            return "<p>none</p>"
        return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in self.lines) + "</ul>"

    def __repr__(self) -> str:
        return "\n".join(f"- {x}" for x in self.lines) or "none"


def bullets(lines: Iterable[Any]) -> Bullets:
    return Bullets(tuple(plain(x) for x in lines if plain(x)))


def integer_axis(largest: Any) -> dict[str, Any]:
    """Plotly axis settings for a count: whole-number ticks from 0 (about 8 of them)."""
    top = 0 if is_missing(largest) else max(int(math.ceil(float(largest))), 1)
    return {
        "tick0": 0,
        "dtick": max(1, math.ceil(top / 8)),
        "tickformat": "d",
        "rangemode": "tozero",
    }
