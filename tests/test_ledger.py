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
    led.append("inventory", [{"arn": "arn:a", "tags": {"k": "v é"}, "size": 3}], "run-1")
    led.append("inventory", pd.DataFrame([{"arn": "arn:b", "tags": {}, "size": 5}]), "run-2")
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
        led.append("restore_tests", [{"who": who, "i": i}], f"run-{who}")


def test_two_concurrent_writers_never_corrupt(tmp_path):
    base = str(tmp_path / "ledger")
    procs = [mp.get_context("spawn").Process(target=_writer, args=(base, 40, w)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    df = Ledger(base).read("restore_tests")
    assert len(df) == 80
    assert df.groupby("who")["i"].nunique().to_dict() == {1: 40, 2: 40}


def test_run_ids_sort_by_time_and_are_unique():
    ids = {new_run_id() for _ in range(100)}
    assert len(ids) == 100
