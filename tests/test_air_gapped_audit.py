"""Logically air-gapped vaults judged as what they are: the vault controls read the vault's
type, lock and key type from ListBackupVaults (never from its name), backup_now records the
type of the vault a recovery point lives in, and RESTORE_JOB_REPORT's ``vaultType`` carries
it. The estate is not the demo's: account 444455556666 in ap-southeast-2, odd vault names,
retention ranges and tier names; control logic is checked on hand-built evidence, the reads
on the sandbox."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest

from runbook_lib import audit, backup_now, exports
from runbook_lib.audit.evidence import (
    AIR_GAPPED,
    AWS_OWNED,
    RECOVERY_POINT_COLUMNS,
    VAULT_COLUMNS,
    inventory_evidence,
)
from runbook_lib.audit.model import CONTROLS
from runbook_lib.context import RunContext
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params, validate_params
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process

ACCOUNT, REGION = "444455556666", "ap-southeast-2"
CMK = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1e2d3c-4a5b-6c7d-8e9f-a0b1c2d3e4f5"
TABLE = "gap.ledger_2-x"
DENY_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                "Resource": "*",
            }
        ],
    }
)


def _params(*, lock_min: str | None = None):
    """One workload account in one Region; tier ``vault-guarded`` asks for a customer-managed
    key, ``loose`` for nothing."""
    data = load_params("sandbox").model_dump(mode="json", exclude={"source"})
    data.update(
        name="air-gapped-estate",
        accounts=[{"id": ACCOUNT, "name": "gap-wl", "kind": "workload"}],
        regions=[REGION],
        default_tier="loose",
        tiers={
            "vault-guarded": {"rpo": "5h", "rto": "9h", "retention": "11d",
                              "restore_test_every": "21d", "require_cmk": True},
            "loose": {"rpo": "9d", "rto": "4d", "retention": "8d", "restore_test_every": "70d"},
        },
    )  # fmt: skip
    data["tag_keys"] = {**data["tag_keys"], "tier": "Keep:Tier"}
    data["protect"] = {**data["protect"], "vault_name": "gap_central-7"}
    data["protect"].pop("vault_lock", None)
    if lock_min:
        data["protect"]["vault_lock"] = {
            "mode": "governance", "min_retention": lock_min, "max_retention": "300d"
        }  # fmt: skip
    return validate_params(data)


def _vault(name: str, **kw) -> dict:
    row = {
        "account": ACCOUNT, "region": REGION, "name": name,
        "arn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{name}",
        "encryption_key_arn": None, "cmk": None, "locked": False, "min_retention_days": None,
        "max_retention_days": None, "recovery_points": 0, "policy": None, "policy_status": "ok",
        "vault_type": "BACKUP_VAULT", "encryption_key_type": None,
    }  # fmt: skip
    row.update(kw)
    return row


def _lag(name: str, low: int, high: int, **kw) -> dict:
    """An air-gapped vault as ListBackupVaults reports it: type, lock and key type."""
    read = {
        "vault_type": AIR_GAPPED,
        "locked": True,
        "min_retention_days": low,
        "max_retention_days": high,
        "encryption_key_type": AWS_OWNED,
        "cmk": False,
    }
    return _vault(name, **{**read, **kw})  # fmt: skip


def _evidence(vaults, *, params=None, points=()):
    class _Inv:
        as_of = datetime(2026, 12, 3, 4, tzinfo=UTC)
        errors = pd.DataFrame()

        def table(self):
            return pd.DataFrame()

    _Inv.params = params or _params()
    ev = inventory_evidence(_Inv(), sandbox=False)
    pts = pd.DataFrame(list(points), columns=RECOVERY_POINT_COLUMNS)
    pts["created"] = pd.to_datetime(pts["created"], utc=True)
    return replace(
        ev, vaults=pd.DataFrame(list(vaults), columns=VAULT_COLUMNS), recovery_points=pts
    )


def _by_name(results) -> dict[str, tuple[str, str, str]]:
    return {r.name: (r.status, r.reason, r.remediation) for r in results}


# ------------------------------------------------------------------ control logic


def test_air_gapped_vault_needs_no_access_policy_an_ordinary_one_does():
    """An air-gapped vault without an access policy passes, the reason naming its type and
    the lock's range as read; an ordinary vault without one still FAILs, one with the Deny
    passes; an air-gapped vault whose lock the listing does not report is judged like an
    ordinary vault (nothing is assumed from the type), and so is a vault merely named
    like one."""
    ev = _evidence([
        _lag("vault.gap-Q", 9, 45),
        _vault("plain_nopolicy"),
        _vault("plain-denied", policy=DENY_ALL),
        _vault("gap.unreported", vault_type=AIR_GAPPED, locked=float("nan")),
        _vault("logically-air-gapped-by-name"),
    ])  # fmt: skip
    got = _by_name(CONTROLS["vault_prevents_manual_deletion"].evaluate(ev))
    st, reason, _ = got["vault.gap-Q"]
    assert st == "PASS", reason
    assert f"logically air-gapped vault (VaultType {AIR_GAPPED})" in reason
    assert "compliance mode since creation (min retention 9 days, max 45 days)" in reason
    assert got["plain_nopolicy"][:2] == (
        "FAIL",
        "no access policy: anyone with backup permissions can delete recovery points",
    )
    assert got["plain-denied"][0] == "PASS"
    st, reason, _ = got["gap.unreported"]
    assert st == "FAIL" and reason.startswith(
        "logically air-gapped vault whose lock is not reported"
    )
    assert got["logically-air-gapped-by-name"][0] == "FAIL"


def test_air_gapped_vault_lock_is_read_not_assumed():
    """vault_lock_enabled: the air-gapped vault passes with its lock's range; when the params
    ask for a longer minimum it FAILs with a manual remedy (its lock cannot change), not the
    protect step that would try to change it."""
    ev = _evidence([_lag("vault.gap-Q", 9, 45), _vault("plain_nopolicy")])
    got = _by_name(CONTROLS["vault_lock_enabled"].evaluate(ev))
    assert got["vault.gap-Q"][:2] == (
        "PASS",
        "logically air-gapped vault: locked in compliance mode since creation "
        "(min retention 9 days, max 45 days)",
    )
    assert got["plain_nopolicy"][:2] == ("FAIL", "vault lock is not set")
    ev = _evidence([_lag("vault.gap-Q", 9, 45)], params=_params(lock_min="13d"))
    st, reason, fix = _by_name(CONTROLS["vault_lock_enabled"].evaluate(ev))["vault.gap-Q"]
    assert st == "FAIL" and reason.startswith("vault lock min retention 9 days is below 13 days")
    assert fix.startswith("manual: the vault vault.gap-Q cannot be changed")
    assert "MinRetentionDays >= 13" in fix


def test_air_gapped_vault_key_named_as_aws_owned():
    """A tier asks for a customer-managed key: an air-gapped vault under its default
    AWS-owned key FAILs saying so (not "AWS-managed"), with the remedy of a new vault; one
    created with a customer-managed key passes."""
    ev = _evidence([
        _lag("vault.gap-Q", 9, 45),
        _lag("gap_cmk-3", 7, 20, encryption_key_arn=CMK, cmk=True,
             encryption_key_type="CUSTOMER_MANAGED_KMS_KEY"),
    ])  # fmt: skip
    got = _by_name(CONTROLS["vault_key_customer_managed"].evaluate(ev))
    st, reason, fix = got["vault.gap-Q"]
    assert (st, reason) == (
        "FAIL",
        f"AWS-owned key (EncryptionKeyType {AWS_OWNED}) of this logically air-gapped vault",
    )
    assert "EncryptionKeyArn = a customer-managed key" in fix and fix.startswith("manual:")
    assert got["gap_cmk-3"][:2] == ("PASS", f"customer-managed key {CMK}")


def test_recovery_point_under_an_aws_owned_key_is_named_so():
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t-1"
    point = {
        "account": ACCOUNT, "region": REGION, "vault": "vault.gap-Q", "arn": "rp-1",
        "resource_arn": arn, "resource_type": "DynamoDB", "status": "COMPLETED",
        "created": datetime(2026, 12, 2, tzinfo=UTC), "encrypted": True,
        "encryption_key_arn": None, "vault_type": AIR_GAPPED, "encryption_key_type": AWS_OWNED,
    }  # fmt: skip
    (r,) = CONTROLS["recovery_point_encrypted"].evaluate(_evidence([], points=[point]))
    assert (r.status, r.reason) == (
        "PASS",
        "all 1 recovery point(s) encrypted with an AWS-owned key",
    )


# ------------------------------------------------------------------ read from the sandbox


@pytest.fixture(scope="module")
def estate():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        session = AwsSession(_params(), endpoint_url=url)
        ddb = session.client("dynamodb", ACCOUNT, REGION)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "Keep:Tier", "Value": "loose"}],
        )
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "row-1"}})
        backup = session.client("backup", ACCOUNT, REGION)
        backup.create_logically_air_gapped_backup_vault(
            BackupVaultName="gap_vault-31", MinRetentionDays=8, MaxRetentionDays=40
        )
        backup.create_backup_vault(BackupVaultName="open.vault-5")
        yield session


def test_audit_reads_the_vault_type_and_lock_from_the_api(estate, tmp_path):
    """Through the real gather path: the air-gapped vault (no access policy) PASSes
    vault_prevents_manual_deletion with the range it was created with; the ordinary vault
    without a policy FAILs; the evidence holds each vault's type and key type."""
    inv = discover(estate, progress=False)
    ctx = RunContext(estate.params, estate, Ledger(str(tmp_path / "l")), "gap", datetime.now(UTC))
    found = audit.evaluate(ctx, inv, progress=False)
    t = found.table()
    rows = t[t.control_id == "vault_prevents_manual_deletion"].set_index("name")
    assert rows.loc["gap_vault-31", "status"] == "PASS", rows.loc["gap_vault-31", "reason"]
    assert f"VaultType {AIR_GAPPED}" in rows.loc["gap_vault-31", "reason"]
    assert "(min retention 8 days, max 40 days)" in rows.loc["gap_vault-31", "reason"]
    assert rows.loc["open.vault-5", "status"] == "FAIL"
    vaults = found.evidence.vaults.set_index("name")
    assert vaults.loc["gap_vault-31", "vault_type"] == AIR_GAPPED
    assert vaults.loc["gap_vault-31", "encryption_key_type"] == AWS_OWNED
    assert vaults.loc["open.vault-5", "vault_type"] == "BACKUP_VAULT"


