"""Identify (REL09-BP01): every data resource, its classification, its protection, its gaps.

inv = discover(rb)          # rb: a RunContext (or an AwsSession)
inv.summary(); inv.coverage(); inv.gaps(); inv.coverage_figure()
record(rb, inv)             # append inventory, gaps and errors to the ledger
"""

from __future__ import annotations

import pandas as pd

from runbook_lib.inventory.discover import check_services, discover
from runbook_lib.inventory.model import COLUMNS
from runbook_lib.inventory.plugin import SERVICES, Service, register
from runbook_lib.inventory.report import Inventory, classify
from runbook_lib.services import load as _load

_load("inventory")  # every service's inventory module registers itself in SERVICES


def record(ctx, inventory: Inventory) -> dict[str, str | None]:
    """Append the run's inventory, gaps and errors to the ledger; returns where each went."""
    as_of = pd.Timestamp(inventory.as_of)
    tables = {
        "inventory": inventory.table(),
        "gaps": inventory.gaps(),
        "errors": inventory.errors,
    }
    return {
        name: ctx.ledger.append(name, df.assign(as_of=as_of), ctx.run_id)
        for name, df in tables.items()
    }


__all__ = [
    "COLUMNS",
    "SERVICES",
    "Inventory",
    "Service",
    "check_services",
    "classify",
    "discover",
    "record",
    "register",
]
