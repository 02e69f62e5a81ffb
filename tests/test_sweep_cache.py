"""A restore test of an ElastiCache Redis group killed (SIGKILL) after its scratch group and
the redis-server behind it exist: `runbook sweep` finds the scratch group by its tag, deletes
it, and the sandbox stops its redis-server (the port no longer answers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from runbook_sandbox.engines import common
from runbook_sandbox.engines import redis as redis_engine

with pytest.MonkeyPatch.context() as _mp:  # the suite turns engines off elsewhere: not here
    _mp.setenv(common.SWITCH, "on")
    _MISSING = redis_engine.missing_reason()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=_MISSING or "redis present")

import runbook_lib.restore as R  # noqa: E402
from runbook_lib.context import RunContext  # noqa: E402
from runbook_lib.ledger import Ledger  # noqa: E402
from runbook_lib.params import load_params  # noqa: E402
from runbook_lib.restore.run import PAUSE_ENV  # noqa: E402
from runbook_lib.services.elasticache import data  # noqa: E402
from runbook_lib.session import AwsSession, utcnow  # noqa: E402
from runbook_sandbox.server import running_sandbox  # noqa: E402

# not the demo's account, Region or names
ACCOUNT, REGION = "222222222222", "eu-central-1"
SOURCE = "zz-kill-me-cache-9"

CHILD = """
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


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(common.SWITCH, "on")  # the sandbox process starts real redis-servers
        with running_sandbox(None) as url:  # its own process, empty
            params = load_params("sandbox")
            session = AwsSession(params, endpoint_url=url)
            yield RunContext(
                params, session, Ledger(str(tmp_path_factory.mktemp("ledger"))), "t", utcnow()
            )


def _scratch(ec) -> list[dict]:
    return [
        g
        for g in ec.describe_replication_groups()["ReplicationGroups"]
        if g["ReplicationGroupId"].startswith("rt-") and g["Status"] != "deleting"
    ]


def test_sweep_removes_the_scratch_cache_and_its_server_after_a_killed_restore_test(ctx):
    ec = ctx.session.client("elasticache", ACCOUNT, REGION)
    group = ec.create_replication_group(
        ReplicationGroupId=SOURCE, ReplicationGroupDescription="killed run", Engine="redis",
        CacheNodeType="cache.t4g.micro",
        Tags=[{"Key": "backup-tier", "Value": "gold"}, {"Key": "owner", "Value": "ops team/ü"}],
    )["ReplicationGroup"]  # fmt: skip
    host, port = data.endpoint(group)
    with data.connect(data.Login(host=host, port=port)) as cache:
        for n in range(300):
            cache.client.set(f"key {n}\N{SNOWMAN}", b"\x00" * (n % 5))
    ec.create_snapshot(ReplicationGroupId=SOURCE, SnapshotName=f"{SOURCE}-snap")

    env = {**os.environ, PAUSE_ENV: "120", common.SWITCH: "on"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, ctx.session.endpoint_url, ctx.ledger.location, group["ARN"]],
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while not _scratch(ec) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
        left = _scratch(ec)
        assert left, "the restore test never created its scratch cache"
        scratch_host, scratch_port = data.endpoint(left[0])
        with data.connect(data.Login(host=scratch_host, port=scratch_port)) as cache:
            assert cache.size() == 300  # a real server, loaded from the snapshot's RDB file
        os.kill(child.pid, signal.SIGKILL)  # no finally runs: the worst case
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    name = left[0]["ReplicationGroupId"]
    assert [g["ReplicationGroupId"] for g in _scratch(ec)] == [name]  # only the sweep helps now
    with data.connect(data.Login(host=scratch_host, port=scratch_port)) as cache:
        assert cache.client.ping()  # and its redis-server still runs

    found = R.sweep(ctx, dry_run=True)  # not expired yet: kept
    row = found[found["name"] == name].iloc[0]
    assert row["action"] == "KEEP" and row["service"] == "elasticache"
    later = utcnow() + timedelta(hours=9)  # past the expiry (2 x the gold RTO of 4 h)
    done = R.sweep(ctx, dry_run=False, as_of=later)
    assert done.set_index("name").loc[name, "action"] == "DELETED"
    assert _scratch(ec) == []
    assert R.find_scratch(ctx, as_of=later).empty
    with pytest.raises(data.NotReachable):  # its redis-server was stopped
        with data.connect(data.Login(host=scratch_host, port=scratch_port), timeout=2):
            pass
    with data.connect(data.Login(host=host, port=port)) as cache:  # the source is untouched
        assert cache.size() == 300
