"""Real Redis servers behind the sandbox's ElastiCache: one ``redis-server`` process per
Redis replication group and per standalone Redis cache cluster, on 127.0.0.1 and a free
port, with its data under the sandbox's temporary folder (Debian's ``redis-server``
package).

As for PostgreSQL (:mod:`.postgres`): servers run as the ``redis`` system user when the
sandbox runs as root, and stop when it dies (``PR_SET_PDEATHSIG``). A snapshot is an RDB
file: ``SAVE`` (a consistent point-in-time dump, as ElastiCache's fork-based backup is) and
a copy of ``dump.rdb``; a restore starts a new server that loads a copy of that file. With
an AUTH token the server requires it (``requirepass``). The servers speak plain TCP: the
sandbox does not model in-transit encryption (TLS), whatever the API says.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

from runbook_lib.errors import SandboxError
from runbook_sandbox.engines import common

USER = "redis"
STOP = signal.SIGTERM  # redis-server's normal shutdown (no save: saving is turned off)
RDB = "dump.rdb"


def binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def missing_reason() -> str:
    """Why no Redis server can be started here ("" when one can)."""
    if common.switched_off():
        return common.switched_off()
    if binary() is None:
        return (
            "redis-server not found: install Debian's `redis-server` package "
            "(apt-get install -y redis-server; `make test` does it when run as root)"
        )
    try:
        import redis  # noqa: F401  (redis-py, a dependency of runbook_lib)
    except ImportError:
        return "the redis Python package (redis-py) is not installed: pip install redis"
    return ""


def forget() -> None:
    """Nothing is cached across the engines' folder (kept for the engines' common shape)."""


@dataclass(kw_only=True)
class Server:
    """One running Redis server (an ElastiCache replication group or cache cluster)."""

    data: str
    port: int = 0
    password: str | None = field(default=None, repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> None:
        self.port = self.port or common.free_port()
        argv = [
            str(binary()), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", self.data, "--dbfilename", RDB, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "no", "--logfile", "",
        ]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = common.start_process(argv, common.system_user(USER), self.data, STOP)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SandboxError(
                    f"sandbox redis-server on port {self.port} exited at start (code "
                    f"{self.proc.returncode}); see {common.log_path(self.data)}"
                )
            try:
                with self.admin() as r:
                    r.ping()  # answers LOADING while the RDB file loads
                    return
            except Exception:  # noqa: BLE001  (not accepting connections yet)
                if time.monotonic() > deadline:
                    self.stop()
                    raise SandboxError(
                        f"sandbox redis-server on port {self.port} did not start in {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)

    def admin(self):
        """A client of this server (with its AUTH token, when it has one)."""
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=5,
            socket_timeout=300,
        )  # fmt: skip

    def snapshot(self) -> str:
        """An RDB file of the server as it is now (``SAVE``: one consistent dump); returns the
        folder that holds it."""
        with self.admin() as r:
            r.save()
        dest = common.owned_dir("redis-snapshot", common.system_user(USER))
        shutil.copy2(os.path.join(self.data, RDB), os.path.join(dest, RDB))
        common.own(dest, common.system_user(USER))
        return dest

    def stop(self, remove: bool = True) -> None:
        proc, self.proc = self.proc, None
        common.stop_process(proc, STOP)
        if remove:
            common.remove_dir(self.data)


def _started(rdb_dir: str | None, password: str | None) -> Server:
    data = common.owned_dir("redis", common.system_user(USER))
    if rdb_dir:
        shutil.copy2(os.path.join(rdb_dir, RDB), os.path.join(data, RDB))
        common.own(data, common.system_user(USER))
    server = Server(data=data, password=password or None)
    server.start()
    return server


def new_server(password: str | None = None) -> Server:
    """A fresh, empty, started server."""
    return _started(None, password)


def server_from(snapshot_dir: str, password: str | None = None) -> Server:
    """A started server that loaded the RDB file at ``snapshot_dir``."""
    return _started(snapshot_dir, password)
