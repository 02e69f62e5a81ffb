"""The embedded sandbox: moto standing in for AWS, with the demo estate seeded.

Three ways to have one:
- ``runbook sandbox serve`` runs a server as its own process (what ``make demo`` and the
  tests use, so every notebook kernel talks to the same state); it seeds the demo estate
  itself (``--seed-params sandbox``, the default) or starts empty (``--seed-params ''``);
- ``RUNBOOK_SANDBOX_URL`` or ``target.endpoint_url`` names a running server (a sandbox, or
  any AWS-compatible endpoint such as LocalStack); the runbooks use it as it is and never
  write the demo estate into a server they did not start;
- otherwise ``ensure_sandbox`` starts one inside the current process (a notebook run on
  its own with default parameters needs nothing else started) and seeds it.

``runbook_sandbox.clock`` moves a sandbox's time (AWS schedules, copies, lifecycle and
point-in-time windows follow); ``runbook_sandbox.state`` saves a sandbox to a file and
loads it into another, so a seeded estate need not be seeded again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

from runbook_lib.errors import SandboxError
from runbook_lib.targets import ENV_URL

__all__ = ["ENV_URL", "ensure_sandbox", "is_up", "prepare_moto_environment", "reset"]

_lock = threading.Lock()
_in_process: dict[str, object] = {}


def prepare_moto_environment() -> None:
    """Settings that must be in place before moto's backends load."""
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # else ~1,300 foreign snapshots
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        os.environ.setdefault(key, value)
    try:
        from runbook_sandbox.backup_ext import install
    except ImportError:  # the AWS Backup extension is optional for the core sandbox
        return
    install()
    from runbook_sandbox import elasticache_ext

    elasticache_ext.install()
    from runbook_sandbox import s3_ext

    s3_ext.install()
    from runbook_sandbox import dlm_ext, engines

    engines.install()
    dlm_ext.install()  # Data Lifecycle Manager: moto has no dlm backend


def start_server(host: str = "127.0.0.1", port: int = 0):
    """Start moto as a threaded server in this process; returns (server, url)."""
    prepare_moto_environment()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


@contextlib.contextmanager
def in_process() -> Iterator[str]:
    """A sandbox server in this process, empty when the block starts and emptied again when
    it ends (moto's state is per process, shared by every server started in it); yields its
    URL."""
    server, url = start_server()
    reset(url)
    try:
        yield url
    finally:
        try:
            reset(url)
        finally:
            server.stop()


def is_up(url: str, timeout: float = 5.0) -> bool:
    """True when a server answers at ``url`` (any HTTP answer will do)."""
    try:
        urllib.request.urlopen(f"{url}/moto-api/", timeout=timeout).close()
        return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def reset(url: str) -> None:
    """Clear every resource in the sandbox server at ``url``."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status != 200:
            raise SandboxError(f"sandbox at {url}: reset answered HTTP {r.status}")


def ensure_sandbox(params, *, seed: bool = True) -> str:
    """The URL of the sandbox to use. A server named by ``target.endpoint_url`` or
    RUNBOOK_SANDBOX_URL is used as it is (never seeded: it may hold someone's data);
    otherwise one is started in this process and, with ``seed``, given the demo estate."""
    from runbook_sandbox.seed import ensure_seeded

    url = params.target.endpoint_url or os.environ.get(ENV_URL)
    if url:
        if not is_up(url):
            raise SandboxError(
                f"sandbox: nothing answers at {url} (from target.endpoint_url or {ENV_URL}). "
                "Start one with `runbook sandbox serve`, or unset it to use an in-process sandbox."
            )
        return url
    with _lock:
        started = "url" not in _in_process
        if started:
            server, url = start_server()
            _in_process.update(server=server, url=url)
        url = str(_in_process["url"])
        if seed and started:
            ensure_seeded(params, url)
    return url
