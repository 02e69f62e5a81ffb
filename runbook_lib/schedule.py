"""Scheduled runs: ``params/schedule.yaml`` -> papermill runs on one machine, or an
Apache Airflow DAG beyond one machine, whose tasks run the same runner.

One machine: ``runbook schedule serve`` sleeps until the next job is due and runs it with
:func:`runbook_lib.runner.run_notebooks` (each run writes an immutable, timestamped run
folder and appends to the ledger). ``runbook schedule next`` lists upcoming runs;
``runbook schedule run-due`` runs what is due once (for cron or a CI timer).
``runbook schedule airflow-dag`` writes a DAG file built from the same schedule: each
task calls :func:`run_airflow_job` (the runner, a run id from Airflow's, the same judge).
Cron expressions are parsed by croniter.

A scheduled run is judged as ``runbook run`` is (:func:`runbook_lib.runner.judge`): exit
status 1 when a notebook failed, 3 when its evidence is red by the job's ``fail_on`` (else
``--fail-on``, else the default ``restore-fail,critical``), so cron and CI timers see it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.params import Duration, _format_loc, params_dir

log = logging.getLogger("runbook_lib")


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    notebook: str
    cron: str
    params_file: str = "sandbox"
    parameters: dict[str, Any] = {}
    #: red-evidence rules for this job's exit status (``--fail-on`` words); None: the command's
    fail_on: str | None = None
    #: how long the notebook may run; then its kernel (process group) is killed, the run is
    #: recorded ``timed_out`` and the retries apply
    timeout: Duration = timedelta(hours=1)
    #: more attempts after a failed or timed-out one (red evidence is a verdict: not retried)
    retries: int = Field(0, ge=0, le=10)
    retry_delay: Duration = timedelta(minutes=1)
    #: the previous run of this job is still running: ``skip`` this run, ``queue`` it (wait
    #: for the previous one, at most this job's timeout), or ``allow`` both at once
    overlap: Literal["skip", "queue", "allow"] = "skip"

    @field_validator("fail_on")
    @classmethod
    def _fail_on(cls, v: str | None) -> str | None:
        from runbook_lib.errors import RunbookError
        from runbook_lib.exports import parse_fail_on

        if v is not None:
            try:
                parse_fail_on(v)
            except RunbookError as err:
                raise ValueError(str(err).removeprefix("--fail-on: ")) from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not croniter.is_valid(v):
            raise ValueError(
                f"{v!r} is not a cron expression; use 5 fields, e.g. '30 2 * * *' (02:30 daily)"
            )
        return v

    def next_runs(self, after: datetime, n: int = 1) -> list[datetime]:
        it = croniter(self.cron, after)
        return [it.get_next(datetime).astimezone(UTC) for _ in range(n)]


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: list[Job] = Field(min_length=1)

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[Job]) -> list[Job]:
        names = [j.name for j in jobs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"job names must be unique; repeated: {dupes}")
        return jobs


def load_schedule(path: str | Path | None = None) -> Schedule:
    path = Path(path or params_dir() / "schedule.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Schedule.model_validate(data)
    except FileNotFoundError:
        raise ParamsError(str(path), ["(file): no such schedule file"]) from None
    except ValidationError as err:
        raise ParamsError(
            str(path),
            [
                f"{_format_loc(e['loc'])}{_job_of(data, e['loc'])}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in err.errors()
            ],
        ) from None


def _job_of(data: Any, loc: tuple) -> str:
    """`` (job 'name')`` for an error inside ``jobs[i]`` whose name can be read."""
    try:
        name = data["jobs"][loc[1]]["name"] if loc[0] == "jobs" else None
    except (KeyError, IndexError, TypeError):
        name = None
    return f" (job {name!r})" if isinstance(name, str) and len(loc) >= 2 else ""


def check_schedule(schedule: Schedule) -> list[str]:
    """Problems papermill would only warn about: unknown notebooks, undeclared parameters,
    values that do not fit the notebook's declared types."""
    from runbook_lib import arguments
    from runbook_lib.errors import ParamsError
    from runbook_lib.runner import declared_parameters, resolve_notebooks

    problems = []
    for i, job in enumerate(schedule.jobs):
        try:
            nb = resolve_notebooks([job.notebook])[0]
        except Exception as err:
            problems.append(f"jobs[{i}].notebook: {err}")
            continue
        declared = declared_parameters(nb)
        for key in job.parameters:
            if key not in declared:
                problems.append(
                    f"jobs[{i}].parameters.{key}: not a parameter of {nb.name}; allowed: {sorted(declared)}"
                )
        try:
            values = {k: v for k, v in job.parameters.items() if k in declared}
            arguments.validate_notebook(nb, values)
        except ParamsError as err:
            problems += [f"jobs[{i}].parameters.{p}" for p in err.problems]
    return problems


