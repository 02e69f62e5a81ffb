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
from runbook_lib.protect.objectives import wants_continuous
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process
from runbook_sandbox.seed import demo_estate, seed_demo_estate

AUDIT_MANAGER = {
    "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
    "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
    "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
    "BACKUP_RECOVERY_POINT_ENCRYPTED",
    "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
    "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK",
    "BACKUP_LAST_RECOVERY_POINT_CREATED",
    "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET",
    "RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT",
    "cross-Region copy",
    "cross-account copy",
}


@pytest.fixture(scope="module")
def sandbox():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        params = load_params("sandbox")
        session = AwsSession(params, endpoint_url=url)
        seed_demo_estate(session)
        yield session


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
    assert "immutable" in tiered["s3_object_lock_when_immutable"]
    assert "air_gapped_copy" in tiered["resource_in_air_gapped_vault"]
    assert "retention" in tiered["logs_retention_meets_tier"]


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
            # protect's rule: PITR is planned only for tiers whose RPO is a day or less
            continuous = wants_continuous(sandbox.params.tier(d.tier))
            want = (
                "NOT_APPLICABLE"
                if d.reproducible_from
                else ("PASS" if d.facts["pitr"] else "FAIL" if continuous else "NOT_APPLICABLE")
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
    # the step protect plans for it (was the inventory's "protect: dynamodb PITR")
    assert row.remediation == 'notebooks/02_protect.ipynb: plan step "point-in-time recovery"'
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


# ------------------------------------------------------------------ control logic on hand-built facts (no sandbox)

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOLD_ARN = "arn:aws:dynamodb:eu-west-1:111111111111:table/orders"
SILVER_ARN = "arn:aws:dynamodb:eu-west-1:111111111111:table/carts"


class _Rows:
    """A ledger that holds given rows (the audit reads it with its real reader)."""

    def __init__(self, **tables):
        self.tables = tables

    def read(self, table):
        return pd.DataFrame(self.tables.get(table, []))


def _resource(arn, tier, **kw):
    name = arn.rsplit("/", 1)[-1]
    row = {"account": arn.split(":")[4], "region": arn.split(":")[3], "service": arn.split(":")[2],
           "arn": arn, "name": name, "tier": tier, "reproducible_from": None, "protected": True,
           "mechanisms": [], "copy_regions": [], "copy_accounts": []}  # fmt: skip
    row.update(kw)
    return row


def _evidence(resources, *, tests=(), points=(), detail=(), sandbox=False, scopes=None, **kw):
    from runbook_lib.audit.evidence import (
        RECOVERY_POINT_COLUMNS,
        Evidence,
        read_restore_tests,
    )

    pts = pd.DataFrame(list(points), columns=RECOVERY_POINT_COLUMNS)
    pts["created"] = pd.to_datetime(pts["created"], utc=True)
    return Evidence(
        params=kw.pop("params", None) or load_params("sandbox"),
        as_of=AS_OF,
        sandbox=sandbox,
        resources=pd.DataFrame(resources),
        inventory_errors=pd.DataFrame(),
        problems={},
        vaults=pd.DataFrame(),
        recovery_points=pts,
        restore_tests=read_restore_tests(_Rows(restore_tests=list(tests)), AS_OF),
        protection_detail=pd.DataFrame(
            list(detail), columns=["arn", "mechanism", "copy_regions", "copy_accounts", "status"]
        ),
        backup_scopes=scopes if scopes is not None else {},
        **kw,
    )


def _judge(ev, control_id, arn):
    out = [r for r in CONTROLS[control_id].evaluate(ev) if r.arn == arn]
    assert len(out) == 1, out
    return out[0].status, out[0].reason


def _rt(arn, days_ago, status, content=None, rp="rp-1", copy="local", **kw):
    when = AS_OF - timedelta(days=days_ago)
    return _test_row(arn, "gold", when, test_id=f"t-{days_ago}d-{copy}", status=status,
                     verdict=status, content_verdict=content or status, recovery_point_id=rp,
                     copy=copy, **kw)  # fmt: skip


def test_a_failed_restore_newer_than_a_pass_fails_bp04():
    """The newest evidence decides: the recovery point passed on day -3 and was found
    damaged on day -1; the day -3 PASS no longer makes the resource pass."""
    damaged = "validation failed: expected 3000 records, found 2998; 2 missing"
    ev = _evidence(
        [_resource(GOLD_ARN, "gold")],
        tests=[_rt(GOLD_ARN, 3, "PASS"), _rt(GOLD_ARN, 1, "FAIL", reason=damaged)],
    )
    st, reason = _judge(ev, "restore_tested_recently", GOLD_ARN)
    assert st == "FAIL" and "t-1d-local" in reason and "was FAIL" in reason, reason
    assert "2 missing" in reason and "outweighs the older PASS of test t-3d-local" in reason
    st, reason = _judge(ev, "restore_content_validated", GOLD_ARN)
    assert st == "FAIL" and "t-1d-local" in reason, reason
    # a newer success (another recovery point) decides the other way
    ev = _evidence(
        [_resource(GOLD_ARN, "gold")],
        tests=[
            _rt(GOLD_ARN, 3, "PASS"),
            _rt(GOLD_ARN, 2, "FAIL", reason=damaged),
            _rt(GOLD_ARN, 1, "PASS", rp="rp-2"),
        ],
    )
    assert _judge(ev, "restore_tested_recently", GOLD_ARN)[0] == "PASS"
    st, reason = _judge(ev, "restore_content_validated", GOLD_ARN)
    assert st == "PASS" and "t-1d-local" in reason


def test_a_failed_restore_of_any_kind_outweighs_and_no_judgement_does_not():
    for status in ("ERROR", "NO_RECOVERY_POINT"):
        ev = _evidence(
            [_resource(GOLD_ARN, "gold")],
            tests=[_rt(GOLD_ARN, 3, "PASS"), _rt(GOLD_ARN, 1, status, reason="restore failed")],
        )
        assert _judge(ev, "restore_tested_recently", GOLD_ARN)[0] == "FAIL", status
    # a newer test the sandbox could not run says nothing about the data
    ev = _evidence(
        [_resource(GOLD_ARN, "gold")],
        tests=[_rt(GOLD_ARN, 3, "PASS"), _rt(GOLD_ARN, 1, "NOT_SUPPORTED_ON_SANDBOX")],
    )
    st, reason = _judge(ev, "restore_tested_recently", GOLD_ARN)
    assert st == "PASS" and "t-3d-local" in reason


def test_a_damaged_dr_copy_is_not_hidden_by_a_newer_local_pass():
    """Local points and DR copies are different recovery points: the newest test of each
    decides for it, so a damaged copy stays a FAIL until a newer test of the copy passes."""
    tests = [_rt(GOLD_ARN, 2, "FAIL", rp="copy-1", copy="dr"), _rt(GOLD_ARN, 1, "PASS")]
    ev = _evidence([_resource(GOLD_ARN, "gold")], tests=tests)
    st, reason = _judge(ev, "restore_tested_recently", GOLD_ARN)
    assert st == "FAIL" and "(DR copy) t-2d-dr" in reason, reason
    tests.append(_rt(GOLD_ARN, 0.5, "PASS", rp="copy-2", copy="dr"))
    ev = _evidence([_resource(GOLD_ARN, "gold")], tests=tests)
    assert _judge(ev, "restore_tested_recently", GOLD_ARN)[0] == "PASS"


def test_a_pass_of_a_recovery_point_later_found_damaged_no_longer_counts():
    # both tests older than gold's 7d window: the message names the last success that counts
    ev = _evidence(
        [_resource(GOLD_ARN, "gold")],
        tests=[_rt(GOLD_ARN, 20, "PASS"), _rt(GOLD_ARN, 10, "FAIL", content="FAIL")],
    )
    st, reason = _judge(ev, "restore_tested_recently", GOLD_ARN)
    assert st == "FAIL" and "never tested successfully" in reason, reason


PLAN = "aws backup plan runbook-gold / rule daily"


def _copy_point(arn, account, region, hours_ago, vault="runbook-central"):
    return {"account": account, "region": region, "vault": vault,
            "arn": f"arn:aws:backup:{region}:{account}:recovery-point:{hours_ago}h",
            "resource_arn": arn, "resource_type": "DynamoDB", "status": "COMPLETED",
            "created": AS_OF - timedelta(hours=hours_ago), "encrypted": True,
            "encryption_key_arn": None, "delete_after_days": 35}  # fmt: skip


def test_a_plan_copy_action_is_not_a_copy():
    """gold copies to eu-central-1 and to account 333333333333 (params/sandbox.yaml). The
    inventory lists the plan rule's copy destinations as copy_regions/accounts: a setting.
    Only a copy recovery point there, younger than the RPO (1 h), passes."""
    res = _resource(GOLD_ARN, "gold", mechanisms=[PLAN], copy_regions=["eu-central-1"],
                    copy_accounts=["333333333333"])  # fmt: skip
    detail = [{"arn": GOLD_ARN, "mechanism": PLAN, "copy_regions": ["eu-central-1"],
               "copy_accounts": ["333333333333"], "status": "ok"}]  # fmt: skip
    ok = {
        (a, r): "ok"
        for a in ("111111111111", "333333333333")
        for r in ("eu-west-1", "eu-central-1")
    }

    def judge(points, control_id="cross_region_copy", **kw):
        ev = _evidence([res], points=points, detail=detail, scopes=kw.pop("scopes", ok), **kw)
        return _judge(ev, control_id, GOLD_ARN)

    st, reason = judge([])
    assert st == "FAIL", reason
    assert reason.startswith(
        "plan copies to eu-central-1, but no copy recovery point exists there yet"
    )
    st, reason = judge([], "cross_account_copy")
    assert st == "FAIL" and reason.startswith("plan copies to 333333333333, but no copy")
    # a point in the resource's own Region, or in a Region that is not the copy Region, is no copy
    assert judge([_copy_point(GOLD_ARN, "111111111111", "eu-west-1", 0.5),
                  _copy_point(GOLD_ARN, "111111111111", "ap-northeast-1", 0.5)])[0] == "FAIL"  # fmt: skip
    # a copy of another resource is not this one's
    assert judge([_copy_point(SILVER_ARN, "111111111111", "eu-central-1", 0.5)])[0] == "FAIL"
    # a copy there, within the RPO: PASS, naming where it was seen
    st, reason = judge([_copy_point(GOLD_ARN, "111111111111", "eu-central-1", 0.5)])
    assert st == "PASS" and "eu-central-1" in reason and "runbook-central" in reason, reason
    st, reason = judge(
        [_copy_point(GOLD_ARN, "333333333333", "eu-west-1", 0.5)], "cross_account_copy"
    )
    assert st == "PASS" and "333333333333/eu-west-1" in reason, reason
    # the newest copy there is older than the RPO: FAIL with its age
    st, reason = judge([_copy_point(GOLD_ARN, "111111111111", "eu-central-1", 48)])
    assert st == "FAIL" and "2 d old" in reason and "RPO of 1 h" in reason, reason
    # a copy made after as_of did not exist as of then
    assert judge([_copy_point(GOLD_ARN, "111111111111", "eu-central-1", -24)])[0] == "FAIL"
    # the copy Region's vaults could not be read: no evidence, said so
    st, reason = judge(
        [], scopes={**ok, ("111111111111", "eu-central-1"): "not read: AccessDenied"}
    )
    assert st == "FAIL" and "AccessDenied" in reason, reason


def test_replication_copies_on_the_sandbox_are_not_claimed():
    arn = "arn:aws:s3:::shop-assets"
    mech = "s3 replication to shop-assets-dr"
    res = _resource(arn, "gold", account="111111111111", region="eu-west-1", service="s3",
                    mechanisms=[mech], copy_regions=["eu-central-1"])  # fmt: skip
    detail = [{"arn": arn, "mechanism": mech, "copy_regions": ["eu-central-1"], "copy_accounts": [],
               "status": "ok"}]  # fmt: skip
    scopes = {("111111111111", "eu-central-1"): "ok"}
    ev = _evidence([res], detail=detail, scopes=scopes, sandbox=True)
    st, reason = _judge(ev, "cross_region_copy", arn)
    assert st == "NOT_SUPPORTED_ON_SANDBOX" and "never replicates" in reason, reason
    ev = _evidence([res], detail=detail, scopes=scopes, sandbox=False)
    st, reason = _judge(ev, "cross_region_copy", arn)
    assert st == "PASS" and mech in reason


# ------------------------------------------------------------------ copies outside the estate (changes state: last)


def test_copies_are_read_in_the_copy_region_outside_the_estate(sandbox, inv, tmp_path):
    """gold copies to ap-northeast-1, a Region the estate does not list: the audit lists the
    vaults there (once each) and a plan's copy counts only once its copy point exists."""
    from runbook_lib.audit.evidence import gather

    params = sandbox.params
    gold = params.tiers["gold"].model_copy(update={"copy_region": "ap-northeast-1"})
    params = params.model_copy(update={"tiers": {**params.tiers, "gold": gold}})
    session = AwsSession(params, endpoint_url=sandbox.endpoint_url)
    ctx = RunContext(params, session, Ledger(str(tmp_path)), "audit-test", datetime.now(UTC))
    account, arn = "111111111111", inv.table().set_index("name").loc["orders", "arn"]
    here = session.client("backup", account, "eu-west-1")
    there = session.client("backup", account, "ap-northeast-1")
    here.create_backup_vault(BackupVaultName="audit-copy-src")
    there.create_backup_vault(BackupVaultName="audit-copy-dr")
    role = f"arn:aws:iam::{account}:role/backup"
    job = here.start_backup_job(BackupVaultName="audit-copy-src", ResourceArn=arn, IamRoleArn=role)
    rp = here.describe_backup_job(BackupJobId=job["BackupJobId"])["RecoveryPointArn"]

    ev = gather(ctx, inv, progress=False)
    assert ("111111111111", "ap-northeast-1") in ev.copy_scopes
    assert set(ev.copies_of(arn).region) == {"eu-west-1"}  # only source points, no copy yet
    st, reason = _judge(ev, "cross_region_copy", arn)
    assert st == "FAIL" and "ap-northeast-1" in reason, reason

    dest = there.describe_backup_vault(BackupVaultName="audit-copy-dr")["BackupVaultArn"]
    copy = here.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName="audit-copy-src",
                               DestinationBackupVaultArn=dest, IamRoleArn=role)  # fmt: skip
    assert here.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]["State"] == "COMPLETED"
    session.counter.reset()
    ev = gather(ctx, inv, progress=False)
    st, reason = _judge(ev, "cross_region_copy", arn)
    assert st == "PASS" and "111111111111/ap-northeast-1 vault audit-copy-dr" in reason, reason
    # bounded: each vault of every scope read (estate and copy destinations) listed once
    calls = session.counter.snapshot()
    scopes = {*ev.backup_scopes, *ev.copy_scopes}
    vaults = sum(
        len(session.client("backup", a, r).list_backup_vaults()["BackupVaultList"])
        for a, r in scopes
    )
    listed = sum(n for (s, op), n in calls.items() if "RecoveryPointsByBackupVault" in op)
    assert listed == vaults, calls


