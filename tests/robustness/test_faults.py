"""The fault injector does what it says, on each wire protocol the runbooks meet, so the
fault matrix built on it tests what it claims to."""

from __future__ import annotations

import os

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from faults import Fault, injecting

from runbook_lib.params import load_params
from runbook_lib.session import AwsSession
from runbook_sandbox import ENV_URL


@pytest.fixture
def session():
    params = load_params("sandbox")
    return AwsSession(params, endpoint_url=os.environ[ENV_URL])


CALLS = {  # protocol: (service id, operation, call)
    "json": ("dynamodb", "ListTables", lambda s: s.client("dynamodb").list_tables()),
    "rest-xml": ("s3", "ListBuckets", lambda s: s.client("s3").list_buckets()),
    "ec2": ("ec2", "DescribeVolumes", lambda s: s.client("ec2").describe_volumes()),
    "query": ("rds", "DescribeDBInstances", lambda s: s.client("rds").describe_db_instances()),
    "rest-json": ("backup", "ListBackupVaults", lambda s: s.client("backup").list_backup_vaults()),
}


@pytest.mark.parametrize("protocol", sorted(CALLS))
def test_each_kind_fails_the_call_as_aws_would(session, protocol):
    service, operation, call = CALLS[protocol]
    expected = {
        "throttle": ("ClientError", ("ThrottlingException", "SlowDown")),
        "5xx": ("ClientError", ("ServiceUnavailable",)),
        "expired": ("ClientError", ("ExpiredTokenException",)),
        "timeout": ("ReadTimeoutError", ()),
        "lost": ("ConnectionClosedError", ()),
    }
    for kind, (error, codes) in expected.items():
        with injecting(Fault(service=service, operation=operation, kind=kind)) as inj:
            fresh = AwsSession(session.params, endpoint_url=session.endpoint_url)
            # two attempts, no long back-off: the retries are botocore's, tested elsewhere
            fresh.config = fresh.config.merge(
                Config(retries={"mode": "standard", "max_attempts": 2})
            )
            with pytest.raises((ClientError, ReadTimeoutError, ConnectionClosedError)) as err:
                call(fresh)
        assert error in [c.__name__ for c in type(err.value).__mro__], (kind, err.value)
        if codes:
            assert err.value.response["Error"]["Code"] in codes, (kind, err.value.response)
        assert inj.injected[(service, operation, kind)] >= 1


def test_retryable_faults_are_absorbed_by_retries_when_few(session):
    for kind in ("throttle", "5xx", "timeout"):
        with injecting(
            Fault(service="dynamodb", operation="ListTables", kind=kind, times=2)
        ) as inj:
            fresh = AwsSession(session.params, endpoint_url=session.endpoint_url)
            assert "TableNames" in fresh.client("dynamodb").list_tables()
        assert inj.injected[("dynamodb", "ListTables", kind)] == 2


def test_a_lost_response_still_did_the_work(session):
    name = "fault-lost-bucket"
    with injecting(Fault(service="s3", operation="CreateBucket", kind="lost")):
        fresh = AwsSession(session.params, endpoint_url=session.endpoint_url)
        with pytest.raises(ConnectionClosedError):
            fresh.client("s3").create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
    try:
        assert name in [b["Name"] for b in session.client("s3").list_buckets()["Buckets"]]
    finally:
        session.client("s3").delete_bucket(Bucket=name)