def test_backup_now_records_the_vault_type(estate, tmp_path):
    """backup_now keeps DescribeRecoveryPoint's VaultType in the backups row."""
    ctx = RunContext(
        estate.params, estate, Ledger(str(tmp_path / "l")), "gap-bn", datetime.now(UTC)
    )
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    out = backup_now.run(ctx, arns=[arn], approve=True, timeout=120, poll_every=0.2)
    assert list(out.status) == ["COMPLETED"], out[["status", "status_message"]]
    assert list(out.vault_type) == ["BACKUP_VAULT"]
    assert list(ctx.ledger.read("backups").vault_type) == ["BACKUP_VAULT"]


# ------------------------------------------------------------------ exports


def test_restore_job_report_carries_the_vault_type(tmp_path):
    """vaultType is the backups row's vault_type for a test of that recovery point; empty
    for a dr test (its copy lives in another vault) and for a row recorded before the
    column existed."""
    led = Ledger(str(tmp_path / "ledger"))
    src = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    rp = {kind: f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{kind}" for kind in "ABC"}
    base = {"account": ACCOUNT, "region": REGION, "service": "dynamodb", "resource_arn": src,
            "method": "aws-backup", "status": "COMPLETED"}  # fmt: skip
    led.append("backups", [
        {**base, "recovery_point_arn": rp["A"], "vault": "gap_vault-31", "vault_type": AIR_GAPPED},
        {**base, "recovery_point_arn": rp["B"], "vault": "open.vault-5",
         "vault_type": "BACKUP_VAULT"},
        {**base, "recovery_point_arn": rp["C"], "vault": "open.vault-5"},  # type not recorded
    ], "20261201T000000Z-0000aa")  # fmt: skip
    run = "20261203T040000Z-gap001"
    tests = [
        {"test_id": f"rt-{k}", "account": ACCOUNT, "region": REGION, "service": "dynamodb",
         "resource_arn": src, "recovery_point_id": rp[p], "copy": copy, "status": "PASS",
         **({"recovery_point_copy_of": rp[p]} if copy == "dr" else {})}
        for k, p, copy in (("a", "A", "local"), ("b", "B", "local"), ("c", "C", "local"),
                           ("d", "B", "dr"))
    ]  # fmt: skip
    led.append("restore_tests", tests, run)
    rows = led.read("restore_tests")
    info = exports.RunInfo(run_id=run, ledger=led)
    report = exports.shape(exports.REPORTS[0], rows, info).set_index("testId")
    assert report.loc["rt-a", "vaultType"] == AIR_GAPPED
    assert report.loc["rt-b", "vaultType"] == "BACKUP_VAULT"
    assert report.loc["rt-c", "vaultType"] is None
    assert report.loc["rt-d", "vaultType"] is None
    assert report.loc["rt-a", "backupVaultArn"].endswith(":backup-vault:gap_vault-31")
    # a dr test restored a copy in another vault: the source point's row does not describe it
    for column in ("backupVaultArn", "isEncrypted", "encryptionKeyArn", "deleteAfterDays"):
        assert report.loc["rt-d", column] is None, column
    assert report.loc["rt-b", "backupVaultArn"].endswith(":backup-vault:open.vault-5")