def upcoming(schedule: Schedule, now: datetime | None = None, n: int = 3):
    import pandas as pd

    now = now or datetime.now(UTC)
    rows = [
        {"job": j.name, "notebook": j.notebook, "cron": j.cron, "run": k + 1, "at": t}
        for j in schedule.jobs
        for k, t in enumerate(j.next_runs(now, n))
    ]
    return pd.DataFrame(rows).sort_values(["at", "job"], ignore_index=True)


def due_jobs(schedule: Schedule, state: dict[str, str], now: datetime) -> list[Job]:
    """Jobs with a cron time in (last run, now]; a job never run is due at its first time after
    ``now`` minus one period, i.e. not at once (no surprise runs on first start)."""
    due = []
    for job in schedule.jobs:
        last = datetime.fromisoformat(state[job.name]) if job.name in state else None
        if last is None:
            state[job.name] = now.isoformat()
            continue
        if job.next_runs(last)[0] <= now:
            due.append(job)
    return due


#: an outcome's status -> the word its line shows
STATUS_WORDS = {
    "ok": "ok",
    "red": "RED",
    "failed": "FAILED",
    "timed_out": "TIMED OUT",
    "skipped": "skipped",
}


@dataclass
class Outcome:
    """One scheduled run of a job: the exit code :func:`runbook_lib.runner.judge` gave its
    last attempt, what was wrong (failed or timed-out notebooks, red evidence), its status
    (``ok``, ``red``, ``failed``, ``timed_out``, or ``skipped`` by the overlap rule), every
    attempt's run id and folder, and what became of its notification."""

    job: str
    folder: str
    code: int
    messages: list[str] = field(default_factory=list)
    status: str = ""  # default: from the code
    run_id: str = ""
    notebook: str = ""
    #: one per attempt: run_id, folder, code, status
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: :func:`runbook_lib.notify.notify`'s record; empty when nothing was to be sent
    notification: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.status:
            self.status = {0: "ok", 3: "red"}.get(self.code, "failed")

    @property
    def line(self) -> str:
        word = STATUS_WORDS.get(self.status, self.status)
        tries = f" (attempt {len(self.attempts)})" if len(self.attempts) > 1 else ""
        return f"{self.job}: {word}{tries} -> {self.folder or '-'}"


