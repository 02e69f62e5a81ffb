"""How fast a scheduled run's time-out ends a hung notebook, and what it leaves behind.

    python bench/bench_schedule_timeout.py [--timeout 4] [--repeat 3]

Runs, with :func:`runbook_lib.runner.run_notebooks` and ``timeout=--timeout``, a tiny
notebook (written to a temporary folder, no AWS call) whose cell runs ``sleep 600`` as a
child of the kernel. For each run, prints:

- kill latency: from the kill (the time-out) to papermill returning (nbclient noticing the
  dead kernel), read from the run's own record;
- overrun: the run's wall time over the time-out, and its ratio to the time-out (kernel
  start, the kill, the HTML copy and run.json of the partial notebook);
- processes left: ``sleep 600`` processes still alive afterwards (should be 0).

And one run of the same notebook with ``sleep 0`` and no time-out, for the fixed cost of a
run. Measured figures, one run each; no assertion.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import yaml

from runbook_lib.runner import run_notebooks


def write(folder: Path) -> tuple[Path, Path]:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell("max_minutes: float = 0.0  # how long to sleep")
    cell.metadata["tags"] = ["parameters"]
    body = "import subprocess\nsubprocess.run(['sleep', str(int(max_minutes * 60))])"
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    path = folder / "01_hang.ipynb"
    nbformat.write(nb, path)
    params = {
        "name": "bench",
        "target": {"kind": "aws"},  # nothing calls AWS
        "accounts": [{"id": "111122223333", "name": "bench"}],
        "regions": ["eu-west-3"],
        "tiers": {"t": {"rpo": "1h", "rto": "1h", "retention": "1d", "restore_test_every": "1d"}},
        "default_tier": "t",
        "ledger": str(folder / "ledger"),
        "run_archive": str(folder / "runs"),
    }
    (folder / "bench.yaml").write_text(yaml.safe_dump(params))
    return path, folder / "bench.yaml"


def sleepers() -> int:
    return sum(1 for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "600"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nb, params = write(Path(tmp))
        t0 = time.perf_counter()
        run_notebooks(str(params), [str(nb)], parameters={"max_minutes": 0.0})
        base = time.perf_counter() - t0
        print(f"a run with no time-out and nothing to do: {base:.1f} s (kernel start, HTML)")
        for i in range(args.repeat):
            t0 = time.perf_counter()
            r = run_notebooks(
                str(params), [str(nb)], parameters={"max_minutes": 10.0}, timeout=args.timeout
            )
            wall = time.perf_counter() - t0
            [n] = r.notebooks
            after = float(re.search(r"ended ([\d.]+) s after the kill", n.error or "").group(1))
            over = wall - args.timeout
            print(
                f"run {i + 1}: status {n.status}; kill latency {after:.1f} s; wall {wall:.1f} s "
                f"for a {args.timeout:g} s time-out (overrun {over:.1f} s = "
                f"{over / args.timeout:.2f}x the time-out; {over / base:.2f}x a no-op run); "
                f"sleep 600 left: {sleepers()}"
            )


if __name__ == "__main__":
    main()
