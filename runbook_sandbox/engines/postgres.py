"""Real PostgreSQL servers behind the sandbox's RDS: one unprivileged server per DB instance
or cluster, on 127.0.0.1 and a free port, with its data under the sandbox's temporary folder.

Debian's ``postgresql`` package provides the binaries (``/usr/lib/postgresql/<n>/bin``).
The servers run as the ``postgres`` system user when the sandbox runs as root (PostgreSQL
refuses to run as root), and stop with the sandbox: each is its own child process, asked to
stop when the sandbox dies (``PR_SET_PDEATHSIG``), so a killed sandbox leaves none behind.

A new server is a copy of one ``initdb`` data directory (made once per sandbox process), so
starting one takes a fraction of a second. A snapshot is a physical copy of the server
(``pg_basebackup`` with its WAL: consistent while clients write); a restore starts a new
server on a copy of the snapshot, as RDS restores a new instance from a snapshot. The WAL
since a snapshot started tells whether the data changed since (:meth:`Server.unchanged_since`):
a snapshot of an unchanged server shares the previous copy (see :mod:`.rds`).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from runbook_lib.errors import SandboxError
from runbook_sandbox.engines import common

USER = "postgres"
STOP = signal.SIGINT  # fast shutdown: clients are disconnected
_lock = threading.Lock()
_templates: dict[str, str] = {}  # forgotten with the engines' folder (see forget)
#: WAL resource managers whose records change no data (see Server.unchanged_since)
_NO_DATA_CHANGE = frozenset({"XLOG", "Standby"})


def forget() -> None:
    """The engines' folder is being removed: make the template again next time."""
    _templates.clear()


def bin_dir() -> str | None:
    """The folder of Debian's PostgreSQL server binaries (newest version), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    path = shutil.which("postgres")
    return os.path.dirname(path) if path else None


def missing_reason() -> str:
    """Why no PostgreSQL server can be started here ("" when one can)."""
    if common.switched_off():
        return common.switched_off()
    if bin_dir() is None:
        return (
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(apt-get install -y postgresql; `make test` does it when run as root)"
        )
    return common.user_missing(USER)


def _tool(name: str, *args: str) -> None:
    common.run_tool(
        "postgres", [os.path.join(str(bin_dir()), name), *args], common.system_user(USER)
    )


def _template() -> str:
    """One initdb'd data directory; every new server starts from a copy of it."""
    with _lock:
        path = _templates.get("pg")
        if path is None:
            path = common.owned_dir("pg-template", common.system_user(USER))
            _tool(
                "initdb", "-D", path, "-U", "postgres", "--auth-local=trust",
                "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            _templates["pg"] = path
    return path


@dataclass(kw_only=True)
class Server:
    """One running PostgreSQL server (an RDS DB instance or cluster)."""

    data: str
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> None:
        self.port = self.port or common.free_port()
        argv = [
            os.path.join(str(bin_dir()), "postgres"), "-D", self.data, "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data}",
            "-c", "shared_buffers=16MB", "-c", "max_connections=40", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "wal_keep_size=64MB",
        ]  # fmt: skip
        self.proc = common.start_process(argv, common.system_user(USER), self.data, STOP)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SandboxError(
                    f"sandbox postgres on port {self.port} exited at start (code "
                    f"{self.proc.returncode}); see {common.log_path(self.data)}"
                )
            try:
                with self.admin():
                    return
            except Exception:  # noqa: BLE001  (not accepting connections yet)
                if time.monotonic() > deadline:
                    self.stop()
                    raise SandboxError(
                        f"sandbox postgres on port {self.port} did not start in {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)

    def admin(self, dbname: str = "postgres"):
        """A superuser connection over the server's Unix socket (autocommit)."""
        import psycopg

        return psycopg.connect(
            host=self.data, port=self.port, user="postgres", dbname=dbname,
            autocommit=True, connect_timeout=5,
        )  # fmt: skip

    def setup_master(self, user: str, password: str, dbname: str | None) -> None:
        """The master user (login, creates databases and roles, as on RDS) and, when named,
        the initial database it owns; without one, it owns ``postgres``."""
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            if dbname and dbname != "postgres":
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(user)
                    )
                )
            else:
                conn.execute(
                    sql.SQL("ALTER DATABASE postgres OWNER TO {}").format(sql.Identifier(user))
                )

    def set_password(self, user: str, password: str) -> None:
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )

    def change_marker(self) -> str:
        """The WAL insert position (an LSN): read before a snapshot starts, it is where
        :meth:`unchanged_since` looks for changes from."""
        with self.admin() as conn:
            return str(conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])

    def unchanged_since(self, marker: Any) -> bool:
        """Whether no change to the data was written since the LSN ``marker``: the WAL from
        there holds only records of the ``XLOG`` and ``Standby`` resource managers
        (checkpoints, segment switches, backup start and end, running-transaction notes:
        what a snapshot and an idle server write), read with ``pg_waldump``. Any other
        record (a row, a sequence, a commit, a new database, vacuum's page pruning) means
        changed, as does WAL that can no longer be read (recycled segments). A
        ``CHECKPOINT`` first flushes every record written so far, so none is missed."""
        if not marker:
            return False
        with self.admin() as conn:
            conn.execute("CHECKPOINT")
            end = str(conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0])
        out = subprocess.run(
            [
                os.path.join(str(bin_dir()), "pg_waldump"), "-p",
                os.path.join(self.data, "pg_wal"), "-s", str(marker), "-e", end,
            ],
            preexec_fn=lambda: common.child_setup(common.system_user(USER)),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            return False
        managers = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("rmgr:")}
        return managers <= _NO_DATA_CHANGE

    def snapshot(self) -> str:
        """A physical, consistent copy of the running server (``pg_basebackup``, WAL
        included); returns its folder."""
        dest = common.owned_dir("pg-snapshot", common.system_user(USER))
        _tool(
            "pg_basebackup", "-D", dest, "-h", self.data, "-p", str(self.port), "-U", "postgres",
            "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        return dest

    def stop(self, remove: bool = True) -> None:
        proc, self.proc = self.proc, None
        common.stop_process(proc, STOP)
        if remove:
            common.remove_dir(self.data)


def _started(source: str) -> Server:
    data = common.new_dir("pg")
    common.copy_dir(source, data)
    os.chmod(data, 0o700)  # PostgreSQL refuses a data folder others can read
    server = Server(data=data)
    server.start()
    return server


def new_server() -> Server:
    """A fresh, started server (no master user yet)."""
    return _started(_template())


def server_from(snapshot_dir: str) -> Server:
    """A started server on a copy of the snapshot at ``snapshot_dir``."""
    return _started(snapshot_dir)
