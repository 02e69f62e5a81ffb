"""The ledger's declared schema: every table's columns, their types and meanings (declared
as data in ``ledger_schema.json`` beside this module).

``Ledger.append`` conforms each write to it (a missing column is written as null, every
column is cast to its declared type, an undeclared column is an error), so a table's types
never drift between runs and ``pd.read_parquet(<ledger>/<table>)`` reads every file of it.
``docs/ledger.md``'s column tables are generated from here (``render_docs``) and a test
checks they agree. Besides these, the ledger adds ``run_id`` (text) and ``recorded_at``
(timestamp) to every row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

import pandas as pd
import pyarrow as pa

from runbook_lib import services as registry
from runbook_lib.errors import RunbookError

ARROW = {
    "text": pa.string(),
    "JSON text": pa.string(),
    "bool": pa.bool_(),
    "float": pa.float64(),
    "int": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of ARROW
    meaning: str


def _quoted(values) -> str:
    return ", ".join(f"`{v}`" for v in dict.fromkeys(values))


#: what ``{services}``, ``{native}``, ``{sources}`` and ``{fingerprint}`` stand for in a meaning
_NAMED = {
    "services": _quoted(registry.names()),
    "native": _quoted(s.native_backup for s in registry.specs().values() if s.native_backup),
    "sources": "a recovery-point source declared by a service (docs/restore.md, docs/services.md)",
    "fingerprint": "`runbook_lib.fingerprint` of the content at backup time ("
    + _quoted(s.fingerprint for s in registry.specs().values() if s.fingerprint)
    + "); empty where no data is read",
}


def _load() -> dict[str, list[Column]]:
    """The tables of ``ledger_schema.json`` (beside this module, read with importlib.resources):
    table -> ``[names, type, meaning]`` rows; ``names`` separated by spaces are columns of one
    type that share one meaning."""
    text = resources.files(__package__).joinpath("ledger_schema.json").read_text(encoding="utf-8")
    schema = {}
    for table, rows in json.loads(text).items():
        schema[table] = [
            Column(name=name, type=type_, meaning=_named(meaning))
            for names, type_, meaning in rows
            for name in names.split()
        ]
    return schema


def _named(meaning: str) -> str:
    for key, value in _NAMED.items():
        meaning = meaning.replace("{" + key + "}", value)
    return meaning


SCHEMA: dict[str, list[Column]] = _load()

ADDED = [
    Column(name="run_id", type="text", meaning="the run that wrote the row (added by the ledger)"),
    Column(
        name="recorded_at",
        type="timestamp",
        meaning="when the row was written (added by the ledger)",
    ),
]


def arrow_schema(table: str) -> pa.Schema:
    cols = SCHEMA[table] + ADDED
    return pa.schema([pa.field(c.name, ARROW[c.type]) for c in cols])


def conform(table: str, df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table of exactly the declared columns and types."""
    declared = {c.name: c for c in SCHEMA[table] + ADDED}
    extra = [c for c in df.columns if c not in declared]
    if extra:
        raise RunbookError(
            f"ledger: table {table!r}: column(s) {extra} are not in its declared schema "
            "(runbook_lib/ledger_schema.json); declare them there and regenerate docs/ledger.md"
        )
    out = {}
    for name, col in declared.items():
        s = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        out[name] = _cast(table, col, s)
    return pa.table(out, schema=arrow_schema(table))


def _cast(table: str, col: Column, s: pd.Series) -> pa.Array:
    kind = ARROW[col.type]
    try:
        if col.type == "timestamp":
            values = pd.to_datetime(s, utc=True, errors="raise", format="mixed")
            return pa.array(values, type=kind, from_pandas=True)
        if col.type == "float":
            return pa.array(
                pd.to_numeric(s, errors="raise").astype("float64"), type=kind, from_pandas=True
            )
        if col.type == "int":
            return pa.array(
                pd.to_numeric(s, errors="raise").astype("Int64"), type=kind, from_pandas=True
            )
        if col.type == "bool":
            values = [None if _missing(v) else bool(v) for v in s]
            return pa.array(values, type=kind)
        values = [None if _missing(v) else str(v) for v in s]
        return pa.array(values, type=kind)
    except (ValueError, TypeError, pa.ArrowException) as err:
        raise RunbookError(
            f"ledger: table {table!r}, column {col.name!r}: values do not fit its declared type "
            f"{col.type} ({type(err).__name__}: {str(err)[:200]})"
        ) from None


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def markdown(table: str) -> str:
    rows = ["| column | type | meaning |", "|---|---|---|"]
    rows += [f"| {c.name} | {c.type} | {c.meaning} |" for c in SCHEMA[table]]
    return "\n".join(rows)


_TABLE_RE = re.compile(r"(^### (\w+)\n(?:(?!^### |^\| ).*\n)*)((?:^\|.*\n?)+)", re.M)


def render_docs(text: str) -> str:
    """docs/ledger.md with each table section's column table rewritten from SCHEMA."""

    def one(m: re.Match) -> str:
        name = m.group(2)
        if name not in SCHEMA:
            return m.group(0)
        tail = "\n" if m.group(3).endswith("\n") else ""
        return m.group(1) + markdown(name) + tail

    return _TABLE_RE.sub(one, text)


if __name__ == "__main__":  # python -m runbook_lib.ledger_schema docs/ledger.md
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else "docs/ledger.md"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_docs(text))