def run_due(
    schedule: Schedule,
    state_file: Path,
    now: datetime | None = None,
    fail_on: tuple[str, ...] | None = None,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Run every due job once, in order; the state file remembers when each last ran. Each
    run is judged with the job's ``fail_on``, else ``fail_on``, else the default rules.
    ``stop`` set (SIGTERM to :func:`serve`): no further job or retry starts."""
    now = now or datetime.now(UTC)
    state_file = Path(state_file)
    with _state_lock(state_file):
        state = _read_state(state_file)
        seen = dict(state)
        due = due_jobs(schedule, state, now)
        if state != seen:  # first sight of a job: remembered, not run
            _write_state(state_file, state)
    ran = []
    for job in due:
        if stop is not None and stop.is_set():
            log.info("schedule: stopping; %s not started", job.name)
            break
        outcome = run_job(job, state_file, now, fail_on=fail_on, stop=stop)
        if outcome is not None:
            ran.append(outcome)
    return ran


def run_job(
    job: Job,
    state_file: Path,
    now: datetime,
    fail_on: tuple[str, ...] | None = None,
    stop: threading.Event | None = None,
) -> Outcome | None:
    """One due run of ``job``: claim its slot in the state file (None when another scheduler
    claimed it first), apply the overlap rule with the job's lock file, run it with its
    time-out and retries, notify when it failed or is red, and append it to the history."""
    with _state_lock(state_file):  # claim the slot: two schedulers never run it twice
        state = _read_state(state_file)
        last = state.get(job.name)
        if last is not None and job.next_runs(datetime.fromisoformat(last))[0] > now:
            return None
        state[job.name] = now.isoformat()
        _write_state(state_file, state)
    lock = None
    if job.overlap != "allow":
        lock = JobLock(state_file.parent / "locks" / f"{job.name}.lock")
        wait = job.timeout.total_seconds() if job.overlap == "queue" else 0.0
        if not lock.acquire(job.name, wait=wait, stop=stop):
            holder = lock.holder()
            why = (
                "the scheduler is stopping"
                if stop is not None and stop.is_set()
                else f"its previous run is still running (pid {holder.get('pid', '?')}, run "
                f"{holder.get('run_id') or '?'} since {holder.get('since', '?')}; overlap: "
                f"{job.overlap})"
            )
            outcome = Outcome(
                job.name, "", 0, [f"skipped: {why}"], status="skipped", notebook=job.notebook
            )
            _append_history(state_file, outcome, now)
            return outcome
    try:
        outcome, results = _attempts(job, fail_on, stop, lock)
    finally:
        if lock is not None:
            lock.release()
    from runbook_lib import notify

    if notify.wanted(outcome):
        outcome.notification = notify.notify(job.params_file, outcome, results)
    _append_history(state_file, outcome, now)
    return outcome


def _attempts(
    job: Job, fail_on: tuple[str, ...] | None, stop: threading.Event | None, lock: JobLock | None
) -> tuple[Outcome, list[Any]]:
    """Run the job until an attempt runs to the end (green or red: a red verdict is the
    evidence, never retried) or its retries are used; each attempt a run of its own."""
    from runbook_lib.exports import parse_fail_on
    from runbook_lib.ledger import new_run_id
    from runbook_lib.runner import EXIT_NOTEBOOK_FAILED, judge, run_notebooks

    rules = parse_fail_on(job.fail_on) if job.fail_on is not None else fail_on
    results: list[Any] = []
    attempts: list[dict[str, Any]] = []
    code, messages, status, folder, run_id = EXIT_NOTEBOOK_FAILED, [], "failed", "", ""
    for attempt in range(1, job.retries + 2):
        if attempt > 1:
            delay = job.retry_delay.total_seconds()
            log.info("schedule: %s failed; attempt %d in %.0f s", job.name, attempt, delay)
            if stop.wait(delay) if stop is not None else _sleep(delay):
                messages = [*messages, "not retried: the scheduler is stopping"]
                break
        run_id = new_run_id()
        if lock is not None:
            lock.note(run_id=run_id, attempt=attempt)
        log.info("schedule: running %s (%s) as run %s", job.name, job.notebook, run_id)
        try:
            result = run_notebooks(
                job.params_file,
                [job.notebook],
                parameters=job.parameters,
                fail_on=rules,
                run_id=run_id,
                timeout=job.timeout.total_seconds(),
            )
        except Exception as err:  # noqa: BLE001  (a scheduler outlives one job's error)
            result, folder = None, ""
            code, messages = EXIT_NOTEBOOK_FAILED, [f"the run could not start or finish: {err}"]
            status = "failed"
        else:
            code, messages = judge(result)
            folder = result.folder
            timed_out = any(n.status == "timed_out" for n in result.notebooks)
            status = "timed_out" if timed_out else {0: "ok", 3: "red"}.get(code, "failed")
        results.append(result)
        attempts.append({"run_id": run_id, "folder": folder, "code": code, "status": status})
        if code != EXIT_NOTEBOOK_FAILED:
            break
    outcome = Outcome(
        job.name,
        folder,
        code,
        messages,
        status=status,
        run_id=run_id,
        notebook=job.notebook,
        attempts=attempts,
    )
    return outcome, results


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


class JobLock:
    """A job's overlap lock: an OS file lock (``flock``) on ``<state folder>/locks/<job>.lock``.
    The file says who holds it (pid, host, run id, since). The OS drops the lock when its
    holder dies, however it dies, so a lock file left by a dead pid is reclaimed by the next
    run (and the reclaim logged); a live holder's lock is never taken."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._info: dict[str, Any] = {}

    def acquire(self, job: str, wait: float = 0.0, stop: threading.Event | None = None) -> bool:
        import fcntl
        import socket

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                    return False
                if stop is not None:
                    stop.wait(0.5)
                else:
                    time.sleep(0.5)
                continue
            break
        previous = self.holder()
        if previous.get("pid") and previous.get("pid") != os.getpid():
            log.info(
                "schedule: %s: reclaimed the lock left by pid %s (run %s), which is gone",
                job,
                previous["pid"],
                previous.get("run_id") or "?",
            )
        self._fd = fd
        self._info = {
            "job": job,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": "",
        }
        self._write()
        return True

    def note(self, **info: Any) -> None:
        self._info.update(info)
        self._write()

    def _write(self) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(self._info).encode(), 0)

    def holder(self) -> dict[str, Any]:
        """What the lock file says (the holder, or the last one)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops the flock; the file stays (removing it would race)
            self._fd = None


@contextlib.contextmanager
def _state_lock(state_file: Path):
    import fcntl

    state_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_file.with_name(state_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_state(state_file: Path) -> dict[str, str]:
    return json.loads(state_file.read_text()) if state_file.exists() else {}


def _write_state(state_file: Path, state: dict[str, str]) -> None:
    tmp = state_file.with_name(f".{state_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, state_file)


def history_file(state_file: Path) -> Path:
    """Every scheduled run, one JSON line each (skipped ones too): beside the state file."""
    return Path(state_file).with_name(f"{Path(state_file).stem}-history.jsonl")


def _append_history(state_file: Path, outcome: Outcome, slot: datetime) -> None:
    from dataclasses import asdict

    row = {"slot": slot.isoformat(), "at": datetime.now(UTC).isoformat(), **asdict(outcome)}
    with _state_lock(state_file), history_file(state_file).open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, default=str) + "\n")


def exit_code(outcomes: list[Outcome]) -> int:
    """One exit status for the runs of one ``run-due``: 1 if a notebook failed or timed out,
    else 3 if any evidence was red, else 0 (a skipped run is 0)."""
    from runbook_lib.runner import worst

    return worst([o.code for o in outcomes])


def report(outcome: Outcome, out: Any = None, err: Any = None) -> None:
    """Print an outcome: its line, what was wrong, and its notification."""
    import sys

    out, err = out or sys.stdout, err or sys.stderr
    print(outcome.line, file=out, flush=True)
    for line in outcome.messages:
        print(f"  {line}", file=err, flush=True)
    note = outcome.notification
    if note.get("status") == "sent":
        print(f"  notified {note['topic']} (message {note['message_id']})", file=out, flush=True)
    elif note.get("status") in ("failed", "not sent"):
        print(
            f"  NOTIFICATION {note['status'].upper()} ({note.get('topic') or 'no topic'}): "
            f"{note.get('error')}; the run's result above stands",
            file=err,
            flush=True,
        )


def serve(
    schedule: Schedule,
    state_file: Path,
    poll_seconds: float = 30.0,
    fail_on: tuple[str, ...] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run due jobs until stopped (one machine), printing each run's verdict. SIGTERM lets
    the running notebook finish and be recorded, then returns: no new job or retry starts.
    Ctrl-C (SIGINT) stops at once."""
    import signal

    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_term(signum: int, frame: Any) -> None:
            if not stop.is_set():
                os.write(2, b"schedule: SIGTERM: finishing the running job, then stopping\n")
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while not stop.is_set():
            for o in run_due(schedule, state_file, fail_on=fail_on, stop=stop):
                report(o)
            stop.wait(poll_seconds)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("schedule: stopped", flush=True)


