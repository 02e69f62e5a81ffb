"""Where each runbook's seconds go in ``runbook run``: the library's own work against the rest.

Runs the runbooks the way ``runbook run`` does (``runner.run_notebooks``: one sandbox
server for the run, papermill, the HTML copy, exports and the manifest) into a temporary
folder, then splits each notebook's time, from the executed notebook's own papermill
timings (``metadata.papermill`` of the notebook and of each cell):

- kernel start: from papermill's start to the first cell's start;
- imports: the cells that only import (``from runbook_lib import ...``);
- library: every other code cell (the runbook's work: AWS calls, restores, tables, charts);
- papermill / write: the notebook's papermill time not spent in a cell (saving, parameters);
- HTML: ``runner.to_html`` timed again on the executed copy, in this process;
- the rest of the runner's wall time for that notebook (ledger bookkeeping).

"outside the library" = the notebook's wall time in the runner minus its library cells.
The issue's goal is at most 5 s per notebook outside the library.

    .venv/bin/python bench/bench_runbook_overhead.py [--notebook inventory ...]
"""

from __future__ import annotations

import argparse
import ast
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

from runbook_lib import runner

DEMO_INCIDENT_SOURCE = "arn:aws:dynamodb:eu-west-1:111111111111:table/orders"
GOAL = 5.0


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def _only_imports(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(s, ast.Import | ast.ImportFrom) for s in body)


def split(executed: Path) -> dict[str, float]:
    """Kernel start, import cells, library cells and papermill's own time, in seconds."""
    nb = nbformat.read(executed, as_version=4)
    pm = nb.metadata.get("papermill", {})
    code = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("papermill")]
    starts = [c.metadata.papermill.get("start_time") for c in code]
    first = next((s for s in starts if s), None)
    parts = {"kernel start": _seconds(pm["start_time"], first) if first else 0.0}
    imports = library = 0.0
    for cell in code:
        took = cell.metadata.papermill.get("duration") or 0.0
        tags = cell.metadata.get("tags", [])
        if _only_imports(cell.source) or "injected-parameters" in tags or "parameters" in tags:
            imports += took
        else:
            library += took
    parts["imports"] = imports
    parts["library"] = library
    parts["papermill / write"] = max(
        0.0, (pm.get("duration") or 0.0) - parts["kernel start"] - imports - library
    )
    return parts


def _parameters(names: list[str] | None) -> dict:
    """The demo's parameters, given only where a chosen runbook declares them."""
    declared = set().union(
        *(runner.declared_parameters(p) for p in runner.resolve_notebooks(names))
    )
    wanted = {"approve": True, "source_arn": DEMO_INCIDENT_SOURCE}
    return {k: v for k, v in wanted.items() if k in declared}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", action="append", help="only these runbooks (default: all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = runner.run_notebooks(
            "sandbox",
            args.notebook,
            out,
            _parameters(args.notebook),
            stop_on_error=False,
        )
        wall = time.perf_counter() - t0
        header = (
            f"{'notebook':<24}{'status':>8}{'total':>8}{'kernel':>8}{'imports':>9}"
            f"{'pm/write':>9}{'HTML':>7}{'other':>7}{'library':>9}{'outside':>9}"
        )
        print(header)
        outside_all = []
        for nb in result.notebooks:
            executed = Path(nb.output)
            if not executed.exists():
                print(f"{nb.notebook:<24}{nb.status:>8}  (no executed copy: {nb.error})")
                continue
            parts = split(executed)
            h0 = time.perf_counter()
            runner.to_html(executed)
            parts["HTML"] = time.perf_counter() - h0
            known = sum(parts.values())
            other = max(0.0, nb.seconds - known)
            outside = nb.seconds - parts["library"]
            outside_all.append(outside)
            print(
                f"{nb.notebook:<24}{nb.status:>8}{nb.seconds:8.1f}{parts['kernel start']:8.1f}"
                f"{parts['imports']:9.1f}{parts['papermill / write']:9.1f}{parts['HTML']:7.1f}"
                f"{other:7.1f}{parts['library']:9.1f}{outside:9.1f}"
            )
        files = sorted(
            (p for p in Path(result.folder).rglob("*") if p.is_file()),
            key=lambda p: p.stat().st_size,
            reverse=True,
        )
        size = sum(p.stat().st_size for p in files)
        print("largest files of the run folder:")
        for f in files[:12]:
            print(f"  {f.stat().st_size / 1e6:7.2f} MB  {f.relative_to(result.folder)}")
        print(
            f"run: {len(result.notebooks)} notebooks in {wall:.1f} s (incl. the sandbox's start); "
            f"outside the library per notebook: median "
            f"{sorted(outside_all)[len(outside_all) // 2]:.1f} s, worst {max(outside_all):.1f} s "
            f"(goal <= {GOAL:.0f} s); run folder {size / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
