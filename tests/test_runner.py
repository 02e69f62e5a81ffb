"""The demo path: papermill runs a runbook into a run folder with an executed notebook and
an HTML copy, and the HTML renders its chart in a real headless browser, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile

import nbformat
import pytest

from runbook_lib.runner import run_notebooks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def inventory_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    ledger = out / "ledger"
    return run_notebooks(
        "sandbox", ["inventory"], str(out), {"ledger_location": str(ledger)}
    ), ledger


def test_run_folder_holds_executed_notebook_html_and_summary(inventory_run):
    result, ledger = inventory_run
    assert result.ok, result.notebooks
    [nb] = result.notebooks
    executed = nbformat.read(nb.output, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs and not any(o.get("output_type") == "error" for o in outputs)
    summary = json.loads(open(f"{result.folder}/run.json").read())
    assert summary["run_id"] == result.run_id and summary["notebooks"][0]["status"] == "ok"
    assert nb.html and open(nb.html, encoding="utf-8").read().count("<html") == 1
    assert any((ledger / "inventory").rglob("*.parquet"))


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it when run as root)"
)
def test_html_report_renders_its_chart_offline_in_chromium(inventory_run):
    result, _ = inventory_run
    html = result.notebooks[0].html
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"file://{html}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert "plotly" in dom
    assert 'class="main-svg"' in dom, "plotly.js did not draw the chart (is the JS inlined?)"
