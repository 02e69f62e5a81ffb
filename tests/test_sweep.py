"""A restore test killed (SIGKILL) while its scratch resource exists: the sweep removes it.
A clean-up or sweep whose existence check fails says so and the resource is removed later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

import runbook_lib.restore as R
import runbook_lib.restore.run as run_module
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.restore.naming import new_test_id
from runbook_lib.restore.run import PAUSE_ENV
from runbook_lib.session import AwsSession, utcnow
from runbook_sandbox.server import running_sandbox

ACCOUNT, REGION = "111111111111", "eu-west-1"

CHILD = textwrap.dedent(
    """
    import sys
    from runbook_lib.context import RunContext
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession, utcnow
    import runbook_lib.restore as R

    url, ledger, arn = sys.argv[1:4]
    params = load_params("sandbox")
    ctx = RunContext(params, AwsSession(params, endpoint_url=url), Ledger(ledger), "killed-run", utcnow())
    R.restore_one(ctx, R.resource_ref(ctx.session, arn, tier="gold"))
    """
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    with running_sandbox(None) as url:  # its own process, empty: this test makes what it needs
        params = load_params("sandbox")
        session = AwsSession(params, endpoint_url=url)
        yield RunContext(
            params, session, Ledger(str(tmp_path_factory.mktemp("ledger"))), "t", utcnow()
        )


def make_source(ctx, service: str) -> tuple[str, callable]:
    """A small source with a recovery point; returns its ARN and a probe for scratch copies."""
    if service == "dynamodb":
        ddb = ctx.session.client("dynamodb", ACCOUNT, REGION)
        t = ddb.create_table(
            TableName="kill-me", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )["TableDescription"]  # fmt: skip
        for i in range(50):
            ddb.put_item(TableName="kill-me", Item={"pk": {"S": f"k{i}"}})
        ddb.create_backup(TableName="kill-me", BackupName="kill-me-backup")
        return t["TableArn"], lambda: [
            n for n in ddb.list_tables()["TableNames"] if n.startswith("rt-")
        ]
    s3 = ctx.session.client("s3", ACCOUNT, REGION)
    s3.create_bucket(
        Bucket="kill-me-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_versioning(Bucket="kill-me-bucket", VersioningConfiguration={"Status": "Enabled"})
    for i in range(20):
        s3.put_object(Bucket="kill-me-bucket", Key=f"o/{i}", Body=b"x" * i)
    return "arn:aws:s3:::kill-me-bucket", lambda: [
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("rt-")
    ]


@pytest.mark.parametrize("service", ["dynamodb", "s3"])
def test_sweep_removes_what_a_killed_restore_test_left(ctx, service):
    arn, scratch = make_source(ctx, service)
    env = {**os.environ, PAUSE_ENV: "120"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, ctx.session.endpoint_url, ctx.ledger.location, arn], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not scratch() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
        left = scratch()
        assert left, "the restore test never created its scratch resource"
        os.kill(child.pid, signal.SIGKILL)  # no finally runs: the worst case
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert scratch() == left  # still there: only the sweep can help now

    found = R.sweep(ctx, dry_run=True)  # not expired yet: kept
    row = found[found["name"] == left[0]].iloc[0]
    assert row["action"] == "KEEP" and row["test_id"].startswith("rt-")
    later = utcnow() + timedelta(hours=9)  # past the expiry (2 x the gold RTO of 4 h)
    assert (
        R.sweep(ctx, dry_run=True, as_of=later).set_index("name").loc[left[0], "action"]
        == "WOULD_DELETE"
    )
    done = R.sweep(ctx, dry_run=False, as_of=later)
    assert done.set_index("name").loc[left[0], "action"] == "DELETED"
    assert scratch() == []
    assert R.find_scratch(ctx, as_of=later).empty


# ----------------------------------------------------------------------------- failed checks

#: service -> (client, the existence check's operation, a parameter only that check passes)
EXISTS_CALL = {
    "s3": ("s3", "HeadBucket", "Bucket"),
    "ebs": ("ec2", "DescribeVolumes", "VolumeIds"),
    "efs": ("efs", "DescribeFileSystems", "FileSystemId"),
    "rds": ("rds", "DescribeDBInstances", "DBInstanceIdentifier"),
    "aurora": ("rds", "DescribeDBClusters", "DBClusterIdentifier"),
    "elasticache": ("elasticache", "DescribeReplicationGroups", "ReplicationGroupId"),
}


@contextmanager
def existence_check_fails(ctx, service: str, code: str):
    """The service answers ``code`` (Throttling, AccessDenied) to the existence check of one
    resource, raised by botocore itself on the session's client (listings still answer)."""
    client_name, operation, param = EXISTS_CALL[service]
    client = ctx.session.client(client_name, ACCOUNT, REGION)
    hits = []

    def fail(params=None, model=None, **_):
        if model.name == operation and param in (params or {}):
            hits.append(operation)
            raise ClientError(
                {"Error": {"Code": code, "Message": f"{code} injected by the test"}}, operation
            )

    client.meta.events.register("before-parameter-build", fail)
    try:
        yield hits
    finally:
        client.meta.events.unregister("before-parameter-build", fail)


