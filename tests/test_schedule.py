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
    assert "jobs[0].cron (job 'a'): 'every day' is not a cron expression" in text
    assert "jobs[1].colour (job 'a'): Extra inputs are not permitted" in text


def test_undeclared_notebook_parameter_is_reported(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
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
    # each task runs the project's own runner (runbook_lib.schedule.run_airflow_job)
    assert text.count("'name':") == len(load_schedule().jobs) and "run_airflow_job(" in text
    for job in load_schedule().jobs:
        assert repr(job.name) in text


# --------------------------------------------------------------------------- time-outs, retries,
# overlap, SIGTERM: tiny runbooks in a temporary folder, an estate of their own (another
# account and Region, target aws: these notebooks make no AWS call)

NAP = """import subprocess
subprocess.run(["sleep", str(max_minutes * 60)], check=True)  # a child of the kernel
print("slept", max_minutes)"""


def _notebook(folder, name: str, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(
        'max_minutes: float = 0.0  # how long to sleep\nrun_id: str = ""  # the run'
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    path = folder / name
    nbformat.write(nb, path)
    return path


def _params(folder):
    import yaml

    data = {
        "name": "odd estate",
        "target": {"kind": "aws"},
        "accounts": [{"id": "210987654321", "name": "Odd-Acct_7"}],
        "regions": ["eu-north-1"],
        "tiers": {"t-1": {"rpo": "6h", "rto": "2h", "retention": "9d", "restore_test_every": "3d"}},
        "default_tier": "t-1",
        "ledger": str(folder / "ledger"),
        "run_archive": str(folder / "archive"),
    }
    path = folder / "odd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _due_job(tmp_path, state, **fields):
    """A schedule of one job due now: its last run two minutes ago, every minute."""
    import json

    nb = _notebook(tmp_path, "01_nap.ipynb", NAP)
    job = Job(
        name=fields.pop("name", "nap.job-1"),
        notebook=str(nb),
        cron="* * * * *",
        params_file=str(_params(tmp_path)),
        **fields,
    )
    now = datetime.now(UTC)
    state.write_text(json.dumps({job.name: (now - timedelta(minutes=2)).isoformat()}))
    return Schedule(jobs=[job]), now


def _manifest(folder):
    import json
    from pathlib import Path

    return json.loads((Path(folder) / "run.json").read_text())


def _history(state):
    import json

    from runbook_lib.schedule import history_file

    return [json.loads(line) for line in history_file(state).read_text().splitlines()]


def _sleepers(minutes: float) -> list[int]:
    import psutil

    want = ["sleep", str(minutes * 60)]
    return [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == want]


def test_bad_job_values_name_the_job_the_field_and_what_is_allowed(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "jobs:\n"
        "  - {name: nightly-x, notebook: inventory, cron: '0 1 * * *', timeout: soon,\n"
        "     retries: 11, retry_delay: 0s, overlap: sometimes}\n"
    )
    with pytest.raises(ParamsError) as info:
        load_schedule(f)
    text = "\n".join(info.value.problems)
    assert "jobs[0].timeout (job 'nightly-x'): 'soon' is not a duration; use a whole number" in text
    assert "jobs[0].retries (job 'nightly-x'): Input should be less than or equal to 10" in text
    assert "jobs[0].retry_delay (job 'nightly-x'): '0s' is not a duration" in text
    assert "jobs[0].overlap (job 'nightly-x'): Input should be 'skip', 'queue' or 'allow'" in text
    job = Job(name="j", notebook="inventory", cron="0 1 * * *")  # the defaults
    assert (job.timeout, job.retries, job.overlap) == (timedelta(hours=1), 0, "skip")


def test_a_hung_job_is_killed_at_its_timeout_recorded_and_retried(tmp_path):
    from runbook_lib.runner import EXIT_NOTEBOOK_FAILED
    from runbook_lib.schedule import exit_code, run_due

    state = tmp_path / "state" / "schedule-state.json"
    state.parent.mkdir()
    plan, now = _due_job(tmp_path, state, timeout="3s", retries=1, retry_delay="1s")
    plan = Schedule(jobs=[plan.jobs[0].model_copy(update={"parameters": {"max_minutes": 7.5}})])
    [outcome] = run_due(plan, state, now)
    assert outcome.status == "timed_out" and outcome.code == EXIT_NOTEBOOK_FAILED
    assert exit_code([outcome]) == EXIT_NOTEBOOK_FAILED
    assert [a["status"] for a in outcome.attempts] == ["timed_out", "timed_out"]  # retried once
    run_ids = [a["run_id"] for a in outcome.attempts]
    assert len(set(run_ids)) == 2 and outcome.run_id == run_ids[-1]
    assert "timed out: the run's time-out passed" in outcome.messages[0]
    for attempt in outcome.attempts:
        manifest = _manifest(attempt["folder"])  # the same artifacts as `runbook run`
        [nb] = manifest["notebooks"]
        assert manifest["run_id"] == attempt["run_id"] and manifest["timeout_seconds"] == 3
        assert nb["status"] == "timed_out" and "its kernel was killed" in nb["error"]
        files = {f["path"] for f in manifest["files"]}
        assert {"01_nap.ipynb", "01_nap.html"} <= files
    assert _sleepers(7.5) == []  # the kernel's own child went with its process group
    [row] = _history(state)
    assert row["status"] == "timed_out" and [a["run_id"] for a in row["attempts"]] == run_ids


def test_a_red_or_green_run_is_not_retried_and_has_a_unique_run_id(tmp_path):
    from runbook_lib.schedule import run_due

    state = tmp_path / "schedule-state.json"
    plan, now = _due_job(tmp_path, state, retries=2, retry_delay="1s")
    [first] = run_due(plan, state, now)
    [second] = run_due(plan, state, now + timedelta(minutes=1))
    assert [o.status for o in (first, second)] == ["ok", "ok"]
    assert len(first.attempts) == len(second.attempts) == 1
    assert first.run_id != second.run_id and first.folder != second.folder
    assert run_due(plan, state, now + timedelta(minutes=1)) == []  # that slot ran already
    assert _manifest(first.folder)["notebooks"][0]["status"] == "ok"


def _hold_lock(lock_path, seconds: float):
    """Another process holding a job's lock (as a running scheduler does)."""
    import subprocess
    import sys

    code = (
        "import sys, time; from pathlib import Path; from runbook_lib.schedule import JobLock\n"
        f"lock = JobLock(Path({str(lock_path)!r})); assert lock.acquire('held')\n"
        "lock.note(run_id='20260101T000000Z-abc123'); print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_overlap_skip_then_a_dead_holders_lock_is_reclaimed(tmp_path, caplog):
    import json
    import logging
    import signal

    from runbook_lib.schedule import run_due

    state = tmp_path / "schedule-state.json"
    plan, now = _due_job(tmp_path, state, overlap="skip")
    lock_path = tmp_path / "locks" / f"{plan.jobs[0].name}.lock"
    holder = _hold_lock(lock_path, 300)
    try:
        [skipped] = run_due(plan, state, now)
        assert skipped.status == "skipped" and skipped.code == 0 and not skipped.attempts
        assert f"pid {holder.pid}" in skipped.messages[0]
        assert "20260101T000000Z-abc123" in skipped.messages[0]
        assert not (tmp_path / "archive").exists()  # nothing ran
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads(lock_path.read_text())["pid"] == holder.pid  # left behind by a dead pid
    with caplog.at_level(logging.INFO, logger="runbook_lib"):
        [ran] = run_due(plan, state, now + timedelta(minutes=1))
    assert ran.status == "ok"
    assert f"reclaimed the lock left by pid {holder.pid}" in caplog.text
    assert [r["status"] for r in _history(state)] == ["skipped", "ok"]


def test_overlap_queue_waits_for_the_previous_run_and_allow_runs_alongside(tmp_path):
    from runbook_lib.schedule import run_due

    state = tmp_path / "schedule-state.json"
    plan, now = _due_job(tmp_path, state, overlap="queue", timeout="2m")
    lock_path = tmp_path / "locks" / f"{plan.jobs[0].name}.lock"
    holder = _hold_lock(lock_path, 2)
    [queued] = run_due(plan, state, now)
    assert holder.poll() == 0  # the holder had finished when the queued run could start
    assert queued.status == "ok"
    allowed = Schedule(jobs=[plan.jobs[0].model_copy(update={"overlap": "allow"})])
    holder = _hold_lock(lock_path, 300)
    try:
        [alongside] = run_due(allowed, state, now + timedelta(minutes=1))
        assert alongside.status == "ok" and holder.poll() is None  # ran while it was held
    finally:
        holder.kill()
        holder.wait()


def test_sigterm_to_serve_lets_the_running_notebook_finish_then_stops(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    state = tmp_path / "schedule-state.json"
    plan, _ = _due_job(tmp_path, state)
    job = plan.jobs[0].model_dump(mode="json") | {"parameters": {"max_minutes": 0.1}}
    sched = tmp_path / "sched.yaml"
    sched.write_text(yaml.safe_dump({"jobs": [job]}))
    cmd = [sys.executable, "-m", "runbook_lib.cli", "schedule", "--file", str(sched), "serve"]
    cmd += ["--state", str(state), "--poll-seconds", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock_path = tmp_path / "locks" / f"{job['name']}.lock"
        end = time.monotonic() + 120
        while time.monotonic() < end and not _sleepers(0.1):  # the notebook is sleeping
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert _sleepers(0.1), "the notebook never started"
        run_id = json.loads(lock_path.read_text())["run_id"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "SIGTERM: finishing the running job" in err and "schedule: stopped" in out
    assert f"{job['name']}: ok -> " in out
    runs = sorted(p.name for p in (tmp_path / "archive").iterdir() if p.is_dir())
    assert runs == [run_id]  # it finished and was recorded; nothing new started
    manifest = _manifest(tmp_path / "archive" / run_id)
    assert manifest["notebooks"][0]["status"] == "ok"
    executed = nbformat.read(tmp_path / "archive" / run_id / "01_nap.ipynb", as_version=4)
    printed = [
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    ]
    assert "slept 0.1\n" in printed  # the notebook's last line ran
    assert [r["run_id"] for r in _history(state)] == [run_id]


def test_sigterm_to_an_idle_serve_stops_it_between_polls(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    sched = tmp_path / "sched.yaml"
    sched.write_text("jobs:\n  - {name: yearly, notebook: inventory, cron: '0 0 1 1 *'}\n")
    state = tmp_path / "state.json"
    cmd = [sys.executable, "-m", "runbook_lib.cli", "schedule", "--file", str(sched), "serve"]
    cmd += ["--state", str(state), "--poll-seconds", "600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not state.exists():  # first sight of the job recorded: it is waiting
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # well before the 600 s poll
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "schedule: stopped" in out, err
    assert not (tmp_path / "locks").exists()  # nothing ran
