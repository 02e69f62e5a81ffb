"""moto's RDS with a real database server behind each DB instance and cluster: PostgreSQL
(:mod:`.postgres`) for engines ``postgres`` and ``aurora-postgresql``, MariaDB
(:mod:`.mariadb`) for ``mysql``, ``mariadb`` and ``aurora-mysql``.

- CreateDBInstance / CreateDBCluster start a server (:mod:`.postgres`) with the master user
  and password given (or, with ``ManageMasterUserPassword``, a random password written to the
  managed secret) and the initial database (``DBName`` / ``DatabaseName``, else ``postgres``);
  the ``Endpoint`` the API returns is ``127.0.0.1`` and the server's port. An Aurora member
  instance answers at its cluster's server.
- A DB (cluster) snapshot, manual, automated, final, or an AWS Backup recovery point (made
  through the same backend calls), is a physical copy of the server. A snapshot of a server
  whose data has not changed since its previous snapshot shares that snapshot's copy, as
  does a copied snapshot (the engine says whether anything changed: the WAL for PostgreSQL,
  the binary log for MariaDB; see ``unchanged_since`` in :mod:`.postgres` and
  :mod:`.mariadb`). A copy is never written to (a restore starts on a copy of it), and it
  is removed with the last snapshot that uses it.
- RestoreDBInstanceFromDBSnapshot / RestoreDBClusterFromSnapshot (and AWS Backup restores)
  start a new server on a copy of the snapshot. A point-in-time restore copies the source
  as it is now: the sandbox keeps no WAL archive, so the restore time is not honoured.
- ModifyDBInstance / ModifyDBCluster ``MasterUserPassword`` changes the master's password.
- DeleteDBInstance / DeleteDBCluster stop the server and remove its data; a moto reset
  stops every server.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict
from moto.rds import models as rds_models
from moto.rds.models import DBCluster, DBInstance, RDSBackend

from runbook_sandbox.engines import common, mariadb, postgres

#: RDS engine -> the module that runs its servers
ENGINES: dict[str, Any] = {
    "postgres": postgres,
    "aurora-postgresql": postgres,
    "mysql": mariadb,
    "mariadb": mariadb,
    "aurora-mysql": mariadb,
}
LOCAL_ADDRESS = "127.0.0.1"

Key = tuple[str, str, str, str]  # (account, region, "db" | "cluster", identifier)


@dataclass(kw_only=True)
class Snapshot:
    """A physical copy of a server (``data``, its folder), or, for the automated snapshot
    taken as an instance or cluster is created, the fresh server it was (``fresh``: master
    user, password and initial database), made again if it is ever restored: creating every
    instance would otherwise pay for a copy almost never used."""

    data: str | None = None
    fresh: tuple[str, str, str | None] | None = field(default=None, repr=False)

    def copy(self) -> Snapshot:
        """Another snapshot holding the same data (sharing its copy, never written to)."""
        return Snapshot(data=_hold(self.data), fresh=self.fresh)


_lock = threading.RLock()
SERVERS: dict[Key, Any] = {}  # postgres.Server | mariadb.Server
SNAPSHOTS: dict[Key, Snapshot] = {}
#: snapshot copy folder -> how many snapshots use it (removed when none does)
USERS: dict[str, int] = {}
#: server key -> (the server's change marker read as its newest copy began, that copy)
LAST_COPY: dict[Key, tuple[Any, str]] = {}
_server_locks: dict[Key, threading.Lock] = {}
_local = threading.local()
# Servers are started from one long-lived thread: a server is told to stop when the thread
# that started it ends (PR_SET_PDEATHSIG), and moto answers each request on a new thread.
_launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-engines")
_installed = False


def _key(backend: RDSBackend, kind: str, ident: str) -> Key:
    return (backend.account_id, backend.region_name, kind, ident)


def _snap_key(backend: RDSBackend, kind: str, ident: str) -> Key:
    """A snapshot named by identifier or ARN (arn:aws:rds:<region>:<account>:snapshot:<id>)."""
    if ident.startswith("arn:"):
        parts = ident.split(":")
        return (parts[4], parts[3], kind, parts[-1])
    return _key(backend, kind, ident)


def server_of(obj: Any) -> Any:
    """The server behind a moto DB instance or cluster (a cluster member: its cluster's)."""
    backend = obj.backend
    if isinstance(obj, DBCluster):
        return SERVERS.get(_key(backend, "cluster", obj.db_cluster_identifier))
    cluster = getattr(obj, "db_cluster_identifier", None)
    if cluster:
        return SERVERS.get(_key(backend, "cluster", cluster))
    return SERVERS.get(_key(backend, "db", obj.db_instance_identifier))


def _engine(engine: str | None) -> Any:
    """The module running servers of ``engine`` when it can run here, else None."""
    module = ENGINES.get(engine or "")
    return module if module is not None and not module.missing_reason() else None


# --------------------------------------------------------------------------- servers


def _start(module: Any, obj: Any, kind: str, ident: str, source: Snapshot | None) -> Snapshot:
    """Start the server of a just-created instance or cluster (from ``source`` when it is a
    restore); returns what a snapshot of it, as it is now, holds."""
    if source is not None and source.data:
        server = _launcher.submit(module.server_from, source.data).result()
        now = Snapshot(data=source.data)
    else:
        login = source.fresh if source is not None else None
        if login is None:
            db_name = getattr(obj, "database_name", None) or getattr(obj, "db_name", None)
            login = (obj.master_username, _password(obj), db_name)
        server = _launcher.submit(module.new_server).result()
        try:
            server.setup_master(*login)
        except Exception:
            server.stop()
            raise
        now = Snapshot(fresh=login)
    with _lock:
        SERVERS[_key(obj.backend, kind, ident)] = server
    obj.port = server.port
    return now


def _password(obj: Any) -> str:
    """The master password: the one given, or (managed by RDS) a random one written to the
    managed secret, as RDS does."""
    if getattr(obj, "manage_master_user_password", False) and hasattr(obj, "master_user_secret"):
        import json

        password = secrets.token_urlsafe(24)
        secret = obj.master_user_secret.secret
        obj.backend.secretsmanager.put_secret_value(
            secret_id=secret.arn,
            secret_string=json.dumps({"username": obj.master_username, "password": password}),
            secret_binary=None,
            client_request_token=None,
            version_stages=["AWSCURRENT"],
        )
        # moto's cluster restore copies the password attribute, which a managed cluster
        # lacks (KeyError); the server's password is the one it would copy
        obj.__dict__.setdefault("_master_user_password", password)
        return password
    return obj.__dict__.get("_master_user_password") or ""


def _stop(key: Key) -> None:
    with _lock:
        server = SERVERS.pop(key, None)
        LAST_COPY.pop(key, None)
        _server_locks.pop(key, None)
    if server is not None:
        server.stop()


def _hold(data: str | None) -> str | None:
    """One more snapshot uses the copy ``data``."""
    if data:
        with _lock:
            USERS[data] = USERS.get(data, 0) + 1
    return data


def _release(data: str | None) -> None:
    """One snapshot fewer uses ``data``; the last one removes the copy."""
    if not data:
        return
    with _lock:
        left = USERS.get(data, 0) - 1
        if left > 0:
            USERS[data] = left
            return
        USERS.pop(data, None)
    common.remove_dir(data)


def snapshot_copy(key: Key, server: Any) -> str:
    """The copy a new snapshot of ``server`` (at ``key``) holds: its newest copy when the
    engine says nothing changed since that copy began (and a snapshot still uses it), else a
    new physical copy. Returned held for the new snapshot (see :func:`_release`)."""
    with _lock:
        lock = _server_locks.setdefault(key, threading.Lock())
    with lock:
        last = LAST_COPY.get(key)
        if last is not None and USERS.get(last[1], 0) > 0 and server.unchanged_since(last[0]):
            with _lock:
                if USERS.get(last[1], 0) > 0:  # not released meanwhile
                    USERS[last[1]] += 1
                    return last[1]
        marker = server.change_marker()  # before the copy: a change during it is seen next time
        data = server.snapshot()
        with _lock:
            _hold(data)
            LAST_COPY[key] = (marker, data)
        return data


def _take_snapshot(backend: RDSBackend, kind: str, source: str, snap_kind: str, ident: str) -> None:
    server = SERVERS.get(_key(backend, kind, source))
    if server is None:
        pending = getattr(_local, "pending", None)
        if pending is not None and pending[0] == _key(backend, kind, source):
            pending[1].append((snap_kind, ident))  # recorded once the server has started
        return
    key = _key(backend, snap_kind, ident)
    data = snapshot_copy(_key(backend, kind, source), server)
    with _lock:
        old = SNAPSHOTS.pop(key, None)
        SNAPSHOTS[key] = Snapshot(data=data)
    if old is not None:
        _release(old.data)


def _drop_snapshot(key: Key) -> None:
    with _lock:
        snap = SNAPSHOTS.pop(key, None)
    if snap is not None:
        _release(snap.data)


def _creating(backend: RDSBackend, kind: str, ident: str, engine: str, create: Any) -> Any:
    """Run moto's create, then start the engine; a restore's source is ``_local.source``."""
    source = getattr(_local, "source", None)
    _local.source = None
    module = _engine(engine)
    if module is None:
        return create()
    pending: list[tuple[str, str]] = []
    _local.pending = (_key(backend, kind, ident), pending)
    try:
        obj = create()
    finally:
        _local.pending = None
    now = _start(module, obj, kind, ident, source)
    for snap_kind, snap_ident in pending:  # the automated snapshot made at creation
        with _lock:
            SNAPSHOTS[_key(backend, snap_kind, snap_ident)] = now.copy()
    return obj


# --------------------------------------------------------------------------- backend hooks


def _wrap(name: str, make: Any) -> None:
    original = getattr(RDSBackend, name)
    if getattr(original, "_engine_hook", False):
        return
    hooked = make(original)
    hooked._engine_hook = True
    setattr(RDSBackend, name, hooked)


def _args(original: Any, self: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by name (moto's responses pass them as keywords)."""
    bound = inspect.signature(original).bind(self, *args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _hook(name: str, before: Any = None, after: Any = None) -> None:
    """Wrap RDSBackend.<name>: ``before(self, arguments)`` may return a context manager
    around moto's call; ``after(self, arguments, result)`` runs once it returned."""

    def make(original: Any) -> Any:
        def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
            a = _args(original, self, args, kwargs)
            with before(self, a) if before else contextlib.nullcontext():
                out = original(self, *args, **kwargs)
            if after:
                after(self, a, out)
            return out

        return hooked

    _wrap(name, make)


@contextlib.contextmanager
def _restoring(source: Snapshot | None) -> Iterator[None]:
    _local.source = source
    try:
        yield
    finally:
        _local.source = None


def _from_snapshot(snap_kind: str) -> Any:
    def before(self: Any, a: dict) -> Any:
        snap = SNAPSHOTS.get(_snap_key(self, snap_kind, a["from_snapshot_id"]))
        return _restoring(snap)

    return before


@contextlib.contextmanager
def _from_now(source: Key) -> Iterator[None]:
    """A point-in-time restore: a copy of the source server as it is now."""
    server = SERVERS.get(source)
    if server is None:
        yield
        return
    data = _hold(server.snapshot())
    try:
        with _restoring(Snapshot(data=data)):
            yield
    finally:
        _release(data)  # kept while the new instance's first automated snapshot uses it


def _copied(snap_kind: str, source_arg: str, target_arg: str) -> Any:
    def after(self: Any, a: dict, _out: Any) -> None:
        src = SNAPSHOTS.get(_snap_key(self, snap_kind, a[source_arg]))
        if src is not None:
            copied = src.copy()
            with _lock:
                old = SNAPSHOTS.pop(_key(self, snap_kind, a[target_arg]), None)
                SNAPSHOTS[_key(self, snap_kind, a[target_arg])] = copied
            if old is not None:
                _release(old.data)

    return after


def _hooks() -> None:
    def create_db_instance(original: Any) -> Any:
        def hooked(self: Any, db_kwargs: dict) -> Any:
            ident, engine = db_kwargs["db_instance_identifier"], db_kwargs.get("engine")
            if db_kwargs.get("db_cluster_identifier"):  # a member answers at its cluster's server
                db = original(self, db_kwargs)
                server = server_of(db)
                if server is not None:
                    db.port = server.port
                return db
            return _creating(self, "db", ident, engine, lambda: original(self, db_kwargs))

        return hooked

    def create_db_cluster(original: Any) -> Any:
        def hooked(self: Any, kwargs: dict) -> Any:
            ident, engine = kwargs["db_cluster_identifier"], kwargs.get("engine")
            return _creating(self, "cluster", ident, engine, lambda: original(self, kwargs))

        return hooked

    _wrap("create_db_instance", create_db_instance)
    _wrap("create_db_cluster", create_db_cluster)
    _hook(
        "create_db_snapshot",
        after=lambda self, a, _: _take_snapshot(
            self, "db", a["db_instance_identifier"], "snapshot", a["db_snapshot_identifier"]
        ),
    )
    _hook(
        "create_db_cluster_snapshot",
        after=lambda self, a, _: _take_snapshot(
            self,
            "cluster",
            a["db_cluster_identifier"],
            "cluster-snapshot",
            a["db_cluster_snapshot_identifier"],
        ),
    )
    _hook(
        "copy_db_snapshot",
        after=_copied("snapshot", "source_db_snapshot_identifier", "target_db_snapshot_identifier"),
    )
    _hook(
        "copy_db_cluster_snapshot",
        after=_copied(
            "cluster-snapshot",
            "source_db_cluster_snapshot_identifier",
            "target_db_cluster_snapshot_identifier",
        ),
    )
    _hook(
        "delete_db_snapshot",
        after=lambda self, a, _: _drop_snapshot(
            _key(self, "snapshot", a["db_snapshot_identifier"])
        ),
    )
    _hook(
        "delete_db_cluster_snapshot",
        after=lambda self, a, _: _drop_snapshot(
            _key(self, "cluster-snapshot", a["db_snapshot_identifier"])
        ),
    )
    _hook("restore_db_instance_from_db_snapshot", before=_from_snapshot("snapshot"))
    _hook("restore_db_cluster_from_snapshot", before=_from_snapshot("cluster-snapshot"))
    _hook(
        "restore_db_instance_to_point_in_time",
        before=lambda self, a: _from_now(_key(self, "db", a["source_db_identifier"])),
    )
    _hook(
        "restore_db_cluster_to_point_in_time",
        before=lambda self, a: _from_now(_key(self, "cluster", a["source_db_cluster_identifier"])),
    )
    _hook(
        "delete_db_instance",
        after=lambda self, a, _: _stop(_key(self, "db", a["db_instance_identifier"])),
    )
    _hook(
        "delete_db_cluster",
        after=lambda self, a, _: _stop(_key(self, "cluster", a["cluster_identifier"])),
    )
    _hook(
        "modify_db_instance",
        after=lambda self, a, db: _new_password(db, a["db_kwargs"].get("master_user_password")),
    )
    _hook(
        "modify_db_cluster",
        after=lambda self, a, out: _new_password(
            self.clusters[out.db_cluster_identifier], a["kwargs"].get("master_user_password")
        ),
    )


def _new_password(obj: Any, password: str | None) -> None:
    server = server_of(obj) if password else None
    if server is not None:
        server.set_password(obj.master_username, password)


def _endpoints() -> None:
    """The API's endpoint addresses name the local server for engine-backed resources."""
    address = DBInstance.address
    endpoint, reader = DBCluster.endpoint, DBCluster.reader_endpoint
    if getattr(address.fget, "_engine_hook", False):
        return

    def local(prop: property) -> property:
        def get(self: Any) -> str:
            return LOCAL_ADDRESS if server_of(self) is not None else prop.fget(self)

        get._engine_hook = True  # type: ignore[attr-defined]
        return property(get)

    DBInstance.address = local(address)  # type: ignore[method-assign]
    DBCluster.endpoint = local(endpoint)  # type: ignore[method-assign]
    DBCluster.reader_endpoint = local(reader)  # type: ignore[method-assign]


def stop_all() -> None:
    """Stop every server and remove every snapshot copy."""
    with _lock:
        servers, copies = list(SERVERS.values()), list(USERS)
        SERVERS.clear()
        SNAPSHOTS.clear()
        USERS.clear()
        LAST_COPY.clear()
        _server_locks.clear()
    for server in servers:
        server.stop()
    for data in copies:
        common.remove_dir(data)


def _hook_reset() -> None:
    original = BackendDict.reset.__func__  # type: ignore[attr-defined]
    if getattr(original, "_engine_hook", False):
        return

    def reset(cls: type) -> None:
        original(cls)
        stop_all()

    reset._engine_hook = True  # type: ignore[attr-defined]
    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]


def _exit() -> None:
    stop_all()
    for module in set(ENGINES.values()):
        module.forget()
    common.remove_root()


def _moto_fixes() -> None:
    """moto 5.2 cannot restore a cluster that has no master password of its own (one whose
    password RDS manages in Secrets Manager, or a Neptune cluster): ``DBCluster.get_cfg``
    pops ``_master_user_password``, never set for those, and raises KeyError. AWS restores
    them; so does the sandbox, with or without the engines."""
    original = rds_models.DBCluster.get_cfg

    def get_cfg(self: Any) -> dict[str, Any]:
        self.__dict__.setdefault("_master_user_password", None)
        return original(self)

    rds_models.DBCluster.get_cfg = get_cfg


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _moto_fixes()
        _hooks()
        _endpoints()
        _hook_reset()
        atexit.register(_exit)
        _installed = True


__all__ = ["ENGINES", "SERVERS", "SNAPSHOTS", "install", "server_of", "stop_all"]
_ = rds_models  # moto's module, for readers looking for what is wrapped
