"""The write-ahead record of everything the runbooks create (ledger table ``intents``).

Before a call that creates a resource, :meth:`Intents.intend` appends a row saying what is
about to be created (purpose, kind, service, account, Region, name, source, expiry) under a
fresh token; the create call passes that token as its idempotency token where the API
takes one, so a retried call never makes a second resource. When the call answers,
:meth:`Intents.started` appends what it returned. A run killed in between, or a response
lost on the way back, leaves an intent without a matching record: the sweep and protect's
plan read :func:`open_intents` and reconcile them with what exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib.session import utcnow

TABLE = "intents"
PURPOSES = ("restore-test", "incident-restore", "protect")


def new_token(prefix: str) -> str:
    """A token valid in every API that takes one (letters, digits and '-', at most 64)."""
    return f"{prefix}-{uuid.uuid4().hex}"[:64]


@dataclass(frozen=True, kw_only=True)
class Intent:
    token: str
    purpose: str
    kind: str
    service: str
    account: str
    region: str
    name: str = ""
    source: str = ""
    expires: datetime | None = None

    def row(self, step: str, ref: str = "") -> dict[str, Any]:
        return {
            "token": self.token,
            "step": step,
            "purpose": self.purpose,
            "kind": self.kind,
            "service": self.service,
            "account": self.account,
            "region": self.region,
            "name": self.name,
            "source": self.source,
            "ref": ref,
            "expires": self.expires,
        }


class Intents:
    """Writes intents for one run into its ledger (or nowhere: ``ledger=None``, tests)."""

    def __init__(self, ledger: Any, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id

    def intend(self, **fields: Any) -> Intent:
        """Record what is about to be created; returns it with its token."""
        if fields.get("purpose") not in PURPOSES:
            raise ValueError(f"intent purpose {fields.get('purpose')!r}; allowed: {PURPOSES}")
        token = fields.pop("token", None) or new_token(fields["purpose"].split("-")[0])
        intent = Intent(token=token, **fields)
        self._write(intent.row("intended"))
        return intent

    def started(self, intent: Intent, ref: str) -> None:
        """Record what the create call returned (job id, ARN, id)."""
        self._write(intent.row("started", ref=ref or ""))

    def _write(self, row: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.append(TABLE, [row], self.run_id)


def of(ctx: Any) -> Intents:
    """The intents writer of a run context (its ledger and run id)."""
    return Intents(getattr(ctx, "ledger", None), getattr(ctx, "run_id", "") or "no-run")


def read(ledger: Any, *, purpose: str | None = None, since: datetime | None = None) -> pd.DataFrame:
    """One row per token: the intent, with ``ref`` from its ``started`` row (empty if none)."""
    df = ledger.read(TABLE)
    if df.empty:
        return df
    if purpose:
        df = df[df["purpose"] == purpose]
    if since is not None:
        df = df[pd.to_datetime(df["recorded_at"], utc=True) >= pd.Timestamp(since)]
    intended = df[df["step"] == "intended"].drop_duplicates("token", keep="first")
    refs = (
        df[df["step"] == "started"].drop_duplicates("token", keep="last").set_index("token")["ref"]
    )
    out = intended.drop(columns=["ref"]).assign(ref=intended["token"].map(refs).fillna(""))
    return out.reset_index(drop=True)


def expired(ledger: Any, *, purpose: str, now: datetime | None = None) -> pd.DataFrame:
    """Intents of ``purpose`` whose resources may be deleted now (``expires`` passed)."""
    df = read(ledger, purpose=purpose)
    if df.empty:
        return df
    now = now or utcnow()
    when = pd.to_datetime(df["expires"], utc=True)
    return df[when.notna() & (when <= pd.Timestamp(now))].reset_index(drop=True)
