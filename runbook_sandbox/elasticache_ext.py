"""ElastiCache for the sandbox: ModifyCacheCluster (moto 5.2.5 does not implement it), and a
real redis-server behind each Redis replication group and cache cluster (below).

ModifyCacheCluster models only what protect changes: a standalone cluster's ``SnapshotRetentionLimit``
(and ``SnapshotWindow``). Any other field given is refused with InvalidParameterValue, so
a runbook can never believe the sandbox applied a change it ignored.
"""

from __future__ import annotations

import atexit
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.core.base_backend import BackendDict
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.elasticache.exceptions import InvalidParameterValueException as InvalidParameterValue
from moto.elasticache.models import CacheCluster, ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse

SUPPORTED = {"CacheClusterId", "SnapshotRetentionLimit", "SnapshotWindow", "ApplyImmediately"}


def modify_cache_cluster(self: Any) -> ActionResult:
    given = {k for k in self.querystring if k not in ("Action", "Version")}
    unsupported = sorted(given - SUPPORTED)
    if unsupported:
        raise InvalidParameterValue(
            f"the sandbox's ModifyCacheCluster models only {sorted(SUPPORTED)}; got {unsupported}"
        )
    name = self._get_param("CacheClusterId")
    cluster = self.elasticache_backend.describe_cache_clusters(cache_cluster_id=name)[0]
    limit = self._get_int_param("SnapshotRetentionLimit")
    if limit is not None:
        if not 0 <= limit <= 35:
            raise InvalidParameterValue(f"SnapshotRetentionLimit {limit}: allowed 0 to 35")
        cluster.snapshot_retention_limit = limit
    window = self._get_param("SnapshotWindow")
    if window:
        cluster.snapshot_window = window
    return ActionResult({"CacheCluster": cluster})


def install() -> None:
    """Teach moto the operation (safe to call twice; moto's own wins if it gains one), and
    put a real Redis server behind Redis replication groups and cache clusters."""
    if not hasattr(ElastiCacheResponse, "modify_cache_cluster"):
        ElastiCacheResponse.modify_cache_cluster = modify_cache_cluster  # type: ignore[attr-defined]
    install_redis()


# --------------------------------------------------------------------------- real Redis
#
# A redis-server (runbook_sandbox.engines.redis) behind each Redis / Valkey replication group
# (cluster mode disabled) and each standalone Redis cache cluster, the way the engines back
# RDS (runbook_sandbox.engines.rds):
# - CreateReplicationGroup / CreateCacheCluster start a server (with the AuthToken given, if
#   any); while it runs, the endpoints the API returns (primary, reader, each member's read
#   endpoint, a cluster's cache node) are 127.0.0.1 and the server's port (computed when
#   described, so a saved state loaded where no server runs shows moto's own names);
# - CreateSnapshot saves an RDB file (SAVE, then a copy of dump.rdb), and the snapshot says
#   when it was taken (NodeSnapshots[].SnapshotCreateTime, which moto leaves out);
# - CreateReplicationGroup / CreateCacheCluster with SnapshotName start a server that loads a
#   copy of that RDB file;
# - DeleteReplicationGroup / DeleteCacheCluster answer "deleting" and then the group or
#   cluster is gone (moto would keep it "deleting" for ever), its server stopped and its files
#   removed; DeleteSnapshot removes the RDB file; a moto reset stops every server.
# Not modelled: cluster mode enabled (metadata only), TLS (the servers speak plain TCP),
# automated snapshots (moto takes none), AWS Backup (the extension does not reach ElastiCache).

_lock = threading.RLock()
#: (account, region, "replicationgroup" | "cluster" | "snapshot", id)
Key = tuple[str, str, str, str]
SERVERS: dict[Key, Any] = {}  # engines.redis.Server
SNAPSHOTS: dict[Key, str] = {}  # the folder holding the snapshot's dump.rdb
REDIS_ENGINES = ("redis", "valkey")
LOCAL_ADDRESS = "127.0.0.1"
# servers start from one long-lived thread: each is told to stop when the thread that
# started it ends (PR_SET_PDEATHSIG), and moto answers each request on a new thread
_launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-redis")
_hooked: dict[str, bool] = {}


def _key(backend: Any, kind: str, ident: str) -> Key:
    return (backend.account_id, backend.region_name, kind, ident)


def _runs() -> bool:
    from runbook_sandbox.engines import redis

    return not redis.missing_reason()