# ------------------------------------------------------------------ one rule: gaps are the audit's FAILs


def step(setting: str) -> str:
    return f'notebooks/02_protect.ipynb: plan step "{setting}"'


def test_gaps_are_the_audit_fails_of_the_inventory_controls(inv, findings):
    """Same estate, same inventory: every gap is a FAIL of a gap control (same resource, id,
    reason, remediation) and every such FAIL is a gap; the other controls make no gaps."""
    t = findings.table()
    ids = {c.id for c in audit.gap_controls()}
    assert {"resource_classified", "backup_frequency_meets_rpo", "resource_encrypted_at_rest",
            "dynamodb_pitr_enabled"} <= ids  # fmt: skip
    assert not ids & {"cross_region_copy", "cross_account_copy", "vault_lock_enabled",
                      "restore_tested_recently", "estate_fully_read"}  # fmt: skip
    fails = t[(t.status == audit.FAIL) & t.control_id.isin(ids)]
    want = sorted(map(tuple, fails[["arn", "control_id", "reason", "remediation"]].values))
    gaps = inv.gaps()
    got = sorted(map(tuple, gaps[["arn", "gap", "missing", "closed_by"]].values))
    assert got == want and len(got) > 20
    catalogue = audit.controls_table()
    assert set(catalogue[catalogue.makes_gaps].index) == ids


