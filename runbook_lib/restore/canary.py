"""Canary records: small markers written just before a backup, whose newest one found in a
restored copy says how fresh the restored data really is (a measured RPO).

The one definition of the canary key forms: backup_now's canary writers
(``runbook_lib/services/<package>/backup_now.py``) build keys from it and restore's readers
recognise them with it.

DynamoDB: an item whose partition key is ``__restore_canary__#<time>``.
S3: an object ``__restore_canary__/<time>``. ``<time>`` is ISO 8601 (or epoch seconds/ms);
backup_now writes :func:`stamp` (``YYYYmmddTHHMMSS.ffffffZ``).
"""

from __future__ import annotations

from datetime import UTC, datetime

CANARY_PREFIX = "__restore_canary__"
DYNAMODB_PREFIX = CANARY_PREFIX + "#"
S3_PREFIX = CANARY_PREFIX + "/"


def stamp(now: datetime) -> str:
    """The ``<time>`` suffix backup_now writes: ``YYYYmmddTHHMMSS.ffffffZ`` (UTC)."""
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


def canary_time(text: str) -> datetime | None:
    """The time in a canary key's suffix, or None when it is not one."""
    for prefix in (DYNAMODB_PREFIX, S3_PREFIX):
        if text.startswith(prefix):
            return _parse(text[len(prefix) :])
    return None


def _parse(stamp: str) -> datetime | None:
    stamp = stamp.strip().split("#")[0].split("/")[0]
    try:
        if stamp.replace(".", "", 1).isdigit():
            value = float(stamp)
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def is_canary(text: str) -> bool:
    return text.startswith(CANARY_PREFIX)
