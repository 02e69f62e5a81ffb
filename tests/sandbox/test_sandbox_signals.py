"""A stopped or killed sandbox leaves nothing running: the sandbox server process (started
the way ``running_sandbox``, and so the demo, starts it) exits cleanly on SIGTERM and SIGINT, seeding
included, stopping its real database servers and removing its engine folder; it stops by
itself when its parent dies without a word (SIGKILL); the demo, sent SIGTERM, stops the
sandbox it started, says so on stderr and exits non-zero.

Each sandbox here gets a temporary folder of its own (``TMPDIR``), so that what it leaves
behind is its own and nothing else's."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runbook_sandbox import ENV_URL
from runbook_sandbox.demo import Interrupted, stop_on_signals
from runbook_sandbox.engines import common, postgres
from runbook_sandbox.engines import redis as redis_engine
from runbook_sandbox.server import running_sandbox, sandbox_command

REPO = Path(__file__).resolve().parents[2]
#: seconds a stopped process may take (bounds a wait; not a measured figure)
BOUND = 90
ENGINE_FOLDERS = "runbook-sandbox-engines-*"


@pytest.fixture
def own_tmp() -> Iterator[Path]:
    """A temporary folder for one sandbox process (``TMPDIR``), world-writable as /tmp is:
    the engines run as their system users and write their own temporary files there."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-signals-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts: killed at its end if the test failed before they ended."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=BOUND)


def _env(tmp: Path, engines: str) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp), common.SWITCH: engines, ENV_URL: ""}


def _start(cmd: list[str], env: dict[str, str], **popen) -> tuple[subprocess.Popen, str]:
    """Start ``cmd`` (a sandbox server) and wait for the URL it prints."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO, **popen)
    timer = threading.Timer(BOUND * 3, proc.kill)
    timer.start()
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
    finally:
        timer.cancel()
    assert line.startswith(f"{ENV_URL}="), f"no URL (exit code {proc.poll()}): {line!r}"
    return proc, line.strip().split("=", 1)[1]


def _gone(procs: list[psutil.Process], within: float = BOUND) -> list[psutil.Process]:
    """Of ``procs``, those still running after ``within`` seconds."""
    _, alive = psutil.wait_procs(procs, timeout=within)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _assert_left_nothing(tmp: Path, tree: list[psutil.Process]) -> None:
    alive = _gone(tree)
    assert not alive, f"still running: {[(p.pid, p.name()) for p in alive]}"
    assert not list(tmp.glob(ENGINE_FOLDERS)), sorted(os.listdir(tmp))


def _wait_for_listening(proc: psutil.Process) -> None:
    """Until ``proc`` listens on a port (the server answers; seeding has not ended)."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if any(c.status == psutil.CONN_LISTEN for c in proc.net_connections(kind="inet")):
            return
        assert proc.is_running(), "the sandbox ended before it listened"
        time.sleep(0.2)
    pytest.fail("the sandbox never listened")


# ----------------------------------------------------------------- the server process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_sandbox_cleanly(own_tmp, started, sig):
    """Engines off (a sandbox that starts in seconds): it exits with status 0 and leaves no
    process and no engine folder."""
    proc, _ = _start(sandbox_command(None), _env(own_tmp, "off"), stdin=subprocess.PIPE)
    started.append(proc)
    me = psutil.Process(proc.pid)
    tree = [me, *me.children(recursive=True)]
    proc.send_signal(sig)
    assert proc.wait(timeout=BOUND) == 0
    _assert_left_nothing(own_tmp, tree)


