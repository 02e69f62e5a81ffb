"""The backup_now runbook under papermill: approved on a fresh sandbox, rows in the ledger."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from runbook_lib import backup_now
from runbook_lib.ledger import Ledger

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_backup_now.ipynb"


@pytest.mark.notebook
def test_backup_now_notebook_records_recovery_points(fresh_sandbox, tmp_path):
    ledger = tmp_path / "ledger"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"ledger_location": str(ledger), "run_id": "nb-backup", "approve": True},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    rows = Ledger(str(ledger)).read("backups")
    assert len(rows) == 5 and set(rows.status) == {"COMPLETED"} and set(rows.tier) == {"gold"}
    assert rows.recovery_point_arn.str.contains(":recovery-point:").all()
    table = rows.set_index("resource_name").loc["orders"]
    fp = backup_now.read_sidecar(table.fingerprint_location)
    assert fp.count == table.fingerprint_count > 3000 and fp.hexdigest == table.fingerprint_digest


def test_default_run_only_plans(shared_sandbox_url, tmp_path):
    ledger = tmp_path / "ledger"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"ledger_location": str(ledger)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    assert Ledger(str(ledger)).read("backups").empty
    assert "PLANNED" in (tmp_path / "out.ipynb").read_text()


def test_notebook_parameters():
    assert set(pm.inspect_notebook(str(NOTEBOOK))) == {
        "params_file",
        "ledger_location",
        "run_id",
        "as_of",
        "approve",
        "arns",
        "tag_filter",
        "write_canary",
        "method",
        "timeout_seconds",
    }
