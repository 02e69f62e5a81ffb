"""The content of restored ElastiCache Redis caches, proven on the sandbox with a real
redis-server behind each replication group: backup-time key fingerprint and canary key, a
snapshot that is an RDB file, a restore that loads it, PASS on content; a scratch copy edited
behind the runbook's back FAILs naming the keys; a cache written while the backup runs gives
the bounded verdict; an unreachable endpoint is a NOT_REACHABLE error, not a hang; no AUTH
token or password in any file a run writes; no server left behind."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from runbook_sandbox.engines import common
from runbook_sandbox.engines import redis as redis_engine

with pytest.MonkeyPatch.context() as _mp:  # the suite turns engines off elsewhere: not here
    _mp.setenv(common.SWITCH, "on")
    _MISSING = redis_engine.missing_reason()
needs_redis = pytest.mark.skipif(bool(_MISSING), reason=_MISSING or "redis present")


@pytest.fixture(autouse=True, scope="module")
def _engines_here():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(common.SWITCH, "on")
        yield


import runbook_lib.backup_now as backup_now  # noqa: E402
import runbook_lib.restore as R  # noqa: E402
from runbook_lib.errors import ParamsError  # noqa: E402
from runbook_lib.restore.model import ResourceRef, Restored  # noqa: E402
from runbook_lib.restore.validate import checks_for  # noqa: E402
from runbook_lib.services.elasticache import data  # noqa: E402
from runbook_lib.services.elasticache import restore as ec_restore  # noqa: E402
from runbook_lib.services.rds import data as rds_data  # noqa: E402
from runbook_lib.session import utcnow  # noqa: E402

ACCOUNT, REGION = "111111111111", "eu-west-1"
DEMO = "shop-sessions-cache"  # the demo's Redis group: 3,000 keys, no AUTH token
TOKENED = "zz-tokened-cache-7"  # made here: an AUTH token in a secret named by a tag
TOKEN = "t0ken-FOR-the-zz-cache-" + "q" * 9
SECRET = "caches/zz-tokened-cache-7/auth"


# --------------------------------------------------------------------------- no server needed


def test_unreachable_endpoint_is_a_clear_verdict_not_a_hang():
    login = data.Login(host="127.0.0.1", port=common.free_port(), password="pw-zz-91")
    started = time.monotonic()
    with pytest.raises(data.NotReachable, match="NOT_REACHABLE") as err:
        with data.connect(login, timeout=2):
            pass
    assert "pw-zz-91" not in str(err.value)
    assert time.monotonic() - started < 60  # a refused port answers at once; never a hang


def test_only_redis_with_a_real_server_is_read_on_the_sandbox():
    class Session:
        def __init__(self, sandbox: bool) -> None:
            self.sandbox = sandbox

    made_up = {
        "Engine": "redis",
        "NodeGroups": [
            {"PrimaryEndpoint": {"Address": "master.x.cache.amazonaws.com", "Port": 6379}}
        ],
    }
    assert not data.readable(Session(True), made_up)
    assert data.readable(Session(False), made_up)
    assert not data.readable(Session(False), {**made_up, "ClusterEnabled": True})
    assert not data.readable(Session(False), {**made_up, "Engine": "memcached"})
    node = {"Engine": "valkey", "CacheNodes": [{"Endpoint": {"Address": "127.0.0.1", "Port": 1}}]}
    assert data.readable(Session(True), node)


def test_key_fingerprint_is_order_independent_and_names_keys_types_and_ttls():
    def k(key, kind="string", ttl=False, digest="d1"):
        return data.KeyInfo(key=key, type=kind, ttl=ttl, digest=digest)

    base = [k("a"), k("b", "hash", digest="d2"), k("__restore_canary__#20260101T000000Z")]
    fp = data.fingerprint(base)
    assert fp.matches(data.fingerprint(list(reversed(base))))
    assert data.fingerprint(base, with_canary=False).count == 2
    for changed, named in (
        ([k("a2"), *base[1:]], "a2"),  # same value under another name
        ([k("a", ttl=True), *base[1:]], "a"),  # a TTL appeared
        ([k("a", "list"), *base[1:]], "a"),  # another type
        ([k("a", digest="d9"), *base[1:]], "a"),  # another value
    ):
        other = data.fingerprint(changed)
        assert not fp.matches(other)
        assert named in fp.describe_difference(other)
    assert data.fingerprint(base, key_limit=2).key_digests == {}  # large caches: no per-key list


def test_sql_checks_are_validated_before_anything_runs():
    ref = ResourceRef("arn:aws:rds:ap-south-2:999:db:Odd_DB", "rds", "999", "ap-south-2",
                      "Odd_DB", tags={"team": "ledger ops"})  # fmt: skip
    good = {"n": {"query": "SELECT 1", "expect": 1}}
    assert checks_for({"tag:team=ledger ops": {"sql": good}}, ref)["sql"] == good
    assert checks_for({"tag:team=other": {"sql": good}}, ref) == {}
    both = checks_for(
        {"rds": {"sql": good}, "Odd_DB": {"sql": {"m": {"query": "SELECT 2", "expect": "2"}}}},
        ref,
    )
    assert set(both["sql"]) == {"n", "m"}  # sql checks of several selectors add up
    bad = [
        ({"Odd_DB": {"sql": "SELECT 1"}}, "expected a mapping of check name"),
        (
            {"Odd_DB": {"sql": {"n": {"query": "SELECT 1"}}}},
            r"expected exactly \['query', 'expect'\]",
        ),
        ({"Odd_DB": {"sql": {"n": {"query": " ", "expect": 1}}}}, "a non-empty SQL text"),
        ({"Odd_DB": {"sql": {"n": {"query": "SELECT 1", "expect": [1]}}}}, "a single value"),
        ({"tag:team": {"min_count": 1}}, "tag:KEY=VALUE"),
    ]
    for checks, message in bad:
        with pytest.raises(ParamsError, match=message) as err:
            if "tag:team" in checks:
                checks_for(checks, ResourceRef("a", "rds", "", "", "tag:team"))
            else:
                checks_for(checks, ref)
        assert "checks" in str(err.value)


def test_restore_test_refuses_bad_sql_checks_before_any_call():
    class Ctx:  # nothing here may be touched: the params are refused first
        def __getattr__(self, name):
            raise AssertionError(f"ctx.{name} used before the checks were validated")

    with pytest.raises(ParamsError, match="query"):
        R.restore_test(Ctx(), pd.DataFrame(), checks={"*": {"sql": {"x": {"expect": 1}}}})


# --------------------------------------------------------------------------- one process


@needs_redis
def test_digests_in_the_server_and_in_the_client_agree_for_every_type():
    """The Lua script and the client fallback (EVAL refused) give the same digest per key,
    for every type, binary values and keys, floats in sorted sets and other databases."""
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            r.set(b"bin\xff\x00key", b"\x00\x01\xfe")
            r.set("ttl-key", "x", ex=3600)
            r.rpush("l", "b", "a", "", "a")
            r.sadd("s", "z", "y", "1:2")
            r.hset("h", mapping={"f1": "v:1", "f2": "", "1": "x"})
            r.zadd("z", {"m1": 1.5, "m2": -0.1, "m3": 1e-20, "m4": 1.5})
            r.xadd("st", {"a": "1", "b": "2"}, id="5-0")
            r.xadd("st", {"c": "3"}, id="6-1")
            r.execute_command("SELECT", 3)
            r.set("in-db-3", "v")
        login = data.Login(host="127.0.0.1", port=server.port)
        with data.connect(login) as cache:
            lua = {k.key: k for k in data.read(cache)}
            assert cache.scripts
            cache.scripts = False
            client = {k.key: k for k in data.read(cache)}
        assert lua == client
        assert set(lua) >= {"l", "s", "h", "z", "st", "ttl-key", "db3/in-db-3"}
        assert lua["ttl-key"].ttl and not lua["l"].ttl
        assert {lua[k].type for k in lua} == {"string", "list", "set", "hash", "zset", "stream"}
        # a set's digest does not depend on insertion order; a list's does
        with server.admin() as r:
            r.delete("s")
            r.sadd("s", "1:2", "y", "z")
            r.rpush("l2", "a", "", "a", "b")
        with data.connect(login) as cache:
            again = {k.key: k for k in data.read(cache)}
        assert again["s"] == lua["s"]
        assert again["l2"].digest != lua["l"].digest
    finally:
        server.stop()


ODD_KEYS = [
    b"bin\xff\x00key",
    b"with spaces and\ttab",
    "unicode-\N{SNOWMAN}-\u00e9\u4e2d".encode(),
    b"long:" + b"x" * 20_000,
    b"",  # the empty key
    b"\n line break",
]


def _odd_keyspace(r) -> None:
    """Every type, odd key names, empty values, TTLs, a canary key and a second database."""
    for i, k in enumerate(ODD_KEYS):
        r.set(k, b"" if i % 2 else b"\x00\xfe value " + k)
    r.set("empty-string", b"")
    r.set("ttl-key", "x", ex=3600)
    r.rpush("l", "b", "a", "", "a")
    r.rpush(b"list \xff", b"\x00")
    r.sadd("s", "z", "y", "1:2", "")
    r.hset("h", mapping={"f1": "v:1", "f2": "", "": "x"})
    r.hset("h-ttl", mapping={"a": "1"})
    r.expire("h-ttl", 7200)
    r.zadd("z", {"m1": 1.5, "m2": -0.1, "m3": 1e-20, "": 0})
    r.xadd("st", {"a": "1", "b": ""}, id="5-0")
    r.xadd("st", {"c": "3"}, id="6-1")
    r.set("__restore_canary__#2026-01-02T03:04:05Z", "run-1")
    for n in range(2_500):  # several SCAN steps
        r.set(f"bulk:{n}", n)
    r.execute_command("SELECT", 5)
    r.set("in-db-5", "v")
    r.set("__restore_canary__#2026-01-02T03:04:05Z", "not a canary outside database 0")
    r.execute_command("SELECT", 0)


def _fingerprints(login) -> dict[str, tuple]:
    """The fingerprint (with and without canary keys) by every path, and the path each took."""
    out = {}
    for name, key_limit, scripts in (
        ("summed", 0, True),
        ("per-key", data.KEY_LIMIT, True),
        ("client", data.KEY_LIMIT, False),
        ("client, no per-key digests", 0, False),
    ):
        with data.connect(login) as cache:
            cache.scripts = scripts
            keys = data.read(cache, key_limit=key_limit)
            out[name] = (
                data.fingerprint(keys, key_limit=key_limit),
                data.fingerprint(keys, key_limit=key_limit, with_canary=False),
                keys.path,
                len(keys),
            )
    return out


@needs_redis
def test_summed_in_the_server_key_by_key_and_in_the_client_give_one_fingerprint():
    """The Lua script that sums record digests one SCAN step per call, the key-by-key path
    and the client fallback agree, with and without canary keys, on a key space with every
    type, binary / unicode / very long / empty key names, empty values and TTLs."""
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            _odd_keyspace(r)
        login = data.Login(host="127.0.0.1", port=server.port)
        fps = _fingerprints(login)
        paths = {name: path for name, (_, _, path, _) in fps.items()}
        assert paths == {
            "summed": "summed in the server",
            "per-key": "per-key",
            "client": "client",
            "client, no per-key digests": "client",
        }
        every, plain, _, count = fps["per-key"]
        assert count == len(ODD_KEYS) + 2_500 + 12 and every.count == count
        assert plain.count == count - 1  # the canary of database 0 only
        for name, (e, p, _, n) in fps.items():
            assert n == count, name
            assert e.kind == p.kind == data.KIND
            assert e.matches(every), name
            assert p.matches(plain), name
        assert fps["summed"][0].key_digests == {}  # summed: no per-key digests
        with data.connect(login) as cache:
            assert "summed in the server" in data.read(cache, key_limit=0).detail
        assert fps["per-key"][0].key_digests == fps["client"][0].key_digests
        names = set(fps["per-key"][0].key_digests)
        assert {"db5/in-db-5", "unicode-\N{SNOWMAN}-\u00e9\u4e2d", "bin\\xff\x00key", ""} <= names
    finally:
        server.stop()


@needs_redis
@pytest.mark.parametrize(
    "edit",
    [
        ("changed", lambda r: r.set(b"with spaces and\ttab", b"other"), "with spaces and\ttab"),
        ("changed", lambda r: r.zadd("z", {"m3": 2}), "z"),
        ("changed", lambda r: r.persist("ttl-key"), "ttl-key"),
        ("changed", lambda r: r.lset("l", 0, "a") and r.lset("l", 1, "b"), "l"),
        ("missing", lambda r: r.delete(ODD_KEYS[2]), "unicode-\N{SNOWMAN}-\u00e9\u4e2d"),
        ("unexpected", lambda r: r.hset("new hash \xe9", "f", ""), "new hash \xe9"),
    ],
    ids=["string", "zset-score", "ttl-removed", "list-order", "deleted", "added"],
)
def test_a_changed_deleted_or_added_key_fails_naming_it(edit):
    """Per-key fingerprints name the key; the summed fingerprint (large caches) differs."""
    label, change, key = edit
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            _odd_keyspace(r)
        login = data.Login(host="127.0.0.1", port=server.port)
        before = _fingerprints(login)
        with server.admin() as r:
            change(r)
        after = _fingerprints(login)
        for name in before:
            assert not before[name][0].matches(after[name][0]), name
        expected, found = before["per-key"][0], after["per-key"][0]
        diff = expected.differences(found)
        assert diff[label] == [key] and diff[f"{label}_total"] == 1, diff
        assert key in expected.describe_difference(found)
        assert before["client"][0].differences(after["client"][0])[label] == [key]
    finally:
        server.stop()


@needs_redis
def test_refused_scripts_fall_back_to_the_client_and_say_so():
    """An ACL without EVAL/EVALSHA (NOPERM): the client computes the same digests, and the
    path says so."""
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            _odd_keyspace(r)
        login = data.Login(host="127.0.0.1", port=server.port)
        with data.connect(login) as cache:
            want = data.fingerprint(data.read(cache, key_limit=0), key_limit=0)
        with server.admin() as r:
            r.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha", "-script")
        for key_limit in (0, data.KEY_LIMIT):
            with data.connect(login) as cache:
                keys = data.read(cache, key_limit=key_limit)
                assert not cache.scripts and keys.path == "client"
                assert data.fingerprint(keys, key_limit=key_limit).matches(want)
    finally:
        server.stop()


@needs_redis
def test_a_key_space_that_changes_during_the_summed_scan_is_read_key_by_key(monkeypatch):
    """The summed scan cannot drop repeats SCAN may return while the key space is resized:
    when the key count is not the same before, during and after, the keys are read one by
    one (and repeats dropped) instead."""
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            _odd_keyspace(r)
        login = data.Login(host="127.0.0.1", port=server.port)
        with data.connect(login) as cache:
            want = data.fingerprint(data.read(cache), key_limit=0)
            sizes = iter([cache.client.dbsize(), cache.client.dbsize() + 1])
            monkeypatch.setattr(cache.client, "dbsize", lambda: next(sizes))
            keys = data.read(cache, key_limit=0)
            assert keys.path == "per-key" and cache.scripts
            assert data.fingerprint(keys, key_limit=0).matches(want)
    finally:
        server.stop()


@needs_redis
@pytest.mark.parametrize(
    "path, key_limit, refuse_scripts, said",
    [
        ("summed in the server", 0, False, "summed in the server"),
        ("per-key", None, False, "digested in the server (Lua), key by key"),
        ("client", None, True, "digested in the client (EVAL refused)"),
    ],
    ids=["summed", "per-key", "client"],
)
def test_restore_content_detail_says_which_path_read_the_keys(
    monkeypatch, path, key_limit, refuse_scripts, said
):
    """The restore test's content read (ElastiCache.read_content, on a real server) passes
    on which path digested the keys; summed in the server, it says a difference cannot
    name keys."""
    server = redis_engine.new_server()
    try:
        with server.admin() as r:
            for n in range(37):
                r.hset(f"Ünïcode hash {n}", mapping={"f": n})
            r.set("__restore_canary__#2031-07-08T09:10:11Z", "run-x")
            if refuse_scripts:
                r.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha", "-script")
        if key_limit is not None:  # a cache above the threshold is summed in the server
            monkeypatch.setattr(data, "KEY_LIMIT", key_limit)
        desc = {
            "Engine": "valkey",
            "NodeGroups": [{"PrimaryEndpoint": {"Address": "127.0.0.1", "Port": server.port}}],
        }
        monkeypatch.setattr(ec_restore.ElastiCache, "describe", lambda self, s, where: desc)

        class Session:
            sandbox = True

        restored = Restored("elasticache", "210987654321", "sa-east-1", "zz-odd-9")
        content = ec_restore.ElastiCache().read_content(Session(), restored)
        assert content.count == 37 and len(content.canaries) == 1
        assert content.detail.startswith("38 keys scanned") and said in content.detail
        named = path != "summed in the server"
        assert ("a difference cannot name the keys" in content.detail) is not named
        assert ("a difference names the keys" in content.detail) is named
        assert bool(content.fingerprints["all keys"].key_digests) is named
    finally:
        server.stop()


@needs_redis
def test_sandbox_redis_follows_the_elasticache_api():
    """CreateReplicationGroup / CreateCacheCluster start a server at the endpoint the API
    returns (with the AUTH token given); CreateSnapshot saves an RDB file and says when; a
    restore from it loads the snapshot's keys, not later writes; deleting answers "deleting",
    then the group or cluster is gone (moto would keep it for ever: the next day's inventory
    counted deleted scratch copies), its server stopped and every file removed."""
    import boto3
    from moto import mock_aws

    from runbook_sandbox import elasticache_ext, prepare_moto_environment

    prepare_moto_environment()
    with mock_aws():
        ec = boto3.client("elasticache", region_name="sa-east-1")
        group = ec.create_replication_group(
            ReplicationGroupId="Src-Grp-1", ReplicationGroupDescription="x", Engine="redis",
            CacheNodeType="cache.t4g.small", TransitEncryptionEnabled=True, AuthToken=TOKEN,
        )["ReplicationGroup"]  # fmt: skip
        host, port = data.endpoint(group)
        assert host == "127.0.0.1"
        with pytest.raises(data.NoLogin):  # the token is required
            with data.connect(data.Login(host=host, port=port)):
                pass
        with data.connect(data.Login(host=host, port=port, password=TOKEN)) as cache:
            cache.client.set("k1", "before")
            cache.client.hset("h", mapping={"a": "1"})
        snap = ec.create_snapshot(ReplicationGroupId="Src-Grp-1", SnapshotName="snap-a")
        assert snap["Snapshot"]["NodeSnapshots"][0]["SnapshotCreateTime"]
        with data.connect(data.Login(host=host, port=port, password=TOKEN)) as cache:
            cache.client.set("k1", "after")  # not in the snapshot
        copy = ec.create_replication_group(
            ReplicationGroupId="copy-1", ReplicationGroupDescription="x", Engine="redis",
            CacheNodeType="cache.t4g.small", SnapshotName="snap-a", AuthToken="other-" + TOKEN,
        )["ReplicationGroup"]  # fmt: skip
        chost, cport = data.endpoint(copy)
        with data.connect(data.Login(host=chost, port=cport, password="other-" + TOKEN)) as c:
            assert c.client.get("k1") == b"before" and c.client.hget("h", "a") == b"1"
        ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", CacheNodeType="cache.t4g.small",
                                NumCacheNodes=1)  # fmt: skip
        solo = ec.describe_cache_clusters(CacheClusterId="solo", ShowCacheNodeInfo=True)
        shost, sport = data.endpoint(solo["CacheClusters"][0])
        with data.connect(data.Login(host=shost, port=sport)) as c:
            assert c.size() == 0
        servers = list(elasticache_ext.SERVERS.values())
        folders = [s.data for s in servers] + list(elasticache_ext.SNAPSHOTS.values())
        assert len(servers) == 3 and len(folders) == 4
        ec.delete_replication_group(ReplicationGroupId="Src-Grp-1")
        answer = ec.delete_replication_group(ReplicationGroupId="copy-1")["ReplicationGroup"]
        assert answer["Status"] == "deleting"  # as AWS answers; then it is gone (not kept)
        assert ec.delete_cache_cluster(CacheClusterId="solo")["CacheCluster"][
            "CacheClusterStatus"] == "deleting"  # fmt: skip
        assert not ec.describe_replication_groups()["ReplicationGroups"]
        assert not ec.describe_cache_clusters()["CacheClusters"]
        with pytest.raises(ec.exceptions.ReplicationGroupNotFoundFault):
            ec.describe_replication_groups(ReplicationGroupId="copy-1")
        ec.delete_snapshot(SnapshotName="snap-a")
        assert not elasticache_ext.SERVERS and not elasticache_ext.SNAPSHOTS
        assert all(s.proc is None for s in servers)
        assert not [f for f in folders if os.path.exists(f)]
        with pytest.raises(data.NotReachable):
            with data.connect(data.Login(host=chost, port=cport), timeout=2):
                pass


# --------------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def ctx(engine_ctx):
    return engine_ctx


@pytest.fixture(scope="module")
def tokened(ctx):
    """A Redis group with an AUTH token held in Secrets Manager, named by the db-secret tag,
    with keys of every type (made here, not by the demo seed)."""
    if _MISSING:
        pytest.skip(_MISSING)
    sm = ctx.session.client("secretsmanager", ACCOUNT, REGION)
    sm.create_secret(Name=SECRET, SecretString=json.dumps({"auth_token": TOKEN}))
    ec = ctx.session.client("elasticache", ACCOUNT, REGION)
    group = ec.create_replication_group(
        ReplicationGroupId=TOKENED, ReplicationGroupDescription="tokened", Engine="redis",
        CacheNodeType="cache.t4g.small", TransitEncryptionEnabled=True, AuthToken=TOKEN,
        Tags=[{"Key": "db-secret", "Value": SECRET}, {"Key": "backup-tier", "Value": "gold"},
              {"Key": "Team Name", "Value": "cache ops/7"}],
    )["ReplicationGroup"]  # fmt: skip
    host, port = data.endpoint(group)
    with data.connect(data.Login(host=host, port=port, password=TOKEN)) as cache:
        p = cache.client.pipeline(transaction=False)
        for n in range(700):
            p.set(f"k:{n}", f"value {n * 13}")
            p.hset(f"o:{n}", mapping={"id": str(n), "state": "open" if n % 3 else "shut"})
        p.zadd("ranks", {f"m{n}": n / 7 for n in range(100)})
        p.execute()
    return group


@pytest.fixture(scope="module")
def estate(ctx, tokened):
    return R.discover_resources(ctx)


def _arn(estate, name):
    return estate[estate["name"] == name]["arn"].iloc[0]


@pytest.fixture(scope="module")
def backed_up(ctx, estate):
    arns = [_arn(estate, n) for n in (DEMO, TOKENED)]
    rows = backup_now.run(ctx, arns=arns, approve=True)
    assert set(rows["status"]) == {"COMPLETED"}, rows[["resource_name", "status_message"]]
    return arns, rows


def _no_scratch_left(ctx) -> None:
    left = R.find_scratch(ctx, as_of=utcnow() + timedelta(days=400))
    left = left[left["service"] == "elasticache"] if not left.empty else left
    assert left.empty, left
    ec = ctx.session.client("elasticache", ACCOUNT, REGION)
    live = [
        g["ReplicationGroupId"]
        for g in ec.describe_replication_groups()["ReplicationGroups"]
        if g["ReplicationGroupId"].startswith("rt-") and g["Status"] != "deleting"
    ]
    assert not live, live


@needs_redis
def test_backup_records_a_key_fingerprint_and_a_canary(backed_up):
    _, rows = backed_up
    by = rows.set_index("resource_name")
    for name, least in ((DEMO, 3000), (TOKENED, 1401)):
        row = by.loc[name]
        assert row["fingerprint_kind"] == data.KIND
        assert row["fingerprint_count"] >= least + 1, row  # + the canary key
        assert str(row["canary_key"]).startswith("__restore_canary__#"), row
        sidecar = json.loads(Path(row["fingerprint_location"]).read_text())
        assert any(k.startswith("__restore_canary__#") for k in sidecar["key_digests"])
    sidecar = json.loads(Path(by.loc[DEMO, "fingerprint_location"]).read_text())
    assert {"session:00001", "user:1", "cart:1", "tags:1", "leaderboard", "events"} <= set(
        sidecar["key_digests"]
    )


SCRATCH_SECRETS: list[str] = []


@needs_redis
def test_restore_proves_content_with_measured_rpo_and_cleans_up(
    ctx, estate, backed_up, monkeypatch
):
    arns, _ = backed_up
    made = data.new_token

    def remembered() -> str:
        SCRATCH_SECRETS.append(made())
        return SCRATCH_SECRETS[-1]

    monkeypatch.setattr(data, "new_token", remembered)
    sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
    tests = R.restore_test(ctx, sel).set_index("resource_name")
    assert SCRATCH_SECRETS  # the tokened group's scratch copy got a fresh token
    for name in (DEMO, TOKENED):
        row = tests.loc[name]
        assert row["status"] == R.PASS, row["reason"]
        assert "fingerprint=PASS" in row["evidence"] and "canary=PASS" in row["evidence"], row
        assert row["records_found"] >= 1400
        assert pd.notna(row["canary_time"]) and row["canary_freshness_seconds"] >= 0, row
        assert pd.notna(row["rpo_seconds"]), row  # the snapshot says when it was taken
        assert row["cleanup_status"] == "DELETED", row
    assert not ec_restore._TOKENS  # dropped with the scratch groups
    _no_scratch_left(ctx)


@needs_redis
def test_scratch_copy_edited_behind_the_runbook_fails_naming_the_keys(
    ctx, estate, backed_up, monkeypatch
):
    arns, _ = backed_up
    original = ec_restore.ElastiCache.read_content
    ports = []

    def read_content(self, session, restored, *, workers=8):
        desc = self.describe(session, restored)
        token = ec_restore._TOKENS.get((restored.account, restored.region, restored.name))
        login = data.scratch_login(session, desc, token)
        ports.append(login.port)
        with data.connect(login) as cache:
            key = "session:00042" if cache.client.exists("session:00042") else "k:42"
            cache.client.append(key, "!")  # changed
            cache.client.delete("user:7" if key == "session:00042" else "o:7")  # missing
            cache.client.set("not-in-the-backup", "1")  # unexpected
        return original(self, session, restored, workers=workers)

    monkeypatch.setattr(ec_restore.ElastiCache, "read_content", read_content)
    sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
    tests = R.restore_test(ctx, sel, record=False).set_index("resource_name")
    for name, changed, missing in ((DEMO, "session:00042", "user:7"), (TOKENED, "k:42", "o:7")):
        row = tests.loc[name]
        assert row["status"] == R.FAIL, row["reason"]
        assert f"1 changed (first: {changed})" in row["reason"], row["reason"]
        assert f"1 missing (first: {missing})" in row["reason"], row["reason"]
        assert "not-in-the-backup" in row["reason"], row["reason"]
        assert row["cleanup_status"] == "DELETED", row
    _no_scratch_left(ctx)
    for port in ports:  # the scratch servers are stopped, not only hidden by the API
        with pytest.raises(data.NotReachable):
            with data.connect(data.Login(host="127.0.0.1", port=port), timeout=2):
                pass


@needs_redis
def test_backup_taken_while_the_cache_is_written_gives_the_bounded_verdict(ctx, estate, tokened):
    arn = _arn(estate, TOKENED)
    host, port = data.endpoint(tokened)
    stop, written = threading.Event(), []

    def writer() -> None:
        with data.connect(data.Login(host=host, port=port, password=TOKEN)) as cache:
            n = 0
            while not stop.is_set():
                n += 1
                cache.client.set(f"new:{n}", "x")
                cache.client.hset(f"o:{n % 40}", "state", f"touched {n}")
                written.append(n)
                time.sleep(0.005)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        rows = backup_now.run(ctx, arns=[arn], approve=True)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert written
    row = rows.iloc[0]
    assert row["status"] == "COMPLETED", row["status_message"]
    assert "Written to while the backup ran" in row["status_message"]
    sel = R.select_resources(ctx, estate, mode="arns", arns=[arn])
    test = R.restore_test(ctx, sel).iloc[0]
    assert test["status"] == R.PASS, test["reason"]
    fingerprint = next(c for c in test["checks"] if c["check"] == "fingerprint")
    assert fingerprint["detail"].startswith("bounded, not exact"), fingerprint
    assert test["cleanup_status"] == "DELETED"
    _no_scratch_left(ctx)


# --------------------------------------------------------------------------- user SQL checks


@needs_redis
def test_user_sql_checks_run_on_the_scratch_copy_and_a_mismatch_fails_naming_it(ctx, estate):
    """On the demo's RDS PostgreSQL and MySQL databases (real engines): the checks run after
    the restore, per resource name and per tag; a wrong expectation FAILs naming its check."""
    arns = [_arn(estate, n) for n in ("shop-db", "shop-reporting")]
    rows = backup_now.run(ctx, arns=arns, approve=True)
    assert set(rows["status"]) == {"COMPLETED"}, rows[["resource_name", "status_message"]]
    tier = estate.set_index("name").loc["shop-db", "tags"]["backup-tier"]
    checks = {
        "shop-db": {"sql": {"paid orders": {"query": "SELECT count(*) FROM orders WHERE "
                                            "status = 'paid'", "expect": 1000}}},
        "shop-reporting": {"sql": {
            "customers": {"query": "SELECT count(*) FROM reporting.customers", "expect": 1500},
            "wrong total": {"query": "SELECT sum(amount) FROM reporting.orders", "expect": 1},
            "bad sql": {"query": "SELECT nothing FROM nowhere", "expect": 1},
        }},
        f"tag:backup-tier={tier}": {"sql": {"one": {"query": "SELECT 1", "expect": "1"}}},
    }  # fmt: skip
    sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
    tests = R.restore_test(ctx, sel, checks=checks, record=False).set_index("resource_name")
    pg = {c["check"]: c for c in tests.loc["shop-db", "checks"]}
    assert tests.loc["shop-db", "status"] == R.PASS, tests.loc["shop-db", "reason"]
    assert pg["sql:paid orders"]["status"] == "PASS" and pg["sql:one"]["status"] == "PASS"
    my = tests.loc["shop-reporting"]
    assert my["status"] == R.FAIL
    assert "sql:wrong total: returned" in my["reason"] and "expected 1" in my["reason"]
    assert "sql:bad sql: the query failed" in my["reason"]
    assert "sql:customers" not in my["reason"]
    got = {c["check"]: c["status"] for c in my["checks"]}
    assert got["sql:customers"] == "PASS"
    if tests.loc["shop-reporting", "tier"] == tier:
        assert got["sql:one"] == "PASS"
    assert (tests["cleanup_status"] == "DELETED").all()


# --------------------------------------------------------------------------- no secrets


def _secrets_of_the_sources(ctx) -> list[str]:
    out = [TOKEN]
    rds = ctx.session.client("rds", ACCOUNT, REGION)
    for name in ("shop-db", "shop-reporting"):
        desc = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        out.append(rds_data.source_login(ctx.session, ACCOUNT, REGION, desc, "db-secret").password)
    return out


def _assert_nothing_holds(folder: Path, secrets: list[str]) -> int:
    files = [p for p in folder.rglob("*") if p.is_file()]
    for path in files:
        blob = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in blob, (path, "holds a secret")
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).to_json(date_format="iso")
            assert not any(s in text for s in secrets), path
    return len(files)


@needs_redis
def test_no_password_or_token_in_the_run_folder_ledger_or_logs(
    ctx, estate, engine_sandbox, tmp_path, monkeypatch
):
    """backup_now then restore_test run as the scheduler runs them (papermill, a run folder
    with executed notebooks and HTML copies, kernel output logged), then in this process with
    the fresh scratch passwords and tokens remembered: no file the runs wrote, no ledger file
    and no log line holds a source's password, the AUTH token or a scratch secret."""
    from runbook_lib.runner import run_notebooks
    from runbook_lib.targets import ENV_URL

    secrets = _secrets_of_the_sources(ctx)
    log_file = tmp_path / "logs" / "run.log"
    log_file.parent.mkdir()
    # the product's logs (runbook_lib at DEBUG, everything else at INFO, the kernels' output
    # through papermill): botocore's own DEBUG log echoes request and response bodies, Secrets
    # Manager values included, as it does for any program using the AWS SDK
    handler = logging.FileHandler(log_file)
    handler.addFilter(lambda r: r.levelno >= logging.INFO or r.name.startswith("runbook_lib"))
    root, ours = logging.getLogger(), logging.getLogger("runbook_lib")
    root.addHandler(handler)
    old_level, our_level = root.level, ours.level
    root.setLevel(logging.DEBUG)
    ours.setLevel(logging.DEBUG)
    try:
        monkeypatch.setenv(ENV_URL, engine_sandbox)
        arns = [_arn(estate, n) for n in (TOKENED, "shop-db", "shop-reporting")]
        ledger = tmp_path / "ledger"
        result = run_notebooks(
            "sandbox",
            notebooks=["03_backup_now", "04_restore_test"],
            out_dir=str(tmp_path / "runs"),
            parameters={
                "ledger_location": str(ledger), "approve": True, "arns": arns, "mode": "arns",
                "checks": {"shop-db": {"sql": {"n": {"query": "SELECT 1", "expect": 1}}}},
            },
            log_output=True,
        )  # fmt: skip
        assert [n.status for n in result.notebooks] == ["ok", "ok"], result.notebooks
        tests = pd.read_parquet(ledger / "restore_tests")
        assert set(tests["resource_name"]) == {TOKENED, "shop-db", "shop-reporting"}
        assert (tests["status"] == R.PASS).all(), tests[["resource_name", "reason"]]

        made = {"pw": rds_data.new_password, "token": data.new_token}
        scratch: list[str] = []

        def remember(kind):
            def make() -> str:
                scratch.append(made[kind]())
                return scratch[-1]

            return make

        monkeypatch.setattr(rds_data, "new_password", remember("pw"))
        monkeypatch.setattr(data, "new_token", remember("token"))
        backup_now.run(ctx, arns=arns, approve=True)
        sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
        again = R.restore_test(ctx, sel)
        assert (again["status"] == R.PASS).all(), again[["resource_name", "reason"]]
        assert len(scratch) >= 3
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        ours.setLevel(our_level)
        handler.close()
    every = secrets + scratch
    assert log_file.stat().st_size > 0
    written = _assert_nothing_holds(tmp_path, every)
    written += _assert_nothing_holds(Path(ctx.ledger.location), every)
    assert written > 10
    _no_scratch_left(ctx)
