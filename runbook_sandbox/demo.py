"""``make demo``: a stretch of operation on the sandbox, then every runbook once.

    python -m runbook_sandbox.demo [--days 14] [--params sandbox] [-p name=value ...]

1. **Sandbox.** A sandbox server starts with the demo estate and its day of history
   (:func:`runbook_sandbox.seed.live_through`: protected, then its clock moved a day).
2. **Days of operation.** For each day: the sandbox clock moves a day
   (:mod:`runbook_sandbox.clock`: AWS Backup plans fire, copies land, lifecycle deletes,
   log exports run), then the day's runbooks run, each as its own run with its own run
   id, recorded in the demo's ledger: the schedule's inventory and restore test
   (``params/schedule.yaml``), and the audit, which the schedule lacks and the trends'
   findings series needs (the schedule's daily protect plan is left out of the days: it
   only reads and records nothing; the final run shows it). They run as library calls in this one process (the
   calls the notebooks make, :func:`day_runs`), not as notebooks: a notebook run costs a
   kernel start, imports and an HTML export each time, which the figures printed at the
   end measure. Every point the trends notebook draws is one of these measured runs.
   The daily restore test is a rotation, not the schedule's ``due`` mode: per tier, the
   ``--per-tier`` resources whose test was attempted longest ago (never first), so every
   tier is tested every day; ``due`` would test a gold resource once a week and a bronze one once
   a quarter, too few points for a fortnight.
3. **Every runbook once**, as ``runbook run`` does (papermill, executed notebooks and HTML
   in ``runs/<run id>/``), on the same ledger: the trends notebook draws the history.

Real PostgreSQL, MariaDB and Redis stand behind the estate's databases and caches wherever
installed (``RUNBOOK_SANDBOX_ENGINES=off`` opts out; the demo prints which run). Their
restores prove content only against a backup-time fingerprint, which scheduled backups do
not take: each day's restore test of them is preceded by a backup_now of them, and the
final run backs up and tests them all (:func:`final_parameters`).

The demo's ledger is its own (``runs/demo-<time>/ledger``), so demos never mix. At the end
it prints the time of each phase (and of a notebook's kernel start, imports and HTML
export, measured once), the total, and the points per trends series. Exit status: the
final run's (0, 1 a notebook failed, 3 the evidence is red: the estate keeps deliberate
gaps, see docs/evidence.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("runbook_sandbox.demo")
DEFAULT_DAYS = 14
PER_TIER = 2
#: services whose restore proves content only against the fingerprint backup_now takes at
#: backup time (a scheduled backup has none): the databases and caches the sandbox backs
#: with real engines
FINGERPRINTED_AT_BACKUP = ("rds", "aurora", "elasticache")
#: day_runs' summary key: the estate's resources of those services (not printed)
ENGINE_BACKED = "engine-backed"


@dataclass
class Timings:
    """Seconds spent per phase (summed over the days) and how many times each ran."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
            self.count[name] += 1

    def lines(self) -> list[str]:
        out = []
        for name, secs in self.seconds.items():
            n = self.count[name]
            each = f" ({n} runs, {secs / n:.1f} s each)" if n > 1 else ""
            out.append(f"  {name:<28} {secs:7.1f} s{each}")
        return out


# ----------------------------------------------------------------- one day's runs


def rotation(ctx: Any, resources: Any, per_tier: int) -> list[str]:
    """Per tier (the default tier for untagged resources), the ``per_tier`` resources
    whose last restore test was attempted longest ago (never first, then by ARN), whatever
    its outcome: a resource without a recovery point does not starve its tier."""
    from runbook_lib import restore

    candidates = restore.select_resources(ctx, resources, mode="due", max_tests=0)
    tier = candidates["tier"].fillna(ctx.params.default_tier)
    tests = ctx.ledger.read("restore_tests", columns=["resource_arn", "recorded_at"])
    attempted = (
        tests.groupby("resource_arn").recorded_at.max().astype(str).to_dict() if len(tests) else {}
    )
    last = candidates["arn"].map(lambda a: attempted.get(a, ""))  # never attempted first
    frame = candidates.assign(_tier=tier, _last=last).sort_values(["_last", "arn"])
    return list(frame.groupby("_tier", sort=True).head(per_tier)["arn"])


