"""The ledger: append-only Parquet, readable with plain pandas/pyarrow, safe under
concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
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


# ------------------------------------------------------------------ reads with filters


def _write_at(base, table: str, rows: list[dict], run_id: str, when: str, name: str = "") -> Path:
    """A file as an append on ``when``'s day would have written it (recorded_at = when)."""
    import pyarrow.parquet as pq

    from runbook_lib.ledger_schema import conform

    df = pd.DataFrame(rows).assign(run_id=run_id, recorded_at=pd.Timestamp(when))
    path = Path(base) / table / f"date={when[:10]}" / (name or f"{run_id}-x.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(conform(table, df), path)
    return path


def _history(base) -> Ledger:
    for i, when in enumerate(
        ("2026-01-10T08:00:00Z", "2026-02-10T08:00:00Z", "2026-03-10T08:00:00Z")
    ):
        rows = [
            {"test_id": f"t{i}-{k}", "service": "s3", "rto_seconds": float(k)} for k in range(3)
        ]
        _write_at(base, "restore_tests", rows, f"run-{i}", when)
    return Ledger(str(base))


def test_read_pushes_columns_time_range_and_run_ids_down(tmp_path):
    led = _history(tmp_path)
    everything = led.read("restore_tests")
    assert len(everything) == 9 and "rto_objective_seconds" in everything
    assert everything.test_id.tolist()[:3] == ["t0-0", "t0-1", "t0-2"]  # oldest first
    only = led.read("restore_tests", columns=["test_id", "run_id"])
    assert only.columns.tolist() == ["test_id", "run_id"] and len(only) == 9
    recent = led.read("restore_tests", since="2026-02-01", columns=["test_id"])
    assert sorted(recent.test_id) == [f"t{i}-{k}" for i in (1, 2) for k in range(3)]
    window = led.read("restore_tests", since="2026-02-10T08:00:00Z", until="2026-02-10T08:00:00Z")
    assert set(window.run_id) == {"run-1"}  # bounds included
    runs = led.read("restore_tests", run_ids=["run-0", "run-2"], columns=["run_id"])
    assert sorted(set(runs.run_id)) == ["run-0", "run-2"]
    none = led.read("restore_tests", run_ids=[], columns=["test_id"])
    assert none.empty and none.columns.tolist() == ["test_id"]


def test_time_range_does_not_open_files_outside_it(tmp_path):
    """A day folder outside the range is never opened: an unreadable file there does not
    matter to a read of the range, and breaks a read of everything."""
    led = _history(tmp_path)
    bad = tmp_path / "restore_tests" / "date=2025-06-01" / "broken.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"not parquet at all")
    assert len(led.read("restore_tests", since="2026-01-01")) == 9
    assert len(led.read("restore_tests", until="2025-05-30")) == 0
    with pytest.raises(Exception, match="(?i)parquet"):
        led.read("restore_tests")


def test_in_flight_files_stay_invisible(tmp_path):
    led = _history(tmp_path)
    folder = tmp_path / "restore_tests" / "date=2026-03-10"
    (folder / ".run-9-x.parquet.tmp").write_bytes(b"half a file")
    (folder / ".compacted-1.parquet.tmp").write_bytes(b"half a file")
    (folder / "_partial.parquet").write_bytes(b"half a file")
    assert len(led.read("restore_tests")) == 9
    assert len(pd.read_parquet(tmp_path / "restore_tests")) == 9  # the documented outside read


def test_read_refuses_bad_filters_with_the_field_named(tmp_path):
    led = _history(tmp_path)
    with pytest.raises(RunbookError, match=r"column\(s\) \['nope'\] unknown; allowed: test_id"):
        led.read("restore_tests", columns=["test_id", "nope"])
    with pytest.raises(RunbookError, match="since 'last tuesday' is not a time"):
        led.read("restore_tests", since="last tuesday")
    with pytest.raises(RunbookError, match="since .* is after until"):
        led.read("restore_tests", since="2026-03-01", until="2026-02-01")
    with pytest.raises(RunbookError, match="unknown table 'restore_test'; allowed"):
        led.read("restore_test")
    with pytest.raises(RunbookError, match="run_ids must be text"):
        led.read("restore_tests", run_ids=[1])


# ------------------------------------------------------------------ compaction


def _files(base, table="restore_tests") -> list[str]:
    return sorted(str(p.relative_to(base)) for p in (Path(base) / table).rglob("*") if p.is_file())


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["run_id", "test_id"], ignore_index=True)