DAG_TEMPLATE = '''"""Generated by `runbook schedule airflow-dag` from {source}. Do not edit: regenerate
(after changing the schedule or upgrading runbook-lib).

One DAG per job of the schedule. Its task runs the job's runbook with the project's own
runner, as `runbook run` does (runbook_lib.schedule.run_airflow_job): batch mode (no
widgets), one run folder <OUTPUT_DIR>/<run id> holding the executed notebook, its HTML copy,
exports/ and run.json, the ledger appended. The run id is made from Airflow's run id and the
try number, so a re-run never overwrites an earlier run's evidence. The task fails when the
notebook fails (retried when the job has retries) and when the evidence is red by the job's
fail_on (not retried: the red verdict is the evidence). Workers need runbook-lib installed in
the Python that runs the tasks; the DAG processor needs only Airflow. See docs/airflow.md.
"""

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

OUTPUT_DIR = {output_dir!r}
JOBS = {jobs}


def _runner(job):
    def run_runbook():
        from runbook_lib.runner import EXIT_RED
        from runbook_lib.schedule import run_airflow_job

        context = get_current_context()
        outcome = run_airflow_job(
            job, OUTPUT_DIR, context["run_id"], context["ti"].try_number
        )
        detail = "; ".join(outcome.messages) + " (evidence: " + outcome.folder + ")"
        if outcome.code == EXIT_RED:
            raise AirflowFailException(detail)
        if outcome.code:
            raise AirflowException(detail)
        return {{"run_folder": outcome.folder, "code": outcome.code}}

    return run_runbook


for spec in JOBS:
    with DAG(
        dag_id=spec["dag_id"],
        schedule=spec["cron"],
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=spec["max_active_runs"],
        tags=["backup", "REL09"],
    ) as dag:
        task(
            task_id=spec["task_id"],
            retries=spec["retries"],
            retry_delay=timedelta(seconds=spec["retry_delay_seconds"]),
            execution_timeout=timedelta(seconds=spec["execution_timeout_seconds"]),
        )(_runner(spec["job"]))()
    globals()[dag.dag_id] = dag
'''

