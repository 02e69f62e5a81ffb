"""The trends runbook under papermill: it reads only the ledger, and says plainly when there
is not enough history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

from runbook_lib.ledger import Ledger

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_trends.ipynb"


def _outputs(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts.append(str(data.get("text/plain", "")) + str(data.get("text/html", "")))
            parts.append(str(data.get("application/vnd.plotly.v1+json", "")))
    return "\n".join(parts)


@pytest.mark.notebook
def test_trends_notebook_on_a_short_history(shared_sandbox_url, tmp_path):
    ledger = Ledger(str(tmp_path / "ledger"))
    now = datetime.now(UTC)
    for i, passed in enumerate((2, 3)):
        when = pd.Timestamp(now - timedelta(days=2 - i))
        rows = [
            {"control_id": "x", "practice": "REL09-BP03", "status": "PASS", "as_of": when}
        ] * passed
        rows += [{"control_id": "x", "practice": "REL09-BP03", "status": "FAIL", "as_of": when}] * (
            4 - passed
        )
        ledger.append("findings", rows, f"audit-{i}")
    ledger.append(
        "restore_tests",
        [
            {
                "test_id": "t1",
                "resource_arn": "arn:aws:dynamodb:eu-west-1:111111111111:table/orders",
                "service": "dynamodb",
                "tier": "gold",
                "status": "PASS",
                "verdict": "PASS",
                "restore_end": now - timedelta(hours=1),
                "rto_seconds": 42.0,
                "rpo_seconds": 900.0,
            }
        ],
        "restore-1",
    )
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"ledger_location": str(ledger.location), "since": "30d"},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    text = _outputs(out)
    assert "no history yet: no run recorded" in text  # the inventory table is empty
    assert "not enough history: 1 run recorded" in text  # one restore-test run
    assert "75.0" in text and "50.0" in text  # the findings pass rate of each audit run
    assert "no inventory run in the ledger yet" in text


def test_trends_notebook_parameters():
    assert set(pm.inspect_notebook(str(NOTEBOOK))) == {
        "params_file",
        "ledger_location",
        "run_id",
        "as_of",
        "since",
    }
