"""The sandbox as its own process: ``runbook sandbox serve`` or ``python -m runbook_sandbox.server``.

Prints ``RUNBOOK_SANDBOX_URL=<url>`` on one line once it answers, then serves until
stopped. SIGTERM or SIGINT stops it at any point, seeding included: it stops its real
database servers, removes its engine folder and exits with status 0 (a clean-up that hangs
is cut short after :data:`STOP_GRACE` seconds). ``running_sandbox()`` starts one as a child
process for the length of a block, so that every notebook kernel of a run talks to the same
state; that child also stops when its parent dies without a word (SIGKILL): its stdin
closes, or its parent process changes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil

from runbook_lib.errors import SandboxError
from runbook_sandbox import ENV_URL, start_server

#: the signals that stop a sandbox process cleanly
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: seconds the clean-up after a stop may take before the process exits regardless
STOP_GRACE = 20.0
#: seconds between two checks that the parent process is still there
PARENT_POLL = 1.0


class _Stopped(BaseException):
    """A stop signal arrived before the sandbox served (while it started or seeded)."""


def _end_children(wait: float = 5.0) -> bool:
    """SIGTERM every process this one started and has not stopped yet (a tool copying an
    engine's files, say), then SIGKILL what is left after ``wait`` seconds. True when there
    were any."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=wait)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=wait)
    return bool(children)


def _stop_engines(rounds: int = 3) -> None:
    """Stop the real database servers behind this process's sandbox, end any tool still
    working for them, and remove the engine folder (nothing to do when no engine module was
    loaded). A request still in flight may start a tool after the first round: up to
    ``rounds`` rounds, until no child process and no folder is left."""
    common = sys.modules.get("runbook_sandbox.engines.common")
    if common is None:
        _end_children()
        return
    folder = common.root()
    for _ in range(rounds):
        for name in ("runbook_sandbox.elasticache_ext", "runbook_sandbox.engines.rds"):
            if name in sys.modules:
                sys.modules[name].stop_all()
        had_children = _end_children()
        common.remove_root()
        shutil.rmtree(folder, ignore_errors=True)
        if not had_children and not os.path.exists(folder):
            return
        time.sleep(0.5)


def _watch_parent(stop: threading.Event, exit_with_stdin: bool, exit_with_parent: bool) -> None:
    """Stop this process as SIGTERM would (seeding included) when stdin closes
    (``exit_with_stdin``: the parent holds its other end) or when the parent process is gone
    (``exit_with_parent``: this process was re-parented); the watch ends with ``stop``."""

    def stop_self() -> None:
        if not stop.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    if exit_with_stdin:

        def stdin_closed() -> None:
            with contextlib.suppress(OSError, ValueError):
                sys.stdin.read()
            stop_self()

        threading.Thread(target=stdin_closed, name="sandbox-stdin", daemon=True).start()
    if exit_with_parent:
        parent = os.getppid()

        def parent_gone() -> None:
            while not stop.wait(PARENT_POLL):
                if os.getppid() != parent:
                    stop_self()
                    return

        threading.Thread(target=parent_gone, name="sandbox-parent", daemon=True).start()


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    params_file: str | None = None,
    exit_with_stdin: bool = False,
    state_file: str | None = None,
    exit_with_parent: bool = False,
) -> None:
    """Serve a sandbox until SIGTERM or SIGINT (or, with ``exit_with_stdin`` /
    ``exit_with_parent``, until the parent goes), then stop its engines and remove its
    engine folder. Call it from the main thread (signal handlers live there)."""
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        first = not stop.is_set()
        stop.set()
        if first and not serving.is_set():
            raise _Stopped(signum)  # interrupts start-up or seeding in the main thread

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    server = None
    try:
        _watch_parent(stop, exit_with_stdin, exit_with_parent)  # from the start: seeding too
        server, url = start_server(host, port)
        if state_file:  # a saved estate (runbook sandbox save): no seeding
            from runbook_sandbox.state import load

            load(state_file)
        elif params_file:
            from runbook_lib.params import load_params
            from runbook_sandbox.seed import ensure_seeded

            ensure_seeded(load_params(params_file), url)
        serving.set()
        if stop.is_set():
            return
        print(f"{ENV_URL}={url}", flush=True)
        stop.wait()
    except (_Stopped, BrokenPipeError):  # stopped, or nobody reads the URL any more
        pass
    finally:
        stop.set()  # a later signal changes nothing: the clean-up runs to its end
        watchdog = threading.Timer(STOP_GRACE, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()
        try:
            if server is not None:
                server.stop()
            _stop_engines()
        finally:
            watchdog.cancel()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stop_process(proc: subprocess.Popen, wait: float) -> None:
    """SIGTERM ``proc`` and wait up to ``wait`` seconds for it to clean up; then kill it."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def sandbox_command(
    params_file: str | None = "sandbox", state_file: str | None = None
) -> list[str]:
    """The command :func:`running_sandbox` starts: a server on a free port, seeded from
    ``params_file`` (or loaded from ``state_file``; neither: empty), that stops when its
    parent goes (stdin closed, or the parent process gone)."""
    cmd = [sys.executable, "-m", "runbook_sandbox.server", "--port", "0"]
    cmd += ["--exit-with-stdin", "--exit-with-parent"]
    if state_file:
        cmd += ["--load", str(state_file)]
    elif params_file:
        cmd += ["--seed-params", str(params_file)]
    return cmd


@contextlib.contextmanager
def running_sandbox(
    params_file: str | None = "sandbox", timeout: float = 600, state_file: str | None = None
) -> Iterator[str]:
    """Start a sandbox server process (seeded from ``params_file``, or loaded from a saved
    ``state_file`` instead); yields its URL. The process is stopped when the block ends,
    however it ends (an exception or a signal raised in the caller while the sandbox is
    still starting included), and stops by itself if this process dies."""
    cmd = sandbox_command(params_file, state_file)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        url = None
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.startswith(f"{ENV_URL}="):
                    url = line.strip().split("=", 1)[1]
                    break
        finally:
            timer.cancel()
        if not url:
            raise SandboxError(
                f"sandbox server did not start (exit code {proc.poll()}); "
                f"run `{' '.join(cmd)}` to see why"
            )
        yield url
    finally:
        _stop_process(proc, STOP_GRACE + 5)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="runbook sandbox serve", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5055, help="0 picks a free port")
    ap.add_argument(
        "--seed-params", default=None, help="seed the demo estate from this params file"
    )
    ap.add_argument(
        "--load", default=None, help="start from a saved state (runbook sandbox save) instead"
    )
    ap.add_argument(
        "--exit-with-stdin", action="store_true", help="stop when stdin closes (parent gone)"
    )
    ap.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the parent process is gone (checked every second)",
    )
    args = ap.parse_args(argv)
    serve(
        args.host,
        args.port,
        args.seed_params,
        args.exit_with_stdin,
        args.load,
        args.exit_with_parent,
    )


if __name__ == "__main__":
    main()
