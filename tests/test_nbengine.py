"""The runner's papermill engine: the executed copy is complete although it is written less often."""

from __future__ import annotations

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from runbook_lib import nbengine


def _notebook(path, cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _writes(monkeypatch) -> list[int]:
    calls = []
    real = nbengine.NotebookExecutionManager.save

    def counting(self, **kwargs):
        calls.append(1)
        return real(self, **kwargs)

    monkeypatch.setattr(nbengine.NotebookExecutionManager, "save", counting)
    return calls


def test_the_copy_has_every_output_and_fewer_writes(tmp_path, monkeypatch):
    cells = [new_markdown_cell("# t")] + [new_code_cell(f"print({i})") for i in range(12)]
    src = _notebook(tmp_path / "in.ipynb", cells)
    writes = _writes(monkeypatch)
    papermill.execute_notebook(
        str(src),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        engine_name=nbengine.ENGINE,
        progress_bar=False,
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [c.outputs[0]["text"] for c in code] == [f"{i}\n" for i in range(12)]
    assert all(c.metadata.papermill.status == "completed" for c in code)
    assert out.metadata.papermill.duration is not None
    # papermill's own manager writes 2 per cell + start + end (28 here); this one: the
    # start, the end, and one between cells only after AUTOSAVE_SECONDS
    assert len(writes) <= 4, len(writes)


def test_a_failing_cell_is_in_the_copy_with_its_error(tmp_path):
    cells = [
        new_code_cell("x = 1"),
        new_code_cell("raise ValueError('boom')"),
        new_code_cell("y = 2"),
    ]
    src = _notebook(tmp_path / "in.ipynb", cells)
    with pytest.raises(papermill.PapermillExecutionError, match="boom"):
        papermill.execute_notebook(
            str(src),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            engine_name=nbengine.ENGINE,
            progress_bar=False,
        )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failed = [c for c in out.cells if c.cell_type == "code" and c.metadata.papermill.exception]
    assert len(failed) == 1 and failed[0].outputs[0]["evalue"] == "boom"
    assert out.cells[-1].metadata.papermill.status == "pending"  # never ran
