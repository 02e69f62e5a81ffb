"""What every sandbox engine server shares: the sandbox's engine folder, free ports, child
processes run as the engine's system user that stop when the sandbox does, and folder copies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading

from runbook_lib.errors import SandboxError

_PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_root: dict[str, str] = {}


def system_user(name: str) -> pwd.struct_passwd | None:
    """The account a server runs as when the sandbox runs as root (servers refuse root)."""
    return pwd.getpwnam(name) if os.geteuid() == 0 else None


#: ``off`` (or 0, false, no): RDS stays metadata only, as moto makes it, even where the
#: engines are installed (a sandbox that starts in seconds, for work that reads no rows)
SWITCH = "RUNBOOK_SANDBOX_ENGINES"


def switched_off() -> str:
    """Why the engines are not used although installed ("" when they may be)."""
    if os.environ.get(SWITCH, "").strip().lower() in ("off", "0", "false", "no"):
        return f"real engines turned off ({SWITCH}={os.environ[SWITCH]})"
    return ""


def user_missing(name: str) -> str:
    """Why a server cannot run as ``name`` ("" when it can)."""
    if os.geteuid() != 0:
        return ""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return f"running as root and there is no `{name}` user to run the server as"
    return ""


def child_setup(user: pwd.struct_passwd | None, stop_signal: int = 0) -> None:
    """In the child, before exec: become ``user``; with ``stop_signal``, be sent it when the
    thread that started us ends, however it ends."""
    if user is not None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    if stop_signal:  # after setuid: a change of credentials clears the setting
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, stop_signal)
    os.setsid()  # a terminal's Ctrl-C goes to the sandbox, which stops the server itself


def run_tool(label: str, argv: list[str], user: pwd.struct_passwd | None) -> None:
    out = subprocess.run(
        argv,
        preexec_fn=lambda: child_setup(user),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise SandboxError(
            f"sandbox {label}: {os.path.basename(argv[0])} failed: {out.stderr.strip()[-500:]}"
        )


def own(path: str, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        for base, dirs, files in os.walk(path):
            for name in [base, *(os.path.join(base, n) for n in dirs + files)]:
                os.chown(name, user.pw_uid, user.pw_gid)


def root() -> str:
    """The sandbox's folder for engine data (made on first use, removed at exit)."""
    with _lock:
        if "dir" not in _root:
            path = tempfile.mkdtemp(prefix="runbook-sandbox-engines-")
            os.chmod(path, 0o755)
            _root["dir"] = path
        return _root["dir"]


def remove_root() -> None:
    with _lock:
        path = _root.pop("dir", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_dir(label: str) -> str:
    """A fresh path under :func:`root` (not created: a copy makes it)."""
    path = tempfile.mkdtemp(prefix=f"{label}-", dir=root())
    os.rmdir(path)
    return path


def owned_dir(label: str, user: pwd.struct_passwd | None) -> str:
    """A new, empty folder under :func:`root` that ``user`` owns (a tool run as ``user``
    writes into it)."""
    path = tempfile.mkdtemp(prefix=f"{label}-", dir=root())
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o700)
    return path


def copy_dir(src: str, dst: str) -> None:
    subprocess.run(["cp", "-a", src, dst], check=True, timeout=300)


def log_path(data: str) -> str:
    return os.path.join(root(), f"{os.path.basename(data)}.log")


def remove_dir(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(log_path(path))


def start_process(
    argv: list[str], user: pwd.struct_passwd | None, data: str, stop_signal: int
) -> subprocess.Popen:
    """Start a server process (its output in a log beside its data), sent ``stop_signal``
    if the sandbox dies."""
    with open(log_path(data), "ab") as log:
        return subprocess.Popen(
            argv,
            preexec_fn=lambda: child_setup(user, stop_signal),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def stop_process(proc: subprocess.Popen | None, stop_signal: int) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