#: Airflow's default when a job allows overlapping runs ([core] max_active_runs_per_dag)
AIRFLOW_MAX_ACTIVE_RUNS = 16
#: Airflow's ``execution_timeout`` is the job's ``timeout`` plus this
AIRFLOW_TIMEOUT_GRACE = timedelta(minutes=10)


def _for_worker(value: str, finder) -> str:
    """A name stays a name (the worker resolves it in its own installed copy); a path to a
    file on this machine becomes absolute (an Airflow worker's working directory is not
    ours)."""
    path = Path(value)
    if path.suffix in (".ipynb", ".yaml", ".yml") and path.is_file():
        return str(path.resolve())
    finder(value)  # a name this runbook-lib knows, else the finder's error
    return value


def airflow_dag(schedule: Schedule, output_dir: str, source: str = "params/schedule.yaml") -> str:
    """The text of an Airflow DAG file for the schedule (one DAG per job): each task runs the
    job with :func:`run_airflow_job`. A local ``output_dir`` is made absolute (it names a
    folder on the workers; an ``s3://`` archive is kept as is)."""
    import pprint

    from runbook_lib.params import find_params_file
    from runbook_lib.runner import resolve_notebooks

    specs = []
    for j in schedule.jobs:
        job = j.model_dump(mode="json")
        job["notebook"] = _for_worker(j.notebook, lambda n: resolve_notebooks([n]))
        job["params_file"] = _for_worker(j.params_file, find_params_file)
        specs.append(
            {
                "dag_id": "backup_runbooks__" + j.name,
                "task_id": j.name.replace("-", "_").replace(".", "_"),
                "cron": j.cron,
                "retries": j.retries,
                "retry_delay_seconds": int(j.retry_delay.total_seconds()),
                # Airflow's backstop: the runner kills the kernel at the job's timeout and
                # still has the HTML and run.json to write
                "execution_timeout_seconds": int(
                    (j.timeout + AIRFLOW_TIMEOUT_GRACE).total_seconds()
                ),
                "max_active_runs": AIRFLOW_MAX_ACTIVE_RUNS if j.overlap == "allow" else 1,
                "job": job,
            }
        )
    if not output_dir.startswith("s3://"):
        output_dir = str(Path(output_dir).expanduser().resolve())
    return DAG_TEMPLATE.format(
        source=source,
        output_dir=output_dir,
        jobs=pprint.pformat(specs, width=96, sort_dicts=False),
    )


def airflow_run_id(job: str, dag_run_id: str, try_number: int) -> str:
    """The runbook run id of one Airflow task try: the job's name, Airflow's run id and the
    try number, in the characters a run id allows (``manual__2026-12-02T16:30:12+00:00``
    -> ``<job>.manual__2026-12-02T163012.try1``). Unique per try: a cleared and re-run day
    gets a new folder. Longer than 100 characters: cut, with a hash of the whole kept."""
    import hashlib
    import re

    text = dag_run_id.replace("+00:00", "").replace(":", "")
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    run_id = re.sub(r"\.{2,}", ".", f"{job}.{text}.try{int(try_number)}").lstrip("._-")
    if len(run_id) > 100:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
        run_id = f"{run_id[:89]}-{digest}"
    return run_id


