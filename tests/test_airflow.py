"""The generated Airflow DAG under real Airflow (apache-airflow 3.3.2 with the papermill
provider 3.13.3), as a user deploys it: the DAG file in a DAGs folder, ``airflow db migrate``,
``airflow dags reserialize``, ``airflow dags test DAG_ID``, against a sandbox server.

Airflow lives in a virtualenv of its own (its dependencies are not the project's), built by
this module when missing (pip from PyPI, a few minutes once) under a cache folder outside the
repository, keyed by the versions: ``$RUNBOOK_AIRFLOW_VENV``, else
``$XDG_CACHE_HOME/runbook-airflow/<key>`` (``~/.cache`` when unset). The checkout under test
is installed into it (editable), as every Airflow worker must have runbook-lib installed.
Skipped, saying why, only when pip cannot reach PyPI and the venv is missing; never in CI.

The estate is made here, not seeded: one account and Region the demo never uses, a tier tag
key of its own and names with dots and capitals. Two jobs run the restore-test runbook: one
on a table whose recovery point is intact (green), one on a table whose recovery point was
damaged after the backup (its content no longer matches the backup-time fingerprint: red).
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runbook_lib.errors import ParamsError
from runbook_lib.runner import EXIT_OK, EXIT_RED
from runbook_lib.schedule import (
    AIRFLOW_MAX_ACTIVE_RUNS,
    Job,
    Schedule,
    airflow_dag,
    airflow_run_id,
    run_airflow_job,
)

REPO = Path(__file__).resolve().parents[1]
AIRFLOW, PAPERMILL_PROVIDER = "3.3.2", "3.13.3"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
PROJECT = f"{REPO}[sandbox]"  # a worker whose runbooks target the sandbox needs the extra
KEY = f"airflow-{AIRFLOW}-papermill-{PAPERMILL_PROVIDER}-py{PY}"
ACCT, REGION = "737373737373", "ap-southeast-2"
TIER_TAG = "svc.tier"
GOOD, BAD = "Billing.Ledger-v3", "Billing.Ledger-v3.damaged"
TOPIC = f"arn:aws:sns:{REGION}:{ACCT}:Backup_Alerts-ops"


def _venv_dir() -> Path:
    if os.environ.get("RUNBOOK_AIRFLOW_VENV"):
        return Path(os.environ["RUNBOOK_AIRFLOW_VENV"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "runbook-airflow" / KEY


def _pypi_unreachable(python: str) -> str | None:
    """Why pip cannot reach PyPI, or None when it can."""
    probe = subprocess.run(
        [python, "-m", "pip", "index", "versions", "apache-airflow-providers-papermill"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode == 0:
        return None
    return (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no answer"]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _ensure_airflow() -> tuple[Path, dict[str, float]]:
    """The Airflow venv with this checkout installed; builds it when missing. Returns its
    folder and what the setup took (seconds)."""
    venv = _venv_dir()
    python = venv / "bin" / "python"
    done = venv / ".runbook-complete.json"
    took: dict[str, float] = {}
    # the checkout under test, installed as a worker needs it (again when it moved or its
    # dependencies changed); with the sandbox extra, as the DAG runs against the sandbox
    want = {"project": PROJECT, "pyproject": _sha(REPO / "pyproject.toml")}
    mark = venv / ".runbook-project.json"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{KEY}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (xdist, two sessions)
        if not done.exists():
            t0 = time.monotonic()
            if venv.exists():  # half built: start again
                shutil.rmtree(venv)
            _run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = _run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 f"apache-airflow=={AIRFLOW}", f"apache-airflow-providers-papermill=={PAPERMILL_PROVIDER}",
                 "-e", PROJECT],
                timeout=1800,
            )  # fmt: skip
            if install.returncode != 0:
                why = _pypi_unreachable(str(python))
                if why is not None and not os.environ.get("CI"):
                    pytest.skip(f"pip cannot reach PyPI to install Airflow ({why[0]})")
                pytest.fail(f"installing Airflow {AIRFLOW} failed:\n{install.stderr[-3000:]}")
            took["install_airflow"] = time.monotonic() - t0
            done.write_text(json.dumps({"airflow": AIRFLOW, "seconds": took["install_airflow"]}))
            mark.write_text(json.dumps(want))
        where = _run([str(python), "-c", "import runbook_lib; print(runbook_lib.__file__)"])
        same = where.returncode == 0 and where.stdout.strip().startswith(str(REPO) + "/")
        if not same or not mark.exists() or json.loads(mark.read_text()) != want:
            t0 = time.monotonic()
            again = _run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 "-e", PROJECT],
                timeout=900,
            )  # fmt: skip
            assert again.returncode == 0, f"installing {PROJECT} failed:\n{again.stderr[-3000:]}"
            mark.write_text(json.dumps(want))
            took["install_project"] = time.monotonic() - t0
    return venv, took


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- no Airflow needed


def test_run_ids_follow_airflow_and_differ_per_try():
    a = airflow_run_id("restore-test-nightly", "scheduled__2026-12-02T01:30:00+00:00", 1)
    assert a == "restore-test-nightly.scheduled__2026-12-02T013000.try1"
    assert airflow_run_id("restore-test-nightly", "scheduled__2026-12-02T01:30:00+00:00", 2) != a
    manual = airflow_run_id("x", "manual__2026-12-02T16:30:12.345+00:00_aB3dE9fG", 1)
    assert manual == "x.manual__2026-12-02T163012.345_aB3dE9fG.try1"
    odd = airflow_run_id("j" * 64, "my run/with spaces+ümlauts:" + "z" * 80, 3)
    from runbook_lib.arguments import check_run_id

    assert len(odd) == 100 and check_run_id(odd) == odd  # a valid run id, a folder name
    dots = airflow_run_id(".a..b", "manual__..x", 1)  # job names may hold dots; ids never '..'
    assert dots == "a.b.manual__.x.try1" and check_run_id(dots) == dots


def test_generated_dag_names_absolute_paths_and_keeps_names_for_the_worker(tmp_path, monkeypatch):
    params = tmp_path / "mine.yaml"
    params.write_text(Path(REPO / "params" / "sandbox.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    plan = Schedule(
        jobs=[
            Job(name="rt.nightly", notebook="restore_test", cron="0 3 * * *",
                params_file="mine.yaml", parameters={"max_tests": 2}, fail_on="restore-error"),
            Job(name="inv", notebook="04_restore_test.ipynb", cron="0 4 * * 1", timeout="2h",
                retries=3, retry_delay="5m", overlap="allow"),
        ]
    )  # fmt: skip
    text = airflow_dag(plan, "runs/archive")
    compile(text, "dag.py", "exec")
    jobs = ast.literal_eval(text.split("JOBS = ", 1)[1].split("\n\n\n")[0])
    assert f"OUTPUT_DIR = {str(tmp_path / 'runs' / 'archive')!r}" in text
    first, second = jobs
    assert first["dag_id"] == "backup_runbooks__rt.nightly" and first["task_id"] == "rt_nightly"
    assert first["job"]["params_file"] == str(params)  # a path: absolute for the worker
    assert first["job"]["notebook"] == "restore_test"  # a name: the worker's installed copy
    assert first["job"]["parameters"] == {"max_tests": 2}
    assert first["job"]["fail_on"] == "restore-error" and second["job"]["params_file"] == "sandbox"
    rebuilt = Job.model_validate(first["job"])  # the worker rebuilds the same job
    assert rebuilt == plan.jobs[0].model_copy(update={"params_file": str(params)})
    # the job's time-out, retries and overlap, as Airflow's settings
    assert (first["retries"], first["retry_delay_seconds"], first["max_active_runs"]) == (0, 60, 1)
    assert first["execution_timeout_seconds"] == 3600 + 600  # 1h default + the runner's grace
    assert (second["retries"], second["retry_delay_seconds"]) == (3, 300)
    assert second["execution_timeout_seconds"] == 7200 + 600
    assert second["max_active_runs"] == AIRFLOW_MAX_ACTIVE_RUNS  # overlap: allow
    assert second["job"]["timeout"] == "2h"  # the worker's runner kills the kernel at 2h
    assert "PapermillOperator" not in text and "AirflowFailException" in text


def test_a_run_id_given_to_the_runner_is_checked_before_anything_runs(tmp_path):
    from runbook_lib.errors import RunbookError
    from runbook_lib.runner import run_notebooks

    with pytest.raises(ParamsError, match="run_id") as info:
        run_notebooks("sandbox", ["restore_test"], out_dir=str(tmp_path), run_id="../escape")
    assert "not a run id; allowed: 1-100 letters" in str(info.value)
    (tmp_path / "taken.try1").mkdir()
    with pytest.raises(RunbookError, match="'taken.try1' has a run folder already"):
        run_notebooks("sandbox", ["restore_test"], out_dir=str(tmp_path), run_id="taken.try1")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.try1"]  # nothing else made


# ----------------------------------------------------------------------------- the estate


def _params(tmp: Path) -> Path:
    doc = {
        "name": "airflow-estate",
        "target": {"kind": "sandbox"},  # the server: RUNBOOK_SANDBOX_URL, as on a worker
        "accounts": [{"id": ACCT, "name": "billing-prod"}],
        "regions": [REGION],
        "default_tier": "tier-b",
        "tiers": {
            "tier-a": {"rpo": "4h", "rto": "2h", "retention": "14d", "restore_test_every": "1d"},
            "tier-b": {"rpo": "1d", "rto": "8h", "retention": "7d", "restore_test_every": "7d"},
        },
        "tag_keys": {"tier": TIER_TAG, "restore_test": "rt.marker", "expires": "rt.until"},
        "protect": {"vault_name": "Billing-Vault_01"},
        "ledger": str(tmp / "ledger"),
        "run_archive": str(tmp / "unused-archive"),
        "notify_topic_arn": TOPIC,
    }
    path = tmp / "airflow-estate.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _build_estate(url: str, params_file: Path) -> tuple[dict[str, str], str]:
    """Two tables with items, each backed up (with a fingerprint) by backup_now; the second
    one's recovery point is then damaged; the params' SNS topic with an SQS queue subscribed.
    Returns (name -> ARN, the queue's URL)."""
    import runbook_lib.backup_now as backup_now
    from runbook_lib.context import RunContext
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession, utcnow
    from runbook_sandbox.backup_ext import damage_recovery_point

    params = load_params(params_file)
    session = AwsSession(params, endpoint_url=url)
    ddb = session.client("dynamodb", ACCT, REGION)
    arns = {}
    for name in (GOOD, BAD):
        arns[name] = ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "acct", "KeyType": "HASH"},
                       {"AttributeName": "entry", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "acct", "AttributeType": "S"},
                                  {"AttributeName": "entry", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": TIER_TAG, "Value": "tier-a"}],
        )["TableDescription"]["TableArn"]  # fmt: skip
        for i in range(120):
            ddb.put_item(
                TableName=name,
                Item={"acct": {"S": f"ACC-{i % 7}"}, "entry": {"N": str(i)},
                      "memo": {"S": f"line {i} – £{i * 3}.07"}},
            )  # fmt: skip
    ctx = RunContext(params, session, Ledger(params.ledger), "airflow-estate-setup", utcnow())
    rows = backup_now.run(ctx, arns=list(arns.values()), approve=True)
    assert set(rows["status"]) == {"COMPLETED"}, rows[["resource_name", "status"]]
    damaged = rows.set_index("resource_name").loc[BAD, "recovery_point_arn"]
    assert damage_recovery_point(damaged, drop=3, alter=2, endpoint_url=url) == {
        "dropped": 3,
        "altered": 2,
    }
    sns, sqs = session.client("sns", ACCT, REGION), session.client("sqs", ACCT, REGION)
    assert sns.create_topic(Name=TOPIC.rsplit(":", 1)[1])["TopicArn"] == TOPIC
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=attrs["QueueArn"])
    return arns, queue


