"""The plan's data model: one :class:`Step` per (resource, setting), and the :class:`Plan`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib.errors import RunbookError
from runbook_lib.model import NOT_SUPPORTED_ON_SANDBOX, attrs

# What a step will do (the plan's ``action`` column: a lower-case verb, decided before
# anything runs). Only CHANGES are applied; the others are listed so the table is complete.
CREATE, UPDATE, NONE = "create", "update", "none"
REFUSED = "refused"  # would weaken an existing protection and params do not allow it
# cannot be changed in place (e.g. encrypting an existing volume): a person decides
MANUAL = "manual"
# a change the sandbox (moto) is known not to implement, so it is planned but not tried;
# on AWS the same step is a CREATE or UPDATE
NOT_SUPPORTED = "not_supported"
CHANGES = (CREATE, UPDATE)

#: What happened (``protect_actions.status``: the upper-case outcome words every flow shares)
#: to a step whose action is not applied. A plan action says what a step will do; an outcome
#: what came of it: ``not_supported`` is recorded as the outcome NOT_SUPPORTED_ON_SANDBOX, the
#: same word as a change that was tried and that the sandbox turned down.
STATUS_OF_ACTION = {MANUAL: "MANUAL", NOT_SUPPORTED: NOT_SUPPORTED_ON_SANDBOX, REFUSED: "REFUSED"}

# Apply order: keys before vaults before plans before selections, then native settings.
PHASES = {
    "role": 10,
    "key": 20,
    "key_rotation": 21,
    "vault": 30,
    "vault_policy": 31,
    "vault_lock": 32,
    "bucket": 40,
    "backup_plan": 50,
    "classification": 55,
    "selection": 60,
    "native": 80,
    "native_after": 81,
}


class WeakeningRefused(RunbookError):
    """The plan would weaken an existing protection and ``protect.allow_weakening`` is false."""


class ProtectApplyError(RunbookError):
    """A step failed during apply; the ledger says what was applied and what was not."""


@dataclass(kw_only=True)
class Step:
    phase: int
    account: str
    region: str
    resource: str
    setting: str
    current: Any
    desired: Any
    action: str
    risk: str
    kind: str  # the applier
    args: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    irreversible: bool = False

    @property
    def is_change(self) -> bool:
        return self.action in CHANGES

    def row(self) -> dict[str, Any]:
        return {
            **attrs(self, "account region resource setting"),
            "current": _text(self.current),
            "desired": _text(self.desired),
            **attrs(self, "action risk note"),
        }


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(kw_only=True)
class Plan:
    run_id: str
    created: datetime
    steps: list[Step]
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, region) -> key ARN
    # what could not be read: the inventory's error rows (inventory.report.ERROR_COLUMNS)
    read_errors: list[dict] = field(default_factory=list)
    allow_weakening: bool = False

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.is_change]

    @property
    def refused(self) -> list[Step]:
        return [s for s in self.steps if s.action == REFUSED]

    @property
    def is_empty(self) -> bool:
        """Nothing to apply and nothing refused."""
        return not self.changes and not self.refused

    def frame(self, only_open: bool = True) -> pd.DataFrame:
        """The plan table (resource, setting, current, desired, action, risk); by default
        without the rows whose action is ``none``."""
        cols = [
            "account",
            "region",
            "resource",
            "setting",
            "current",
            "desired",
            "action",
            "risk",
            "note",
        ]
        rows = [s.row() for s in self.steps if not only_open or s.action != NONE]
        return pd.DataFrame(rows, columns=cols)

    def summary(self) -> pd.DataFrame:
        df = self.frame(only_open=False)
        if df.empty:
            return pd.DataFrame(columns=["setting", "action", "steps"])
        return df.groupby(["setting", "action"]).size().rename("steps").reset_index()

    def explain_refusals(self) -> str:
        lines = [
            f"  - {s.account}/{s.region} {s.resource} {s.setting}: {s.note}" for s in self.refused
        ]
        return (
            f"{len(lines)} change(s) would weaken an existing protection and were refused:\n"
            + "\n".join(lines)
            + "\nNothing was changed. Either put the objectives in params back (e.g. a longer "
            "retention), or set protect.allow_weakening: true in the parameter file if this is "
            "intended and approved."
        )


Applier = Callable[..., Any]
APPLIERS: dict[str, Applier] = {}


def applier(kind: str) -> Callable[[Applier], Applier]:
    def register(fn: Applier) -> Applier:
        APPLIERS[kind] = fn
        return fn

    return register