def to_fingerprint(candidates: Any, arns: list[str]) -> list[str]:
    """Of the day's ``arns``, those whose content a restore proves only against a
    backup-time fingerprint (:data:`FINGERPRINTED_AT_BACKUP`), in ``candidates``' order."""
    chosen = candidates["arn"].isin(arns) & candidates["service"].isin(FINGERPRINTED_AT_BACKUP)
    return list(candidates.loc[chosen, "arn"])


def final_parameters(parameters: dict[str, Any], engine_backed: list[str]) -> dict[str, Any]:
    """The final run's parameters: with real engines behind the estate's databases and
    caches (``engine_backed``), and no ``arns`` or ``mode`` given, the backup_now runbook
    backs up those (fingerprinted) and the restore-test runbook tests them, so the run
    shows their content proven; otherwise as given (the restore test's ``due`` mode)."""
    if not engine_backed or {"arns", "mode"} & set(parameters):
        return dict(parameters)
    return {**parameters, "mode": "arns", "arns": list(engine_backed)}


def day_runs(
    params_file: str, ledger: str, timings: Timings, per_tier: int, fingerprint: bool = False
) -> dict[str, Any]:
    """The day's scheduled runbooks, each a run of its own (run id, as_of by the sandbox's
    clock), recorded in ``ledger``: the library calls notebooks 01, 06 and 04 make. With
    ``fingerprint`` (real engines behind the databases and caches), the day's restore test
    of those is preceded by a backup_now of them (notebook 03's call), whose backup-time
    fingerprint and canaries the restore is validated against."""
    from runbook_lib import audit, backup_now, inventory, restore
    from runbook_lib.context import start

    def begin():
        return start(params_file, ledger_location=ledger, setup_display=False)

    out: dict[str, Any] = {}
    with timings.phase("inventory"):
        rb = begin()
        inv = inventory.discover(rb, progress=False)
        inventory.record(rb, inv)
    out["resources"] = len(inv.table())
    with timings.phase("audit"):
        rb = begin()
        findings = audit.evaluate(rb, inv, progress=False)  # the day's inventory
        audit.record(rb, findings)
    table = findings.table()
    out["audit pass %"] = round(100 * (table.status == "PASS").mean(), 1) if len(table) else None
    rb = begin()
    # the restore runbook's candidates (restore.resources.discover_resources), from the
    # day's inventory rather than a second listing: no scratch copies
    key = rb.params.tag_keys.restore_test
    res = inv.resources
    scratch = res["tags"].map(lambda t: isinstance(t, dict) and key in t).astype(bool)
    candidates = res[~scratch].reset_index(drop=True)
    arns = rotation(rb, candidates, per_tier)
    out[ENGINE_BACKED] = to_fingerprint(candidates, list(candidates["arn"]))
    engine_backed = to_fingerprint(candidates, arns) if fingerprint else []
    if engine_backed:
        with timings.phase("backup_now (databases, caches)"):
            taken = backup_now.run(begin(), arns=engine_backed, approve=True, inventory=inv)
        out["backup_now"] = {str(k): int(v) for k, v in taken["status"].value_counts().items()}
    with timings.phase("restore test"):
        selection = restore.select_resources(rb, candidates, mode="arns", arns=arns)
        tests = restore.restore_test(rb, selection)
    counts = tests.status.value_counts() if len(tests) else {}
    out["restore tests"] = {str(k): int(v) for k, v in dict(counts).items()}
    return out


# ----------------------------------------------------------------- start-up figures


