"""Real MariaDB servers behind the sandbox's RDS: one server per DB instance of engine
``mysql`` or ``mariadb`` and per Aurora cluster of engine ``aurora-mysql``, on 127.0.0.1 and
a free port, with its data under the sandbox's temporary folder (Debian's ``mariadb-server``
and ``mariadb-backup`` packages; MariaDB speaks MySQL's protocol and SQL).

As for PostgreSQL (:mod:`.postgres`): servers run as the ``mysql`` system user when the
sandbox runs as root and stop when it dies; a new server is a copy of one
``mariadb-install-db`` folder; a snapshot is a physical, consistent copy taken with
``mariabackup --backup`` then ``--prepare`` (InnoDB's redo applied), and a restore starts a
new server on a copy of it. The binary log is on, as on RDS with backups: its end position
is the change marker that lets a snapshot of an unchanged server share the previous copy
(:meth:`Server.change_marker`, used by :mod:`.rds`).
"""

from __future__ import annotations

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

USER = "mysql"
STOP = signal.SIGTERM  # MariaDB's normal shutdown
_lock = threading.Lock()
_templates: dict[str, str] = {}


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )


def missing_reason() -> str:
    """Why no MariaDB server can be started here ("" when one can)."""
    if common.switched_off():
        return common.switched_off()
    missing = [b for b in ("mariadbd", "mariadb-install-db", "mariabackup") if not _binary(b)]
    if missing:
        return (
            f"MariaDB binaries not found ({', '.join(missing)}): install Debian's "
            "`mariadb-server` and `mariadb-backup` packages (`make test` does it when run as root)"
        )
    return common.user_missing(USER)


def forget() -> None:
    _templates.clear()


def _tool(*argv: str) -> None:
    common.run_tool("mariadb", [str(_binary(argv[0])), *argv[1:]], common.system_user(USER))


def _template() -> str:
    with _lock:
        path = _templates.get("mariadb")
        if path is None:
            path = common.owned_dir("mariadb-template", common.system_user(USER))
            _tool(
                "mariadb-install-db", "--no-defaults", f"--datadir={path}",
                "--auth-root-authentication-method=normal", "--skip-test-db",
                "--skip-name-resolve",
            )  # fmt: skip
            _templates["mariadb"] = path
    return path


@dataclass(kw_only=True)
class Server:
    """One running MariaDB server (an RDS DB instance or Aurora MySQL cluster)."""

    data: str
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def socket(self) -> str:
        return os.path.join(self.data, "mysqld.sock")

    def start(self, timeout: float = 60.0) -> None:
        self.port = self.port or common.free_port()
        argv = [
            str(_binary("mariadbd")), "--no-defaults", f"--datadir={self.data}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
            f"--pid-file={os.path.join(self.data, 'mysqld.pid')}", "--skip-name-resolve",
            f"--log-bin={os.path.join(self.data, 'binlog')}", "--server-id=1",
            "--binlog-format=ROW", "--max-binlog-size=64M", "--sync-binlog=0",
            "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0", "--performance-schema=OFF",
            "--max-connections=40",
        ]  # fmt: skip
        self.proc = common.start_process(argv, common.system_user(USER), self.data, STOP)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SandboxError(
                    f"sandbox mariadb on port {self.port} exited at start (code "
                    f"{self.proc.returncode}); see {common.log_path(self.data)}"
                )
            try:
                self.admin().close()
                return
            except Exception:  # noqa: BLE001  (not accepting connections yet)
                if time.monotonic() > deadline:
                    self.stop()
                    raise SandboxError(
                        f"sandbox mariadb on port {self.port} did not start in {timeout:.0f}s"
                    ) from None
                time.sleep(0.1)

    def admin(self):
        """root over the server's Unix socket (autocommit)."""
        import pymysql

        return pymysql.connect(
            unix_socket=self.socket, user="root", autocommit=True, connect_timeout=5
        )

    def _run(self, *statements: tuple[str, tuple]) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                for sql, args in statements:
                    cur.execute(sql, args)
        finally:
            conn.close()

    def setup_master(self, user: str, password: str, dbname: str | None) -> None:
        """The master user (every privilege, as RDS's master has the useful ones) and, when
        named, the initial database."""
        statements = [
            ("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password)),
            ("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (user,)),
        ]
        if dbname:
            name = dbname.replace("`", "``")
            statements.append((f"CREATE DATABASE `{name}`", ()))
        self._run(*statements)

    def set_password(self, user: str, password: str) -> None:
        self._run(("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password)))

    def change_marker(self) -> tuple[str, int]:
        """Where the server's binary log ends: it moves with every committed change (rows,
        DDL, users and grants, whatever the storage engine) and with nothing else (reads,
        temporary tables and ``mariabackup`` leave it where it is), so an equal marker means
        the data has not changed. What is written with ``SET sql_log_bin=0`` escapes it."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW MASTER STATUS")
                file, position = cur.fetchone()[:2]
        finally:
            conn.close()
        return str(file), int(position)

    def unchanged_since(self, marker: Any) -> bool:
        """Whether the data is as it was when :meth:`change_marker` returned ``marker``."""
        return marker is not None and self.change_marker() == tuple(marker)

    def snapshot(self) -> str:
        """A physical, consistent copy (``mariabackup --backup``, then ``--prepare``)."""
        dest = common.owned_dir("mariadb-snapshot", common.system_user(USER))
        _tool(
            "mariabackup", "--backup", f"--target-dir={dest}", f"--socket={self.socket}",
            "--user=root", f"--datadir={self.data}",
        )  # fmt: skip
        _tool("mariabackup", "--prepare", f"--target-dir={dest}")
        return dest

    def stop(self, remove: bool = True) -> None:
        proc, self.proc = self.proc, None
        common.stop_process(proc, STOP)
        if remove:
            common.remove_dir(self.data)


def _started(source: str) -> Server:
    data = common.new_dir("mariadb")
    common.copy_dir(source, data)
    server = Server(data=data)
    server.start()
    return server


def new_server() -> Server:
    """A fresh, started server (no master user yet)."""
    return _started(_template())


def server_from(snapshot_dir: str) -> Server:
    """A started server on a copy of the snapshot at ``snapshot_dir``."""
    return _started(snapshot_dir)
