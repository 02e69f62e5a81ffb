"""The runbooks never seed a server they did not start, and the seeder works in any Region
(us-east-1 takes no S3 LocationConstraint)."""

from __future__ import annotations

import copy

import pytest
import yaml

from runbook_lib.context import start
from runbook_lib.params import params_dir, validate_params
from runbook_lib.session import AwsSession
from runbook_sandbox import ENV_URL
from runbook_sandbox.seed import ensure_seeded
from runbook_sandbox.server import running_sandbox


@pytest.fixture(scope="module")
def empty_server():
    with running_sandbox(None) as url:  # started with no seed: empty
        yield url


def _tables_everywhere(session: AwsSession) -> int:
    p = session.params
    return sum(
        len(session.client("dynamodb", a, r).list_tables()["TableNames"])
        for a in p.account_ids
        for r in p.regions
    )


def test_a_named_endpoint_is_used_as_it_is_never_seeded(empty_server, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_URL, empty_server)
    rb = start("sandbox", ledger_location=str(tmp_path), setup_display=False)
    assert rb.session.endpoint_url == empty_server
    assert _tables_everywhere(rb.session) == 0  # it used to write the demo estate here
    assert rb.session.client("s3").list_buckets()["Buckets"] == []


def test_seeder_works_in_us_east_1_and_other_accounts(empty_server):
    d = copy.deepcopy(yaml.safe_load((params_dir() / "sandbox.yaml").read_text()))
    d.update(
        name="elsewhere",
        regions=["us-east-1", "ap-southeast-2"],
        accounts=[
            {"id": "012345670123", "name": "app", "kind": "workload"},
            {"id": "999988887777", "name": "vault", "kind": "backup"},
        ],
    )
    d["tiers"]["gold"].update(copy_region="ap-southeast-2", copy_account="999988887777")
    d["tiers"]["silver"].update(copy_region="ap-southeast-2")
    params = validate_params(d)
    ensure_seeded(params, empty_server)
    s = AwsSession(params, endpoint_url=empty_server)
    buckets = s.client("s3", "012345670123", "us-east-1").list_buckets()["Buckets"]
    regions = {
        s.client("s3", "012345670123", "us-east-1").get_bucket_location(Bucket=b["Name"])[
            "LocationConstraint"
        ]
        for b in buckets
    }
    assert buckets and None in regions  # us-east-1 buckets report no LocationConstraint
    assert len(s.client("dynamodb", "012345670123", "us-east-1").list_tables()["TableNames"]) > 0
