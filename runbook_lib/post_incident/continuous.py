"""Continuous backup windows: the span of time a resource can be restored to any second of
(a point-in-time restore window, automated backups, object versions).

One reader per (service, mechanism), registered in ``READERS`` by the service's own
``runbook_lib/services/<package>/continuous.py`` (``@reader(service, mechanism)``, loaded
by ``runbook_lib.services.load("continuous")``). A reader makes at most one or two read
calls for one resource and returns a :class:`Window` (or None when the resource has none).
A service without a continuous window declares ``unsupported["continuous"]`` in its spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from runbook_lib.session import is_not_supported

REPORTED = "reported"


@dataclass(frozen=True)
class Window:
    """[earliest, latest]: every second inside can be restored to."""

    mechanism: str
    earliest: datetime | None
    latest: datetime | None
    earliest_basis: str = REPORTED  # how the earliest time was obtained
    latest_basis: str = REPORTED
    note: str = ""

    def covers(self, t: datetime) -> bool:
        return (
            self.earliest is not None
            and self.latest is not None
            and self.earliest <= t <= self.latest
        )


def utc(value: Any) -> datetime | None:
    """``value`` (an API time, a string, a Timestamp) as an aware UTC datetime, or None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


#: (session, inventory row, retention days of the mechanism or None, as_of) -> Window | None
Reader = Callable[[Any, dict, "float | None", datetime], "Window | None"]

#: (service, mechanism prefix as the inventory names it in protection_detail) -> reader
READERS: dict[tuple[str, str], Reader] = {}
#: service -> what the sandbox cannot show of its continuous window (a review-level note)
SANDBOX_NOTES: dict[str, str] = {}


def reader(service: str, mechanism: str) -> Callable[[Reader], Reader]:
    """Register ``fn`` as the window reader of ``service`` resources protected by a
    mechanism whose name starts with ``mechanism``."""

    def register(fn: Reader) -> Reader:
        READERS[(service, mechanism)] = fn
        return fn

    return register


def sandbox_note(services: tuple[str, ...], note: str) -> None:
    """Say once per review, when one of ``services`` is in scope on the sandbox, what the
    sandbox cannot show of their continuous windows."""
    for service in services:
        SANDBOX_NOTES[service] = note


def readers() -> dict[tuple[str, str], Reader]:
    """Every registered reader (importing each service's ``continuous`` module first)."""
    from runbook_lib.services import load

    load("continuous")
    return READERS


def read_window(
    session: Any, row: dict, mechanisms: list[tuple[str, float | None]], as_of: datetime
) -> tuple[Window | None, str]:
    """The continuous window of one resource, and a note if it could not be read."""
    for (service, prefix), read in readers().items():
        if service != row["service"]:
            continue
        for mechanism, retention in mechanisms:
            if mechanism.startswith(prefix):
                try:
                    return read(session, row, retention, as_of), ""
                except Exception as err:  # noqa: BLE001  (one resource must not stop the review)
                    kind = "not supported on the sandbox" if is_not_supported(err) else "failed"
                    return None, f"{prefix} window {kind}: {type(err).__name__}: {err}"[:300]
    return None, ""


def sandbox_notes(services: set[str]) -> list[str]:
    """The sandbox notes of the services in ``services``, each once, in registry order."""
    readers()
    return list(dict.fromkeys(n for s, n in SANDBOX_NOTES.items() if s in services))
