"""A fresh sandbox has lived through time: the restore-test runbook, run with its
defaults and nothing run before it (no backup_now), finds recovery points the schedules
made and proves content.

The history is on by default for a seeded sandbox (``RUNBOOK_SANDBOX_HISTORY``); the
test harness turns it off for the other tests, and on here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from runbook_lib.ledger import Ledger
from runbook_sandbox import ENV_URL
from runbook_sandbox.clock import ClockError
from runbook_sandbox.seed import DEFAULT_HISTORY, HISTORY_ENV, history_duration

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_restore_test.ipynb"


def test_the_history_setting(monkeypatch):
    assert history_duration("36h") == dt.timedelta(hours=36)
    for none in ("0", "off", "OFF", "no", ""):
        assert history_duration(none) is None
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    assert history_duration() == history_duration(DEFAULT_HISTORY) >= dt.timedelta(days=1)
    monkeypatch.setenv(HISTORY_ENV, "2d")
    assert history_duration() == dt.timedelta(days=2)
    with pytest.raises(ClockError, match=f"{HISTORY_ENV} .*soon.* or 0 / off"):
        history_duration("soon")


@pytest.mark.notebook
def test_fresh_sandbox_restore_test_with_defaults_proves_content(monkeypatch, tmp_path):
    from runbook_sandbox import clock
    from runbook_sandbox.server import running_sandbox

    monkeypatch.setenv(HISTORY_ENV, "1d")
    started = dt.datetime.now(dt.UTC)
    with running_sandbox("sandbox") as url:
        monkeypatch.setenv(ENV_URL, url)
        assert clock.now(endpoint_url=url) - started >= dt.timedelta(days=1)
        ledger = tmp_path / "ledger"
        pm.execute_notebook(
            str(NOTEBOOK),
            str(tmp_path / "out.ipynb"),
            parameters={"ledger_location": str(ledger)},  # else the defaults
            kernel_name="python3",
            cwd=str(tmp_path),
            progress_bar=False,
        )
        rows = Ledger(str(ledger)).read("restore_tests")
        ledger_rows = Ledger(str(ledger)).read("backups")

    assert ledger_rows.empty  # nothing recorded a backup: no backup_now ran
    proven = rows[rows.status == "PASS"]
    assert len(proven) >= 1, rows[["resource_name", "status", "reason"]].to_string()
    for row in proven.to_dict("records"):
        checks = {c["check"]: c["status"] for c in json.loads(row["checks"])}
        assert checks.get("fingerprint") == "PASS", row
        assert row["content_verdict"] == "PASS" and row["records_found"] > 0
        assert row["rpo_met"] and row["rpo_seconds"] < dt.timedelta(days=1).total_seconds()
    # the schedules made recovery points: restores from AWS Backup points the clock made
    from_backup = rows[rows.recovery_point_source == "aws-backup"]
    assert len(from_backup) >= 3
    assert set(from_backup.status) <= {"PASS", "PASS_WEAK"}, from_backup[
        ["resource_name", "status", "reason"]
    ].to_string()
    # the RPO was measured at the sandbox's time, a day ahead of this machine's
    tested = pd.to_datetime(rows.restore_end, utc=True).min().to_pydatetime()
    assert tested - started >= dt.timedelta(days=1)
