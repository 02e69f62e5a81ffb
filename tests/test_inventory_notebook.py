"""The inventory runbook under papermill, on the session's seeded sandbox (it only reads)."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_sandbox.seed import demo_estate

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_inventory.ipynb"


@pytest.mark.notebook
def test_inventory_notebook_records_the_estate(shared_sandbox_url, tmp_path):
    ledger = tmp_path / "ledger"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={
            "ledger_location": str(ledger),
            "run_id": "nb-run",
            "as_of": "2030-01-01T00:00:00Z",
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    inventory = Ledger(str(ledger)).read("inventory")
    found = set(map(tuple, inventory[["account", "region", "service", "name"]].values))
    for d in demo_estate(load_params("sandbox")):
        assert (d.account, d.region, d.service, d.name) in found
    assert (inventory.run_id == "nb-run").all()
    assert str(inventory.as_of.iloc[0]).startswith("2030-01-01")
    gaps = Ledger(str(ledger)).read("gaps")
    # the gap codes are the audit's control ids (was no_backup, unclassified, not_encrypted, no_cmk)
    assert {
        "resource_backed_up_or_reproducible",
        "resource_classified",
        "resource_encrypted_at_rest",
        "resource_cmk_when_required",
    } <= set(gaps.gap)
    carts = gaps[(gaps.name == "carts") & (gaps.gap == "dynamodb_pitr_enabled")]
    assert carts.closed_by.tolist() == [
        'notebooks/02_protect.ipynb: plan step "point-in-time recovery"'
    ]


def test_every_params_key_is_a_notebook_parameter():
    declared = set(pm.inspect_notebook(str(NOTEBOOK)))
    assert {
        "params_file",
        "ledger_location",
        "run_id",
        "as_of",
        "services",
        "record_to_ledger",
    } == declared
