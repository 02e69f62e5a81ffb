"""Exports beside each run: every ledger table the run wrote as CSV and JSON, restore tests
in the shape of AWS Backup's RESTORE_JOB_REPORT (plus what it lacks), findings in the shapes
of CONTROL_COMPLIANCE_REPORT and RESOURCE_COMPLIANCE_REPORT; every column documented in
docs/evidence.md. Hand-built ledgers here; a real run in tests/test_exit_codes.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from runbook_lib import exports
from runbook_lib.ledger import Ledger

RUN = "20261202T101500Z-abc123"
OTHER = "20261202T101500Z-abc123-late"  # a run id that starts like RUN: never mixed in
T0 = datetime(2026, 12, 2, 10, 15, tzinfo=UTC)
SRC = "arn:aws:dynamodb:eu-west-1:111111111111:table/orders"
RP = "arn:aws:backup:eu-west-1:111111111111:recovery-point:RP-1"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "evidence.md"


def _test_row(**over):
    row = {
        "test_id": "rt-20261202t101600-aaaaaa",
        "account": "111111111111",
        "region": "eu-west-1",
        "service": "dynamodb",
        "resource_arn": SRC,
        "resource_name": "orders",
        "tier": "gold",
        "recovery_point_id": RP,
        "recovery_point_source": "aws-backup",
        "recovery_point_time": T0,
        "copy": "local",
        "recovery_point_region": "eu-west-1",
        "restore_start": T0,
        "restore_end": datetime(2026, 12, 2, 10, 16, tzinfo=UTC),
        "restore_seconds": 60.0,
        "validation_seconds": 2.5,
        "verdict": "PASS",
        "content_verdict": "PASS",
        "verdict_detail": "fingerprint=PASS",
        "evidence": ["fingerprint=PASS", "canary=PASS", "metadata:kms_key=PASS"],
        "checks": [
            {"check": "fingerprint", "status": "PASS", "detail": "120 records identical"},
            {"check": "canary", "status": "PASS", "detail": "canary present"},
            {"check": "metadata:kms_key", "status": "PASS", "detail": "same key"},
        ],
        "records_found": 120,
        "rto_seconds": 62.5,
        "rto_objective_seconds": 14400.0,
        "rto_met": True,
        "rpo_seconds": 600.0,
        "rpo_objective_seconds": 3600.0,
        "rpo_met": True,
        "status": "PASS",
        "reason": "content identical; RTO and RPO met",
        "scratch_name": "rt-orders-aaaaaa",
        "scratch_arn": "arn:aws:dynamodb:eu-west-1:111111111111:table/rt-orders-aaaaaa",
        "cleanup_status": "DELETED",
        "cleanup_detail": "deleted table rt-orders-aaaaaa",
    }
    row.update(over)
    return row


def _finding(control, status, severity="high", arn=SRC, region="eu-west-1", **over):
    row = {
        "control_id": control,
        "title": control.replace("_", " "),
        "practice": "REL09-BP04" if control.startswith("restore") else "REL09-BP01",
        "severity": severity,
        "account": "111111111111",
        "region": region,
        "service": "dynamodb",
        "arn": arn,
        "name": arn.rsplit("/", 1)[-1],
        "tier": "gold",
        "status": status,
        "reason": f"{status.lower()} because",
        "expected": "restore_test_every=7d",
        "remediation": "restore_test" if status == "FAIL" else "",
        "as_of": T0,
    }
    row.update(over)
    return row


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(str(tmp_path / "ledger"))
    led.append(
        "backups",
        [
            {
                "account": "111111111111",
                "region": "eu-west-1",
                "service": "dynamodb",
                "resource_arn": SRC,
                "method": "aws-backup",
                "recovery_point_arn": RP,
                "vault": "runbook-central",
                "status": "COMPLETED",
                "encrypted": True,
                "kms_key": "arn:aws:kms:eu-west-1:111111111111:key/k1",
                "delete_after_days": 35,
                "fingerprint_kind": "dynamodb-items",
                "fingerprint_count": 120,
                "fingerprint_digest": "00ff" * 8,
            }
        ],
        "20261201T000000Z-000001",  # an earlier run made the backup
    )
    led.append(
        "restore_tests",
        [
            _test_row(),
            _test_row(
                test_id="rt-20261202t101700-bbbbbb",
                resource_arn="arn:aws:s3:::logs-bucket",
                resource_name="logs-bucket",
                service="s3",
                recovery_point_id="s3-versions:logs-bucket@latest",
                restore_end=None,
                status="ERROR",
                content_verdict=None,
                checks=[],
                evidence=[],
                scratch_arn=None,
                cleanup_status="NOTHING_CREATED",
            ),
            _test_row(
                test_id="rt-20261202t101800-cccccc",
                resource_arn="arn:aws:dynamodb:eu-west-1:111111111111:table/users",
                resource_name="users",
                recovery_point_id="arn:aws:dynamodb:eu-west-1:111111111111:table/users/backup/01",
                status="FAIL",
                content_verdict="FAIL",
                checks=[{"check": "fingerprint", "status": "FAIL", "detail": "3 records differ"}],
            ),
        ],
        RUN,
    )
    led.append(
        "findings",
        [
            _finding("resource_backed_up_or_reproducible", "FAIL", "critical"),
            _finding("resource_backed_up_or_reproducible", "PASS", "critical", arn=RP),
            _finding("restore_tested_recently", "PASS"),
            _finding("restore_tested_recently", "ERROR", region="eu-central-1"),
            _finding("restore_rto_met", "NOT_APPLICABLE"),
        ],
        RUN,
    )
    led.append("findings", [_finding("restore_rto_met", "FAIL", "critical")], OTHER)
    return led


def _info(led):
    return exports.RunInfo(
        run_id=RUN,
        started="2026-12-02T10:15:00Z",
        finished="2026-12-02T10:20:00Z",
        started_by="sre",
        tool_version="0.1.0",
        notebook="04_restore_test.ipynb",
        notebook_sha256="ab" * 32,
        ledger=led,
    )


def _tables(led):
    files = exports.run_files(led.location, RUN)
    return exports.read_rows(files, RUN)


def test_only_the_runs_own_files_and_rows_are_read(ledger):
    files = exports.run_files(ledger.location, RUN)
    assert sorted(set(files.values())) == ["findings", "restore_tests"]
    tables = exports.read_rows(files, RUN)
    assert len(tables["restore_tests"]) == 3 and len(tables["findings"]) == 5
    assert set(tables["findings"]["run_id"]) == {RUN}  # not OTHER's critical FAIL


def test_restore_job_report_maps_ledger_columns_and_leaves_unrecorded_empty(ledger):
    rows = _tables(ledger)["restore_tests"]
    report = exports.shape(exports.REPORTS[0], rows, _info(ledger))
    assert list(report.columns) == [c.name for c in exports.RESTORE_JOB_REPORT]
    ok, error, failed = report.to_dict("records")
    # AWS's own columns
    assert ok["accountId"] == "111111111111" and ok["sourceResourceArn"] == SRC
    assert ok["recoveryPointArn"] == RP and ok["jobStatus"] == "COMPLETED"
    assert error["jobStatus"] == "FAILED"  # started, never ready
    assert ok["reportTimePeriod"] == "2026-12-02T10:15:00Z - 2026-12-02T10:20:00Z"
    assert (
        ok["backupVaultArn"] == "arn:aws:backup:eu-west-1:111111111111:backup-vault:runbook-central"
    )
    assert ok["isEncrypted"] is True and ok["deleteAfterDays"] == 35
    for unrecorded in ("restoreJobId", "backupPlanName", "iamRoleArn", "percentDone"):
        assert ok[unrecorded] is None
    # what the report lacks
    assert ok["completionDate"] == pd.Timestamp("2026-12-02T10:16:00Z")
    assert ok["createdResourceArn"].endswith("table/rt-orders-aaaaaa")
    assert ok["validationMethod"] == "fingerprint" and ok["validationStatus"] == "PASS"
    assert ok["expectedFingerprintCount"] == 120 and ok["expectedFingerprintDigest"] == "00ff" * 8
    assert ok["observedRecordCount"] == 120 and ok["observedFingerprintDigest"] is None
    assert ok["fingerprintCheck"] == "PASS"
    assert ok["rtoSeconds"] == 62.5 and ok["rtoObjectiveSeconds"] == 14400.0 and ok["rtoMet"]
    assert ok["rpoSeconds"] == 600.0 and ok["rpoMet"]
    assert ok["deletionStatus"] == "DELETED" and ok["deletionRecordedBy"] is not None
    assert ok["runId"] == RUN and ok["startedBy"] == "sre" and ok["toolVersion"] == "0.1.0"
    assert ok["notebookSha256"] == "ab" * 32
    # a test whose backup the ledger does not hold: no expected fingerprint, nothing guessed
    assert failed["expectedFingerprintDigest"] is None and failed["isEncrypted"] is None
    assert failed["fingerprintCheck"] == "FAIL" and failed["testStatus"] == "FAIL"
    assert error["validationMethod"] is None and error["createdResourceArn"] is None


def test_compliance_reports_count_per_control_account_and_region(ledger):
    rows = _tables(ledger)["findings"]
    control = exports.shape(exports.REPORTS[1], rows, _info(ledger))
    assert list(control.columns) == [c.name for c in exports.CONTROL_COMPLIANCE_REPORT]
    by = {(r["controlName"], r["region"]): r for r in control.to_dict("records")}
    backed = by[("resource_backed_up_or_reproducible", "eu-west-1")]
    assert backed["controlComplianceStatus"] == "NON_COMPLIANT"
    assert (backed["numResourcesCompliant"], backed["numResourcesNonCompliant"]) == (1, 1)
    assert backed["frameworkName"] == "REL09-BP01" and "Identify" in backed["frameworkDescription"]
    assert json.loads(backed["controlParameters"]) == {"gold": "restore_test_every=7d"}
    assert json.loads(backed["controlScope"])["scope"] == "resource"
    assert by[("restore_tested_recently", "eu-west-1")]["controlComplianceStatus"] == "COMPLIANT"
    assert by[("restore_tested_recently", "eu-central-1")]["controlComplianceStatus"] == (
        "INSUFFICIENT_DATA"
    )
    assert by[("restore_rto_met", "eu-west-1")]["controlComplianceStatus"] == "NOT_APPLICABLE"
    resource = exports.shape(exports.REPORTS[2], rows, _info(ledger))
    assert list(resource.columns) == [c.name for c in exports.RESOURCE_COMPLIANCE_REPORT]
    assert len(resource) == len(rows)
    assert sorted(resource["resourceComplianceStatus"]) == sorted(
        ["NON_COMPLIANT", "COMPLIANT", "COMPLIANT", "INSUFFICIENT_DATA", "NOT_APPLICABLE"]
    )


def test_write_exports_csv_and_json_beside_the_run(ledger, tmp_path):
    tables = _tables(ledger)
    infos = {t: _info(ledger) for t in tables}
    written = exports.write_exports(tmp_path / "run", tables, infos)
    names = sorted(p.name for p in written)
    assert names == sorted(
        f"{n}.{ext}"
        for n in ["findings", "restore_tests", *(r.name for r in exports.REPORTS)]
        for ext in ("csv", "json")
    )
    out = tmp_path / "run" / exports.EXPORT_DIR
    raw = pd.read_csv(out / "restore_tests.csv")
    assert len(raw) == 3 and "recorded_at" in raw and set(raw["run_id"]) == {RUN}
    rows = json.loads((out / "restore_tests.json").read_text())
    assert isinstance(rows, list) and rows[0]["restore_start"].startswith("2026-12-02T10:15:00")
    items = json.loads((out / "RESTORE_JOB_REPORT.json").read_text())["reportItems"]
    assert [i["testStatus"] for i in items] == ["PASS", "ERROR", "FAIL"]
    assert items[1]["completionDate"] is None  # empty, never NaN
    csv = pd.read_csv(out / "RESTORE_JOB_REPORT.csv")
    assert list(csv.columns) == [c.name for c in exports.RESTORE_JOB_REPORT]


def _doc_columns(text: str, heading: str) -> list[str]:
    section = re.split(r"\n##+ ", text.split(f"### {heading}\n", 1)[1], maxsplit=1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_docs_list_exactly_the_columns_the_code_writes():
    text = DOCS.read_text(encoding="utf-8")
    for report in exports.REPORTS:
        assert _doc_columns(text, report.name) == [c.name for c in report.columns], report.name
        assert exports.markdown(report) in text, f"{report.name}: meanings differ from the code"


def test_docs_list_every_fail_on_rule_and_the_cli_help_names_them():
    from runbook_lib.cli import FAIL_ON_HELP

    text = DOCS.read_text(encoding="utf-8")
    documented = _doc_columns(text, "--fail-on rules")
    assert documented == [*exports.RULES, *exports.GROUPS]
    assert exports.rules_markdown() in text
    for word in documented:
        assert word in FAIL_ON_HELP
