"""Notebook parameters are validated against one declared type per name before anything runs.

The critical case: ``approve`` given as text. ``-p approve "false"`` used to be a yes
(``if not approve`` on a non-empty string); now "false" is False, and "0", 0, "no" are
errors raised before the first AWS call.
"""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from runbook_lib import arguments
from runbook_lib.cli import _parse_kv, main
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.runner import check_run_parameters, list_notebooks
from runbook_lib.session import AwsSession

ROOT = Path(__file__).resolve().parents[1]
NB = {p.stem.split("_", 1)[1]: p for p in list_notebooks(ROOT / "notebooks")}


# --------------------------------------------------------------------------- declarations


def test_every_declared_parameter_has_one_type_in_every_notebook():
    seen: dict[str, str] = {}
    for path in NB.values():
        declared = arguments.declaration_of(path)
        arguments.model_for(declared)  # raises on a name without a type or the wrong one
        for d in declared:
            assert d.help, f"{path.name}: {d.name} has no help comment"
            assert seen.setdefault(d.name, d.annotation) == d.annotation, d.name
        arguments.validate(declared, {})  # the defaults themselves are valid
    assert seen["arns"] == seen["services"] == seen["controls"] == seen["resources"] == "list"


@pytest.mark.parametrize(
    "text,expected",
    [
        (True, True),
        (False, False),
        ("false", False),
        ("False", False),
        (" TRUE ", True),
        ("true", True),
    ],
)
def test_approve_spellings_that_are_accepted(text, expected):
    args = arguments.validate_notebook(NB["protect"], {"approve": text})
    assert args.approve is expected


@pytest.mark.parametrize("text", ["0", 0, 1, "1", "no", "yes", "", None, "off", [], "falsch"])
def test_approve_spellings_that_are_refused(text):
    with pytest.raises(ParamsError) as err:
        arguments.validate_notebook(NB["protect"], {"approve": text})
    assert err.value.problems[0].startswith("approve: ") and "true or false" in str(err.value)


@pytest.mark.parametrize(
    "notebook,values,field",
    [
        ("inventory", {"servces": "ebs"}, "servces: unknown parameter"),
        ("inventory", {"services": "dynamodb,foo"}, "services: unknown ['foo']"),
        ("restore_test", {"max_tests": "abc"}, "max_tests: 'abc' is not a whole number"),
        ("restore_test", {"max_tests": -1}, "max_tests: -1 is out of range"),
        ("restore_test", {"sample_size": True}, "sample_size: True is not a whole number"),
        (
            "restore_test",
            {"copy": "remote"},
            "copy: 'remote' is not allowed; allowed: local, dr, both",
        ),
        ("restore_test", {"checks": {"*": {"min_cnt": 1}}}, "unknown check(s) ['min_cnt']"),
        ("restore_test", {"checks": "not json"}, "checks: 'not json' is not a mapping"),
        ("restore_test", {"window": "9" * 30 + "d"}, "is too long"),
        ("restore_test", {"mode": "arns"}, "arns: mode 'arns' needs at least one ARN"),
        ("backup_now", {"method": "snapshot"}, "method: 'snapshot' is not allowed"),
        ("backup_now", {"timeout_seconds": 0}, "timeout_seconds: 0 is out of range"),
        ("backup_now", {"tag_filter": "backup-tier"}, "tag_filter: 'backup-tier' is not KEY=VALUE"),
        ("backup_now", {"arns": "not-an-arn"}, "arns: 'not-an-arn' is not an ARN"),
        ("restore", {"target_name": "x"}, "target_name: given without source_arn"),
        (
            "restore",
            {"source_arn": "arn:aws:s3:::bkt", "target_name": "Bad_Name"},
            "target_name: 'Bad_Name' is not a valid s3 name",
        ),
        ("restore", {"restore_time": "yesterday"}, "restore_time: 'yesterday' is not a time"),
        ("audit", {"controls": "no_such_control"}, "controls: unknown ['no_such_control']"),
        ("trends", {"since": "a year"}, "since: 'a year' is not a duration"),
        (
            "post_incident",
            {"incident_start": "2026-12-02T10:00:00Z", "incident_end": "2026-12-02T09:00:00Z"},
            "is not before incident_end",
        ),
        ("inventory", {"run_id": "../../elsewhere"}, "run_id: '../../elsewhere' is not a run id"),
        ("inventory", {"run_id": "a/b"}, "run_id: 'a/b' is not a run id"),
        ("inventory", {"as_of": 20261202}, "as_of: 20261202 is not a time"),
        ("inventory", {"params_file": ""}, "params_file: empty"),
    ],
)
def test_bad_values_are_one_line_naming_the_parameter(notebook, values, field):
    with pytest.raises(ParamsError) as err:
        arguments.validate_notebook(NB[notebook], values)
    assert any(field in p for p in err.value.problems), err.value.problems
    assert all("\n" not in p and len(p) < 500 for p in err.value.problems)


