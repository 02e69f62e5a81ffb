"""The schedule: validated cron jobs, due-run logic, the shipped schedule matches the
notebooks, and the Airflow DAG generated from it is valid Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import nbformat
import pytest

from runbook_lib.errors import ParamsError
from runbook_lib.schedule import (
    Job,
    Schedule,
    airflow_dag,
    check_schedule,
    due_jobs,
    load_schedule,
    upcoming,
)


def test_shipped_schedule_is_valid_against_the_notebooks():
    plan = load_schedule()
    assert check_schedule(plan) == []
    table = upcoming(plan, datetime(2026, 1, 1, tzinfo=UTC), n=2)
    assert len(table) == 2 * len(plan.jobs)
    assert (table["at"] > datetime(2026, 1, 1, tzinfo=UTC)).all()


def test_bad_schedule_is_rejected_with_field_paths(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "jobs:\n  - {name: a, notebook: inventory, cron: 'every day'}\n  - {name: a, notebook: x, cron: '0 1 * * *', colour: red}\n"
    )
    with pytest.raises(ParamsError) as info:
        load_schedule(f)
    text = "\n".join(info.value.problems)
    assert "jobs[0].cron: 'every day' is not a cron expression" in text
    assert "jobs[1].colour: Extra inputs are not permitted" in text


def test_undeclared_notebook_parameter_is_reported(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell('params_file: str = "sandbox"  # which params')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "01_probe.ipynb"
    nbformat.write(nb, path)
    plan = Schedule(
        jobs=[Job(name="p", notebook=str(path), cron="0 1 * * *", parameters={"max_test": 3})]
    )
    problems = check_schedule(plan)
    assert problems == [
        "jobs[0].parameters.max_test: not a parameter of 01_probe.ipynb; allowed: ['params_file']"
    ]


def test_due_logic_runs_once_per_elapsed_slot_and_never_on_first_sight():
    plan = Schedule(jobs=[Job(name="daily", notebook="x", cron="0 2 * * *")])
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    state: dict[str, str] = {}
    assert due_jobs(plan, state, t0) == []  # first sight: remembered, not run
    assert due_jobs(plan, state, t0 + timedelta(hours=13)) == []  # 01:00 next day: not yet
    assert [j.name for j in due_jobs(plan, state, t0 + timedelta(hours=15))] == ["daily"]


def test_airflow_dag_is_valid_python_with_one_dag_per_job():
    text = airflow_dag(load_schedule(), "/srv/runs")
    compile(text, "dag.py", "exec")
    assert text.count("'name':") == len(load_schedule().jobs) and "PapermillOperator(" in text
    for job in load_schedule().jobs:
        assert repr(job.name) in text
