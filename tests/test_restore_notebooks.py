"""Papermill runs of the restore notebooks; assertions on the ledger and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import papermill as pm

import runbook_lib.restore as R
from runbook_lib.context import start

NB = Path(__file__).resolve().parents[1] / "notebooks"


def run(name: str, out: Path, **parameters) -> str:
    """Execute a notebook; the text of its outputs."""
    executed = pm.execute_notebook(
        str(NB / name),
        str(out / name),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
    )
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def test_restore_test_notebook_records_every_test_and_leaves_nothing(shared_sandbox_url, tmp_path):
    ledger = tmp_path / "ledger"
    run("04_restore_test.ipynb", tmp_path, ledger_location=str(ledger), dry_run=True)
    assert not (ledger / "restore_tests").exists()  # dry run: selection only

    run(
        "04_restore_test.ipynb",
        tmp_path,
        ledger_location=str(ledger),
        services=["dynamodb", "rds", "opensearch"],
    )
    tests = pd.read_parquet(ledger / "restore_tests")
    assert set(tests["service"]) == {"dynamodb", "rds", "opensearch"}
    by = tests.set_index("resource_name")
    assert by.loc["orders", "status"] in (R.PASS_WEAK, R.PASS, R.FAIL)
    assert (
        by.loc["orders", "records_found"] >= 3000
        and by.loc["orders", "cleanup_status"] == "DELETED"
    )
    assert by.loc["shop-search", "status"] == R.NOT_RESTORABLE
    assert by.loc["sessions.v2", "status"] == R.NO_RECOVERY_POINT  # the seeded gap
    assert (tests.loc[tests["restore_end"].notna(), "rto_seconds"] > 0).all()
    rb = start("sandbox", ledger_location=str(ledger), setup_display=False)
    assert R.find_scratch(rb, as_of=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=400)).empty


def test_incident_notebook_plans_by_default_and_restores_when_approved(fresh_sandbox, tmp_path):
    rb = start("sandbox", ledger_location=str(tmp_path / "ledger"), setup_display=False)
    ddb = rb.session.client("dynamodb", "111111111111", "eu-west-1")
    tables = ddb.list_tables()["TableNames"]
    run("05_restore.ipynb", tmp_path, ledger_location=str(tmp_path / "ledger"))
    assert ddb.list_tables()["TableNames"] == tables  # approve=False: plan only
    # approved but no source named: an example plan, never a restore (it used to restore the
    # strictest-tier table when `runbook run --approve` ran every runbook)
    out = run("05_restore.ipynb", tmp_path, ledger_location=str(tmp_path / "ledger"), approve=True)
    assert ddb.list_tables()["TableNames"] == tables
    assert "no source_arn given: an incident restore happens only" in out

    arn = ddb.describe_table(TableName="carts")["Table"]["TableArn"]
    ddb.create_backup(TableName="carts", BackupName="carts-before-incident")
    run("05_restore.ipynb", tmp_path, ledger_location=str(tmp_path / "ledger"), source_arn=arn,
        target_name="carts-incident", approve=True)  # fmt: skip
    t = ddb.describe_table(TableName="carts-incident")["Table"]
    assert t["TableStatus"] == "ACTIVE" and t["ItemCount"] == 800
    rows = pd.read_parquet(tmp_path / "ledger" / "incident_restores")
    assert len(rows) == 1  # the plan-only run wrote nothing
    row = rows.iloc[0]
    assert (row["source_arn"], row["target_name"], row["status"]) == (
        arn,
        "carts-incident",
        "COMPLETED",
    )
