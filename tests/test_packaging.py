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
    wanted = {_name(r) for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_extra = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert conda == wanted, (
        f"only in pyproject: {wanted - conda}; only in environment.yml: {conda - wanted}"
    )
    assert any(r.startswith("moto[server]") for r in pip_extra)


def test_required_packages_are_declared():
    py = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in py["dependencies"]}
    assert {"jupyterlab", "papermill", "boto3", "pandas", "plotly", "nbval", "moto"} <= names
    assert py["scripts"]["runbook"] == "runbook_lib.cli:main"