def test_compacting_a_day_keeps_every_row_unchanged(tmp_path):
    led = Ledger(str(tmp_path))
    for i in range(6):
        rows = [{"test_id": f"t{i}", "rto_met": True if i % 2 else None, "records_found": i or None,
                 "checks": [{"check": "fingerprint", "status": "PASS"}], "restore_end": "2026-12-01T10:00:00Z"}]  # fmt: skip
        led.append("restore_tests", rows, f"run-{i}")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    before, files = led.read("restore_tests"), _files(tmp_path)
    dry = led.compact("restore_tests", day=day, dry_run=True)
    assert dry.status == "dry run" and dry.files == 6 and dry.before.count == 6
    assert _files(tmp_path) == files  # a dry run changes nothing
    done = led.compact("restore_tests", day=day)
    assert done.status == "compacted" and done.before.matches(done.after)
    assert len(done.removed) == 6 and done.written.endswith(".parquet")
    left = _files(tmp_path)
    assert len(left) == 1 and "/compacted-" in left[0]
    pd.testing.assert_frame_equal(_sorted(led.read("restore_tests")), _sorted(before))
    again = led.compact("restore_tests", day=day)
    assert again.status == "nothing to compact" and _files(tmp_path) == left


def test_compacting_a_month_and_reading_it_by_time(tmp_path):
    led = _history(tmp_path)
    _write_at(tmp_path, "restore_tests", [{"test_id": "t1-late"}], "run-3", "2026-02-20T09:00:00Z")
    _write_at(tmp_path, "restore_tests", [{"test_id": "t1-later"}], "run-4", "2026-02-27T09:00:00Z")
    before = led.read("restore_tests")
    done = led.compact("restore_tests", month="2026-02")
    assert done.files == 3 and done.before.count == 5 and done.after.count == 5
    assert [f for f in _files(tmp_path) if "2026-02" in f][0].startswith(
        "restore_tests/date=2026-02/"
    )
    pd.testing.assert_frame_equal(_sorted(led.read("restore_tests")), _sorted(before))
    # a merged month is read for any range that touches the month, rows filtered exactly
    late = led.read("restore_tests", since="2026-02-15", until="2026-02-21", columns=["test_id"])
    assert late.test_id.tolist() == ["t1-late"]
    assert len(led.read("restore_tests", since="2026-03-01")) == 3
    assert len(pd.read_parquet(tmp_path / "restore_tests")) == 11  # outside readers too


def test_compaction_refuses_when_the_merged_file_differs(tmp_path, monkeypatch):
    import runbook_lib.ledger as ledger_mod

    led = _history(tmp_path)
    _write_at(tmp_path, "restore_tests", [{"test_id": "t0-late"}], "run-5", "2026-01-20T09:00:00Z")
    files, before = _files(tmp_path), led.read("restore_tests")
    real = ledger_mod._encode

    def lossy(table, sources):  # a writer that drops a row on the way
        return real(table.slice(1), sources)

    monkeypatch.setattr(ledger_mod, "_encode", lossy)
    with pytest.raises(ledger_mod.CompactionRefused, match="3 rows .* hold 4"):
        led.compact("restore_tests", month="2026-01")
    assert _files(tmp_path) == files  # nothing written, nothing removed, no lock left
    pd.testing.assert_frame_equal(led.read("restore_tests"), before)

    def changed(table, sources):  # same count, one value changed
        col = table.column_names.index("rto_seconds")
        return real(table.set_column(col, "rto_seconds", pa.array([9.5] * len(table))), sources)

    monkeypatch.setattr(ledger_mod, "_encode", changed)
    with pytest.raises(ledger_mod.CompactionRefused, match="4 rows .* hold 4"):
        led.compact("restore_tests", month="2026-01")
    assert _files(tmp_path) == files


def test_compaction_refuses_a_file_it_would_change(tmp_path):
    import pyarrow.parquet as pq

    led = _history(tmp_path)
    odd = tmp_path / "restore_tests" / "date=2026-01-10" / "old-x.parquet"
    pq.write_table(pa.table({"test_id": ["o"], "legacy": [1]}), odd)
    files = _files(tmp_path)
    with pytest.raises(
        RunbookError, match="old-x.parquet has column 'legacy', not in the declared"
    ):
        led.compact("restore_tests", day="2026-01-10")
    assert _files(tmp_path) == files


def test_compaction_arguments_are_checked(tmp_path):
    led = _history(tmp_path)
    with pytest.raises(RunbookError, match="exactly one of day"):
        led.compact("restore_tests")
    with pytest.raises(RunbookError, match="day '2026-13-01' is not Y-m-d"):
        led.compact("restore_tests", day="2026-13-01")
    with pytest.raises(RunbookError, match="month '2026-2' is not Y-m"):
        led.compact("restore_tests", month="2026-2")
    lock = tmp_path / "restore_tests" / ".compact.lock"
    lock.write_text("another")
    with pytest.raises(RunbookError, match="another compaction of this table is running"):
        led.compact("restore_tests", month="2026-01")


def test_a_compaction_stopped_before_removing_its_files_is_read_once_and_finished(
    tmp_path, monkeypatch
):
    import runbook_lib.ledger as ledger_mod

    led = _history(tmp_path)
    _write_at(tmp_path, "restore_tests", [{"test_id": "t0-late"}], "run-5", "2026-01-20T09:00:00Z")
    monkeypatch.setattr(ledger_mod._LocalStore, "delete", lambda self, table, names: None)
    led.compact("restore_tests", month="2026-01")  # killed before it removed the sources
    monkeypatch.undo()
    assert len(_files(tmp_path)) == 5  # 2 merged + their copy + 2 other months
    assert len(led.read("restore_tests")) == 10  # the merged rows are read once
    done = led.compact("restore_tests", month="2026-01")
    assert done.status == "nothing to compact" or done.status == "compacted"
    assert len(_files(tmp_path)) == 3 and len(led.read("restore_tests")) == 10


