"""A restore test killed (SIGKILL) while its scratch resource exists: the sweep removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest

import runbook_lib.restore as R
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.restore.run import PAUSE_ENV
from runbook_lib.sandbox.server import running_sandbox
from runbook_lib.session import AwsSession, utcnow

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
