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

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib.session import utcnow

TABLE = "intents"
PURPOSES = ("restore-test", "incident-restore", "protect")
INTENT_FIELDS = ("token", "purpose", "kind", "service", "account", "region", "name", "source",
                 "expires")  # fmt: skip


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

    def settled(self, row: Any) -> None:
        """Record that nothing an intent made exists any more (``row``: one from :func:`read`),
        so later reconciliations skip it."""
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        self._write({**{k: get(k) for k in INTENT_FIELDS}, "step": "gone", "ref": ""})

    def _write(self, row: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.append(TABLE, [row], self.run_id)


_CARRIED: contextvars.ContextVar[tuple[Intents, Intent] | None] = contextvars.ContextVar(
    "runbook_intent", default=None
)


@contextlib.contextmanager
def carrying(writer: Intents, intent: Intent | None) -> Iterator[None]:
    """Make ``intent`` the one being carried out while a create call runs, so the code
    making the call (a service's restorer) takes its idempotency token from it and records
    what the call returned (:func:`started`) the moment it has it."""
    reset = _CARRIED.set((writer, intent) if intent is not None else None)
    try:
        yield
    finally:
        _CARRIED.reset(reset)


def carried_token() -> str | None:
    """The token of the intent being carried out, if any."""
    got = _CARRIED.get()
    return got[1].token if got else None


def started(ref: str) -> None:
    """Record, on the intent being carried out (if any), what the create call returned."""
    got = _CARRIED.get()
    if got:
        got[0].started(got[1], ref)


def of(ctx: Any) -> Intents:
    """The intents writer of a run context (its ledger and run id)."""
    return Intents(getattr(ctx, "ledger", None), getattr(ctx, "run_id", "") or "no-run")


def read(ledger: Any, *, purpose: str | None = None, since: datetime | None = None) -> pd.DataFrame:
    """One row per open token (none ``gone``): the intent, with ``refs`` (what its create calls returned, in
    order: e.g. a restore job id, then the resource ARN) and ``ref`` (the last, or empty)."""
    df = ledger.read(TABLE)
    if df.empty:
        return df
    if purpose:
        df = df[df["purpose"] == purpose]
    if since is not None:
        df = df[pd.to_datetime(df["recorded_at"], utc=True) >= pd.Timestamp(since)]
    gone = set(df.loc[df["step"] == "gone", "token"])
    intended = df[(df["step"] == "intended") & ~df["token"].isin(gone)]
    intended = intended.drop_duplicates("token", keep="first")
    started_rows = df[(df["step"] == "started") & (df["ref"].fillna("") != "")]
    refs = started_rows.groupby("token")["ref"].agg(lambda s: list(dict.fromkeys(s)))
    out = intended.drop(columns=["ref"]).assign(
        refs=[refs.get(t, []) for t in intended["token"]],
    )
    return out.assign(ref=[r[-1] if r else "" for r in out["refs"]]).reset_index(drop=True)


def expired(ledger: Any, *, purpose: str, now: datetime | None = None) -> pd.DataFrame:
    """Intents of ``purpose`` whose resources may be deleted now (``expires`` passed)."""
    df = read(ledger, purpose=purpose)
    if df.empty:
        return df
    now = now or utcnow()
    when = pd.to_datetime(df["expires"], utc=True)
    return df[when.notna() & (when <= pd.Timestamp(now))].reset_index(drop=True)