def test_a_bronze_table_without_pitr_is_closed_by_the_backup_plan_protect_plans(findings):
    """sessions.v2 (unclassified: bronze, RPO 7d) has no PITR. protect plans PITR only for
    RPOs of a day or less, so the audit must not ask for a PITR step protect never plans:
    PITR is NOT_APPLICABLE, and the missing backup is closed by the bronze selection."""
    st, reason = status(findings, "dynamodb_pitr_enabled", "sessions.v2")
    assert st == "NOT_APPLICABLE" and "protect plans PITR only for RPOs of a day" in reason
    t = findings.table()
    row = t[(t.control_id == "resource_backed_up_or_reproducible") & (t.name == "sessions.v2")]
    assert row.remediation.tolist() == [step("backup selection (bronze)")]
    assert not t[t.status == audit.FAIL].remediation.str.contains("dynamodb PITR step").any()


def test_bronze_table_by_hand_never_asks_for_pitr():
    arn = "arn:aws:dynamodb:eu-west-1:111111111111:table/bronze-t"
    ev = _evidence(
        [_resource(arn, "bronze", protected=False)], aws_backup_services=frozenset({"dynamodb"})
    )
    assert _judge(ev, "dynamodb_pitr_enabled", arn)[0] == "NOT_APPLICABLE"
    got = [r for r in CONTROLS["resource_backed_up_or_reproducible"].evaluate(ev) if r.arn == arn]
    assert got[0].remediation == step("backup selection (bronze)")


