"""The ledger: append-only Parquet, readable with plain pandas/pyarrow, safe under
concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pyarrow.dataset as ds
import pytest

from runbook_lib.errors import RunbookError
from runbook_lib.ledger import Ledger, new_run_id


def test_append_and_read_back(tmp_path):
    led = Ledger(str(tmp_path / "ledger"))
    led.append("inventory", [{"arn": "arn:a", "tags": {"k": "v é"}, "size_bytes": 3}], "run-1")
    led.append("inventory", pd.DataFrame([{"arn": "arn:b", "tags": {}, "size_bytes": 5}]), "run-2")
    df = led.read("inventory")
    assert sorted(df["arn"]) == ["arn:a", "arn:b"]
    assert set(df["run_id"]) == {"run-1", "run-2"}
    assert df.loc[df.arn == "arn:a", "tags"].item() == '{"k": "v é"}'  # JSON text, portable
    # readable without this project's code
    table = ds.dataset(
        str(tmp_path / "ledger" / "inventory"), format="parquet", partitioning="hive"
    ).to_table()
    assert table.num_rows == 2


def test_empty_rows_write_nothing_and_unknown_table_is_refused(tmp_path):
    led = Ledger(str(tmp_path))
    assert led.append("findings", [], "r") is None
    assert led.read("findings").empty
    with pytest.raises(RunbookError, match="unknown table 'inventry'"):
        led.append("inventry", [{"a": 1}], "r")


def _writer(base: str, n: int, who: int) -> None:
    led = Ledger(base)
    for i in range(n):
        led.append("restore_tests", [{"account": str(who), "test_id": str(i)}], f"run-{who}")


def test_two_concurrent_writers_never_corrupt(tmp_path):
    base = str(tmp_path / "ledger")
    procs = [mp.get_context("spawn").Process(target=_writer, args=(base, 40, w)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    df = Ledger(base).read("restore_tests")
    assert len(df) == 80
    assert df.groupby("account")["test_id"].nunique().to_dict() == {"1": 40, "2": 40}


def test_run_ids_sort_by_time_and_are_unique():
    ids = {new_run_id() for _ in range(100)}
    assert len(ids) == 100


def test_declared_schema_fixes_types_across_runs_and_refuses_undeclared_columns(tmp_path):
    """A column empty in one run and filled in the next keeps one type, so pandas reads the
    table's folder in one call; a column nobody declared is refused."""
    base = tmp_path / "ledger"
    led = Ledger(str(base))
    led.append("post_incident", [{"arn": "arn:a", "data_loss_seconds": None, "rpo_met": None,
                                  "continuous_earliest": None}], "run-1")  # fmt: skip
    led.append("post_incident", [{"arn": "arn:b", "data_loss_seconds": 12, "rpo_met": True,
                                  "continuous_earliest": "2026-12-01T10:00:00Z"}], "run-2")  # fmt: skip
    df = pd.read_parquet(base / "post_incident")
    assert len(df) == 2 and df["data_loss_seconds"].dtype == "float64"
    assert str(df["continuous_earliest"].dtype).startswith("datetime64")
    with pytest.raises(RunbookError, match=r"column\(s\) \['surprise'\] are not in its declared"):
        led.append("gaps", [{"arn": "arn:a", "surprise": 1}], "run-3")
    with pytest.raises(RunbookError, match="column 'rpo_seconds': values do not fit"):
        led.append("inventory", [{"arn": "arn:a", "rpo_seconds": "an hour"}], "run-3")


def test_docs_ledger_md_is_generated_from_the_schema():
    from runbook_lib.ledger_schema import SCHEMA, render_docs
    from runbook_lib.params import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    assert render_docs(text) == text, "run: python -m runbook_lib.ledger_schema docs/ledger.md"
    for table in SCHEMA:
        assert f"### {table}\n" in text