def _append_slowly(base: str, n: int, who: int) -> None:
    led = Ledger(base)
    for i in range(n):
        led.append("restore_tests", [{"account": str(who), "test_id": str(i)}], f"run-{who}")
        time.sleep(0.01)


def test_compaction_while_writers_append_loses_and_doubles_nothing(tmp_path):
    """Four writer processes append to today's folder while it is compacted again and again
    and read in between: no read sees a row twice, and at the end every row is there once."""
    base = str(tmp_path / "ledger")
    led = Ledger(base)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_slowly, args=(base, 30, w)) for w in range(4)]
    for p in procs:
        p.start()
    compactions, reads = 0, 0
    deadline = time.monotonic() + 120
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        if (Path(base) / "restore_tests").is_dir():
            done = led.compact("restore_tests", day=day)
            compactions += done.status == "compacted"
            df = led.read("restore_tests", columns=["account", "test_id"])
            reads += 1
            assert not df.duplicated().any()
        time.sleep(0.05)
    for p in procs:
        p.join(30)
    led.compact("restore_tests", day=day)
    df = led.read("restore_tests")
    assert compactions >= 2 and reads >= 2
    assert len(df) == 120 and not df[["account", "test_id"]].duplicated().any()
    assert len(_files(base)) == 1


def test_s3_ledger_reads_with_filters_and_compacts(monkeypatch):
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="ledger-bucket")
        led = Ledger("s3://ledger-bucket/ledger", s3)
        for i in range(4):
            led.append("findings", [{"control_id": f"c{i}", "status": "PASS"}], f"audit-{i}")
        assert len(led.read("findings")) == 4
        some = led.read("findings", run_ids=["audit-1"], columns=["control_id"])
        assert some.control_id.tolist() == ["c1"]
        assert led.read("findings", since="2099-01-01").empty
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        before = led.read("findings")
        done = led.compact("findings", day=day)
        assert done.status == "compacted" and done.before.matches(done.after)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ledger-bucket")["Contents"]]
        assert len(keys) == 1 and "/compacted-" in keys[0]
        pd.testing.assert_frame_equal(
            led.read("findings").sort_values("control_id", ignore_index=True),
            before.sort_values("control_id", ignore_index=True),
        )
        s3.put_object(Bucket="ledger-bucket", Key="ledger/findings/.compact.lock", Body=b"")
        with pytest.raises(RunbookError, match="another compaction"):
            led.compact("findings", day=day)


def test_cli_ledger_compact(tmp_path, capsys):
    from runbook_lib.cli import main

    _history(tmp_path)
    _write_at(tmp_path, "restore_tests", [{"test_id": "t0-late"}], "run-5", "2026-01-20T09:00:00Z")
    args = ["ledger", "compact", "--ledger", str(tmp_path), "--table", "restore_tests"]
    assert main([*args, "--month", "2026-01", "--dry-run"]) == 0
    assert "dry run: 4 rows in 2 file(s)" in capsys.readouterr().out
    assert len(_files(tmp_path)) == 4
    assert main([*args, "--month", "2026-01"]) == 0
    out = capsys.readouterr().out
    assert "compacted: 4 rows in 2 file(s)" in out and "(equal); 2 file(s) removed" in out
    assert len(_files(tmp_path)) == 3
    assert main([*args, "--month", "January"]) == 2
    assert "month 'January' is not Y-m" in capsys.readouterr().err


def test_row_fingerprint_ignores_order_and_sees_every_change():
    from runbook_lib.ledger import fingerprint_rows

    t = pa.table({"a": ["x", None, "", "x"], "n": pa.array([1, None, 3, 1], pa.int64()),
                  "ok": [True, None, False, True], "f": [0.5, 1.5, None, 0.5]})  # fmt: skip
    fp = fingerprint_rows(t)
    assert fp.count == 4
    assert fingerprint_rows(t.take([3, 2, 1, 0])).matches(fp)  # order does not matter
    halves = fingerprint_rows(pa.concat_tables([t.slice(0, 2), t.slice(2)]))
    assert halves.matches(fp)
    assert not fingerprint_rows(t.slice(1)).matches(fp)  # a row fewer (an equal row remains)
    for col, values in (("a", ["x", "", "", "x"]), ("n", [1, 0, 3, 1]), ("ok", [True, False, False, True]),
                        ("f", [0.5, 1.5, 0.0, 0.5])):  # fmt: skip
        changed = t.set_column(
            t.column_names.index(col), col, pa.array(values, t.schema.field(col).type)
        )
        assert not fingerprint_rows(changed).matches(fp), col
