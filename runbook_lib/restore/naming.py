"""Names and tags of scratch resources.

A scratch name is ``rt-<source name, shortened>-<test id tail>``, fitted to each service's
name rules and length limit, so an SRE reading a console sees what it is a copy of and
which test made it. The tags carry the full test id and an expiry time; the sweep only
ever deletes resources carrying both.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from runbook_lib.params import Params

PREFIX = "rt"
TEST_ID_RE = re.compile(r"^rt-\d{8}t\d{6}-[0-9a-f]{6}$")


def new_test_id(now: datetime) -> str:
    """``rt-20261124t230712-1a2b3c``: sortable, unique, valid in every service's names."""
    return f"{PREFIX}-{now.strftime('%Y%m%dt%H%M%S')}-{uuid.uuid4().hex[:6]}"


def is_scratch_name(name: str) -> bool:
    """Whether ``name`` has the form :func:`scratch_name` gives (where a service keeps no
    leading character): the only names a sweep lists."""
    return name.startswith(f"{PREFIX}-")


def rules() -> dict[str, tuple[int, str, bool, bool]]:
    """service -> (max length, a refused character, lowercase only, letter first), from each
    service's :class:`~runbook_lib.services.NameRule`."""
    from runbook_lib import services as registry

    return {
        name: (s.names.max_length, s.names.bad, s.names.lower, s.names.letter_first)
        for name, s in registry.specs().items()
    }


def scratch_name(service: str, source_name: str, test_id: str) -> str:
    """A valid, unique name for the scratch copy of ``source_name`` made by ``test_id``."""
    from runbook_lib import services as registry

    rule = registry.spec(service).names
    limit, bad, lower = rule.max_length, rule.bad, rule.lower
    tail = test_id.removeprefix(f"{PREFIX}-").replace("t", "", 1)  # 20261124230712-1a2b3c
    tail = tail[2:]  # 261124230712-1a2b3c: the century adds nothing
    base = source_name.lower() if lower else source_name
    base = re.sub(bad, "-", base)
    base = re.sub(r"-{2,}", "-", base).strip("-._/ ")
    room = limit - len(PREFIX) - len(tail) - 2
    base = base[: max(room, 0)].rstrip("-._/ ")
    name = f"{PREFIX}-{base}-{tail}" if base else f"{PREFIX}-{tail}"
    return (rule.leading + name)[:limit]


def scratch_tags(
    params: Params, test_id: str, expires: datetime, source_arn: str
) -> dict[str, str]:
    """Tags every scratch resource gets: test id, expiry (ISO, UTC), what it copies."""
    return {
        params.tag_keys.restore_test: test_id,
        params.tag_keys.expires: expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "restore-test-source": source_arn[:256],
    }


def default_ttl(rto: timedelta) -> timedelta:
    """How long a scratch resource may live: twice the RTO objective, at least 2 hours."""
    return max(timedelta(hours=2), 2 * rto)