def test_values_are_normalised():
    args = arguments.as_dict(
        arguments.validate_notebook(
            NB["restore_test"],
            {
                "services": "dynamodb, s3",
                "as_of": "2026-12-02T06:05:35Z",
                "max_tests": "5",
                "checks": '{"*": {"min_count": 1}}',
                "copy": "dr",
            },
        )
    )
    assert args["services"] == ["dynamodb", "s3"] and args["max_tests"] == 5
    assert args["as_of"] == "2026-12-02T06:05:35Z" and args["copy"] == "dr"
    assert args["checks"] == {"*": {"min_count": 1}}


def test_kernel_namespace_validation_finds_injected_unknown_names():
    declared = 'params_file: str = "sandbox"  # p\napprove: bool = False  # a\n'
    ns = {
        "In": ["", declared, '# Parameters\napprove = "false"\nservces = "ebs"\n'],
        "params_file": "sandbox",
        "approve": "false",
        "servces": "ebs",
    }
    with pytest.raises(ParamsError, match="servces: unknown parameter"):
        arguments.from_namespace(ns)
    ns = {
        "In": ["", declared, '# Parameters\napprove = "false"\n'],
        "params_file": "sandbox",
        "approve": "false",
    }
    args = arguments.from_namespace(ns)
    assert args.approve is False and ns["approve"] is False  # the variable is replaced


def test_library_guards_refuse_approval_that_is_not_a_boolean():
    assert arguments.approval("false") is False and arguments.approval(True) is True
    for value in ("0", 0, "yes", None):
        with pytest.raises(ParamsError, match="approve: "):
            arguments.approval(value)


# --------------------------------------------------------------------------- command line


def test_cli_values_keep_times_as_text_and_accept_papermill_form():
    got = _parse_kv([["as_of=2026-12-02T06:05:35Z"], ["approve", "false"], ["max_tests=3"]])
    assert got == {"as_of": "2026-12-02T06:05:35Z", "approve": False, "max_tests": 3}
    assert _parse_kv([['approve="false"']]) == {"approve": "false"}
    with pytest.raises(RunbookError, match="given twice"):
        _parse_kv([["approve=true"], ["approve", "false"]])


def test_runner_checks_every_value_before_the_run():
    paths = [NB["inventory"], NB["protect"], NB["restore_test"]]
    ok = check_run_parameters(paths, "sandbox", "r1", {"approve": "false", "max_tests": 2})
    assert ok[NB["protect"]]["approve"] is False and "approve" not in ok[NB["inventory"]]
    assert ok[NB["restore_test"]]["max_tests"] == 2
    with pytest.raises(ParamsError, match="servces: not a parameter of"):
        check_run_parameters(paths, "sandbox", "r1", {"servces": "ebs"})
    with pytest.raises(ParamsError, match="approve: '0' is not a boolean"):
        check_run_parameters(paths, "sandbox", "r1", {"approve": "0"})