def make_restorable(ctx, service: str) -> tuple[str, list[str], callable]:
    """A source with a native recovery point; its ARN, the source to restore from, and a
    probe listing the scratch copies (read with plain calls, not the restore code)."""
    if service == "s3":
        s3 = ctx.session.client("s3", ACCOUNT, REGION)
        s3.create_bucket(
            Bucket="flaky-src", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        s3.put_bucket_versioning(Bucket="flaky-src", VersioningConfiguration={"Status": "Enabled"})
        for i in range(5):
            s3.put_object(Bucket="flaky-src", Key=f"o/{i}", Body=b"y" * i)
        return (
            "arn:aws:s3:::flaky-src",
            ["s3-versions"],
            lambda: [
                b["Name"]
                for b in s3.list_buckets()["Buckets"]
                if b["Name"].startswith("rt-flaky-src")
            ],
        )
    if service == "ebs":
        ec2 = ctx.session.client("ec2", ACCOUNT, REGION)
        vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
        ec2.create_snapshot(VolumeId=vol)
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{vol}"
        return (
            arn,
            ["ebs-snapshot"],
            lambda: [
                v["VolumeId"]
                for v in ec2.describe_volumes(
                    Filters=[{"Name": "tag:restore-test-source", "Values": [arn]}]
                )["Volumes"]
            ],
        )
    rds = ctx.session.client("rds", ACCOUNT, REGION)
    db = rds.create_db_instance(
        DBInstanceIdentifier="flaky-db", Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin1", MasterUserPassword="not-a-secret-1",
    )["DBInstance"]  # fmt: skip
    rds.create_db_snapshot(DBInstanceIdentifier="flaky-db", DBSnapshotIdentifier="flaky-db-snap")
    return (
        db["DBInstanceArn"],
        ["rds-snapshot"],
        lambda: [
            d["DBInstanceIdentifier"]
            for d in rds.describe_db_instances()["DBInstances"]
            if d["DBInstanceIdentifier"].startswith("rt-flaky-db")
        ],
    )


@pytest.mark.parametrize("service", ["s3", "ebs", "rds"])
def test_a_clean_up_whose_check_is_throttled_is_failed_and_the_sweep_removes_it_later(
    ctx, service, monkeypatch
):
    arn, sources, scratch = make_restorable(ctx, service)
    real_cleanup = run_module._cleanup
    hits: list[str] = []

    def cleanup_while_throttled(*args, **kwargs):
        with existence_check_fails(ctx, service, "Throttling") as h:
            try:
                return real_cleanup(*args, **kwargs)
            finally:
                hits.extend(h)

    monkeypatch.setattr(run_module, "_cleanup", cleanup_while_throttled)
    row = R.restore_one(ctx, R.resource_ref(ctx.session, arn, tier="gold"), sources=sources)
    monkeypatch.undo()

    assert row["scratch_arn"], row["reason"]  # the restore did make a scratch copy
    assert hits, "the existence check was never made"
    assert row["cleanup_status"] == "FAILED", row["cleanup_detail"]
    assert row["status"] == R.FAIL and "scratch resource not deleted" in row["reason"]
    assert "Throttling" in row["cleanup_detail"] and row["test_id"] in row["cleanup_detail"]
    left = scratch()
    assert len(left) == 1  # the copy is still there, as the row says

    later = utcnow() + timedelta(hours=9)  # past its expiry (2 x the gold RTO of 4 h)
    found = R.find_scratch(ctx, as_of=later)
    mine = found[found["test_id"] == row["test_id"]]
    assert list(mine["service"]) == [service] and bool(mine["expired"].iloc[0])
    done = R.sweep(ctx, dry_run=False, as_of=later)
    assert list(done[done["test_id"] == row["test_id"]]["action"]) == ["DELETED"]
    assert scratch() == []


def make_scratch(ctx, service: str, test_id: str) -> tuple[callable, str]:
    """An expired scratch resource made directly (as a killed test leaves one); returns a
    probe (does it still exist, by a plain call) and the resource's name in the sweep."""
    tags = {"restore-test": test_id, "restore-test-expires": "2020-01-01T00:00:00Z"}
    kv = [{"Key": k, "Value": v} for k, v in tags.items()]
    name = f"rt-flaky-{service}-{test_id[-6:]}"
    if service == "s3":
        s3 = ctx.session.client("s3", ACCOUNT, REGION)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": kv})
        s3.put_object(Bucket=name, Key="k", Body=b"v")
        return lambda: name in [b["Name"] for b in s3.list_buckets()["Buckets"]], name
    if service == "ebs":
        ec2 = ctx.session.client("ec2", ACCOUNT, REGION)
        vol = ec2.create_volume(
            AvailabilityZone=f"{REGION}a", Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": kv + [{"Key": "Name", "Value": name}]}],
        )["VolumeId"]  # fmt: skip
        return lambda: vol in [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]], name
    if service == "efs":
        efs = ctx.session.client("efs", ACCOUNT, REGION)
        fs = efs.create_file_system(CreationToken=name, Tags=kv + [{"Key": "Name", "Value": name}])[
            "FileSystemId"
        ]
        return (
            lambda: fs in [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]],
            name,
        )
    rds = ctx.session.client("rds", ACCOUNT, REGION)
    if service == "rds":
        rds.create_db_instance(
            DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="admin1", MasterUserPassword="not-a-secret-1", Tags=kv,
        )  # fmt: skip
        return (
            lambda: (
                name
                in [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
            ),
            name,
        )
    if service == "aurora":
        rds.create_db_cluster(
            DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="admin1",
            MasterUserPassword="not-a-secret-1", Tags=kv,
        )  # fmt: skip
        return (
            lambda: (
                name in [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
            ),
            name,
        )
    ec = ctx.session.client("elasticache", ACCOUNT, REGION)
    ec.create_replication_group(
        ReplicationGroupId=name, ReplicationGroupDescription="scratch", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=1, Tags=kv,
    )  # fmt: skip
    return lambda: any(
        g["ReplicationGroupId"] == name and g.get("Status") != "deleting"
        for g in ec.describe_replication_groups()["ReplicationGroups"]
    ), name


@pytest.mark.parametrize("service", sorted(EXISTS_CALL))
def test_the_sweep_reports_an_error_not_a_deletion_when_its_check_is_denied(ctx, service):
    test_id = new_test_id(utcnow())
    exists, name = make_scratch(ctx, service, test_id)
    with existence_check_fails(ctx, service, "AccessDenied") as hits:
        first = R.sweep(ctx, dry_run=False)
    assert hits, "the existence check was never made"
    row = first[first["test_id"] == test_id].iloc[0]
    assert row["action"] == "ERROR" and "AccessDenied" in row["detail"], row.to_dict()
    assert exists()  # nothing was deleted, and the sweep does not say it was

    again = R.sweep(ctx, dry_run=False)  # the check answers again: found by tag, removed
    assert list(again[again["test_id"] == test_id]["action"]) == ["DELETED"]
    assert not exists()


def test_runbook_sweep_exits_non_zero_when_a_resource_could_not_be_handled(monkeypatch, capsys):
    """cron and the scheduler must see ERROR rows: a scratch copy may be left behind."""
    import pandas as pd

    from runbook_lib import cli

    rows = [{"test_id": "rt-x", "action": "ERROR", "detail": "AccessDenied"}]
    monkeypatch.setattr("runbook_lib.context.start", lambda *a, **k: object())
    monkeypatch.setattr("runbook_lib.restore.sweep", lambda ctx, dry_run: pd.DataFrame(rows))
    assert cli.main(["sweep", "--apply"]) == 1
    assert "could not be checked or deleted" in capsys.readouterr().err
    rows[0]["action"] = "DELETED"
    assert cli.main(["sweep", "--apply"]) == 0
