"""The sandbox as its own process: ``runbook sandbox serve`` or ``python -m runbook_sandbox.server``.

Prints ``RUNBOOK_SANDBOX_URL=<url>`` on one line once it answers, then serves until
stopped. ``running_sandbox()`` starts one as a child process for the length of a block,
so that every notebook kernel of a run talks to the same state.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

from runbook_lib.errors import SandboxError
from runbook_sandbox import ENV_URL, start_server


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    params_file: str | None = None,
    exit_with_stdin: bool = False,
    state_file: str | None = None,
) -> None:
    server, url = start_server(host, port)
    if state_file:  # a saved estate (runbook sandbox save): no seeding
        from runbook_sandbox.state import load

        load(state_file)
    elif params_file:
        from runbook_lib.params import load_params
        from runbook_sandbox.seed import ensure_seeded

        ensure_seeded(load_params(params_file), url)
    print(f"{ENV_URL}={url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if exit_with_stdin:  # the parent holds our stdin: when it dies, however, we stop too

        def watch() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


@contextlib.contextmanager
def running_sandbox(
    params_file: str | None = "sandbox", timeout: float = 600, state_file: str | None = None
) -> Iterator[str]:
    """Start a sandbox server process (seeded from ``params_file``, or loaded from a saved
    ``state_file`` instead); yields its URL."""
    cmd = [sys.executable, "-m", "runbook_sandbox.server", "--port", "0", "--exit-with-stdin"]
    if state_file:
        cmd += ["--load", str(state_file)]
    elif params_file:
        cmd += ["--seed-params", str(params_file)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
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
        proc.kill()
        raise SandboxError(
            f"sandbox server did not start (exit code {proc.poll()}); run `{' '.join(cmd)}` to see why"
        )
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


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
    args = ap.parse_args(argv)
    serve(args.host, args.port, args.seed_params, args.exit_with_stdin, args.load)


if __name__ == "__main__":
    main()
