"""Exit codes that mean something: 1 when a notebook failed to execute, 3 when the evidence
is red by the --fail-on rules (default: a restore-test FAIL or a critical finding), the
message naming the table, the row count and the first resources; scheduled runs decide with
the same function. The real runs here also check the exports and verify-archive on a real
run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from runbook_lib import exports, schedule
from runbook_lib.cli import main
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.runner import (
    EXIT_NOTEBOOK_FAILED,
    EXIT_OK,
    EXIT_RED,
    NotebookRun,
    RunResult,
    judge,
    worst,
)

ORDERS = "arn:aws:dynamodb:eu-west-1:111111111111:table/orders"


def _tables():
    return {
        "restore_tests": pd.DataFrame(
            [
                {"resource_name": "orders", "resource_arn": ORDERS, "status": "FAIL"},
                {"resource_name": "users", "resource_arn": "arn:u", "status": "FAIL"},
                {"resource_name": "carts", "resource_arn": "arn:c", "status": "PASS"},
                {"resource_name": "logs", "resource_arn": "arn:l", "status": "ERROR"},
            ]
        ),
        "findings": pd.DataFrame(
            [
                {
                    "control_id": "resource_backed_up_or_reproducible",
                    "severity": "critical",
                    "status": "FAIL",
                    "name": "sessions.v2",
                },
                {
                    "control_id": "restore_tested_recently",
                    "severity": "high",
                    "status": "FAIL",
                    "name": "orders",
                },
                {
                    "control_id": "vault_encrypted",
                    "severity": "medium",
                    "status": "PASS",
                    "name": "v",
                },
                {"control_id": "copy_exists", "severity": "low", "status": "ERROR", "name": "v"},
            ]
        ),
    }


def test_red_evidence_names_table_rows_and_first_resources():
    red = {r.rule: r for r in exports.red_evidence(_tables())}
    assert sorted(red) == [
        "audit-error",
        "critical",
        "high",
        "low",
        "medium",
        "restore-error",
        "restore-fail",
    ]
    assert red["restore-fail"].rows == 2 and red["restore-fail"].first == ["orders", "users"]
    assert red["critical"].first == ["sessions.v2 [resource_backed_up_or_reproducible]"]
    assert red["high"].rows == 2 and red["medium"].rows == 2  # severity or higher
    assert red["restore-fail"].message() == (
        "restore-fail: 2 row(s) of restore_tests — a restore test with status FAIL (first: orders, users)"
    )


def _result(red_tables, status="ok", fail_on=exports.DEFAULT_FAIL_ON):
    from dataclasses import asdict

    r = RunResult("r1", "/tmp/r1", fail_on=list(fail_on))
    r.notebooks.append(
        NotebookRun(
            "04_restore_test.ipynb", "o", None, 1.0, status, "boom" if status != "ok" else None
        )
    )
    r.red = [asdict(x) for x in exports.red_evidence(red_tables)]
    return r


def test_judge_default_any_fail_none_and_failed_notebooks():
    code, lines = judge(_result(_tables()))
    assert code == EXIT_RED
    assert [line.split(":")[1].strip() for line in lines] == ["restore-fail", "critical"]
    only_high = {"findings": _tables()["findings"].iloc[[1]]}
    assert judge(_result(only_high))[0] == EXIT_OK  # a high FAIL is not red by default
    assert judge(_result(only_high), exports.parse_fail_on("high"))[0] == EXIT_RED
    assert judge(_result(_tables()), exports.parse_fail_on("none")) == (EXIT_OK, [])
    assert len(judge(_result(_tables()), exports.parse_fail_on("any-fail"))[1]) == 4
    code, lines = judge(_result(_tables(), status="failed"))
    assert (
        code == EXIT_NOTEBOOK_FAILED and lines[0] == "notebook 04_restore_test.ipynb failed: boom"
    )
    assert worst([EXIT_OK, EXIT_RED, EXIT_NOTEBOOK_FAILED]) == EXIT_NOTEBOOK_FAILED
    assert worst([EXIT_OK, EXIT_RED]) == EXIT_RED and worst([]) == EXIT_OK


@pytest.mark.parametrize(
    "text, message",
    [
        ("restore-fial", "'restore-fial' is not a rule; allowed: restore-fail, restore-error"),
        (",", "--fail-on: empty"),
        ("none,critical", "'none' cannot be combined"),
    ],
)
def test_bad_fail_on_is_refused_before_anything_runs(text, message, capsys):
    with pytest.raises(RunbookError, match=message):
        exports.parse_fail_on(text)
    assert main(["run", "--notebook", "inventory", "--fail-on", text]) == 2
    assert message.split(";")[0].strip("'") in capsys.readouterr().err


def test_schedule_job_fail_on_is_validated_and_run_due_shares_judge(tmp_path, monkeypatch):
    with pytest.raises(
        ParamsError, match=r"jobs\[0\].fail_on \(job 'a'\): 'sometimes' is not a rule"
    ):
        f = tmp_path / "s.yaml"
        f.write_text(
            "jobs:\n  - {name: a, notebook: inventory, cron: '0 1 * * *', fail_on: sometimes}\n"
        )
        schedule.load_schedule(f)
    calls = []

    def fake_run(params_file, notebooks, parameters=None, fail_on=None, **_):
        calls.append(fail_on)
        return _result(_tables(), fail_on=exports.DEFAULT_FAIL_ON if fail_on is None else fail_on)

    monkeypatch.setattr("runbook_lib.runner.run_notebooks", fake_run)
    plan = schedule.Schedule(
        jobs=[
            schedule.Job(name="tests", notebook="restore_test", cron="* * * * *"),
            schedule.Job(name="quiet", notebook="audit", cron="* * * * *", fail_on="none"),
        ]
    )
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"tests": "2026-01-01T00:00:00+00:00", "quiet": "2026-01-01T00:00:00+00:00"})
    )
    outcomes = schedule.run_due(plan, state, fail_on=exports.parse_fail_on("restore-fail"))
    assert calls == [("restore-fail",), ()]
    assert [(o.job, o.code) for o in outcomes] == [("tests", EXIT_RED), ("quiet", EXIT_OK)]
    assert outcomes[0].line == "tests: RED -> /tmp/r1"
    assert (
        outcomes[0].messages[0].startswith("evidence red: restore-fail: 2 row(s) of restore_tests")
    )
    assert schedule.exit_code(outcomes) == EXIT_RED


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory, shared_sandbox_url):
    """Two real runs into one archive: a restore test judged at a time its recovery point
    misses the RPO (a FAIL), then the inventory runbook with --fail-on none."""
    root = tmp_path_factory.mktemp("real")
    archive, ledger = root / "runs", root / "ledger"
    common = ["--out", str(archive), "-p", f"ledger_location={ledger}"]
    first = main(
        ["run", "--notebook", "restore_test", *common, "-p", "mode=arns", "-p", f"arns=[{ORDERS}]"]
        + ["-p", "as_of=2030-01-01T00:00:00Z"]
    )
    second = main(
        [
            "run",
            "--notebook",
            "inventory",
            *common,
            "-p",
            "services=[dynamodb]",
            "--fail-on",
            "none",
        ]
    )
    runs = sorted(p for p in archive.iterdir() if p.is_dir())
    return archive, runs, first, second


def test_a_failed_restore_test_exits_3_and_says_what_was_red(real_archive, capsys):
    archive, runs, first, second = real_archive
    assert (first, second) == (EXIT_RED, EXIT_OK)
    doc = json.loads((runs[0] / "run.json").read_text())
    assert doc["red"] == [
        {"rule": "restore-fail", "table": "restore_tests", "rows": 1, "first": ["orders"]}
    ]
    assert doc["fail_on"] == list(exports.DEFAULT_FAIL_ON)
    items = json.loads((runs[0] / "exports" / "RESTORE_JOB_REPORT.json").read_text())["reportItems"]
    [item] = items
    assert item["sourceResourceArn"] == ORDERS and item["testStatus"] == "FAIL"
    assert item["rpoMet"] is False and item["jobStatus"] == "COMPLETED"
    assert (
        item["deletionStatus"] == "DELETED"
        and item["notebookSha256"] == doc["notebooks"][0]["sha256"]
    )
    raw = pd.read_csv(runs[0] / "exports" / "restore_tests.csv")
    assert list(raw["status"]) == ["FAIL"]
    writes = doc["notebooks"][0]["ledger_writes"]
    assert {w["table"] for w in writes} >= {"restore_tests"}


def test_verify_archive_passes_on_real_runs_and_fails_after_tampering(
    real_archive, tmp_path, capsys
):
    archive, runs, _, _ = real_archive
    assert main(["verify-archive", str(archive)]) == 0
    assert main(["verify-archive", str(runs[0])]) == 0
    second = json.loads((runs[1] / "run.json").read_text())
    assert second["previous"]["run_id"] == runs[0].name

    def copy() -> tuple[Path, list[Path]]:
        dst = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(archive, dst)
        return dst, [dst / r.name for r in runs]

    cases = []
    dst, (r0, r1) = copy()
    html = next(r0.glob("*.html"))
    data = bytearray(html.read_bytes())
    data[len(data) // 2] ^= 1
    html.write_bytes(bytes(data))
    cases.append((dst, "CHANGED"))
    dst, (r0, r1) = copy()
    (r1 / "exports").mkdir(exist_ok=True)
    next(r0.glob("exports/*.csv")).unlink()
    cases.append((dst, "REMOVED"))
    dst, (r0, r1) = copy()
    (r1 / "notes.txt").write_text("added later")
    cases.append((dst, "ADDED"))
    dst, (r0, r1) = copy()
    doc = json.loads((r0 / "run.json").read_text())
    doc["red"] = []  # a red run made to look green
    (r0 / "run.json").write_text(json.dumps(doc, indent=2))
    cases.append((dst, "BROKEN LINK"))
    capsys.readouterr()
    for where, word in cases:
        assert main(["verify-archive", str(where)]) == 1, word
        assert f"\n{word}" in capsys.readouterr().out, word
