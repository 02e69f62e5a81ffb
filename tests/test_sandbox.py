"""The sandbox: the demo estate is seeded as described, with real data and deliberate gaps."""

from __future__ import annotations

from runbook_lib.params import load_params
from runbook_lib.session import AwsSession
from runbook_sandbox import is_up
from runbook_sandbox.seed import demo_estate, is_seeded


def test_demo_estate_covers_every_service_and_has_gaps():
    estate = demo_estate(load_params("sandbox"))
    services = {r.service for r in estate}
    assert services == {
        "ebs",
        "rds",
        "aurora",
        "neptune",
        "dynamodb",
        "efs",
        "s3",
        "elasticache",
        "opensearch",
        "logs",
    }
    assert {r.region for r in estate} == {"eu-west-1", "eu-central-1"}
    assert any(r.tier is None for r in estate)  # unclassified
    assert any(not r.encrypted for r in estate)  # unencrypted
    assert any(r.service == "dynamodb" and not r.facts["pitr"] for r in estate)
    assert any(r.service == "s3" and not r.facts["versioned"] for r in estate)
    assert any(r.reproducible_from for r in estate)


def test_demo_estate_follows_the_params_not_fixed_names():
    p = load_params("example-production")
    estate = demo_estate(p)
    assert {r.account for r in estate} <= set(p.workload_accounts)
    assert {r.region for r in estate} <= set(p.regions)
    assert {r.tier for r in estate if r.tier} <= set(p.tiers)


def test_seeded_data_is_real(shared_sandbox_url):
    assert is_up(shared_sandbox_url)
    params = load_params("sandbox")
    s = AwsSession(params, endpoint_url=shared_sandbox_url)
    assert is_seeded(s)["resources"] == len(demo_estate(params))
    spec = {r.name: r for r in demo_estate(params)}
    ddb = s.client("dynamodb", "111111111111", "eu-west-1")
    count = sum(
        p["Count"] for p in ddb.get_paginator("scan").paginate(TableName="orders", Select="COUNT")
    )
    assert count == spec["orders"].facts["items"]
    bucket = next(n for n, r in spec.items() if r.service == "s3" and r.facts.get("versioned"))
    s3 = s.client("s3", "111111111111", "eu-west-1")
    versions = s3.list_object_versions(Bucket=bucket)
    f = spec[bucket].facts
    assert len(versions["Versions"]) == f["objects"] + f["overwrites"]
    assert len(versions["DeleteMarkers"]) == f["deletes"]
    events = s.client("logs", "111111111111", "eu-west-1").filter_log_events(
        logGroupName="/shop/app"
    )["events"]
    assert len(events) == spec["/shop/app"].facts["events"]
    # the second account's resources live in that account only
    assert s.client("dynamodb", "222222222222", "eu-west-1").list_tables()["TableNames"] == [
        "feature-store"
    ]


def test_default_amis_are_not_loaded(shared_sandbox_url):
    s = AwsSession(load_params("sandbox"), endpoint_url=shared_sandbox_url)
    snaps = s.client("ec2", "111111111111", "eu-west-1").describe_snapshots(OwnerIds=["self"])[
        "Snapshots"
    ]
    assert len(snaps) < 50


def test_sandbox_server_process_stops_when_its_parent_is_killed(tmp_path):
    """A parent killed with SIGKILL runs no clean-up; the server notices its stdin close."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import time\n"
        "from runbook_sandbox.server import running_sandbox\n"
        "with running_sandbox(None) as url:\n"
        "    print(url, flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    url = parent.stdout.readline().strip()
    assert is_up(url)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 20
    while is_up(url, timeout=1) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not is_up(url, timeout=1), "the sandbox server outlived its parent"


def test_sandbox_models_modify_cache_cluster_and_refuses_what_it_does_not_model():
    import boto3
    import pytest
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from runbook_sandbox import prepare_moto_environment

    prepare_moto_environment()
    with mock_aws():
        ec = boto3.client("elasticache", region_name="eu-west-1")
        ec.create_cache_cluster(CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheNodes=1)  # fmt: skip
        ec.modify_cache_cluster(
            CacheClusterId="c1", SnapshotRetentionLimit=7, ApplyImmediately=True
        )
        got = ec.describe_cache_clusters(CacheClusterId="c1")["CacheClusters"][0]
        assert got["SnapshotRetentionLimit"] == 7
        with pytest.raises(ClientError, match="InvalidParameterValue"):
            ec.modify_cache_cluster(CacheClusterId="c1", CacheNodeType="cache.m5.large")
        with pytest.raises(ClientError, match="allowed 0 to 35"):
            ec.modify_cache_cluster(CacheClusterId="c1", SnapshotRetentionLimit=99)