def kernel_problem() -> str | None:
    """Why the ``python3`` Jupyter kernel the runner starts would not be this Python (whose
    runbook_lib the notebooks must import), or None. jupyter_client runs a spec whose command
    is a bare ``python`` with this Python; a ``python3`` spec elsewhere on the Jupyter path
    (e.g. ``~/.local/share/jupyter/kernels``) naming another interpreter wins over it."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return f"no Jupyter kernel named python3; install ipykernel into {sys.executable}"
    exe = spec.argv[0] if spec.argv else ""
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}
    if exe in bare or Path(exe).resolve() == Path(sys.executable).resolve():
        return None
    return (
        f"the Jupyter kernel python3 ({spec.resource_dir}) runs {exe}, not this worker's "
        f"Python {sys.executable}, so the notebooks may not import this runbook_lib; remove "
        f"that kernel spec (jupyter kernelspec remove python3) or install it from this Python "
        f"({sys.executable} -m ipykernel install --user)"
    )


def run_airflow_job(
    job: Job | dict[str, Any], output_dir: str, dag_run_id: str, try_number: int
) -> Outcome:
    """The body of a generated DAG's task, one Airflow try (no Airflow import here): run the
    job's runbook as ``runbook run`` does into ``output_dir/<run id>`` (:func:`airflow_run_id`;
    ``-2``, ``-3`` added when a local folder of that id exists, as after ``airflow dags test``
    replaced a run), with the job's ``timeout`` (the kernel killed, the run ``timed_out``),
    judged with the job's ``fail_on`` (else the default rules). The last try (red is never
    retried; a failed try is the last once Airflow has no retries left) notifies as a
    scheduled run does. The DAG raises on a non-zero code."""
    from runbook_lib import notify
    from runbook_lib.exports import parse_fail_on
    from runbook_lib.runner import EXIT_NOTEBOOK_FAILED, judge, run_notebooks

    job = job if isinstance(job, Job) else Job.model_validate(job)
    run_id = airflow_run_id(job.name, dag_run_id, try_number)
    if not output_dir.startswith("s3://"):  # Airflow's ids repeat after a run is deleted
        base, n = run_id, 2
        while (Path(output_dir) / run_id).exists():
            run_id, n = f"{base[:96]}-{n}", n + 1
    log.info("airflow: running %s (%s) as run %s", job.name, job.notebook, run_id)
    try:
        problem = kernel_problem()
        if problem:
            raise RunbookError(problem)
        result = run_notebooks(
            job.params_file,
            [job.notebook],
            out_dir=output_dir,
            parameters=job.parameters,
            fail_on=parse_fail_on(job.fail_on) if job.fail_on is not None else None,
            run_id=run_id,
            timeout=job.timeout.total_seconds(),
        )
    except Exception as err:  # the task fails with it; the last try notifies first
        if try_number > job.retries:
            why = [f"the run could not start or finish: {err}"]
            attempt = {"run_id": run_id, "folder": "", "code": EXIT_NOTEBOOK_FAILED}
            failed = Outcome(job.name, "", EXIT_NOTEBOOK_FAILED, why, run_id=run_id,
                             notebook=job.notebook, attempts=[{**attempt, "status": "failed"}])  # fmt: skip
            log.info("notification: %s", notify.notify(job.params_file, failed, [None]))
        raise
    code, messages = judge(result)
    timed_out = any(n.status == "timed_out" for n in result.notebooks)
    status = "timed_out" if timed_out else {0: "ok", 3: "red"}.get(code, "failed")
    outcome = Outcome(
        job.name,
        result.folder,
        code,
        messages,
        status=status,
        run_id=run_id,
        notebook=job.notebook,
        attempts=[{"run_id": run_id, "folder": result.folder, "code": code, "status": status}],
    )
    log.info("%s", outcome.line)
    for nb in result.notebooks:
        log.info("evidence: %s%s", nb.output, f" and {nb.html}" if nb.html else "")
    for line in messages:
        log.warning("%s", line)
    last_try = code != EXIT_NOTEBOOK_FAILED or try_number > job.retries
    if last_try and notify.wanted(outcome):
        outcome.notification = notify.notify(job.params_file, outcome, [result])
        log.info("notification: %s", outcome.notification)
    return outcome