def test_a_log_group_whose_export_keeps_an_unknown_time_says_unknown_and_why():
    """A log group protected by a scheduled export: how long the exports are kept is not
    read, so retention is unknown, not "less than" the objective."""
    arn = "arn:aws:logs:eu-west-1:111111111111:log-group:/app/x"
    mech = "logs scheduled export to s3"
    res = _resource(arn, "bronze", service="logs", name="/app/x", mechanisms=[mech],
                    rpo_seconds=86400.0, retention_days=None)  # fmt: skip
    ev = _evidence([res])
    out = [r for r in CONTROLS["backup_retention_meets_objective"].evaluate(ev) if r.arn == arn]
    st, reason, fix = out[0].status, out[0].reason, out[0].remediation
    assert st == "FAIL"
    assert reason == f"retention unknown: the inventory reads no retention for {mech}"
    assert "less than" not in reason and fix.startswith("manual:")


def test_recovery_point_controls_judge_each_resource_and_vault_over_all_its_points():
    """Hundreds of hourly points make one finding per resource and vault, not one each;
    the failing points are all named in the reason."""
    acct, region = GOLD_ARN.split(":")[4], GOLD_ARN.split(":")[3]

    def pt(i, vault, encrypted=True, keep=3650):
        return {"account": acct, "region": region, "vault": vault,
                "arn": f"arn:aws:backup:{region}:{acct}:recovery-point:{vault}-{i:04d}",
                "resource_arn": GOLD_ARN, "resource_type": "DynamoDB",
                "created": AS_OF - timedelta(hours=i), "status": "COMPLETED",
                "encrypted": encrypted, "encryption_key_arn": "arn:aws:kms:k",
                "delete_after_days": keep, "vault_type": "BACKUP_VAULT"}  # fmt: skip

    points = [pt(i, "good") for i in range(300)]
    points += [pt(i, "mixed", encrypted=(i % 100 != 7), keep=3 if i in (5, 9) else 3650)
               for i in range(300)]  # fmt: skip
    ev = _evidence([_resource(GOLD_ARN, "gold")], points=points)
    for cid in ("recovery_point_encrypted", "recovery_point_min_retention"):
        found = {r.name: r for r in CONTROLS[cid].evaluate(ev)}
        assert set(found) == {f"good: {GOLD_ARN}", f"mixed: {GOLD_ARN}"}, cid
        assert found[f"good: {GOLD_ARN}"].status == "PASS"
        assert "all 300 recovery point(s)" in found[f"good: {GOLD_ARN}"].reason
        assert found[f"mixed: {GOLD_ARN}"].status == "FAIL"
        assert all(r.arn == GOLD_ARN for r in found.values())
    enc = {r.name: r for r in CONTROLS["recovery_point_encrypted"].evaluate(ev)}
    reason = enc[f"mixed: {GOLD_ARN}"].reason
    assert reason.startswith("3 of 300 not encrypted")
    assert all(f"mixed-{i:04d}" in reason for i in (7, 107, 207)) and "mixed-0008" not in reason
    ret = {r.name: r for r in CONTROLS["recovery_point_min_retention"].evaluate(ev)}
    reason = ret[f"mixed: {GOLD_ARN}"].reason
    assert reason.startswith("2 of 300 deleted after 3 days, less than")
    assert "mixed-0005" in reason and "mixed-0009" in reason and "mixed-0006" not in reason
