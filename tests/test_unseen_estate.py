"""An estate the project never seeded: built here with plain boto3 calls on an empty sandbox
server, in other Regions (us-east-1 among them), another account id, another tier tag key
and tier names, names and tag values with unusual characters. The inventory must find
exactly what was made and the audit must give no verdict that contradicts the facts made
here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runbook_lib import audit
from runbook_lib.context import RunContext
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import validate_params
from runbook_lib.session import AwsSession
from runbook_sandbox.server import running_sandbox

ACCT, R1, R2 = "424242424242", "ap-northeast-1", "us-east-1"
TAG = "data-class"
ODD = "José / SRE – «prod» ✓"


def _params(url: str, ledger: str):
    return validate_params(
        {
            "name": "unseen",
            "target": {"kind": "sandbox", "endpoint_url": url},
            "accounts": [{"id": ACCT, "name": "unseen-app"}],
            "regions": [R1, R2],
            "default_tier": "standard",
            "tiers": {
                "critical": {"rpo": "1h", "rto": "2h", "retention": "30d",
                             "restore_test_every": "7d", "copy_region": R2, "require_cmk": True},
                "standard": {"rpo": "1d", "rto": "1d", "retention": "7d",
                             "restore_test_every": "30d"},
            },
            "tag_keys": {"tier": TAG, "reproducible": "rebuilt-from",
                         "restore_test": "rt-marker", "expires": "rt-expiry"},
            "ledger": ledger,
        }
    )  # fmt: skip


def _build(s: AwsSession) -> dict[tuple[str, str, str], dict]:
    """Make the estate; returns (region, service, name) -> the facts made."""
    facts: dict[tuple[str, str, str], dict] = {}
    kms = s.client("kms", ACCT, R1)
    key = kms.create_key(Description="unseen data key")["KeyMetadata"]["Arn"]
    ddb = s.client("dynamodb", ACCT, R1)
    for name, tier, pitr, cmk in (
        ("Orders.V2_prod", "critical", True, True),
        ("sessions-tmp", "standard", False, False),
    ):
        extra = {"SSESpecification": {"Enabled": True, "SSEType": "KMS",
                                      "KMSMasterKeyId": key}} if cmk else {}  # fmt: skip
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": TAG, "Value": tier}, {"Key": "owner name", "Value": ODD}],
            **extra,
        )
        if pitr:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        facts[(R1, "dynamodb", name)] = {"tier": tier, "pitr": pitr}
    s3 = s.client("s3", ACCT, R1)
    for name, tier, versioned, sse in (
        (
            f"unseen-kms-{ACCT}",
            "critical",
            True,
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
        ),
        (f"unseen-aes-{ACCT}", "standard", False, {"SSEAlgorithm": "AES256"}),
    ):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": R1})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": TAG, "Value": tier}]})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": sse}]
            },
        )
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        facts[(R1, "s3", name)] = {"tier": tier, "versioned": versioned, "sse": sse["SSEAlgorithm"]}
    ec2 = s.client("ec2", ACCT, R1)
    vol_name = "vol with spaces & ümlauts"
    ec2.create_volume(
        AvailabilityZone=f"{R1}a",
        Size=3,
        Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": "Name", "Value": vol_name}, {"Key": TAG, "Value": "critical"}]}],
    )  # fmt: skip
    facts[(R1, "ebs", vol_name)] = {"tier": "critical", "encrypted": False}
    logs = s.client("logs", ACCT, R1)
    logs.create_log_group(logGroupName="/app/weird_name#1", tags={TAG: "standard"})
    logs.put_retention_policy(logGroupName="/app/weird_name#1", retentionInDays=3)
    facts[(R1, "logs", "/app/weird_name#1")] = {"tier": "standard"}
    # the same table name in the other Region, unclassified
    s.client("dynamodb", ACCT, R2).create_table(
        TableName="Orders.V2_prod",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    facts[(R2, "dynamodb", "Orders.V2_prod")] = {"tier": None, "pitr": False}
    return facts


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    with running_sandbox(None) as url:
        params = _params(url, str(tmp_path_factory.mktemp("ledger")))
        session = AwsSession(params)
        facts = _build(session)
        ctx = RunContext(params, session, Ledger(params.ledger), "unseen-1", datetime.now(UTC))
        inv = discover(ctx, progress=False)
        findings = audit.evaluate(ctx, progress=False)
        yield facts, inv, findings.frame


def test_inventory_finds_exactly_what_was_made(estate):
    facts, inv, _ = estate
    assert inv.errors.empty, inv.errors
    got = {(r.region, r.service, r.name) for r in inv.resources.itertuples()}
    assert got == set(facts)
    by = inv.resources.set_index(["region", "service", "name"])
    for key, f in facts.items():
        row = by.loc[key]
        assert row.tier == (f["tier"] or "standard"), key
        assert bool(row.classified) is (f["tier"] is not None), key


def _verdicts(frame, control: str) -> dict[str, str]:
    rows = frame[frame.control_id == control]
    return {r.name: r.status for r in rows.itertuples()}


def test_audit_verdicts_match_the_facts(estate):
    facts, _, frame = estate
    pitr = _verdicts(frame[frame.region == R1], "dynamodb_pitr_enabled")
    assert pitr["Orders.V2_prod"] == "PASS"
    assert pitr.get("sessions-tmp") != "PASS"
    enc = _verdicts(frame, "resource_encrypted_at_rest")
    assert enc["vol with spaces & ümlauts"] == "FAIL"
    assert enc[f"unseen-aes-{ACCT}"] == "PASS" and enc[f"unseen-kms-{ACCT}"] == "PASS"
    cmk = _verdicts(frame, "resource_cmk_when_required")
    assert cmk[f"unseen-kms-{ACCT}"] == "PASS" and cmk["vol with spaces & ümlauts"] == "FAIL"
    versioning = _verdicts(frame, "s3_versioning_enabled")
    assert versioning[f"unseen-kms-{ACCT}"] == "PASS"
    assert versioning[f"unseen-aes-{ACCT}"] == "FAIL"
    # nothing was ever copied, backed up or restore-tested here: none of those may pass
    for control in ("cross_region_copy", "restore_tested_recently", "restore_content_validated"):
        passed = frame[(frame.control_id == control) & (frame.status == "PASS")]
        assert passed.empty, (control, passed[["name", "reason"]].to_dict("records"))


def test_gaps_are_the_audit_fails_judged_from_the_inventory(estate):
    """One rule: the inventory's gaps are the audit's FAIL findings of the gap controls
    (same resource, control id, reason, remediation); no FAIL asks for a PITR step."""
    _, inv, frame = estate
    ids = {c.id for c in audit.gap_controls()}
    fails = frame[(frame.status == "FAIL") & frame.control_id.isin(ids)]
    want = sorted(map(tuple, fails[["arn", "control_id", "reason", "remediation"]].values))
    got = sorted(map(tuple, inv.gaps()[["arn", "gap", "missing", "closed_by"]].values))
    assert got == want and got
    assert not frame.remediation.str.contains("dynamodb PITR step").any()
    assert not frame.reason.str.contains("unknown, less than").any()
    # standard (RPO 1d): protect plans PITR for it, so the audit asks for that step
    pitr = frame[(frame.control_id == "dynamodb_pitr_enabled") & (frame.name == "sessions-tmp")]
    assert pitr.remediation.tolist() == [
        'notebooks/02_protect.ipynb: plan step "point-in-time recovery"'
    ]