def startup_figures(executed: Path | None) -> dict[str, float]:
    """Seconds for a kernel to start and stop with papermill (an empty notebook), for the
    runbooks' imports in a kernel, and for the HTML export of one executed runbook (the
    largest of the run)."""
    import nbformat
    import papermill

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="demo-startup-") as tmp:
        folder = Path(tmp)
        for name, source in (
            ("kernel start + stop", "pass"),
            (
                "kernel + runbook imports",
                "from runbook_lib import audit, inventory, present, protect, restore, trends\n"
                "from runbook_lib.context import start",
            ),
        ):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
            path = folder / "probe.ipynb"
            nbformat.write(nb, path)
            t0 = time.perf_counter()
            papermill.execute_notebook(
                str(path), str(folder / "out.ipynb"), kernel_name="python3", progress_bar=False
            )
            out[name] = time.perf_counter() - t0
        if executed is not None and executed.exists():
            from runbook_lib.runner import to_html

            copy = folder / executed.name
            copy.write_bytes(executed.read_bytes())
            t0 = time.perf_counter()
            to_html(copy)
            out[f"HTML export of {executed.name}"] = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------- trends points


def points_per_series(params_file: str, ledger: str) -> dict[str, int]:
    """How many points each trends series draws from ``ledger`` (what notebook 07 shows)."""
    from runbook_lib import trends
    from runbook_lib.context import start

    rb = start(params_file, ledger_location=ledger, setup_display=False)
    h = trends.load(rb)
    out = {"coverage (inventory runs)": len(trends.coverage(h))}
    f = trends.findings_pass_rate(h)
    if len(f) and "practice" in f:
        for practice, part in f.groupby("practice"):
            out[f"findings {practice}"] = len(part)
    else:
        out["findings"] = len(f)
    out["restore pass rate (restore runs)"] = len(trends.restore_pass_rate(h))
    o = trends.objectives_over_time(h, per="run")
    for (tier, measure), part in o.groupby(["tier", "measure"]):
        out[f"{measure.upper()} {tier}"] = len(part)
    return out


# ----------------------------------------------------------------- the demo


def engine_status(status: dict[str, str]) -> list[str]:
    """One line per engine: behind the sandbox, or not and why (its restore tests are then
    PASS_WEAK, on metadata)."""
    return [
        f"real {name}: " + (f"off: {why}" if why else "on") for name, why in sorted(status.items())
    ]


