"""A KMS key that cannot be described leaves customer-managed unknown, and says so: each
failed DescribeKey is an errors row and the inventory is not called complete."""

from __future__ import annotations

from botocore.exceptions import ClientError

from runbook_lib.inventory import discover
from runbook_lib.params import load_params
from runbook_lib.session import AwsSession


def test_describe_key_failures_are_errors_rows(shared_sandbox_url):
    session = AwsSession(load_params("sandbox"), endpoint_url=shared_sandbox_url)
    p = session.params

    def throttled(**kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                          "DescribeKey")  # fmt: skip

    for account in p.account_ids:
        for region in p.regions:
            kms = session.client("kms", account, region)
            kms.meta.events.register("before-call.kms.DescribeKey", throttled)
    inv = discover(session, progress=False)
    kms_errors = inv.errors[inv.errors.service == "kms"]
    assert len(kms_errors) > 0 and kms_errors.error.str.contains("ThrottlingException").all()
    assert inv.partial
    assert "no: PARTIAL" in str(inv.summary().loc["complete", "value"])
    with_keys = inv.resources[
        inv.resources.kms_key.notna()
        & ~inv.resources.kms_key.astype(str).str.contains("alias/aws/")
    ]
    assert with_keys.cmk.isna().all()  # unknown, never assumed
