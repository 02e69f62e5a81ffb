"""An incident restore never creates a resource under the source's own name: for services
whose name is a Name tag (EBS, EFS) too, where AWS itself would not refuse it."""

from __future__ import annotations

import pytest

from runbook_lib import restore
from runbook_lib.context import start

A, R = "111111111111", "eu-west-1"


@pytest.fixture(scope="module")
def rb(tmp_path_factory):
    return start("sandbox", ledger_location=str(tmp_path_factory.mktemp("l")), setup_display=False)


def _named(rb, service: str, name: str) -> str:
    from runbook_lib.restore.resources import discover_resources

    inv = discover_resources(rb)
    row = inv[(inv.service == service) & (inv.name == name)]
    assert len(row) == 1, inv[inv.service == service][["name", "arn"]]
    return str(row.arn.iloc[0])


@pytest.mark.parametrize("service,name", [("ebs", "shop-web-data"), ("dynamodb", "carts")])
def test_the_source_name_is_refused_as_target(rb, service, name):
    arn = _named(rb, service, name)
    plan = restore.plan_incident_restore(rb, arn, target_name=name)
    assert plan.blocked.startswith(f"target_name {name!r} is the source's own name"), plan.blocked
    result = restore.apply_incident_restore(rb, plan, approve=True)
    assert result.status.iloc[0] == "BLOCKED"


def test_a_name_check_that_fails_blocks_the_plan(rb):
    """S3 answers 403 for a bucket name another account owns; a throttled check is alike:
    the plan is BLOCKED with the reason, never treated as a free name."""
    from botocore.exceptions import ClientError

    arn = _named(rb, "dynamodb", "orders")  # has PITR: a recovery point
    ddb = rb.session.client("dynamodb", A, R)

    def deny(params, **_):
        if params.get("TableName") == "orders-copy":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                              "DescribeTable")  # fmt: skip

    ddb.meta.events.register("before-parameter-build.dynamodb.DescribeTable", deny)
    try:
        plan = restore.plan_incident_restore(rb, arn, target_name="orders-copy")
    finally:
        ddb.meta.events.unregister("before-parameter-build.dynamodb.DescribeTable", deny)
    assert plan.blocked.startswith("could not check whether a dynamodb named 'orders-copy'")
    assert "AccessDeniedException" in plan.blocked
