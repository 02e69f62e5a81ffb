"""End to end: AWS Backup restore testing as a restore test's restore step.

An estate built here on an empty sandbox server (an account id, Region, tier tag and
names of its own): three DynamoDB tables backed up by backup_now (fingerprints and
canaries recorded), one recovery point then damaged. A restore testing plan covering two of
them by tag is fired by the sandbox clock; the runbook (``restore_via="restore_testing"``)
validates each restored copy and puts its verdict back: SUCCESSFUL for the good one,
FAILED for the damaged one, as DescribeRestoreJob and ListRestoreJobs then show; AWS
Backup (the sandbox) deletes the copies, which the rows record. The inventory counts the
plan as restore-test coverage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from runbook_lib import backup_now
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.inventory import discover, record
from runbook_lib.ledger import Ledger
from runbook_lib.params import validate_params
from runbook_lib.protect.iam import allows, iam_actions, is_read_only, load_policy, policy_actions
from runbook_lib.restore import restore_test, select_resources
from runbook_lib.session import AwsSession
from runbook_sandbox import clock
from runbook_sandbox.backup_ext import damage_recovery_point
from runbook_sandbox.server import running_sandbox

ACCT, REGION = "586011234577", "eu-south-2"
TAG = "continuity"
POOL = {"Key": "aws-restore-test pool", "Value": "pool #7"}
PLAN = "Fortnightly_tables_2"
GOOD, BAD, UNCOVERED, RARE = "Orders.ledger_v9", "kase-ledger_B.2", "Spare-table.0", "rare.tier_T"


def _params(url: str, ledger: str):
    return validate_params(
        {
            "name": "restore-testing",
            "target": {"kind": "sandbox", "endpoint_url": url},
            "accounts": [{"id": ACCT, "name": "rt-account"}],
            "regions": [REGION],
            "default_tier": "bronze-ish",
            "tiers": {
                "vital": {"rpo": "3d", "rto": "4h", "retention": "14d", "restore_test_every": "14d"},
                "bronze-ish": {"rpo": "7d", "rto": "1d", "retention": "7d",
                               "restore_test_every": "2h"},
            },
            "tag_keys": {"tier": TAG, "reproducible": "made-from",
                         "restore_test": "rt-id", "expires": "rt-until"},
            "ledger": ledger,
        }
    )  # fmt: skip


def _table(s: AwsSession, name: str, items: int, tags: list[dict]) -> str:
    ddb = s.client("dynamodb", ACCT, REGION)
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=tags,
    )["TableDescription"]["TableArn"]  # fmt: skip
    for i in range(items):
        ddb.put_item(
            TableName=name,
            Item={"pk": {"S": f"cust-{i % 4}"}, "sk": {"N": str(i)}, "v": {"S": f"€{i * 3}.00"}},
        )
    return arn


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Any:
    with running_sandbox(None) as url:
        params = _params(url, str(tmp_path_factory.mktemp("ledger")))
        session = AwsSession(params)
        ctx = RunContext(params, session, Ledger(params.ledger), "rt-e2e", datetime.now(UTC))
        vital = [{"Key": TAG, "Value": "vital"}]
        arns = {
            GOOD: _table(session, GOOD, 23, [*vital, POOL]),
            BAD: _table(session, BAD, 11, [*vital, POOL]),
            UNCOVERED: _table(session, UNCOVERED, 5, vital),
            RARE: _table(session, RARE, 3, [{"Key": TAG, "Value": "bronze-ish"}, POOL]),
        }
        rows = backup_now.run(ctx, arns=list(arns.values()), approve=True)
        assert set(rows["status"]) == {"COMPLETED"}, rows[["resource_name", "status_message"]]
        points = dict(zip(rows["resource_arn"], rows["recovery_point_arn"], strict=True))
        damage_recovery_point(points[arns[BAD]], drop=2, alter=1, endpoint_url=url)
        backup = session.client("backup", ACCT, REGION)
        start = clock.now(endpoint_url=url)
        due = start + timedelta(hours=1)
        plan_arn = backup.create_restore_testing_plan(
            RestoreTestingPlan={
                "RestoreTestingPlanName": PLAN,
                "ScheduleExpression": f"cron({due.minute} {due.hour} ? * * *)",
                "RecoveryPointSelection": {"Algorithm": "LATEST_WITHIN_WINDOW",
                                           "IncludeVaults": ["*"], "RecoveryPointTypes": ["SNAPSHOT"],
                                           "SelectionWindowDays": 3},
            }
        )["RestoreTestingPlanArn"]  # fmt: skip
        backup.create_restore_testing_selection(
            RestoreTestingPlanName=PLAN,
            RestoreTestingSelection={
                "RestoreTestingSelectionName": "pool_seven",
                "ProtectedResourceType": "DynamoDB",
                "IamRoleArn": f"arn:aws:iam::{ACCT}:role/rt",
                "ProtectedResourceArns": ["*"],
                "ProtectedResourceConditions": {"StringEquals": [POOL]},
                "ValidationWindowHours": 30,
            },
        )
        fired = clock.advance("90m", endpoint_url=url).of_kind("restore_test")
        yield {"url": url, "ctx": ctx, "arns": arns, "points": points, "plan": plan_arn,
               "fired": fired, "backup": backup, "session": session}  # fmt: skip


def _select(ctx, arns: list[str]) -> pd.DataFrame:
    return select_resources(ctx, mode="arns", arns=arns)


def test_the_plan_fired_one_job_per_covered_table(world) -> None:
    fired = {e.resource_arn: e for e in world["fired"]}
    assert set(fired) == {world["arns"][n] for n in (GOOD, BAD, RARE)}
    assert {e.state for e in fired.values()} == {"COMPLETED"}


def test_good_copy_gets_successful_and_damaged_copy_failed(world) -> None:
    ctx, arns, backup = world["ctx"], world["arns"], world["backup"]
    tables_before = set(
        world["session"].client("dynamodb", ACCT, REGION).list_tables()["TableNames"]
    )
    sel = _select(ctx, [arns[GOOD], arns[BAD]])
    ctx.session.counter.reset()
    tests = restore_test(ctx, sel, restore_via="restore_testing")
    called = iam_actions(ctx.session.counter.operations())
    by = tests.set_index("resource_name")
    good, bad = by.loc[GOOD], by.loc[BAD]
    assert (good.status, good.content_verdict) == ("PASS", "PASS"), good.reason
    assert any(c["check"] == "fingerprint" and c["status"] == "PASS" for c in good.checks)
    assert (bad.status, bad.content_verdict) == ("FAIL", "FAIL"), bad.reason
    assert "fingerprint" in bad.verdict_detail
    for row, want in ((good, "SUCCESSFUL"), (bad, "FAILED")):
        assert row.recovery_point_id == world["points"][arns[row.name]]
        assert row.recovery_point_choice.startswith("AWS Backup restore testing job ")
        job_id = row.recovery_point_choice.split()[5]
        job = backup.describe_restore_job(RestoreJobId=job_id)
        assert job["CreatedBy"]["RestoreTestingPlanArn"] == world["plan"]
        assert job["ValidationStatus"] == want
        assert f"runbook content verdict {row.content_verdict}" in job["ValidationStatusMessage"]
        assert row.test_id in job["ValidationStatusMessage"]
        meta = backup.get_restore_job_metadata(RestoreJobId=job_id)["Metadata"]
        assert job["CreatedResourceArn"].endswith("/" + meta["targetTableName"])
        assert row.scratch_arn == job["CreatedResourceArn"]
        # AWS Backup (the sandbox) deleted the copy once the verdict was put; the row says so
        assert job["DeletionStatus"] == "SUCCESSFUL"
        assert (row.cleanup_status, row.cleanup_detail.startswith("deleted by AWS Backup")) == (
            "DELETED",
            True,
        )
    listed = backup.list_restore_jobs(ByRestoreTestingPlanArn=world["plan"])["RestoreJobs"]
    got = sorted(j.get("ValidationStatus", "none") for j in listed)
    assert got == ["FAILED", "SUCCESSFUL", "none"]  # RARE's copy was not tested here
    tables_after = set(
        world["session"].client("dynamodb", ACCT, REGION).list_tables()["TableNames"]
    )
    # the copies of the two tested are gone; RARE's awaits validation; the runbook made none
    copies = tables_after - set(world["arns"])
    assert len(copies) == 1 and copies.pop().startswith("awsbackup-restore-test-")
    assert not any(t.startswith("rt-") for t in tables_before | tables_after)
    ledger = ctx.ledger.read("restore_tests")
    assert set(ledger.status) == {"PASS", "FAIL"} and len(ledger) == 2
    # the restore-test role plus policies/restore-testing-verdicts.json allow every call made,
    # and that policy grants no write the run did not make
    extra = policy_actions(load_policy("restore-testing-verdicts"))
    granted = policy_actions(load_policy("restore-test")) | extra
    assert not [a for a in called if not allows(granted, a)], called
    assert {a for a in extra if not is_read_only(a)} <= called


def test_a_resource_without_a_waiting_job_is_skipped_saying_why(world) -> None:
    ctx, arns = world["ctx"], world["arns"]
    tests = restore_test(
        ctx, _select(ctx, [arns[UNCOVERED], arns[GOOD]]), restore_via="restore_testing",
        record=False,
    )  # fmt: skip
    by = tests.set_index("resource_name")
    assert set(by.status) == {"SKIPPED"}
    assert "newest: none" in by.loc[UNCOVERED].reason
    assert "ValidationStatus SUCCESSFUL" in by.loc[GOOD].reason  # validated already
    assert set(by.cleanup_status) == {"NOTHING_CREATED"}


def test_bad_input_is_refused_before_any_call(world) -> None:
    ctx, arns = world["ctx"], world["arns"]
    sel = _select(ctx, [arns[GOOD]])
    calls = ctx.session.counter.total
    with pytest.raises(ParamsError, match="restore_via.*allowed: runbook, restore_testing"):
        restore_test(ctx, sel, restore_via="aws")
    with pytest.raises(ParamsError, match="copy.*restore_testing"):
        restore_test(ctx, sel, restore_via="restore_testing", copy="dr")
    assert ctx.session.counter.total == calls


def test_inventory_counts_the_plan_as_restore_test_coverage(world) -> None:
    ctx, arns = world["ctx"], world["arns"]
    inv = discover(ctx, progress=False, as_of=datetime.now(UTC))  # after the backups
    assert inv.errors.empty, inv.errors
    t = inv.table().set_index("name")
    want = [f"{PLAN}/pool_seven"]
    assert list(t.loc[GOOD, "restore_testing"]) == want
    assert list(t.loc[BAD, "restore_testing"]) == want
    assert list(t.loc[UNCOVERED, "restore_testing"]) == []
    assert t.loc[GOOD, "restore_testing_every_seconds"] == 86400  # daily cron
    # vital tiers test every 14 d: a daily plan with a recovery point in its window meets it
    assert bool(t.loc[GOOD, "restore_testing_met"]) and not bool(
        t.loc[UNCOVERED, "restore_testing_met"]
    )
    detail = inv.restore_testing.set_index("arn").loc[arns[GOOD]]
    assert (detail.validation_window_hours, detail.selection_window_days) == (30, 3)
    assert bool(detail.eligible_point) and detail.algorithm == "LATEST_WITHIN_WINDOW"
    written = record(ctx, inv)  # the ledger's declared schema takes the new columns
    assert written["inventory"]
    stored = ctx.ledger.read("inventory").set_index("name")
    assert json.loads(stored.loc[GOOD, "restore_testing"]) == want


def test_coverage_is_not_met_when_the_plan_is_too_rare_or_finds_no_point(world) -> None:
    """The plan judged for a tier testing every 2 h (daily is too rare); a recovery point
    outside the selection window, in an excluded vault or of another type is not one the
    plan may restore."""
    from runbook_lib.inventory.backup import RestoreTesting
    from runbook_lib.model import RecoveryPoint

    rt = RestoreTesting(plan=PLAN, selection="s", resource_type="DynamoDB", arns=["*"],
                        include_vaults=["*"], point_types=["SNAPSHOT"], selection_window_days=3)  # fmt: skip
    now = datetime.now(UTC)
    vault = f"arn:aws:backup:{REGION}:{ACCT}:backup-vault:v"
    old = RecoveryPoint(resource_arn="a", source="aws backup (v)", created=now - timedelta(days=4))
    new = RecoveryPoint(resource_arn="a", source="aws backup (v)", created=now - timedelta(days=1))
    assert not rt.may_restore(old, vault, now) and rt.may_restore(new, vault, now)
    excluded = RestoreTesting(**{**rt.__dict__, "exclude_vaults": [vault]})
    assert not excluded.may_restore(new, vault, now)
    continuous_only = RestoreTesting(**{**rt.__dict__, "point_types": ["CONTINUOUS"]})
    assert not continuous_only.may_restore(new, vault, now)
    assert not rt.matches("EBS", "arn:aws:ec2:x:1:volume/v", {})
    t = discover(world["ctx"], progress=False, as_of=datetime.now(UTC)).table().set_index("name")
    assert list(t.loc[RARE, "restore_testing"]) == [f"{PLAN}/pool_seven"]
    assert t.loc[RARE, "tier"] == "bronze-ish" and not bool(t.loc[RARE, "restore_testing_met"])


def test_a_denied_restore_testing_read_is_an_error_row_not_a_lost_scope(world, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from runbook_lib.inventory import backup as aws_backup

    def denied(scope, client):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
            "ListRestoreTestingPlans",
        )

    monkeypatch.setattr(aws_backup, "_restore_testing", denied)
    inv = discover(world["ctx"], progress=False, as_of=datetime.now(UTC))
    errors = inv.errors[inv.errors.resource == "restore testing plans"]
    assert errors[["account", "region", "service"]].values.tolist() == [[ACCT, REGION, "backup"]]
    assert "AccessDeniedException" in errors.error.iloc[0] and inv.partial
    t = inv.table().set_index("name")
    assert list(t.loc[GOOD, "restore_testing"]) == [] and not bool(
        t.loc[GOOD, "restore_testing_met"]
    )
    # the scope's AWS Backup recovery points still count
    assert str(t.loc[GOOD, "recovery_point_source"]).startswith("aws backup (")