def test_runbook_run_refuses_bad_values_before_anything_runs(tmp_path, capsys):
    for argv in (["-p", "approve=0"], ["-p", "servces=ebs"], ["-p", "max_tests", "abc"]):
        code = main(
            [
                "run",
                "--notebook",
                "protect",
                "--notebook",
                "restore_test",
                "--out",
                str(tmp_path),
                *argv,
            ]
        )
        assert code == 2
    assert list(tmp_path.iterdir()) == []  # no run folder, no notebook started
    err = capsys.readouterr().err
    assert "approve: 0 is not a boolean" in err and "servces: not a parameter" in err
    assert "max_tests: 'abc' is not a whole number" in err


# --------------------------------------------------------------------------- in the kernel


def _estate(url: str) -> dict:
    """What approving would change: jobs, recovery points, tables and their items, keys."""
    params = load_params("sandbox")
    s = AwsSession(params, endpoint_url=url)
    out = {}
    for account in params.account_ids:
        for region in params.regions:
            b = s.client("backup", account, region)
            ddb = s.client("dynamodb", account, region)
            tables = ddb.list_tables()["TableNames"]
            out[(account, region)] = (
                len(b.list_backup_jobs()["BackupJobs"]),
                len(b.list_restore_jobs()["RestoreJobs"]),
                len(b.list_backup_plans()["BackupPlansList"]),
                len(s.client("kms", account, region).list_keys()["Keys"]),
                {t: ddb.scan(TableName=t, Select="COUNT")["Count"] for t in tables},
            )
    return out


def _outputs(path: Path) -> str:
    """The text of every code cell's outputs (markdown mentions every status)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def _run(notebook: str, tmp_path: Path, **parameters):
    out = tmp_path / f"{notebook}.ipynb"
    pm.execute_notebook(
        str(NB[notebook]),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return out


@pytest.mark.notebook
def test_approve_given_as_text_changes_nothing(fresh_sandbox, tmp_path):
    ledger = str(tmp_path / "ledger")
    before = _estate(fresh_sandbox)
    table = next(t for (acct, _r), v in before.items() for t in v[4] if acct == "111111111111")
    source = f"arn:aws:dynamodb:eu-west-1:111111111111:table/{table}"
    protect_out = _run("protect", tmp_path, ledger_location=ledger, approve="false")
    _run("backup_now", tmp_path, ledger_location=ledger, approve="false", run_id="t-backup")
    out = _run("restore", tmp_path, ledger_location=ledger, approve="False", source_arn=source)
    assert _estate(fresh_sandbox) == before
    shown = _outputs(protect_out)
    assert "NOT_APPROVED" in shown and "APPLIED" not in shown.replace("NOT_APPROVED", "")
    assert len(Ledger(ledger).read("protect_actions")) == 0  # nothing applied, nothing recorded
    assert len(Ledger(ledger).read("incident_restores")) == 0
    assert "PLANNED" in _outputs(out)
    for bad in ("0", "no"):
        with pytest.raises(pm.PapermillExecutionError, match="approve: '.*' is not a boolean"):
            _run("protect", tmp_path, ledger_location=ledger, approve=bad)
    with pytest.raises(pm.PapermillExecutionError, match="servces: unknown parameter"):
        _run("inventory", tmp_path, ledger_location=ledger, servces="ebs")
    assert _estate(fresh_sandbox) == before


def test_kernel_without_history_uses_the_annotations():
    """nbval runs cells without storing history: the parameters cell's annotations are
    the declaration there."""
    ns = {"In": [], "__annotations__": {"params_file": str, "approve": bool},
          "params_file": "sandbox", "approve": "FALSE"}  # fmt: skip
    assert arguments.from_namespace(ns).approve is False and ns["approve"] is False
    ns["approve"] = "0"
    with pytest.raises(ParamsError, match="approve: '0' is not a boolean"):
        arguments.from_namespace(ns)
