"""The least-privilege policies in policies/ cover exactly what the code calls.

The calls are recorded with the session's counter while inventory, protect (plan, apply,
and an apply of stronger objectives that takes the update paths) and backup_now (AWS
Backup and native paths) run on a fresh sandbox; boto3 operation names are mapped to IAM
actions with runbook_lib.protect.iam (a short list of documented exceptions).

The restore-test policy is checked the same way against the calls of restore tests (AWS
Backup and native recovery points of every kind the code restores from) and a sweep,
recorded on a seeded sandbox server of their own.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

import runbook_lib.restore as R
from runbook_lib import backup_now, protect
from runbook_lib.context import RunContext
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params, validate_params
from runbook_lib.protect.iam import (
    allows,
    iam_actions,
    is_read_only,
    load_policy,
    not_called_on_sandbox,
    policy_actions,
)
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process
from runbook_sandbox.seed import seed_demo_estate
from runbook_sandbox.server import running_sandbox

TAG = load_params("sandbox").tag_keys.restore_test

# Calls iam.EXCEPTIONS does not map yet, and the IAM actions that authorise them.
RESTORE_CALLS = {
    "s3:CopyObject": ("s3:PutObject", "s3:GetObjectVersion"),  # target object, source version
    "s3:PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
}

# Write actions restore-test.json grants although the recorded run does not call them.
RESTORE_NOT_CALLED = {
    "ec2:CreateTags": "not an API call: CreateVolume with TagSpecifications needs it (tag on create)",
    "rds:AddTagsToResource": "not an API call: the restores' Tags need it (tag on create)",
    "elasticache:AddTagsToResource": "not an API call: CreateReplicationGroup's Tags need it",
    "s3:DeleteObjectVersion": "DeleteObjects naming VersionIds (the clean-up empties every version)",
    "elasticfilesystem:DeleteMountTarget": "only for mount targets on a restored file system (none here)",
    # the scratch copy's fresh master password; called only where a real engine stands behind
    # RDS (checked against this policy in tests/test_db_content.py)
    "rds:ModifyDBInstance": "the scratch password, engine-backed content validation only",
    "rds:ModifyDBCluster": "the scratch password, engine-backed content validation only",
    "rds:CreateDBInstance": "the DB instance a scratch Aurora cluster needs to answer queries (engine-backed only)",
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        session = AwsSession(load_params("sandbox"), endpoint_url=url)
        seed_demo_estate(session)
        ledger = Ledger(str(tmp_path_factory.mktemp("ledger")))
        ctx = RunContext(session.params, session, ledger, "policy-run", datetime.now(UTC))
        out: dict[str, set[str]] = {}

        session.counter.reset()
        discover(session, progress=False)
        out["inventory-audit-readonly"] = iam_actions(session.counter.operations())

        session.counter.reset()
        backup_now.run(ctx)
        backup_now.run(ctx, approve=True)
        for tier in ("silver", "bronze"):
            backup_now.run(
                ctx,
                tag_filter=f"backup-tier={tier}",
                approve=True,
                method="native",
                fingerprint=False,
            )
        out["backup-now"] = iam_actions(session.counter.operations())

        session.counter.reset()
        protect.apply(ctx, protect.plan(ctx), approve=True)
        data = session.params.model_dump(mode="json", exclude={"source"})
        for tier in data["tiers"].values():  # stronger objectives: the update paths
            tier["retention"] = f"{int(tier['retention'][:-1]) * 3}{tier['retention'][-1]}"
            tier["rpo"] = "1h"
        stronger = RunContext(validate_params(data), session, ledger, "policy-run-2", ctx.as_of)
        protect.apply(stronger, protect.plan(stronger), approve=True)
        out["protect"] = iam_actions(session.counter.operations())
        yield out


@pytest.fixture(scope="module")
def restore_recorded(tmp_path_factory):
    """IAM actions called by restore tests and a sweep (backups made before recording)."""
    with running_sandbox("sandbox") as url:
        session = AwsSession(load_params("sandbox"), endpoint_url=url)
        ledger = Ledger(str(tmp_path_factory.mktemp("restore-ledger")))
        ctx = RunContext(session.params, session, ledger, "policy-restore", datetime.now(UTC))
        estate = R.discover_resources(ctx)
        arn = {n: estate[estate["name"].str.startswith(n)]["arn"].iloc[0] for n in
               ("orders", "shop-assets", "shop-media", "shop-web-data", "shop-sessions-cache",
                "carts", "shop-db", "catalog-aurora", "feature-store")}  # fmt: skip
        arn["orders"] = estate[estate["name"] == "orders"]["arn"].iloc[0]
        aws_backup = [arn[n] for n in ("orders", "shop-assets", "shop-media")]
        native = [arn[n] for n in ("shop-web-data", "shop-sessions-cache", "carts", "shop-db",
                                   "catalog-aurora")]  # fmt: skip
        made = [backup_now.run(ctx, arns=aws_backup, approve=True),
                backup_now.run(ctx, arns=native, approve=True, method="native")]  # fmt: skip
        assert all(set(m["status"]) == {"COMPLETED"} for m in made)
        ddb = session.client("dynamodb", "111111111111", "eu-west-1")
        ddb.create_table(TableName="rt-leftover-policy", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         Tags=[{"Key": TAG, "Value": "rt-20200101t000000-abcdef"},
                               {"Key": session.params.tag_keys.expires,
                                "Value": "2020-01-01T00:00:00Z"}])  # fmt: skip

        session.counter.reset()
        everything = R.select_resources(ctx, estate, mode="arns", arns=aws_backup + native)
        pinned = [arn[n] for n in ("shop-assets", "feature-store", "shop-db", "catalog-aurora")]
        tests = [
            R.restore_test(ctx, everything),  # newest points: AWS Backup, native, PITR
            R.restore_test(  # the other native sources
                ctx,
                R.select_resources(ctx, estate, mode="arns", arns=pinned),
                sources=["s3-versions", "dynamodb-pitr", "rds-snapshot", "rds-cluster-snapshot"],
            ),
        ]
        swept = R.sweep(ctx, dry_run=False)
        ops = session.counter.operations()
        yield {
            "tests": tests,
            "swept": swept,
            "actions": iam_actions(ops - set(RESTORE_CALLS))
            | {a for op in ops & set(RESTORE_CALLS) for a in RESTORE_CALLS[op]},
        }


def test_restore_run_takes_every_restore_path(restore_recorded):
    first, pinned = restore_recorded["tests"]
    assert set(first["recovery_point_source"]) == {
        "aws-backup", "ebs-snapshot", "elasticache-snapshot", "dynamodb-backup", "rds-pitr",
        "rds-cluster-pitr",
    }  # fmt: skip
    assert set(pinned["recovery_point_source"]) == {
        "s3-versions", "dynamodb-pitr", "rds-snapshot", "rds-cluster-snapshot"
    }  # fmt: skip
    for t in (first, pinned):
        assert set(t["status"]) <= {R.PASS, R.PASS_WEAK}, t[["resource_name", "reason"]]
        assert set(t["cleanup_status"]) == {"DELETED"}
    swept = restore_recorded["swept"].set_index("name")
    assert swept.loc["rt-leftover-policy", "action"] == "DELETED"


def test_restore_test_policy_allows_every_call_and_no_unused_write(restore_recorded):
    called = restore_recorded["actions"]
    granted = policy_actions(load_policy("restore-test"))
    missing = sorted(a for a in called if not allows(granted, a))
    assert not missing, f"restore-test.json lacks {missing}"
    unused = sorted(
        a
        for a in granted - {"iam:PassRole"}
        if not is_read_only(a) and a not in called and a not in RESTORE_NOT_CALLED
    )
    assert not unused, f"restore-test.json grants write actions the code does not call: {unused}"
    assert not any(a.endswith("*") for a in granted)
    assert "backup:DeleteRecoveryPoint" not in granted


@pytest.mark.parametrize("name", ["inventory-audit-readonly", "protect", "backup-now"])
def test_every_call_is_allowed(recorded, name):
    granted = policy_actions(load_policy(name))
    missing = sorted(a for a in recorded[name] if not allows(granted, a))
    assert not missing, f"{name}.json lacks {missing}"


@pytest.mark.parametrize("name", ["protect", "backup-now"])
def test_no_write_action_beyond_what_is_called(recorded, name):
    extras = not_called_on_sandbox(name)
    granted = policy_actions(load_policy(name)) - {"iam:PassRole"}
    unused = sorted(
        a for a in granted if not is_read_only(a) and a not in recorded[name] and a not in extras
    )
    assert not unused, f"{name}.json grants write actions the code does not call: {unused}"
    assert "backup:DeleteRecoveryPoint" not in granted and not any(a.endswith("*") for a in granted)


def test_readonly_policy_only_reads(recorded):
    granted = policy_actions(load_policy("inventory-audit-readonly"))
    assert granted and all(is_read_only(a) for a in granted), sorted(
        a for a in granted if not is_read_only(a)
    )


def test_pass_role_only_to_the_services_and_roles_named():
    for name in ("protect", "backup-now", "restore-test"):
        for st in load_policy(name)["Statement"]:
            if "iam:PassRole" in st["Action"]:
                assert st["Action"] == "iam:PassRole" and "iam:PassedToService" in str(
                    st["Condition"]
                )
                assert "*" not in str(st["Resource"]).split("role/")[-1]


def test_restore_test_writes_only_restore_test_resources():
    """Reads anywhere; every write needs the restore-test tag on the resource (creates: in
    the request); deletes only on resources that already carry it."""
    for st in load_policy("restore-test")["Statement"]:
        acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        writes = [a for a in acts if not is_read_only(a) and a != "iam:PassRole"]
        if not writes:
            continue
        assert st["Effect"] == "Allow" and len(writes) == len(acts), st["Sid"]
        keys = {k for op in st.get("Condition", {}).values() for k in op}
        assert keys in ({f"aws:ResourceTag/{TAG}"}, {f"aws:RequestTag/{TAG}"}), st["Sid"]
        if any(a.split(":")[1].startswith("Delete") for a in acts):
            assert keys == {f"aws:ResourceTag/{TAG}"}, st["Sid"]
