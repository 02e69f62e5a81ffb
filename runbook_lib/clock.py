"""The time the runbooks judge by: the target's clock, not this machine's.

RPO exposure is "now" minus the newest recovery point's time, and that time is stamped by
the target (AWS, or a sandbox server whose clock may have been moved forward by days).
So "now" is the target's time too. :func:`offset_from_date` reads it from the ``Date``
header of an API answer (HTTP/1.1: every answer carries the server's time, to the
second); :func:`utcnow` is this machine's clock plus the measured offset. An offset within
the header's resolution (:data:`RESOLUTION`) is taken as none: the clocks agree as far as
the header can tell.

The offset is per process and measured by ``AwsSession.sync_clock`` (``context.start``
does it once per run: one kernel, one target). Until then it is zero: this machine's
clock, and :func:`source` says so.
"""

from __future__ import annotations

import email.utils
import threading
from datetime import UTC, datetime, timedelta

__all__ = ["RESOLUTION", "offset", "offset_from_date", "set_offset", "source", "utcnow"]

#: the Date header counts whole seconds: offsets smaller than this are not measurable
RESOLUTION = timedelta(seconds=2)
LOCAL = "this machine's clock (the target's was not read)"

_lock = threading.Lock()
_offset = timedelta(0)
_source = LOCAL


def utcnow() -> datetime:
    """Now in UTC by the target's clock (this machine's until one was measured)."""
    return datetime.now(UTC) + _offset


def offset() -> timedelta:
    """How far the target's clock is ahead of this machine's (negative: behind)."""
    return _offset


def source() -> str:
    """Where :func:`utcnow` takes its time from, in words."""
    return _source


def set_offset(delta: timedelta, why: str) -> None:
    """Use ``delta`` from now on (``why``: where it was read, shown by :func:`source`)."""
    global _offset, _source
    if not isinstance(delta, timedelta):
        raise TypeError(f"clock offset: {delta!r} is not a timedelta")
    with _lock:
        _offset, _source = delta, why


def offset_from_date(date: str, sent: datetime, received: datetime) -> timedelta:
    """The target's clock minus this machine's, from a ``Date`` header (RFC 9110
    IMF-fixdate, e.g. ``Wed, 02 Dec 2026 16:20:48 GMT``) of an answer to a request sent at
    ``sent`` and received at ``received`` (this machine's times). ValueError naming the
    header when it is not a date."""
    try:
        server = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"Date header {date!r} is not an HTTP date") from None
    if server.tzinfo is None:  # "-0000": UTC by RFC 5322
        server = server.replace(tzinfo=UTC)
    # the header drops the fraction of a second: the server's time lay in [date, date + 1 s)
    server += timedelta(milliseconds=500)
    local = sent + (received - sent) / 2
    delta = server - local
    return timedelta(0) if abs(delta) < RESOLUTION else delta