def _messages(url: str, params_file: Path, queue: str) -> list[dict]:
    """Every SNS envelope in the queue (left in it: received with no visibility time-out)."""
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession

    sqs = AwsSession(load_params(params_file), endpoint_url=url).client("sqs", ACCT, REGION)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0,
                              WaitTimeSeconds=1)  # fmt: skip
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


# ----------------------------------------------------------------------------- real Airflow


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """Airflow's home with the generated DAG deployed and the database migrated, a sandbox
    server holding the estate; yields a function running ``airflow dags test``."""
    from runbook_sandbox.server import running_sandbox

    venv, took = _ensure_airflow()
    tmp = tmp_path_factory.mktemp("airflow")
    params_file = _params(tmp)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(running_sandbox(None))  # empty: the estate is made here
        arns, queue = _build_estate(url, params_file)
        schedule = tmp / "schedule.yaml"
        schedule.write_text(
            yaml.safe_dump(
                {"jobs": [
                    {"name": name, "notebook": "restore_test", "cron": "30 1 * * *",
                     "params_file": str(params_file),
                     "parameters": {"mode": "arns", "arns": [arns[table]]}}
                    for name, table in (("restore-good", GOOD), ("restore.damaged", BAD))
                ]},
                sort_keys=False,
            )
        )  # fmt: skip
        home, dags, runs = tmp / "home", tmp / "dags", tmp / "runs"
        dags.mkdir()
        cli = _run(
            [sys.executable, "-m", "runbook_lib.cli", "schedule", "--file", str(schedule),
             "airflow-dag", "--out", str(dags / "backup_runbooks.py"), "--output-dir", str(runs)],
            cwd=tmp,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        env = {
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "RUNBOOK_SANDBOX_URL": url,
        }
        env.pop("VIRTUAL_ENV", None)
        airflow_bin = str(venv / "bin" / "airflow")
        for step in (["db", "migrate"], ["dags", "reserialize"]):
            t0 = time.monotonic()
            done = _run([airflow_bin, *step], env=env, cwd=tmp, timeout=600)
            assert done.returncode == 0, f"airflow {' '.join(step)}:\n{done.stderr[-3000:]}"
            took[" ".join(step)] = time.monotonic() - t0

        def dags_test(dag_id: str) -> subprocess.CompletedProcess:
            t0 = time.monotonic()
            done = _run([airflow_bin, "dags", "test", dag_id], env=env, cwd=tmp, timeout=900)
            took[f"dags test {dag_id}"] = time.monotonic() - t0
            return done

        yield dags_test, runs, arns, lambda: _messages(url, params_file, queue)
    print("\nAirflow setup and runs (s): " + ", ".join(f"{k} {v:.0f}" for k, v in took.items()))


def _run_folder(runs: Path, job: str) -> Path:
    folders = [p for p in runs.iterdir() if p.name.startswith(f"{job}.manual__")]
    assert len(folders) == 1, sorted(p.name for p in runs.iterdir())
    return folders[0]


def _restore_rows(folder: Path) -> list[dict]:
    return json.loads((folder / "exports" / "restore_tests.json").read_text())


def test_dag_runs_green_on_a_good_recovery_point(airflow):
    dags_test, runs, arns, messages = airflow
    done = dags_test("backup_runbooks__restore-good")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    folder = _run_folder(runs, "restore-good")
    assert folder.name.endswith(".try1")  # Airflow's run id and try number name the folder
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["run_id"] == folder.name
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"]
    assert (folder / "04_restore_test.ipynb").is_file() and (
        folder / "04_restore_test.html"
    ).is_file()
    rows = _restore_rows(folder)
    assert [(r["resource_arn"], r["status"]) for r in rows] == [(arns[GOOD], "PASS")]
    assert "fingerprint=PASS" in rows[0]["evidence"]
    nb = (folder / "04_restore_test.ipynb").read_text()
    assert "application/vnd.jupyter.widget-view+json" not in nb  # batch mode: no widgets
    assert not [m for m in messages() if "restore-good" in m["Subject"]]  # green: no message


def test_dag_fails_the_task_on_a_damaged_recovery_point(airflow):
    dags_test, runs, arns, messages = airflow
    done = dags_test("backup_runbooks__restore.damaged")
    assert done.returncode != 0  # `airflow dags test` exits non-zero: "DagRun failed"
    out = done.stdout + done.stderr
    assert "DagRun failed" in out, out[-4000:]
    assert "AirflowFailException" in out and "evidence red: restore-fail" in out, out[-4000:]
    folder = _run_folder(runs, "restore.damaged")
    manifest = json.loads((folder / "run.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"]  # it ran; its evidence is red
    assert [r["rule"] for r in manifest["red"]] == ["restore-fail"]
    rows = _restore_rows(folder)
    assert [(r["resource_arn"], r["status"]) for r in rows] == [(arns[BAD], "FAIL")]
    assert "3 missing" in rows[0]["reason"] and "2 changed" in rows[0]["reason"]
    assert (folder / "04_restore_test.html").is_file()
    # one notification, as from the scheduler: what failed and where the evidence is
    [sent] = [m for m in messages() if "restore.damaged" in m["Subject"]]
    assert sent["Subject"] == "runbook RED: restore.damaged (restore-fail)"
    assert f"run folder: {folder}" in sent["Message"] and BAD in sent["Message"]


class FakeRunner:
    """Stands in for :func:`runbook_lib.runner.run_notebooks`: makes the run folder and
    returns a result whose notebook ended ``status`` with ``red`` rules matched."""

    def __init__(self, status: str = "ok", red: tuple[str, ...] = ()) -> None:
        self.status, self.red, self.calls = status, red, []

    def __call__(self, params_file, notebooks, *, out_dir, parameters, fail_on, run_id, timeout):
        import runbook_lib.runner as runner

        self.calls.append({"run_id": run_id, "timeout": timeout, "fail_on": fail_on})
        folder = Path(out_dir) / run_id
        folder.mkdir(parents=True)
        nb = runner.NotebookRun("04_restore_test.ipynb", str(folder / "nb.ipynb"), None, 1.0,
                                self.status, None if self.status == "ok" else "it stopped")  # fmt: skip
        rules = list(fail_on) if fail_on is not None else ["restore-fail", "critical"]
        red = [{"rule": r, "table": "restore_tests", "rows": 1, "first": ["t"]} for r in self.red]
        return runner.RunResult(run_id, str(folder), [nb], fail_on=rules, red=red)


@pytest.fixture
def fake_runs(monkeypatch):
    """Swap the runner and the notifier; returns (set the runner, notifications sent)."""
    import runbook_lib.notify as notify
    import runbook_lib.runner as runner

    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(notify, "notify", lambda pf, o, r: sent.append((o.job, o.status)) or {})

    def use(fake: FakeRunner) -> FakeRunner:
        monkeypatch.setattr(runner, "run_notebooks", fake)
        return fake

    return use, sent


def test_run_airflow_job_adds_a_suffix_when_airflow_repeats_a_run_id(tmp_path, fake_runs):
    """`airflow dags test` (or a deleted and re-triggered run) gives the same run id and try
    number again: the second run gets a folder of its own, the first is kept."""
    use, sent = fake_runs
    fake = use(FakeRunner())
    job = {"name": "j", "notebook": "restore_test", "cron": "0 1 * * *", "timeout": "90m"}
    for _ in range(3):
        outcome = run_airflow_job(job, str(tmp_path), "manual__2026-01-01T00:00:00+00:00", 1)
        assert (outcome.code, outcome.status) == (EXIT_OK, "ok")
    assert [c["run_id"] for c in fake.calls] == [
        "j.manual__2026-01-01T000000.try1",
        "j.manual__2026-01-01T000000.try1-2",
        "j.manual__2026-01-01T000000.try1-3",
    ]
    assert {c["timeout"] for c in fake.calls} == {5400.0}  # the job's time-out, to the runner
    assert sent == []  # green: no notification


def test_airflow_tries_notify_once_when_red_timed_out_or_out_of_retries(tmp_path, fake_runs):
    use, sent = fake_runs
    job = {"name": "n", "notebook": "restore_test", "cron": "0 1 * * *", "retries": 2,
           "fail_on": "restore-error"}  # fmt: skip
    use(FakeRunner(red=("restore-fail",)))  # red by a rule the job does not fail on: green
    assert run_airflow_job(job, str(tmp_path / "a"), "scheduled__x", 1).code == EXIT_OK
    use(FakeRunner(red=("restore-error",)))  # red: never retried, so notified on try 1
    red = run_airflow_job(job, str(tmp_path / "b"), "scheduled__x", 1)
    assert (red.code, red.status) == (EXIT_RED, "red")
    assert "evidence red: restore-error" in red.messages[0]
    use(FakeRunner(status="timed_out"))  # retried by Airflow: only the last try notifies
    for try_number in (1, 2, 3):
        out = run_airflow_job(job, str(tmp_path / "c"), "scheduled__x", try_number)
        assert (out.code, out.status) == (1, "timed_out")
    assert sent == [("n", "red"), ("n", "timed_out")]


def test_a_python3_kernel_of_another_interpreter_is_refused_before_running(
    tmp_path, monkeypatch, fake_runs
):
    """The failure the issue met: a `python3` kernel spec naming another Python, which has
    no runbook_lib. The task fails at once, saying which spec and how to fix it."""
    from runbook_lib.errors import RunbookError

    use, sent = fake_runs
    fake = use(FakeRunner())
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = ["/opt/elsewhere/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Py", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # first on the Jupyter path
    job = {"name": "k", "notebook": "restore_test", "cron": "0 1 * * *"}
    with pytest.raises(RunbookError) as info:
        run_airflow_job(job, str(tmp_path / "runs"), "scheduled__x", 1)
    assert f"runs /opt/elsewhere/bin/python3, not this worker's Python {sys.executable}" in str(
        info.value
    )
    assert "jupyter kernelspec remove python3" in str(info.value)
    assert fake.calls == [] and not (tmp_path / "runs").exists()
    assert sent == [("k", "failed")]  # no retries left: the failure is notified, as run-due does
