"""The data model of restore tests: what is restored, from what, and what came out.

Every service module speaks these words, so the orchestrator, the ledger and the
notebooks never need to know which service they are looking at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook_lib.errors import RunbookError
from runbook_lib.model import (  # the one recovery point model, shared with the inventory
    NOT_SUPPORTED_ON_SANDBOX,
    RecoveryPoint,  # noqa: F401
)


#: Services a restore test knows (the inventory's ``service`` column): the service registry.
def services() -> tuple[str, ...]:
    from runbook_lib import services as registry

    return registry.names()


# Outcome words (the ``status`` column of ``restore_tests``).
PASS = "PASS"  # restored, content proven by the fingerprint taken at backup time, objectives met
PASS_WEAK = (
    "PASS_WEAK"  # restored, weaker checks only (no fingerprint / no data plane), objectives met
)
FAIL = "FAIL"  # a check failed, or an objective was missed: ``reason`` says which
ERROR = "ERROR"  # the restore itself failed
NOT_SUPPORTED = NOT_SUPPORTED_ON_SANDBOX  # the sandbox (moto) cannot do this; AWS can
NOT_RESTORABLE = (
    "NOT_RESTORABLE"  # no SDK path to restore this kind of resource (a REST-only snapshot)
)
NO_RECOVERY_POINT = "NO_RECOVERY_POINT"  # nothing to restore from: a protection gap


class RestoreError(RunbookError):
    """A restore could not be started or did not finish."""


class NotSupportedOnSandbox(RestoreError):
    """The sandbox cannot do this (a moto gap or bug); the same call works on AWS."""


class NotRestorable(RestoreError):
    """The service offers no SDK path for this restore; the message says why."""


@dataclass(frozen=True)
class ResourceRef:
    """One data resource, as the inventory describes it (only what a restore needs)."""

    arn: str
    service: str
    account: str
    region: str
    name: str
    tier: str | None = None
    resource_id: str | None = None  # volume id, file system id; defaults to name
    # the inventory's tags (user checks keyed ``tag:KEY=VALUE``); empty when not from it
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ident(self) -> str:
        return self.resource_id or self.name


@dataclass
class Restored:
    """A resource a restore created (a scratch copy in a test, the new resource in an incident)."""

    service: str
    account: str
    region: str
    name: str  # the identifier chosen for it (table name, bucket, DB identifier, Name tag)
    arn: str | None = None
    resource_id: str | None = None  # volume id, file system id when the name is only a tag
    notes: list[str] = field(default_factory=list)  # honest remarks (sandbox limits, ignored times)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> str:
        return self.resource_id or self.name


@dataclass
class Check:
    """One validation check and its outcome (PASS / FAIL / SKIP / INFO)."""

    name: str  # fingerprint, canary, min_count, required_keys, expected_values, metadata:<field>
    status: str
    detail: str
    strength: int = 0  # 3 fingerprint, 2 canary / user checks, 1 metadata

    def as_row(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


# --------------------------------------------------------------------------- ARNs

_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")


def parse_arn(arn: str, *, field_name: str = "source_arn") -> dict[str, str]:
    """Split an ARN; raise ParamsError naming ``field_name`` when it is not one."""
    from runbook_lib.errors import ParamsError

    m = _ARN_RE.match(arn or "")
    if not m:
        raise ParamsError(
            field_name,
            [
                f"{field_name}: {arn!r} is not an ARN; expected arn:aws:<service>:<region>:<account>:<resource>"
            ],
        )
    partition, svc, region, account, rest = m.groups()
    return {
        "partition": partition,
        "service": svc,
        "region": region,
        "account": account or "",
        "resource": rest,
    }


def service_of_arn(arn: str, *, field_name: str = "source_arn") -> tuple[str, str]:
    """(service, name or id) for an ARN of a data resource this runbook restores."""
    from runbook_lib import services as registry
    from runbook_lib.errors import ParamsError

    p = parse_arn(arn, field_name=field_name)
    found = registry.restorable_from_arn(p["service"], p["resource"])
    if found:
        return found  # a cluster ARN reads as the first cluster service: the caller asks the engine
    raise ParamsError(
        field_name,
        [
            f"{field_name}: {arn!r} is not a data resource this runbook restores; allowed: "
            f"{registry.restorable_titles()}"
        ],
    )


def parse_time(
    value: str | datetime | None, *, field_name: str = "restore_time"
) -> datetime | None:
    """'' / None -> None; ISO 8601 -> aware UTC datetime; anything else -> ParamsError."""
    from runbook_lib.errors import ParamsError

    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ParamsError(
            field_name,
            [f"{field_name}: {value!r} is not a time; use ISO 8601, e.g. 2026-11-24T10:00:00Z"],
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(str(value), field_name="time")


__all__ = [
    "ERROR", "FAIL", "NO_RECOVERY_POINT", "NOT_RESTORABLE", "NOT_SUPPORTED", "PASS", "PASS_WEAK",
    "RecoveryPoint", "ResourceRef", "Restored",
]  # fmt: skip
