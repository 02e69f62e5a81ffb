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


def test_run_archive_on_s3_is_uploaded_not_a_local_folder(fresh_sandbox, tmp_path, monkeypatch):
    """Uploaded under S3 Object Lock as the params ask, and verifiable where it lies."""
    import yaml

    from runbook_lib.archive import verify
    from runbook_lib.cli import main
    from runbook_lib.params import load_params, params_dir
    from runbook_lib.session import AwsSession

    d = yaml.safe_load((params_dir() / "sandbox.yaml").read_text())
    d.update(
        run_archive="s3://evidence-archive/runs",
        ledger=str(tmp_path / "ledger"),
        run_archive_lock={"mode": "governance", "days": 1},
    )
    f = tmp_path / "s3-archive.yaml"
    f.write_text(yaml.safe_dump(d))
    s3 = AwsSession(load_params(f), endpoint_url=fresh_sandbox).client("s3", "111111111111")
    s3.create_bucket(
        Bucket="evidence-archive",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )
    monkeypatch.chdir(tmp_path)
    result = run_notebooks(str(f), ["inventory"])
    assert result.ok, result.notebooks
    assert result.folder == f"s3://evidence-archive/runs/{result.run_id}"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="evidence-archive")["Contents"]}
    run = f"runs/{result.run_id}"
    assert {f"{run}/01_inventory.ipynb", f"{run}/01_inventory.html", f"{run}/run.json"} <= keys
    summary = json.loads(
        s3.get_object(Bucket="evidence-archive", Key=f"{run}/run.json")["Body"].read()
    )
    assert summary["notebooks"][0]["output"] == f"s3://evidence-archive/{run}/01_inventory.ipynb"
    assert not (tmp_path / "s3:").exists() and not any(tmp_path.rglob("s3:*"))
    assert f"{run}/exports/inventory.csv" in keys
    html = s3.get_object(Bucket="evidence-archive", Key=f"{run}/01_inventory.html")
    assert html["ObjectLockMode"] == "GOVERNANCE" and summary["object_lock"]["days"] == 1
    assert {f["path"] for f in summary["files"]} == {k[len(run) + 1 :] for k in keys} - {"run.json"}
    assert verify("s3://evidence-archive/runs", s3).ok
    assert main(["verify-archive", "s3://evidence-archive/runs", "--params", str(f)]) == 0