def test_sigterm_while_seeding_stops_the_seeding_and_exits_cleanly(own_tmp, started):
    """The signal arrives while the demo estate is being written: the seeding stops, no URL
    is printed, and the process exits with status 0 (handled, not killed by the signal)."""
    proc = subprocess.Popen(
        sandbox_command("sandbox"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(own_tmp, "off"),
        cwd=REPO,
    )
    started.append(proc)
    me = psutil.Process(proc.pid)
    _wait_for_listening(me)
    tree = [me, *me.children(recursive=True)]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0 and ENV_URL not in out
    _assert_left_nothing(own_tmp, tree)


def _engine_binaries() -> str:
    """Why the engine test cannot run here ("" when it can)."""
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        return (
            "no PostgreSQL server binary (/usr/lib/postgresql/*/bin/postgres): install postgresql"
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(common.SWITCH, "on")
        return postgres.missing_reason() or redis_engine.missing_reason()


@pytest.mark.skipif(bool(_engine_binaries()), reason=_engine_binaries() or "engines present")
def test_sigterm_stops_the_real_engines_and_removes_their_folder(own_tmp, started):
    """Engines on: a PostgreSQL instance and a Redis group (made here, in a Region and an
    account of their own) run as children of the sandbox; after SIGTERM none of them, nor
    any of their processes, is left, and neither is the engine folder."""
    import boto3

    proc, url = _start(sandbox_command(None), _env(own_tmp, "on"), stdin=subprocess.PIPE)
    started.append(proc)
    region = "ap-southeast-4"

    def client(service: str):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    client("rds").create_db_instance(
        DBInstanceIdentifier="zz-Odd-ledger-0x7",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="ops_9",
        MasterUserPassword="pw-Zz-0123456789",
        AllocatedStorage=20,
    )
    client("elasticache").create_replication_group(
        ReplicationGroupId="zz-sess-9",
        ReplicationGroupDescription="odd cache",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1,
    )
    me = psutil.Process(proc.pid)
    tree = [me, *me.children(recursive=True)]
    names = {p.name() for p in tree[1:]}
    assert {"postgres", "redis-server"} <= names, names
    assert list(own_tmp.glob(ENGINE_FOLDERS)), "no engine folder while the engines run"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=BOUND) == 0
    _assert_left_nothing(own_tmp, tree)


_PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    proc = subprocess.Popen({cmd!r}, stdin={stdin}, stdout=open({out!r}, "w"))
    print(proc.pid, flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.parametrize(
    "seed, stdin",
    [("sandbox", "subprocess.PIPE"), (None, "None")],
    ids=["while-seeding", "serving-stdin-held-elsewhere"],
)
def test_a_sandbox_does_not_outlive_a_killed_parent(own_tmp, seed, stdin):
    """The parent is SIGKILLed (no clean-up of its own runs). While the sandbox seeds, with
    its stdin held by the parent alone: the closed stdin stops the seeding at once (the URL
    is never printed). While it serves, with its stdin held open by another process (the
    test) so that it never closes: the sandbox sees its parent gone (``--exit-with-parent``,
    checked every second). Either way it stops with its engines and folder."""
    out = own_tmp / "sandbox.out"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _PARENT.format(cmd=sandbox_command(seed), stdin=stdin, out=str(out)),
        ],
        stdin=subprocess.PIPE,  # held open by the test for as long as it runs
        stdout=subprocess.PIPE,
        text=True,
        env=_env(own_tmp, "off"),
        cwd=REPO,
    )
    try:
        sandbox = psutil.Process(int(parent.stdout.readline()))  # type: ignore[union-attr]
        _wait_for_listening(sandbox)
        if seed is None:
            deadline = time.monotonic() + BOUND
            while ENV_URL not in out.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        tree = [sandbox, *sandbox.children(recursive=True)]
        parent.kill()
        parent.wait(timeout=BOUND)
        _assert_left_nothing(own_tmp, tree)
        assert (ENV_URL in out.read_text()) is (seed is None)  # seeding was cut short
    finally:
        parent.kill()
        parent.stdin.close()  # type: ignore[union-attr]


# ----------------------------------------------------------------- the demo


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_on_signals_raises_interrupted_and_restores_the_handlers(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(Interrupted) as stop, stop_on_signals():
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler runs before this ends
    assert stop.value.name == sig.name and stop.value.code == 128 + sig
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_signal_while_running_sandbox_starts_stops_the_sandbox(own_tmp, monkeypatch):
    """The demo's handler raises while ``running_sandbox`` waits for the seeded sandbox to
    answer: the sandbox process it started is stopped, not left seeding on its own."""
    for key, value in _env(own_tmp, "off").items():
        monkeypatch.setenv(key, value)
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    new: list[psutil.Process] = []

    def interrupt() -> None:  # as a kill would, while the sandbox seeds
        new.extend(p for p in me.children() if p.pid not in before)
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(3.0, interrupt)
    with pytest.raises(Interrupted), stop_on_signals():
        timer.start()
        with running_sandbox("sandbox"):
            pytest.fail("the seeded sandbox answered before the signal")
    timer.cancel()
    assert new, "no sandbox process was running"
    assert not _gone(new), "running_sandbox left its sandbox process running"
    assert not list(own_tmp.glob(ENGINE_FOLDERS))


def test_the_demo_stops_its_sandbox_on_sigterm_and_exits_non_zero(own_tmp):
    """``python -m runbook_sandbox.demo --days 0``, sent SIGTERM while its first runbook's
    kernel runs: the sandbox it started, the kernel and every process under them are gone,
    stderr says the sandbox was stopped, and the exit status is 128 + SIGTERM."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "runbook_sandbox.demo", "--days", "0", "--out", str(own_tmp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(own_tmp, "off"),
        cwd=REPO,
    )
    me = psutil.Process(demo.pid)
    sandbox, deadline = None, time.monotonic() + BOUND * 3
    try:
        while time.monotonic() < deadline and demo.poll() is None:
            with contextlib.suppress(psutil.Error):
                children = me.children()
                servers = [p for p in children if "runbook_sandbox.server" in p.cmdline()]
                sandbox = servers[0] if servers else sandbox
                if sandbox is not None and len(children) > 1:  # a kernel: the sandbox serves
                    break
            time.sleep(0.3)
        assert demo.poll() is None and sandbox is not None, "the demo never reached a runbook"
        tree = [q for p in me.children() for q in (p, *p.children(recursive=True))]
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=BOUND)
    finally:
        demo.kill()
    assert demo.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "SIGTERM received: stopped the sandbox it started" in err
    _assert_left_nothing(own_tmp, tree)
