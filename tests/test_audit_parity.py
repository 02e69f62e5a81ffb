"""The controls that match scanner checks (Prowler, AWS Backup Audit Manager, Steampipe):
their ids in the catalogue, and their verdicts on a sandbox estate holding one resource
that passes and one that fails each control, read by the real inventory."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from runbook_lib import audit, protect
from runbook_lib.audit.controls import step
from runbook_lib.audit.model import CONTROLS, PARITY
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params, validate_params
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process

ACCOUNT, REGION = "111111111111", "eu-west-1"
PASSWORD = "sandbox-Passw0rd"


def _params():
    """The sandbox params, with gold asking for deletion protection (silver does not)."""
    params = load_params("sandbox")
    gold = params.tiers["gold"].model_copy(update={"deletion_protection": True})
    return params.model_copy(update={"tiers": {**params.tiers, "gold": gold}})


def _tags(tier: str) -> list[dict[str, str]]:
    return [{"Key": "backup-tier", "Value": tier}]


def _table(ddb, name: str, tier: str, protected: bool) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=protected,
        Tags=_tags(tier),
    )


def _instance(rds, name: str, tier: str, on: bool) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin1",
        MasterUserPassword=PASSWORD,
        DeletionProtection=on,
        CopyTagsToSnapshot=on,
        Tags=_tags(tier),
    )


def _cluster(rds, name: str, engine: str, tier: str, on: bool) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine=engine,
        MasterUsername="admin1",
        MasterUserPassword=PASSWORD,
        DeletionProtection=on,
        CopyTagsToSnapshot=on,
        Tags=_tags(tier),
    )


def _volume(ec2, name: str, share: list[str] | None) -> None:
    tags = [{"ResourceType": "volume", "Tags": [*_tags("gold"), {"Key": "Name", "Value": name}]}]
    vol = ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a", TagSpecifications=tags)
    if share is None:
        return
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"])["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snap,
        Attribute="createVolumePermission",
        OperationType="add",
        **({"GroupNames": share} if share == ["all"] else {"UserIds": share}),
    )


def _db_snapshot(rds, name: str, share: list[str], cluster: bool = False) -> None:
    snap = f"{name}-manual"
    if cluster:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=name, DBClusterSnapshotIdentifier=snap)
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=snap, AttributeName="restore", ValuesToAdd=share
        )
    else:
        rds.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=snap)
        rds.modify_db_snapshot_attribute(
            DBSnapshotIdentifier=snap, AttributeName="restore", ValuesToAdd=share
        )


@pytest.fixture(scope="module")
def estate():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        session = AwsSession(_params(), endpoint_url=url)
        ddb = session.client("dynamodb", ACCOUNT, REGION)
        rds = session.client("rds", ACCOUNT, REGION)
        _table(ddb, "orders-guarded", "gold", True)
        _table(ddb, "orders-open", "gold", False)
        _table(ddb, "cache-open", "silver", False)  # silver does not ask
        _instance(rds, "db-guarded", "gold", True)
        _instance(rds, "db-open", "gold", False)
        _cluster(rds, "aurora-guarded", "aurora-postgresql", "gold", True)
        _cluster(rds, "aurora-open", "aurora-postgresql", "gold", False)
        _cluster(rds, "graph-guarded", "neptune", "gold", True)
        _cluster(rds, "graph-open", "neptune", "gold", False)
        ec2 = session.client("ec2", ACCOUNT, REGION)
        _volume(ec2, "vol-kept-in", share=["222222222222"])  # an account of the params
        _volume(ec2, "vol-public", share=["all"])
        _volume(ec2, "vol-no-snapshot", share=None)
        _db_snapshot(rds, "db-guarded", share=["333333333333"])
        _db_snapshot(rds, "db-open", share=["999999999999"])  # outside the params
        _db_snapshot(rds, "aurora-open", share=["all"], cluster=True)
        inv = discover(session, progress=False)
        yield session, inv, audit.inventory_findings(inv)


@pytest.fixture(scope="module")
def findings(estate):
    return estate[2]


def _verdict(table, control_id: str, name: str) -> tuple[str, str, str]:
    hit = table[(table.control_id == control_id) & (table.name == name)]
    assert len(hit) == 1, (control_id, name, len(hit))
    row = hit.iloc[0]
    return row.status, row.reason, row.remediation


@pytest.mark.parametrize("good, bad", [
    ("orders-guarded", "orders-open"), ("db-guarded", "db-open"),
    ("aurora-guarded", "aurora-open"), ("graph-guarded", "graph-open"),
])  # fmt: skip
def test_deletion_protection_read_from_the_api(findings, good, bad):
    st, reason, _ = _verdict(findings, "resource_deletion_protection", good)
    assert (st, reason) == ("PASS", "deletion protection = true")
    st, reason, fix = _verdict(findings, "resource_deletion_protection", bad)
    assert (st, reason) == ("FAIL", "deletion protection = false")
    assert fix == step("deletion protection")


def test_deletion_protection_only_where_the_tier_asks(findings):
    st, reason, _ = _verdict(findings, "resource_deletion_protection", "cache-open")
    assert st == "NOT_APPLICABLE" and "tier silver does not ask" in reason


def test_deletion_protection_off_by_default():
    tiers = load_params("sandbox").tiers
    assert not any(t.deletion_protection for t in tiers.values())


def test_deletion_protection_tier_field_is_validated():
    params = load_params("sandbox").model_dump(mode="json")
    params["tiers"]["gold"]["deletion_protection"] = "maybe"
    with pytest.raises(ParamsError, match="deletion_protection"):
        validate_params(params)
    params["tiers"]["gold"]["deletion_protection"] = True
    assert validate_params(params).tiers["gold"].deletion_protection is True


@pytest.mark.parametrize("good, bad", [
    ("db-guarded", "db-open"), ("aurora-guarded", "aurora-open"),
    ("graph-guarded", "graph-open"),
])  # fmt: skip
def test_copy_tags_to_snapshot(findings, good, bad):
    assert _verdict(findings, "rds_copy_tags_to_snapshot", good)[:2] == (
        "PASS",
        "CopyTagsToSnapshot = true",
    )
    st, reason, fix = _verdict(findings, "rds_copy_tags_to_snapshot", bad)
    assert (st, reason) == ("FAIL", "CopyTagsToSnapshot = false")
    assert fix.startswith("manual: modify") and "CopyTagsToSnapshot=true" in fix


def test_copy_tags_judges_only_databases(findings):
    judged = findings[findings.control_id == "rds_copy_tags_to_snapshot"]
    assert set(judged.service) == {"rds", "aurora", "neptune"}


def test_snapshots_shared_inside_the_params_pass(findings):
    for name in ("vol-kept-in", "db-guarded"):
        st, reason, _ = _verdict(findings, "snapshot_not_shared_outside", name)
        assert (st, reason) == (
            "PASS",
            "1 snapshot(s), none restorable outside the params' accounts",
        ), name


@pytest.mark.parametrize("name, who", [
    ("vol-public", "all accounts (public)"), ("db-open", "999999999999"),
    ("aurora-open", "all accounts (public)"),
])  # fmt: skip
def test_public_or_outside_snapshots_fail(findings, name, who):
    st, reason, fix = _verdict(findings, "snapshot_not_shared_outside", name)
    assert st == "FAIL" and reason.endswith(f"restorable by {who}"), reason
    assert fix.startswith("manual: remove the share of")
    assert CONTROLS["snapshot_not_shared_outside"].severity == "critical"


def test_snapshot_shares_without_snapshots(findings):
    st, reason, _ = _verdict(findings, "snapshot_not_shared_outside", "vol-no-snapshot")
    assert (st, reason) == ("NOT_APPLICABLE", "no shareable snapshot")
    # automated snapshots cannot be shared: a database with none manual is not judged on them
    st, _, _ = _verdict(findings, "snapshot_not_shared_outside", "graph-open")
    assert st == "NOT_APPLICABLE"


def test_catalogue_shows_scanner_ids_per_scanner():
    catalogue = audit.controls_table()
    assert set(PARITY) <= set(catalogue.columns)
    row = catalogue.loc["resource_deletion_protection"]
    assert "dynamodb_table_deletion_protection_enabled" in row.prowler
    assert "rds_db_instance_deletion_protection_enabled" in row.steampipe
    assert catalogue.loc["dynamodb_pitr_enabled"].prowler == "dynamodb_tables_pitr_enabled"
    assert (
        "BACKUP_RECOVERY_POINT_ENCRYPTED" in catalogue.loc["recovery_point_encrypted"].audit_manager
    )


def test_scanner_ids_are_lists_of_ids():
    for c in CONTROLS.values():
        for field in PARITY:
            ids = getattr(c, field)
            assert isinstance(ids, tuple), (c.id, field)
            assert all(i and " " not in i for i in ids), (c.id, field, ids)


def test_protect_turns_deletion_protection_on_where_the_tier_asks(estate, tmp_path):
    """Run last: it changes the estate. protect plans the step the FAILs name for the
    gold resources without it (none for those with it, none for silver); applied, the
    re-read inventory shows every one PASS."""
    session, inv, _ = estate
    ctx = RunContext(session.params, session, Ledger(str(tmp_path)), "dp", datetime.now(UTC))
    plan = protect.plan(ctx, inventory=inv)
    steps = [s for s in plan.steps if s.setting == "deletion protection"]
    names = {s.args["name"]: (s.current, s.action) for s in steps}
    opened = ("orders-open", "db-open", "aurora-open", "graph-open")
    guarded = ("orders-guarded", "db-guarded", "aurora-guarded", "graph-guarded")
    assert {n: names[n][0] for n in opened} == dict.fromkeys(opened, "off")
    assert {n: names[n][1] for n in guarded} == dict.fromkeys(guarded, "none")
    assert "cache-open" not in names
    done = protect.apply(ctx, replace(plan, steps=steps), approve=True)
    arns = {s.resource for s in steps if s.args["name"] in opened}
    assert set(done[done.status == "APPLIED"].resource) == arns and len(arns) == 4
    after = audit.inventory_findings(discover(session, progress=False))
    for name in opened:
        assert _verdict(after, "resource_deletion_protection", name)[:2] == (
            "PASS",
            "deletion protection = true",
        )
