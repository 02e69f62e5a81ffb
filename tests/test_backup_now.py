"""backup_now on a seeded sandbox: a plan without approval, real recovery points with
fingerprints and canaries with it, native backups, bad input refused before any call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd
import pytest

from runbook_lib import backup_now
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.fingerprint import fingerprint_dynamodb_items
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.protect.iam import iam_action, is_read_only
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process
from runbook_sandbox.backup_ext import clear_faults, set_job_seconds
from runbook_sandbox.seed import seed_demo_estate

A, R1 = "111111111111", "eu-west-1"


@pytest.fixture(scope="module")
def sandbox():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        session = AwsSession(load_params("sandbox"), endpoint_url=url)
        seed_demo_estate(session)
        yield session


@pytest.fixture
def ctx(sandbox, tmp_path):
    return RunContext(
        sandbox.params, sandbox, Ledger(str(tmp_path / "ledger")), "bn-run", datetime.now(UTC)
    )


def test_without_approval_shows_the_plan_and_changes_nothing(sandbox, ctx):
    sandbox.counter.reset()
    plan = backup_now.run(ctx)
    ops = {iam_action(o) for o in sandbox.counter.operations()} - {"sts:AssumeRole"}
    assert all(is_read_only(o) for o in ops), ops
    # default: the strictest tier (gold), reproducible copies left out
    assert set(plan.tier) == {"gold"} and set(plan.status) == {"PLANNED"}
    assert set(plan.resource_name) == {
        "orders",
        f"shop-assets-{A}-{R1}",
        "shop-web-data",
        "shop-db",
        "catalog-aurora",
    }
    assert plan.set_index("resource_name").loc["orders", "fingerprint"] == "dynamodb-items"
    assert ctx.ledger.read("backups").empty


def test_bad_input_is_refused_before_any_call(sandbox, ctx):
    sandbox.counter.reset()
    with pytest.raises(ParamsError, match="arns: 'table/orders' is not an ARN"):
        backup_now.run(ctx, arns=["table/orders"], approve=True)
    with pytest.raises(ParamsError, match="tag_filter"):
        backup_now.run(ctx, tag_filter="backup-tier", approve=True)
    with pytest.raises(ParamsError, match="allowed: auto, native"):
        backup_now.run(ctx, method="fast", approve=True)
    assert sandbox.counter.total == 0


def test_backups_with_fingerprints_and_canaries(sandbox, ctx):
    ddb = sandbox.client("dynamodb", A, R1)
    before = ddb.describe_table(TableName="orders")["Table"]["ItemCount"]
    out = backup_now.run(ctx, approve=True)
    assert list(out.columns) == backup_now.COLUMNS
    assert set(out.status) == {"COMPLETED"}, out[["resource_name", "status", "status_message"]]
    assert set(out.method) == {"aws-backup"}
    assert out.recovery_point_arn.str.startswith(f"arn:aws:backup:{R1}:{A}:recovery-point:").all()
    assert out.encrypted.all() and out.kms_key.str.startswith("arn:aws:kms:").all()
    rows = ctx.ledger.read("backups")
    assert len(rows) == 5 and set(rows.run_id) == {"bn-run"}
    orders = rows.set_index("resource_name").loc["orders"]
    # the canary is in the table and in the fingerprint
    assert orders.canary_key.startswith("pk=__restore_canary__#") and orders.canary_key.endswith(
        "|sk=canary"
    )
    items = [
        it
        for page in ddb.get_paginator("scan").paginate(TableName="orders")
        for it in page["Items"]
    ]
    assert len(items) == before + 1 == orders.fingerprint_count
    assert fingerprint_dynamodb_items(items, ["pk", "sk"]).hexdigest == orders.fingerprint_digest
    side = backup_now.read_sidecar(orders.fingerprint_location)
    assert side.count == orders.fingerprint_count and orders.canary_key in side.key_digests
    assert orders.fingerprint_location.startswith(
        str(ctx.ledger.location) + "/fingerprints/bn-run/"
    )
    # the recovery point restores to exactly the fingerprinted content
    backup = sandbox.client("backup", A, R1)
    job = backup.start_restore_job(
        RecoveryPointArn=orders.recovery_point_arn,
        IamRoleArn=f"arn:aws:iam::{A}:role/runbook-backup-service",
        Metadata={"targetTableName": "orders-restore-check"},
        ResourceType="DynamoDB",
    )
    assert backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])["Status"] == "COMPLETED"
    restored = [
        it
        for page in ddb.get_paginator("scan").paginate(TableName="orders-restore-check")
        for it in page["Items"]
    ]
    assert fingerprint_dynamodb_items(restored, ["pk", "sk"]).hexdigest == orders.fingerprint_digest
    s3row = rows.set_index("service").loc["s3"]
    assert (
        s3row.canary_key.startswith("__restore_canary__/")
        and s3row.fingerprint_kind == "s3-objects"
    )
    assert pd.Timestamp(s3row.canary_written_at) <= pd.Timestamp(s3row.fingerprint_taken_at)
    assert pd.isna(
        rows.set_index("service").loc["ebs"].fingerprint_kind
    )  # the sandbox holds no blocks


def test_the_plan_shows_the_method_the_run_will_use(sandbox, ctx):
    """Not approved, method=native: the plan names each service's own backup where it has
    one (what the approved run does), AWS Backup where it has none."""
    carts = f"arn:aws:dynamodb:{R1}:{A}:table/carts"
    bucket = f"arn:aws:s3:::shop-exports-{A}-{R1}"
    plan = backup_now.run(ctx, arns=[carts, bucket], method="native").set_index("resource_arn")
    assert plan.loc[carts, "method"] == "dynamodb-backup" and plan.loc[carts, "vault"] == ""
    assert plan.loc[bucket, "method"] == "aws-backup"
    auto = backup_now.run(ctx, arns=[carts]).set_index("resource_arn")
    assert auto.loc[carts, "method"] == "aws-backup"
    assert set(plan.status) == {"PLANNED"}


def test_native_backups_and_tag_filter(sandbox, ctx):
    out = backup_now.run(
        ctx, tag_filter="backup-tier=bronze", approve=True, method="native", write_canary=False
    )
    by = out.set_index("resource_name")
    assert "orders-dr-index" not in by.index  # reproducible-from: left out unless asked for by ARN
    assert by.loc["shop-sessions-cache", "method"] == "elasticache-snapshot"
    assert by.loc["shop-sessions-cache", "status"] == "COMPLETED"
    assert by.loc["/analytics/jobs", "status"] == "NO_METHOD"
    # S3 has no native backup API: AWS Backup is used even when native is asked for
    assert by.loc[f"shop-exports-{A}-{R1}", "method"] == "aws-backup"
    assert out.canary_key.isna().all()
    carts = f"arn:aws:dynamodb:{R1}:{A}:table/carts"
    out = backup_now.run(ctx, arns=carts, approve=True, method="native")
    row = out.iloc[0]
    assert (row.method, row.status) == ("dynamodb-backup", "COMPLETED")
    assert row.native_id.startswith(f"{carts}/backup/") and row.recovery_point_arn == row.native_id
    assert row.fingerprint_count == 801  # 800 seeded items + the canary


def test_timeout_leaves_an_honest_status(sandbox, ctx):
    set_job_seconds(30)
    try:
        arn = f"arn:aws:dynamodb:{R1}:{A}:table/orders"
        out = backup_now.run(
            ctx, arns=[arn], approve=True, timeout=0.5, poll_every=0.2, write_canary=False
        )
    finally:
        clear_faults()
    assert out.status.tolist() == ["TIMEOUT"] and "still running" in out.status_message.iloc[0]
    with pytest.raises(ParamsError, match="was not found"):
        backup_now.run(ctx, arns=[f"arn:aws:dynamodb:{R1}:{A}:table/nope"], approve=True)


def test_a_status_that_cannot_be_read_is_unknown_not_failed(sandbox, ctx):
    """Every DescribeBackupJob fails (throttled): the backup itself succeeds in AWS, so the
    row must say UNKNOWN (it said FAILED), and the recovery point is there."""
    from botocore.exceptions import ClientError

    backup = sandbox.client("backup", A, R1)

    def throttle(**kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                          "DescribeBackupJob")  # fmt: skip

    backup.meta.events.register("before-call.backup.DescribeBackupJob", throttle)
    try:
        arn = f"arn:aws:dynamodb:{R1}:{A}:table/carts"
        out = backup_now.run(
            ctx, arns=[arn], approve=True, timeout=1.0, poll_every=0.2, write_canary=False
        )
    finally:
        backup.meta.events.unregister("before-call.backup.DescribeBackupJob", throttle)
    row = out.iloc[0]
    assert row.status == "UNKNOWN", (row.status, row.status_message)
    assert (
        "ThrottlingException" in row.status_message and "may have completed" in row.status_message
    )
    points = backup.list_recovery_points_by_resource(ResourceArn=arn)["RecoveryPoints"]
    assert points  # the backup did happen


def test_the_plugin_registry_agrees_with_the_service_specs():
    """Every service backs up through AWS Backup or a registered native method, or declares
    why not; the native methods, canaries and fingerprints match the ServiceSpec fields."""
    from runbook_lib import services

    services.load("backup_now")
    for spec in services.specs().values():
        provided = spec.aws_backup or spec.name in backup_now.NATIVE
        assert provided != bool(spec.unsupported.get("backup_now")), spec.name
        if spec.native_backup:
            assert backup_now.NATIVE[spec.name].method == spec.native_backup
        else:
            assert spec.name not in backup_now.NATIVE
        assert (spec.name in backup_now.FINGERPRINTS) == bool(spec.fingerprint), spec.name
        assert set(backup_now.CANARIES) <= set(backup_now.FINGERPRINTS)  # canary is fingerprinted
    assert "backup_now has no on-demand backup for logs: " in backup_now.no_method_reason("logs")


def test_canary_keys_are_the_ones_restore_reads():
    from runbook_lib.restore.canary import DYNAMODB_PREFIX, S3_PREFIX, canary_time, stamp

    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert f"{DYNAMODB_PREFIX}{stamp(now)}" == "__restore_canary__#20240506T070809.123456Z"
    assert f"{S3_PREFIX}{stamp(now)}" == "__restore_canary__/20240506T070809.123456Z"
    assert canary_time(f"{DYNAMODB_PREFIX}{stamp(now)}") == now
    assert canary_time(f"{S3_PREFIX}{stamp(now)}") == now
