"""Notebooks in git: no outputs, a tagged parameters cell first, every parameter with a
type and a help comment, and the defaults that run on the sandbox."""

from __future__ import annotations

import ast

import nbformat
import pytest

from runbook_lib.runner import list_notebooks

NOTEBOOKS = list_notebooks()


def test_the_runbooks_are_there():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_documented_parameters(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        "strip outputs"
    )
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), (
        "first code cell must be tagged parameters"
    )
    for line in first.source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        node = ast.parse(line.split("  #")[0]).body[0]
        assert isinstance(node, ast.AnnAssign), f"{line!r}: give every parameter a type hint"
        assert "  # " in line, f"{line!r}: give every parameter a # help comment"
    names = {ast.parse(line.split("  #")[0]).body[0].target.id for line in first.source.splitlines()
             if line.strip() and not line.lstrip().startswith("#")}  # fmt: skip
    assert {"params_file", "ledger_location", "run_id", "as_of"} <= names
    assert 'params_file: str = "sandbox"' in first.source
