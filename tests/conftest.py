"""Test harness.

- Library tests run on moto (in-process or a server they start).
- Notebook tests execute each runbook with papermill into a temporary folder.
- nbval runs every notebook in notebooks/ top to bottom with its default parameters.

nbval's kernels are other processes, so ``mock_aws`` in this process would not reach
them: a sandbox server is started as its own process here, in ``pytest_sessionstart``
(fixtures are too late: nbval starts kernels at collection), seeded with the demo estate,
and its URL exported as RUNBOOK_SANDBOX_URL for every kernel.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from runbook_lib.progress import BATCH_ENV
from runbook_sandbox import ENV_URL, prepare_moto_environment
from runbook_sandbox.engines.common import SWITCH as ENGINES
from runbook_sandbox.seed import HISTORY_ENV as HISTORY

prepare_moto_environment()
os.environ.setdefault(BATCH_ENV, "1")  # nbval/papermill kernels inherit it: no progress widgets
#: Real database servers behind the sandbox's RDS add about 30 s to every seeded sandbox (four
#: servers and their rows). They run behind the session's shared sandbox (the notebooks) and
#: behind ``engine_sandbox`` (the tests that prove database content); every other sandbox a
#: test starts is metadata only, as moto makes it. RUNBOOK_SANDBOX_ENGINES=on runs them all.
os.environ.setdefault(ENGINES, "off")
#: A seeded sandbox is given a day of history by default (protected, then its clock moved:
#: runbook_sandbox.seed.live_through). The tests see the estate as seeded, with its gaps;
#: those about the history turn it on for their own sandbox.
os.environ.setdefault(HISTORY, "off")
_stack = contextlib.ExitStack()


@contextlib.contextmanager
def _engines_on():
    """Sandboxes started inside run real database engines (the process inherits it)."""
    before = os.environ.get(ENGINES)
    os.environ[ENGINES] = "on"
    try:
        yield
    finally:
        os.environ[ENGINES] = before if before is not None else "off"


def pytest_sessionstart(session: pytest.Session) -> None:
    from runbook_sandbox.server import running_sandbox

    if os.environ.get(ENV_URL):
        return  # a sandbox given from outside (e.g. `runbook sandbox serve`)
    with _engines_on():
        os.environ[ENV_URL] = _stack.enter_context(running_sandbox("sandbox"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stack.close()


@pytest.fixture
def fresh_sandbox(monkeypatch: pytest.MonkeyPatch):
    """A sandbox server of its own, seeded with the demo estate, for tests that change
    things (so they never disturb the shared one). Kernels started while it is active
    (papermill) use it too."""
    from runbook_sandbox.server import running_sandbox

    with running_sandbox("sandbox") as url:
        monkeypatch.setenv(ENV_URL, url)
        yield url


@pytest.fixture(scope="module")
def engine_sandbox():
    """A seeded sandbox of the module's own with real PostgreSQL and MariaDB servers behind
    its RDS (skipped by the engines themselves where their packages are missing)."""
    from runbook_sandbox.server import running_sandbox

    with _engines_on():
        stack = contextlib.ExitStack()
        url = stack.enter_context(running_sandbox("sandbox"))
    with stack:
        yield url


@pytest.fixture(scope="module")
def engine_ctx(engine_sandbox, tmp_path_factory, request):
    """A run context on ``engine_sandbox`` with a ledger of the module's own (run id: the
    module's name)."""
    from runbook_lib.context import RunContext
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession, utcnow

    params = load_params("sandbox")
    session = AwsSession(params, endpoint_url=engine_sandbox)
    ledger = Ledger(str(tmp_path_factory.mktemp("ledger")))
    return RunContext(params, session, ledger, request.module.__name__.replace("_", "-"), utcnow())


@pytest.fixture(scope="session")
def shared_sandbox_url() -> str:
    """The session's seeded sandbox (read-only use, please)."""
    return os.environ[ENV_URL]
