"""Scheduled runs: ``params/schedule.yaml`` -> papermill runs on one machine, or an
Apache Airflow DAG (PapermillOperator) beyond one machine.

One machine: ``runbook schedule serve`` sleeps until the next job is due and runs it with
:func:`runbook_lib.runner.run_notebooks` (each run writes an immutable, timestamped run
folder and appends to the ledger). ``runbook schedule next`` lists upcoming runs;
``runbook schedule run-due`` runs what is due once (for cron or a CI timer).
``runbook schedule airflow-dag`` writes a DAG file built from the same schedule.
Cron expressions are parsed by croniter.

A scheduled run is judged as ``runbook run`` is (:func:`runbook_lib.runner.judge`): exit
status 1 when a notebook failed, 3 when its evidence is red by the job's ``fail_on`` (else
``--fail-on``, else the default ``restore-fail,critical``), so cron and CI timers see it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runbook_lib.errors import ParamsError
from runbook_lib.package_data import data_dir
from runbook_lib.params import _format_loc, params_dir

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
                f"{_format_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in err.errors()
            ],
        ) from None


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


@dataclass
class Outcome:
    """One scheduled run: its job, the exit code :func:`runbook_lib.runner.judge` gave it and
    what was wrong (failed notebooks, red evidence)."""

    job: str
    folder: str
    code: int
    messages: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        word = {0: "ok", 1: "FAILED", 3: "RED"}.get(self.code, str(self.code))
        return f"{self.job}: {word} -> {self.folder}"


def run_due(
    schedule: Schedule,
    state_file: Path,
    now: datetime | None = None,
    fail_on: tuple[str, ...] | None = None,
) -> list[Outcome]:
    """Run every due job once; the state file remembers when each last ran. Each run is
    judged with the job's ``fail_on``, else ``fail_on``, else the default rules."""
    from runbook_lib.exports import parse_fail_on
    from runbook_lib.runner import judge, run_notebooks

    now = now or datetime.now(UTC)
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    ran = []
    for job in due_jobs(schedule, state, now):
        log.info("schedule: running %s (%s)", job.name, job.notebook)
        rules = parse_fail_on(job.fail_on) if job.fail_on is not None else fail_on
        result = run_notebooks(
            job.params_file, [job.notebook], parameters=job.parameters, fail_on=rules
        )
        state[job.name] = now.isoformat()
        code, messages = judge(result)
        ran.append(Outcome(job.name, result.folder, code, messages))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2))
    return ran


def exit_code(outcomes: list[Outcome]) -> int:
    """One exit status for the runs of one ``run-due``: 1 if a notebook failed, else 3 if any
    evidence was red, else 0."""
    from runbook_lib.runner import worst

    return worst([o.code for o in outcomes])


def serve(
    schedule: Schedule,
    state_file: Path,
    poll_seconds: float = 30.0,
    fail_on: tuple[str, ...] | None = None,
) -> None:  # pragma: no cover
    """Run due jobs forever (one machine), printing each run's verdict. Stop with Ctrl-C."""
    while True:
        for o in run_due(schedule, state_file, fail_on=fail_on):
            print(o.line, flush=True)
            for line in o.messages:
                print(f"  {line}", flush=True)
        time.sleep(poll_seconds)


DAG_TEMPLATE = '''"""Generated by `runbook schedule airflow-dag` from {source}. Do not edit: regenerate.

Each job of the schedule is one DAG with a PapermillOperator that executes the runbook
into a timestamped output notebook (the run archive).
"""

import pendulum
from airflow import DAG
from airflow.providers.papermill.operators.papermill import PapermillOperator

NOTEBOOK_DIR = {notebook_dir!r}
OUTPUT_DIR = {output_dir!r}
JOBS = {jobs!r}

for job in JOBS:
    with DAG(
        dag_id="backup_runbooks__" + job["name"],
        schedule=job["cron"],
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["backup", "REL09"],
    ) as dag:
        PapermillOperator(
            task_id=job["name"].replace("-", "_").replace(".", "_"),
            input_nb=NOTEBOOK_DIR + "/" + job["notebook_file"],
            output_nb=OUTPUT_DIR + "/{{{{ ts_nodash }}}}/" + job["notebook_file"],
            parameters=dict(job["parameters"], params_file=job["params_file"], run_id="{{{{ ts_nodash }}}}"),
            kernel_name="python3",
        )
    globals()[dag.dag_id] = dag
'''


def airflow_dag(schedule: Schedule, output_dir: str, source: str = "params/schedule.yaml") -> str:
    """The text of an Airflow DAG file for the schedule (one DAG per job)."""
    from runbook_lib.runner import resolve_notebooks

    jobs = [
        {
            "name": j.name,
            "cron": j.cron,
            "notebook_file": resolve_notebooks([j.notebook])[0].name,
            "params_file": j.params_file,
            "parameters": j.parameters,
        }
        for j in schedule.jobs
    ]
    return DAG_TEMPLATE.format(
        source=source,
        notebook_dir=str(data_dir("notebooks")),
        output_dir=output_dir,
        jobs=jobs,
    )
