"""The session layer: one client per (service, account, Region), calls counted,
roles assumed per account (moto puts resources in the assumed role's account)."""

from __future__ import annotations

import time

from runbook_lib.params import load_params
from runbook_lib.session import AwsSession, CallCounter, is_not_supported


def test_clients_act_in_each_account_and_are_cached(shared_sandbox_url):
    s = AwsSession(load_params("sandbox"), endpoint_url=shared_sandbox_url)
    for acct in s.params.account_ids:
        assert s.client("sts", acct).get_caller_identity()["Account"] == acct
    assert s.client("dynamodb", "111111111111", "eu-west-1") is s.client(
        "dynamodb", "111111111111", "eu-west-1"
    )
    assert s.client("dynamodb", "111111111111", "eu-west-1") is not s.client(
        "dynamodb", "111111111111", "eu-central-1"
    )
    assert s.role_arn("222222222222") == "arn:aws:iam::222222222222:role/BackupRunbookRole"


def test_counter_counts_by_service_and_operation(shared_sandbox_url):
    s = AwsSession(load_params("sandbox"), endpoint_url=shared_sandbox_url)
    ddb = s.client("dynamodb", "111111111111", "eu-west-1")
    before = s.counter.snapshot()
    ddb.list_tables()
    ddb.list_tables()
    ddb.describe_table(TableName="orders")
    after = s.counter.snapshot()
    assert after[("dynamodb", "ListTables")] - before.get(("dynamodb", "ListTables"), 0) == 2
    assert after[("dynamodb", "DescribeTable")] - before.get(("dynamodb", "DescribeTable"), 0) == 1
    assert "dynamodb:DescribeTable" in s.counter.operations()
    assert s.counter.by_service()["dynamodb"] >= 3
    frame = s.counter.frame()
    assert list(frame.columns) == ["service", "operation", "calls"]


def test_injected_latency_applies_per_request(shared_sandbox_url):
    s = AwsSession(load_params("sandbox"), endpoint_url=shared_sandbox_url, latency=0.2)
    ddb = s.client("dynamodb", "111111111111", "eu-west-1")
    ddb.list_tables()
    t0 = time.monotonic()
    ddb.list_tables()
    assert time.monotonic() - t0 >= 0.2  # the sleep is a floor, not a timing target


def test_counter_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    c = CallCounter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: c.add("s3", "GetObject"), range(5000)))
    assert c.total == 5000


def test_not_supported_detection():
    from botocore.exceptions import ClientError

    assert is_not_supported(NotImplementedError("x"))
    err = ClientError({"Error": {"Code": "404", "Message": "Not yet implemented"}}, "X")
    assert is_not_supported(err)
    real = ClientError(
        {
            "Error": {"Code": "ResourceNotFoundException", "Message": "nope"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "X",
    )
    assert not is_not_supported(real)
