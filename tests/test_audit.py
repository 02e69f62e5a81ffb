"""Audit controls (REL09-BP01..BP04) on a seeded sandbox: real boto3 calls, real values,
judged against the seeded facts of ``demo_estate`` and against rows put in the ledger."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from runbook_lib import audit
from runbook_lib.audit.model import CONTROLS, PRACTICES, SEVERITIES, Result, control
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.sandbox import start_server
from runbook_lib.sandbox.seed import demo_estate, seed_demo_estate
from runbook_lib.session import AwsSession

AUDIT_MANAGER = {
    "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
    "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
    "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
    "BACKUP_RECOVERY_POINT_ENCRYPTED",
    "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
    "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK",
    "BACKUP_LAST_RECOVERY_POINT_CREATED",
    "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET",
    "cross-Region copy",
    "cross-account copy",
}


@pytest.fixture(scope="module")
def sandbox():
    logging.getLogger("werkzeug").disabled = True
    server, url = start_server()
    params = load_params("sandbox")
    session = AwsSession(params, endpoint_url=url)
    seed_demo_estate(session)
    yield session
    server.stop()


@pytest.fixture(scope="module")
def inv(sandbox):
    return discover(sandbox, progress=False)


def ctx_for(session, ledger_dir, as_of=None) -> RunContext:
    as_of = as_of or datetime.now(UTC)
    return RunContext(session.params, session, Ledger(str(ledger_dir)), "audit-test", as_of)


@pytest.fixture(scope="module")
def findings(sandbox, inv, tmp_path_factory):
    ctx = ctx_for(sandbox, tmp_path_factory.mktemp("empty-ledger"))
    return audit.evaluate(ctx, inv, progress=False)


def status(findings, control_id: str, name: str) -> tuple[str, str]:
    t = findings.table()
    hit = t[(t.control_id == control_id) & (t.name == name)]
    assert len(hit) == 1, (control_id, name, len(hit))
    return hit.status.iloc[0], hit.reason.iloc[0]


# ------------------------------------------------------------------ the registry


def test_every_control_has_complete_metadata():
    assert len(CONTROLS) >= 20
    for c in CONTROLS.values():
        assert c.title and c.description, c.id
        assert c.practice in PRACTICES, c.id
        assert c.severity in SEVERITIES, c.id
        assert "runbook" in c.remediation or "notebooks/" in c.remediation, c.id
        assert callable(c.evaluate)
    practices = {c.practice for c in CONTROLS.values()}
    assert practices == set(PRACTICES)
    catalogue = audit.controls_table()
    assert list(catalogue.index) == [c.id for c in audit.select_controls()]
    assert catalogue.practice.is_monotonic_increasing
    parity = " ".join(c.parity for c in CONTROLS.values())
    missing = [name for name in AUDIT_MANAGER if name not in parity]
    assert not missing, missing


def test_tier_parameters_are_named():
    tiered = {c.id: c.parameters for c in CONTROLS.values()}
    assert "rpo" in tiered["backup_frequency_meets_rpo"]
    assert "retention" in tiered["backup_retention_meets_objective"]
    assert "restore_test_every" in tiered["restore_tested_recently"]
    assert "rto" in tiered["restore_rto_met"]
    assert "copy_region" in tiered["cross_region_copy"]
    assert "copy_account" in tiered["cross_account_copy"]
    assert "require_cmk" in tiered["resource_cmk_when_required"]


def test_bad_control_names_fail_before_any_call():
    with pytest.raises(ParamsError, match="controls: unknown \\['no_such_control'\\]"):
        audit.evaluate(None, controls="REL09-BP04, no_such_control")
    assert {c.practice for c in audit.select_controls("REL09-BP02")} == {"REL09-BP02"}
    assert [c.id for c in audit.select_controls("dynamodb_pitr_enabled")] == [
        "dynamodb_pitr_enabled"
    ]


# ------------------------------------------------------------------ seeded facts


def test_findings_columns_and_statuses(findings):
    t = findings.table()
    assert list(t.columns) == audit.COLUMNS
    assert set(t.status) <= set(audit.STATUSES)
    assert (t.status == audit.ERROR).sum() == 0, t[t.status == audit.ERROR].reason.tolist()
    failed = t[t.status == audit.FAIL]
    assert (failed.remediation.str.len() > 0).all()
    assert (t[t.status == audit.PASS].remediation == "").all()


def test_seeded_facts_decide_native_and_classification_controls(sandbox, findings):
    for d in demo_estate(sandbox.params):
        if d.service == "dynamodb":
            want = (
                "NOT_APPLICABLE" if d.reproducible_from else ("PASS" if d.facts["pitr"] else "FAIL")
            )
            assert status(findings, "dynamodb_pitr_enabled", d.name)[0] == want, d.name
        if d.service == "s3":
            want = (
                "NOT_APPLICABLE"
                if d.reproducible_from
                else ("PASS" if d.facts["versioned"] else "FAIL")
            )
            assert status(findings, "s3_versioning_enabled", d.name)[0] == want, d.name
        classified = d.tier is not None or d.reproducible_from is not None
        st, reason = status(findings, "resource_classified", d.name)
        assert st == ("PASS" if classified else "FAIL"), d.name
        if not classified:
            assert "no backup-tier tag" in reason
        st, _ = status(findings, "resource_encrypted_at_rest", d.name)
        assert st == ("PASS" if d.encrypted else "FAIL"), d.name


def test_the_demo_table_without_pitr_fails_with_the_protect_step(findings):
    st, reason = status(findings, "dynamodb_pitr_enabled", "carts")
    assert (st, reason) == ("FAIL", "dynamodb PITR is not enabled")
    t = findings.table()
    row = t[(t.control_id == "dynamodb_pitr_enabled") & (t.name == "carts")].iloc[0]
    assert row.remediation == "protect: dynamodb PITR"  # the inventory's resource-specific fix
    assert row.practice == "REL09-BP03" and row.tier == "silver"


def test_reproducible_resources_and_their_sources(findings):
    # orders-dr-index is rebuilt from orders (PITR on); analytics-curated from an unversioned bucket
    assert status(findings, "reproducible_source_protected", "orders-dr-index")[0] == "PASS"
    st, reason = status(
        findings, "reproducible_source_protected", "analytics-curated-222222222222-eu-west-1"
    )
    assert st == "FAIL" and "is not backed up" in reason
    assert status(findings, "restore_tested_recently", "orders-dr-index")[0] == "NOT_APPLICABLE"
    assert status(findings, "resource_backed_up_or_reproducible", "orders-dr-index")[0] == "PASS"


def test_tier_objectives_drive_retention_and_copies(findings):
    # shop-db (gold, 35d retention, copy to eu-central-1 and to the backup account) keeps 7 days
    st, reason = status(findings, "backup_retention_meets_objective", "shop-db")
    assert st == "FAIL" and "kept 7 days, less than 35 days" in reason
    assert status(findings, "rds_automated_backups_retention", "shop-db")[0] == "FAIL"
    assert status(findings, "cross_region_copy", "shop-db") == ("FAIL", "no copy in eu-central-1")
    assert status(findings, "cross_account_copy", "shop-db") == ("FAIL", "no copy in 333333333333")
    # bronze asks for no copy
    assert status(findings, "cross_region_copy", "shop-sessions-cache")[0] == "NOT_APPLICABLE"
    # gold requires a customer-managed key; carts (silver, requires too) uses the AWS-owned key
    assert status(findings, "resource_cmk_when_required", "carts")[0] == "FAIL"
    assert status(findings, "resource_cmk_when_required", "orders")[0] == "PASS"


def test_nothing_protected_yet_means_vault_fails_per_scope(findings):
    t = findings.table()
    vault = t[t.control_id == "vault_prevents_manual_deletion"]
    assert set(vault.status) == {"FAIL"}
    assert set(zip(vault.account, vault.region, strict=True)) == {
        (a, r) for a in ("111111111111", "222222222222") for r in ("eu-west-1", "eu-central-1")
    }
    assert t[t.control_id == "recovery_point_encrypted"].empty  # no recovery point exists


def test_empty_ledger_is_no_evidence(findings):
    t = findings.table()
    bp04 = t[(t.practice == "REL09-BP04") & (t.control_id != "restore_test_cleaned_up")]
    applicable = bp04[bp04.status != "NOT_APPLICABLE"]
    assert len(applicable) and set(applicable.status) == {"FAIL"}
    tested = t[t.control_id == "restore_tested_recently"]
    assert "never restore-tested" in tested[tested.status == "FAIL"].reason.iloc[0]
    by_practice = findings.by_practice()
    assert by_practice.loc["REL09-BP04", "pass_rate_pct"] == 0.0
    assert by_practice.loc["REL09-BP04", "passed"] == 0


def test_summaries_add_up(findings):
    t = findings.table()
    bc = findings.by_control()
    assert bc.passed.sum() == (t.status == "PASS").sum()
    assert bc.failed.sum() == (t.status == "FAIL").sum()
    bp = findings.by_practice()
    assert bp.passed.sum() == (t.status == "PASS").sum()
    row = bc.loc["resource_classified"]
    assert row.passed + row.failed == len(findings.evidence.resources)
    fig = findings.figure()
    assert {tr.name.split(":")[0] for tr in fig.data} == set(PRACTICES)
    assert findings.failed().severity.iloc[0] == "critical"


# ------------------------------------------------------------------ BP04 from the ledger


def _test_row(arn, tier, when, **kw):
    row = {
        "test_id": f"t-{when:%Y%m%d%H%M}-{arn[-6:]}",
        "resource_arn": arn,
        "tier": tier,
        "status": "PASS",
        "verdict": "PASS",
        "reason": "content proven",
        "restore_start": when - timedelta(seconds=30),
        "restore_end": when,
        "rto_seconds": 45.0,
        "rpo_seconds": 600.0,
        "cleanup_status": "DELETED",
    }
    row.update(kw)
    return row


def test_restore_tests_in_the_ledger_decide_bp04(sandbox, inv, tmp_path):
    arns = {r["name"]: r["arn"] for r in inv.table().to_dict("records")}
    as_of = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ctx = ctx_for(sandbox, tmp_path / "ledger", as_of)
    rows = [
        _test_row(arns["orders"], "gold", as_of - timedelta(days=2)),  # gold: every 7d
        _test_row(arns["carts"], "silver", as_of - timedelta(days=40)),  # silver: every 30d
        _test_row(arns["feature-store"], "silver", as_of - timedelta(days=3), status="PASS_WEAK", verdict="PASS_WEAK"),
        _test_row(arns["shop-db"], "gold", as_of - timedelta(days=1), rto_seconds=5 * 3600.0, status="FAIL", verdict="PASS_WEAK", cleanup_status="FAILED"),
        _test_row(arns["lineage-graph"], "silver", as_of - timedelta(days=1), status="NOT_SUPPORTED_ON_SANDBOX", verdict="NOT_SUPPORTED_ON_SANDBOX", rto_seconds=None, rpo_seconds=None),
        _test_row(arns["feature-cache"], "bronze", as_of + timedelta(days=1)),  # after as_of: ignored
    ]  # fmt: skip
    ctx.ledger.append("restore_tests", rows, "restore-run")
    f = audit.evaluate(ctx, inv, controls="REL09-BP04", progress=False)
    assert set(f.table().practice) == {"REL09-BP04"}
    assert status(f, "restore_tested_recently", "orders")[0] == "PASS"
    assert status(f, "restore_content_validated", "orders")[0] == "PASS"
    assert status(f, "restore_rto_met", "orders")[0] == "PASS"
    assert status(f, "restore_rpo_met", "orders")[0] == "PASS"
    assert status(f, "restore_test_cleaned_up", "orders")[0] == "PASS"
    st, reason = status(f, "restore_tested_recently", "carts")
    assert st == "FAIL" and "no restore test in the last 30d" in reason
    assert status(f, "restore_tested_recently", "feature-store")[0] == "PASS"
    st, reason = status(f, "restore_content_validated", "feature-store")
    assert st == "FAIL" and "PASS_WEAK" in reason
    assert status(f, "restore_tested_recently", "shop-db")[0] == "FAIL"
    st, reason = status(f, "restore_rto_met", "shop-db")
    assert st == "FAIL" and "5 h" in reason and "over 4 h" in reason
    assert status(f, "restore_test_cleaned_up", "shop-db")[0] == "FAIL"
    assert status(f, "restore_tested_recently", "lineage-graph")[0] == "NOT_SUPPORTED_ON_SANDBOX"
    st, reason = status(f, "restore_tested_recently", "feature-cache")
    assert st == "FAIL" and "never restore-tested" in reason


def test_a_pass_older_than_restore_test_every_fails(sandbox, inv, tmp_path):
    arn = inv.table().set_index("name").loc["orders", "arn"]
    as_of = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ctx = ctx_for(sandbox, tmp_path / "ledger", as_of)
    ctx.ledger.append("restore_tests", [_test_row(arn, "gold", as_of - timedelta(days=8))], "r")
    f = audit.evaluate(ctx, inv, controls="restore_tested_recently,restore_rto_met", progress=False)
    st, reason = status(f, "restore_tested_recently", "orders")
    assert st == "FAIL" and "no restore test in the last 7d" in reason and "2026-05-24" in reason
    assert status(f, "restore_rto_met", "orders")[0] == "FAIL"
    # the same row judged a week earlier passes
    ctx2 = ctx_for(sandbox, tmp_path / "ledger", as_of - timedelta(days=7))
    f2 = audit.evaluate(ctx2, inv, controls="restore_tested_recently", progress=False)
    assert status(f2, "restore_tested_recently", "orders")[0] == "PASS"


def test_record_appends_every_finding(sandbox, inv, tmp_path):
    ctx = ctx_for(sandbox, tmp_path / "ledger")
    f = audit.evaluate(ctx, inv, controls="REL09-BP01", progress=False)
    where = audit.record(ctx, f)
    assert where and where.endswith(".parquet")
    back = ctx.ledger.read("findings")
    assert len(back) == len(f.table())
    assert set(audit.COLUMNS) <= set(back.columns)
    assert set(back.run_id) == {"audit-test"}


def test_a_broken_control_is_an_error_row_not_a_crash(sandbox, inv, tmp_path):
    @control(
        "test_broken",
        title="broken",
        practice="REL09-BP01",
        severity="low",
        remediation="the x runbook",
    )
    def broken(ev):
        yield Result("a", "r", "s", "arn", "PASS", "ok")
        raise RuntimeError("boom")

    try:
        f = audit.evaluate(ctx_for(sandbox, tmp_path), inv, controls="test_broken", progress=False)
    finally:
        del CONTROLS["test_broken"]
    t = f.table()
    assert t.status.tolist() == ["ERROR"] and "RuntimeError: boom" in t.reason.iloc[0]


# ------------------------------------------------------------------ vaults and recovery points (changes state: last)


def test_vault_policy_lock_and_recovery_points(sandbox, inv, tmp_path):
    account, region = "111111111111", "eu-west-1"
    backup = sandbox.client("backup", account, region)
    backup.create_backup_vault(BackupVaultName="audit-locked")
    backup.create_backup_vault(BackupVaultName="audit-open")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                "Resource": "*",
            }
        ],
    }
    backup.put_backup_vault_access_policy(BackupVaultName="audit-locked", Policy=json.dumps(deny))
    backup.put_backup_vault_lock_configuration(
        BackupVaultName="audit-locked", MinRetentionDays=7, MaxRetentionDays=400
    )
    arn = inv.table().set_index("name").loc["orders", "arn"]
    role = f"arn:aws:iam::{account}:role/backup"
    for vault, days in (("audit-locked", 35), ("audit-open", 3)):
        job = backup.start_backup_job(
            BackupVaultName=vault,
            ResourceArn=arn,
            IamRoleArn=role,
            Lifecycle={"DeleteAfterDays": days},
        )
        backup.describe_backup_job(BackupJobId=job["BackupJobId"])  # completes the job
    ctx = ctx_for(sandbox, tmp_path)
    f = audit.evaluate(ctx, inv, controls="REL09-BP02,recovery_point_min_retention", progress=False)
    t = f.table()

    def vault(control_id, name):
        hit = t[(t.control_id == control_id) & (t.name == name)]
        return hit.status.iloc[0], hit.reason.iloc[0]

    assert vault("vault_prevents_manual_deletion", "audit-locked")[0] == "PASS"
    st, reason = vault("vault_prevents_manual_deletion", "audit-open")
    assert st == "FAIL" and "no access policy" in reason
    assert vault("vault_lock_enabled", "audit-locked")[0] == "PASS"
    assert vault("vault_lock_enabled", "audit-open")[0] == "FAIL"
    rps = t[t.control_id == "recovery_point_encrypted"]
    assert len(rps) == 2 and set(rps.status) == {"PASS"}
    ret = t[t.control_id == "recovery_point_min_retention"].set_index("name")
    assert ret.loc[f"audit-locked: {arn}", "status"] == "PASS"
    assert ret.loc[f"audit-open: {arn}", "status"] == "FAIL"
    assert "3 days, less than 35 days" in ret.loc[f"audit-open: {arn}", "reason"]
    # the scope now has vaults: no "no vault" row for it
    scope_rows = t[(t.control_id == "vault_lock_enabled") & (t.name == "(none)")]
    assert (account, region) not in set(zip(scope_rows.account, scope_rows.region, strict=True))
    assert not pd.isna(f.by_control().loc["recovery_point_encrypted", "pass_rate_pct"])
