"""The restore-test fault matrix: AWS Backup restores (DynamoDB, S3, EBS, EFS) under lost
responses, status polls that keep failing, failed tagging, and kill -9 during the restore
job. One sweep after the copies' expiry must leave no scratch copy behind: tagged copies are
found by tag, untagged ones from the write-ahead record (``intents``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from faults import Fault, forget_clients, injecting

import runbook_lib.restore as R
from runbook_lib import intents
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.services.backup.restore import JOB_REF
from runbook_lib.session import AwsSession, utcnow
from runbook_sandbox.backup_ext import set_job_seconds
from runbook_sandbox.server import running_sandbox

ACCOUNT, REGION = "111111111111", "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
SERVICES = ("dynamodb", "s3", "ebs", "efs")
#: (label, faults) injected into one restore test each
MATRIX = [
    ("StartRestoreJob response lost", [Fault(service="backup", operation="StartRestoreJob", kind="lost", times=1)]),
    ("status poll keeps failing", [Fault(service="backup", operation="DescribeRestoreJob", kind="expired")]),
    ("status poll throttled then lost", [
        Fault(service="backup", operation="DescribeRestoreJob", kind="throttle", times=3),
        Fault(service="backup", operation="DescribeRestoreJob", kind="lost", skip=0, times=1)]),
    ("tagging fails", [Fault(service=s, operation=o, kind="expired") for s, o in (
        ("dynamodb", "TagResource"), ("s3", "PutBucketTagging"), ("ec2", "CreateTags"),
        ("efs", "TagResource"))]),
]  # fmt: skip

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
    ctx = RunContext(params, AwsSession(params, endpoint_url=url), Ledger(ledger), "killed", utcnow())
    R.restore_one(ctx, R.resource_ref(ctx.session, arn, tier="gold"), sources=["aws-backup"])
    """
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    with running_sandbox(None) as url:  # its own process, empty: this test makes what it needs
        params = load_params("sandbox")
        yield RunContext(params, AwsSession(params, endpoint_url=url),
                         Ledger(str(tmp_path_factory.mktemp("ledger"))), "matrix", utcnow())  # fmt: skip


def _sources(ctx) -> dict[str, str]:
    """One small resource per service, each with a completed AWS Backup recovery point."""
    s = ctx.session
    kms = s.client("kms", ACCOUNT, REGION)
    key = kms.create_key(Description="vault")["KeyMetadata"]["Arn"]
    backup = s.client("backup", ACCOUNT, REGION)
    backup.create_backup_vault(BackupVaultName="matrix", EncryptionKeyArn=key)
    ddb = s.client("dynamodb", ACCOUNT, REGION)
    table = ddb.create_table(
        TableName="src-table", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )["TableDescription"]["TableArn"]  # fmt: skip
    for i in range(5):
        ddb.put_item(TableName="src-table", Item={"pk": {"S": f"k{i}"}})
    s3 = s.client("s3", ACCOUNT, REGION)
    s3.create_bucket(Bucket="src-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="src-bucket", Key="a", Body=b"alpha")
    ec2 = s.client("ec2", ACCOUNT, REGION)
    vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    efs = s.client("efs", ACCOUNT, REGION)
    fs = efs.create_file_system(CreationToken="src-fs")["FileSystemId"]
    arns = {
        "dynamodb": table,
        "s3": "arn:aws:s3:::src-bucket",
        "ebs": f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{vol}",
        "efs": f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{fs}",
    }
    for arn in arns.values():
        job = backup.start_backup_job(BackupVaultName="matrix", ResourceArn=arn, IamRoleArn=ROLE)
        assert backup.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    return arns


def _copies(ctx, sources: dict[str, str]) -> list[str]:
    """Every resource in the sandbox that is not a source: what restores made."""
    s = ctx.session
    ddb = s.client("dynamodb", ACCOUNT, REGION)
    s3 = s.client("s3", ACCOUNT, REGION)
    ec2 = s.client("ec2", ACCOUNT, REGION)
    efs = s.client("efs", ACCOUNT, REGION)
    keep = {a.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for a in sources.values()}
    found = ddb.list_tables()["TableNames"] + [b["Name"] for b in s3.list_buckets()["Buckets"]]
    found += [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
    found += [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    return sorted(set(found) - keep)


def test_no_scratch_copy_survives_faults_kills_and_one_sweep(ctx):
    sources = _sources(ctx)
    runs, injected, statuses = 0, 0, []
    for label, faults in MATRIX:
        for service in SERVICES:
            with injecting(*faults) as inj:
                forget_clients(ctx.session)
                ref = R.resource_ref(ctx.session, sources[service], tier="gold")
                row = R.restore_one(ctx, ref, sources=["aws-backup"])
            forget_clients(ctx.session)
            runs += 1
            injected += inj.total
            statuses.append((label, service, row["status"], row["cleanup_status"]))
            assert inj.total >= 1, (label, service)
            if label == "StartRestoreJob response lost":  # retried with the same token
                assert row["status"] != "ERROR", row["reason"]

    # kill -9 while the restore job runs (after it started, before it completed)
    set_job_seconds(3, endpoint_url=ctx.session.endpoint_url)
    kills = 0
    try:
        for service in SERVICES:
            before = len(intents.read(ctx.ledger, purpose="restore-test"))
            child = subprocess.Popen([sys.executable, "-c", CHILD, ctx.session.endpoint_url,
                                      ctx.ledger.location, sources[service]])  # fmt: skip
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and child.poll() is None:
                    wal = intents.read(ctx.ledger, purpose="restore-test")
                    if len(wal) > before and any(
                        r.startswith(JOB_REF) for r in wal.iloc[-1]["refs"]
                    ):
                        break
                    time.sleep(0.1)
                assert child.poll() is None, "the restore test ended before it could be killed"
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
                kills += 1
            finally:
                if child.poll() is None:
                    child.kill()
    finally:
        set_job_seconds(0, endpoint_url=ctx.session.endpoint_url)

    time.sleep(3.5)  # the killed runs' jobs finish on the server
    later = utcnow() + timedelta(hours=9)  # past every copy's expiry (2 x the gold RTO)
    report = R.sweep(ctx, dry_run=False, as_of=later)
    errors = report[report["action"] == "ERROR"]
    left = _copies(ctx, sources)
    print(
        f"\nrestore fault matrix: {runs} restore tests under {injected} injected faults, "
        f"{kills} killed with SIGKILL during the restore job; one sweep deleted "
        f"{int((report['action'] == 'DELETED').sum())} copies "
        f"({int(report['detail'].str.contains('never tagged').sum())} found only from the "
        f"write-ahead record); orphans left: {len(left)}"
    )
    assert errors.empty, errors.to_dict("records")
    assert left == [], (left, statuses)
    # a second sweep has nothing left to do, and the settled intents are not read again
    again = R.sweep(ctx, dry_run=False, as_of=later)
    assert not (again["action"] == "DELETED").any()
    assert intents.expired(ctx.ledger, purpose="restore-test", now=later).empty
