"""pyproject.toml and environment.yml list the same dependencies."""

from __future__ import annotations

import re
import tomllib

import yaml

from runbook_lib.params import PROJECT_ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in py["optional-dependencies"].values() for r in reqs]
    wanted = {_name(r) for r in py["dependencies"] + extras}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_extra = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # pip-only entries (a name conda-forge spells otherwise) count too; moto is in both
    conda |= {_name(r) for r in pip_extra} - {"moto"}
    assert conda == wanted, (
        f"only in pyproject: {wanted - conda}; only in environment.yml: {conda - wanted}"
    )
    assert any(r.startswith("moto[server]") for r in pip_extra)


def test_required_packages_are_declared():
    py = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in py["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in py["optional-dependencies"].items()}
    assert {"papermill", "boto3", "pandas", "plotly"} <= names
    # the sandbox, JupyterLab and nbval are extras: `pip install .` installs no moto
    assert not {"moto", "jupyterlab", "nbval"} & names
    assert "moto" in extras["sandbox"] and "jupyterlab" in extras["lab"]
    assert "nbval" in extras["dev"]
    assert py["scripts"]["runbook"] == "runbook_lib.cli:main"


def test_wheel_ships_notebooks_params_and_policies(tmp_path):
    """A regular install finds the runbooks' files through importlib.resources."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(PROJECT_ROOT), "--no-deps",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("runbook_lib-*.whl")
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    moto = [line for line in meta.splitlines() if line.startswith("Requires-Dist: moto")]
    assert moto and all('extra == "sandbox"' in line for line in moto)  # `pip install .`: no moto
    entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
    assert b"[runbook_lib.sandbox]" in entry_points
    for kind, folder in (
        ("notebooks", "notebooks"),
        ("params", "params"),
        ("policies", "policies"),
    ):
        shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith(f"runbook_lib/_data/{kind}/")}
        in_checkout = {p.name for p in (PROJECT_ROOT / folder).iterdir() if p.is_file()}
        assert shipped == in_checkout, kind
    declared = {  # data beside the code: the ledger's columns, the controls' metadata
        p.relative_to(PROJECT_ROOT).as_posix()
        for p in (PROJECT_ROOT / "runbook_lib").rglob("*.json")
    }
    assert declared and declared <= names, declared - names


def test_a_shipped_template_resolves_paths_from_the_working_directory(monkeypatch, tmp_path):
    from runbook_lib import package_data
    from runbook_lib.params import load_params

    monkeypatch.setattr(package_data, "is_shipped", lambda path: True)
    monkeypatch.chdir(tmp_path)
    p = load_params("sandbox")  # its ledger is ../runs/ledger, relative to params/
    assert p.resolve_path(p.ledger) == str(tmp_path / "runs" / "ledger")


def test_the_library_never_imports_moto_or_the_sandbox():
    """runbook_sandbox depends on runbook_lib, never the reverse: the library finds it by its
    entry point (runbook_lib.targets) only when a sandbox is asked for."""
    import subprocess
    import sys

    code = (
        "import sys, runbook_lib.inventory, runbook_lib.protect, runbook_lib.restore, "
        "runbook_lib.audit, runbook_lib.post_incident, runbook_lib.context, runbook_lib.runner, "
        "runbook_lib.cli, runbook_lib.trends, runbook_lib.backup_now\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('moto', 'runbook_sandbox')]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for path in (PROJECT_ROOT / "runbook_lib").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import moto" not in text and "from moto" not in text, path
        assert "runbook_sandbox" not in text, path
