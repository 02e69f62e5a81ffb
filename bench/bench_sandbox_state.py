"""A seeded sandbox: seeding it against loading a saved state.

Each round starts a sandbox server as its own process (as the tests and ``make demo`` do)
and times it until it answers with the demo estate in it, two ways, alternating:

* seed: ``--seed-params PARAMS`` (the demo estate is created through the API);
* load: ``--load STATE`` (the state saved once from a seeded server, ``runbook sandbox save``).

Also times a save and a load into a running server, and checks that the loaded sandbox
holds the same inventory as the seeded one. Prints seconds for each, their ratio and the
state file's size. Usage: ``python bench/bench_sandbox_state.py [--params sandbox] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from runbook_lib.inventory import discover
from runbook_lib.params import load_params
from runbook_lib.session import AwsSession
from runbook_sandbox import clock, state
from runbook_sandbox.seed import HISTORY_ENV
from runbook_sandbox.server import running_sandbox

# the estate as seeded, without the day of history a sandbox gets by default
os.environ.setdefault(HISTORY_ENV, "off")


def started(**kwargs) -> float:
    """Seconds until a server process answers with its estate in it."""
    t0 = time.perf_counter()
    with running_sandbox(**kwargs):
        return time.perf_counter() - t0


def inventory(params, url: str):
    inv = discover(AwsSession(params, endpoint_url=url), as_of=clock.now(endpoint_url=url),
                   progress=False)  # fmt: skip
    cols = ["arn", "service", "tier", "encrypted"]
    return inv.resources[cols].sort_values("arn").reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="sandbox")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    params = load_params(args.params)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "estate.state"
        with running_sandbox(args.params) as url:
            t0 = time.perf_counter()
            info = state.save(path, endpoint_url=url)
            save_s = time.perf_counter() - t0
            seeded_inventory = inventory(params, url)
            t0 = time.perf_counter()
            state.load(path, endpoint_url=url)
            load_running_s = time.perf_counter() - t0
        seed, load = [], []
        for _ in range(args.rounds):
            seed.append(started(params_file=args.params))
            load.append(started(params_file=None, state_file=str(path)))
        with running_sandbox(None, state_file=str(path)) as url:
            same = inventory(params, url).equals(seeded_inventory)
    s, lo = statistics.median(seed), statistics.median(load)
    print(f"state file: {info.size / 1e6:.2f} MB, {sum(info.services.values())} backends "
          f"of {len(info.services)} services")  # fmt: skip
    print(f"save from a running server:      {save_s:6.2f} s")
    print(f"load into a running server:      {load_running_s:6.2f} s")
    print(
        f"server up, seeded   (median of {args.rounds}): {s:6.2f} s  {[round(x, 2) for x in seed]}"
    )
    print(
        f"server up, loaded   (median of {args.rounds}): {lo:6.2f} s  {[round(x, 2) for x in load]}"
    )
    print(f"seeding / loading: {s / lo:.1f}x; saved-per-start: {s - lo:.1f} s")
    print(f"inventory of the loaded sandbox equals the seeded one: {same}")


if __name__ == "__main__":
    main()