def run_demo(
    days: int = DEFAULT_DAYS,
    params_file: str = "sandbox",
    parameters: dict[str, Any] | None = None,
    out_dir: str | None = None,
    per_tier: int = PER_TIER,
) -> int:
    from runbook_lib import runner
    from runbook_lib.params import find_params_file, load_params
    from runbook_lib.progress import BATCH_ENV
    from runbook_sandbox import ENV_URL, clock, engines
    from runbook_sandbox.server import running_sandbox

    if days < 0:
        raise SystemExit(f"--days: {days}; allowed: 0 or more")
    if per_tier < 1:
        raise SystemExit(f"--per-tier: {per_tier}; allowed: 1 or more")
    started = time.perf_counter()
    timings = Timings()
    engine_backed: list[str] = []
    params_path = str(find_params_file(params_file).resolve())
    params = load_params(params_path)
    archive = Path(out_dir or params.resolve_path(params.run_archive))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    ledger = str((archive / f"demo-{stamp}" / "ledger").resolve())
    os.environ[BATCH_ENV] = "1"  # kernels inherit it: no frozen progress widgets
    # Real PostgreSQL, MariaDB and Redis behind RDS and ElastiCache wherever installed
    # (``make demo`` installs them as ``make test`` does), so the databases' restore tests
    # prove content; RUNBOOK_SANDBOX_ENGINES=off opts out. A scheduled backup of a database
    # unchanged since its previous one shares that copy (runbook_sandbox.engines.rds).
    engine_status_now = engines.status()
    engine_lines = engine_status(engine_status_now)
    fingerprint = not all(engine_status_now.values())  # some engine runs: content provable
    # checked before the sandbox starts: a bad -p is an error before any work
    runner.check_run_parameters(
        runner.resolve_notebooks(None),
        params_path,
        "",
        {"ledger_location": ledger, **(parameters or {})},
    )
    print(f"demo: {days} day(s) of operation, then every runbook; ledger {ledger}", flush=True)
    for line in engine_lines:
        print(f"  {line}", flush=True)
    with timings.phase("sandbox start (seed + history)"):
        stack = contextlib.ExitStack()
        url = stack.enter_context(running_sandbox(params_path))
    with stack:
        os.environ[ENV_URL] = url
        try:
            for day in range(1, days + 1):
                with timings.phase("clock: advance 1 day"):
                    moved = clock.advance("1d", endpoint_url=url)
                kinds = defaultdict(int)
                for e in moved.events:
                    kinds[e.kind] += 1
                summary = day_runs(params_path, ledger, timings, per_tier, fingerprint)
                engine_backed = summary.pop(ENGINE_BACKED, [])
                print(
                    f"day {day:2d} {moved.end:%Y-%m-%d}: {dict(kinds)}; "
                    + "; ".join(f"{k} {v}" for k, v in summary.items()),
                    flush=True,
                )
            final = final_parameters(parameters or {}, engine_backed if fingerprint else [])
            with timings.phase("every runbook (papermill + HTML)"):
                result = runner.run_notebooks(
                    params_path,
                    out_dir=str(archive),
                    parameters={"ledger_location": ledger, **final},
                )
            code, lines = runner.judge(result)
            with timings.phase("trends points (count)"):
                points = points_per_series(params_path, ledger)
        finally:
            os.environ.pop(ENV_URL, None)
    outputs = [Path(n.output) for n in result.notebooks if Path(n.output).exists()]
    executed = max(outputs, key=lambda p: p.stat().st_size, default=None)  # the largest
    with timings.phase("start-up probe"):
        startup = startup_figures(executed)
    total = time.perf_counter() - started
    print(f"\nrun folder: {result.folder}")
    for n in result.notebooks:
        print(f"  {n.notebook:<28} {n.status:<7} {n.seconds:6.1f} s")
    for line in lines:
        print(f"  {line}")
    print("\nwhere the seconds went:")
    print("\n".join(timings.lines()))
    print("a notebook run's fixed costs (measured once, in this demo):")
    for name, secs in startup.items():
        print(f"  {name:<40} {secs:6.1f} s")
    print("\ntrends: points per series (each from one measured run in the ledger):")
    for name, n in points.items():
        print(f"  {name:<40} {n:4d}")
    print(f"\ndemo total: {total:.1f} s ({total / 60:.1f} min)")
    figures = {
        "total_seconds": round(total, 1),
        "phases": {k: round(v, 1) for k, v in timings.seconds.items()},
        "runs": dict(timings.count),
        "startup": {k: round(v, 2) for k, v in startup.items()},
        "points": points,
        "ledger": ledger,
        "run_folder": result.folder,
        "exit": code,
        "engines": engine_lines,
    }
    Path(ledger).parent.joinpath("demo.json").write_text(json.dumps(figures, indent=2))
    return code


# ----------------------------------------------------------------- stop signals

#: the signals that stop the demo (``kill``, Ctrl-C)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """A stop signal reached the demo. Raised in the main thread, it unwinds the demo
    through every ``finally`` and context manager, :func:`running_sandbox`'s included,
    which stops the sandbox the demo started (a BaseException: no ``except Exception``
    on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.code = 128 + signum  # the shell's status for a process ended by the signal


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While active, SIGTERM and SIGINT raise :class:`Interrupted` in the main thread;
    a second signal while the demo unwinds is ignored, so the sandbox's stop completes.
    The previous handlers are back afterwards."""

    def interrupt(signum: int, frame: Any) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parameters(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"-p {pair!r}: expected name=value")
        out[name] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runbook_sandbox.demo", description=__doc__)
    ap.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of operation")
    ap.add_argument("--params", default="sandbox", help="parameter set (default: sandbox)")
    ap.add_argument("--out", default=None, help="run archive (default: the params' run_archive)")
    ap.add_argument("--per-tier", type=int, default=PER_TIER, help="daily restore tests per tier")
    ap.add_argument("-p", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument(
        "--approve", action="store_true", help="the final run applies (-p approve=true)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    parameters = _parameters(args.p)
    if args.approve:
        parameters["approve"] = True
    try:
        with stop_on_signals():
            return run_demo(args.days, args.params, parameters, args.out, args.per_tier)
    except Interrupted as stop:
        print(
            f"demo: {stop.name} received: stopped the sandbox it started (if one was "
            f"running); exit {stop.code}",
            file=sys.stderr,
            flush=True,
        )
        return stop.code


if __name__ == "__main__":
    sys.exit(main())