def _start(backend: Any, kind: str, ident: str, snapshot: str | None, token: str | None) -> Any:
    from runbook_sandbox.engines import redis

    rdb = SNAPSHOTS.get(_key(backend, "snapshot", snapshot)) if snapshot else None
    if rdb:
        server = _launcher.submit(redis.server_from, rdb, token).result()
    else:
        server = _launcher.submit(redis.new_server, token).result()
    with _lock:
        old = SERVERS.pop(_key(backend, kind, ident), None)
        SERVERS[_key(backend, kind, ident)] = server
    if old is not None:
        old.stop()
    return server


def _server_for(obj: Any) -> Any:
    """The server behind a moto ReplicationGroup or CacheCluster (a member cluster: its
    group's), from the ARN's account and Region; None without one."""
    arn = obj.__dict__.get("arn") or ""
    parts = arn.split(":")
    if len(parts) < 7:
        return None
    account, region = parts[4], parts[3]
    if parts[5] == "replicationgroup":
        return SERVERS.get((account, region, "replicationgroup", parts[6]))
    group = obj.__dict__.get("replication_group_id")
    if group:
        return SERVERS.get((account, region, "replicationgroup", group))
    return SERVERS.get((account, region, "cluster", parts[6]))


def _local_node_groups(raw: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    out = []
    for ng in raw:
        ng = {**ng, "port": port}
        local = {"address": LOCAL_ADDRESS, "port": port}
        ng["primary_endpoint_address"] = ng["reader_endpoint_address"] = LOCAL_ADDRESS
        ng["primary_endpoint"] = ng["reader_endpoint"] = local
        ng["node_group_members"] = [
            {**m, "read_endpoint": local} for m in ng.get("node_group_members", [])
        ]
        out.append(ng)
    return out


def _endpoints() -> None:
    """The API's endpoints name the local server while one runs (computed when described,
    as the RDS engines do: a state loaded where no server runs shows moto's own names)."""
    if getattr(
        getattr(ReplicationGroup.__dict__.get("node_groups"), "fget", None), "_redis_hook", False
    ):
        return

    def port_of(obj: Any) -> int:
        server = _server_for(obj)
        return server.port if server is not None else obj.__dict__.get("_port", 6379)

    def set_port(obj: Any, value: Any) -> None:
        obj.__dict__["_port"] = value

    def node_groups(group: Any) -> list[dict[str, Any]]:
        raw = group.__dict__.setdefault("_node_groups", [])
        server = _server_for(group)
        return raw if server is None else _local_node_groups(raw, server.port)

    def set_node_groups(group: Any, value: Any) -> None:
        group.__dict__["_node_groups"] = value

    def cache_nodes(cluster: Any) -> list[dict[str, Any]]:
        server = _server_for(cluster)
        if server is None:
            return []
        return [
            {
                "cache_node_id": "0001",
                "cache_node_status": "available",
                "cache_node_create_time": cluster.cache_cluster_create_time,
                "endpoint": {"address": LOCAL_ADDRESS, "port": server.port},
            }
        ]

    for prop in (
        port := property(port_of, set_port),
        groups := property(node_groups, set_node_groups),
        nodes := property(cache_nodes),
    ):
        prop.fget._redis_hook = True  # type: ignore[attr-defined]
    ReplicationGroup.port = port  # type: ignore[assignment]
    ReplicationGroup.node_groups = groups  # type: ignore[assignment]
    CacheCluster.port = port  # type: ignore[assignment]
    CacheCluster.cache_nodes = nodes  # type: ignore[attr-defined]


def _create_replication_group(original: Any) -> Any:
    def hooked(self: Any, **kw: Any) -> Any:
        group = original(self, **kw)
        if group.engine in REDIS_ENGINES and group.cluster_mode != "enabled" and _runs():
            _start(
                self, "replicationgroup", group.replication_group_id, kw.get("snapshot_name"),
                kw.get("auth_token"),
            )  # fmt: skip
        return group

    return hooked


def _create_cache_cluster(original: Any) -> Any:
    def hooked(self: Any, **kw: Any) -> Any:
        cluster = original(self, **kw)
        # a member answers at its group's server (see _server_for)
        if not kw.get("replication_group_id") and cluster.engine in REDIS_ENGINES and _runs():
            _start(
                self, "cluster", cluster.cache_cluster_id, kw.get("snapshot_name"),
                kw.get("auth_token"),
            )  # fmt: skip
        return cluster

    return hooked


def _create_snapshot(original: Any) -> Any:
    def hooked(self: Any, **kw: Any) -> Any:
        snap = original(self, **kw)
        if kw.get("replication_group_id"):
            source = _key(self, "replicationgroup", kw["replication_group_id"])
        else:
            source = _key(self, "cluster", kw.get("cache_cluster_id") or "")
        server = SERVERS.get(source)
        now = utcnow()
        if server is not None:
            rdb = server.snapshot()
            with _lock:
                SNAPSHOTS[_key(self, "snapshot", snap.snapshot_name)] = rdb
        snap.node_snapshots = [
            {
                "cache_cluster_id": f"{kw.get('replication_group_id')}-001"
                if kw.get("replication_group_id")
                else kw.get("cache_cluster_id"),
                "node_group_id": "0001",
                "cache_node_id": "0001",
                "cache_size": "0 MB",
                "cache_node_create_time": getattr(snap, "cache_cluster_create_time", None) or now,
                "snapshot_create_time": now,
            }
        ]
        return snap

    return hooked


#: where moto keeps each kind; moto marks a deleted group or cluster "deleting" and keeps it
#: for ever, AWS removes it after some minutes
_STORE = {"replicationgroup": "replication_groups", "cluster": "cache_clusters"}


def _stopping(kind: str, arg: str) -> Any:
    """Delete hook: the answer says "deleting", as on AWS; then the group or cluster is gone
    (a later describe is NotFound) and its server stopped."""

    def make(original: Any) -> Any:
        def hooked(self: Any, **kw: Any) -> Any:
            out = original(self, **kw)
            getattr(self, _STORE[kind]).pop(kw.get(arg) or "", None)
            with _lock:
                server = SERVERS.pop(_key(self, kind, kw.get(arg) or ""), None)
            if server is not None:
                server.stop()
            return out

        return hooked

    return make


def _delete_snapshot(original: Any) -> Any:
    def hooked(self: Any, **kw: Any) -> Any:
        out = original(self, **kw)
        with _lock:
            rdb = SNAPSHOTS.pop(_key(self, "snapshot", kw.get("snapshot_name") or ""), None)
        if rdb:
            from runbook_sandbox.engines import common

            common.remove_dir(rdb)
        return out

    return hooked


def server_of(backend: Any, kind: str, ident: str) -> Any:
    """The server behind a replication group or standalone cache cluster, if any."""
    return SERVERS.get(_key(backend, kind, ident))


def stop_all() -> None:
    """Stop every Redis server and remove every RDB file."""
    from runbook_sandbox.engines import common

    with _lock:
        servers, snaps = list(SERVERS.values()), list(SNAPSHOTS.values())
        SERVERS.clear()
        SNAPSHOTS.clear()
    for server in servers:
        server.stop()
    for rdb in snaps:
        common.remove_dir(rdb)


def _wrap(name: str, make: Any) -> None:
    original = getattr(ElastiCacheBackend, name)
    if getattr(original, "_redis_hook", False):
        return
    hooked = make(original)

    def by_name(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(original).bind(self, *args, **kwargs)
        bound.apply_defaults()
        kw = dict(bound.arguments)
        kw.pop("self", None)
        return hooked(self, **kw)

    by_name._redis_hook = True  # type: ignore[attr-defined]
    setattr(ElastiCacheBackend, name, by_name)


def _hook_reset() -> None:
    original = BackendDict.reset.__func__  # type: ignore[attr-defined]
    if getattr(original, "_redis_hook", False):
        return

    def reset(cls: type) -> None:
        original(cls)
        stop_all()

    reset._redis_hook = True  # type: ignore[attr-defined]
    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]


def install_redis() -> None:
    """Hook the Redis servers into moto's ElastiCache backend (idempotent)."""
    with _lock:
        if _hooked.get("done"):
            return
        _wrap("create_replication_group", _create_replication_group)
        _wrap("create_cache_cluster", _create_cache_cluster)
        _wrap("create_snapshot", _create_snapshot)
        _wrap("delete_snapshot", _delete_snapshot)
        _wrap("delete_replication_group", _stopping("replicationgroup", "replication_group_id"))
        _wrap("delete_cache_cluster", _stopping("cluster", "cache_cluster_id"))
        _endpoints()
        _hook_reset()
        atexit.register(stop_all)
        _hooked["done"] = True
