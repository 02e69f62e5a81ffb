"""The protect runbook under papermill: approved on a fresh sandbox, then the plan is empty."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from runbook_lib import protect
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.session import AwsSession

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_protect.ipynb"


@pytest.mark.notebook
def test_protect_notebook_applies_when_approved(fresh_sandbox, tmp_path):
    ledger = tmp_path / "ledger"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"ledger_location": str(ledger), "run_id": "nb-protect", "approve": True},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    rows = Ledger(str(ledger)).read("protect_actions")
    assert (rows.run_id == "nb-protect").all()
    assert (rows.status == "APPLIED").sum() > 50 and not rows.status.isin(
        ["FAILED", "NOT_RUN"]
    ).any()
    assert set(rows.status) <= {"APPLIED", "MANUAL", "NOT_SUPPORTED_ON_SANDBOX"}
    session = AwsSession(load_params("sandbox"), endpoint_url=fresh_sandbox)
    ctx = RunContext(session.params, session, Ledger(str(ledger)), "check", None)
    assert protect.plan(ctx).is_empty
    out = (tmp_path / "out.ipynb").read_text()
    assert "nothing left to apply" in out


def test_notebook_parameters_and_schedule():
    declared = set(pm.inspect_notebook(str(NOTEBOOK)))
    assert declared == {
        "params_file",
        "ledger_location",
        "run_id",
        "as_of",
        "approve",
        "approve_irreversible",
    }
