"""The words of an audit: a control, its result per resource, and the registry of controls.

A control is one small unit with its own metadata (id, title, practice, severity, the tier
parameters it reads, remediation naming the runbook step that fixes it) and an evaluate
function that takes the run's :class:`~runbook_lib.audit.evidence.Evidence` and yields one
:class:`Result` per resource (or vault, or recovery point) it applies to. Adding a control
is one decorated function in ``runbook_lib/audit/controls/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook_lib.audit.evidence import Evidence

# Status words (the ``status`` column of ``findings``).
PASS = "PASS"
FAIL = "FAIL"
NOT_APPLICABLE = "NOT_APPLICABLE"
NOT_SUPPORTED = "NOT_SUPPORTED_ON_SANDBOX"  # the sandbox cannot produce this evidence; AWS can
ERROR = "ERROR"  # the control itself could not be evaluated (the reason says why)
STATUSES = (PASS, FAIL, NOT_APPLICABLE, NOT_SUPPORTED, ERROR)

PRACTICES = {
    "REL09-BP01": "Identify and back up all data that needs to be backed up, or reproduce the data from sources",
    "REL09-BP02": "Secure and encrypt backups",
    "REL09-BP03": "Perform data backup automatically",
    "REL09-BP04": "Perform periodic recovery of the data to verify backup integrity and processes",
}
SEVERITIES = ("critical", "high", "medium", "low")
SCOPES = ("resource", "vault", "recovery_point", "estate")
TIER_FIELDS = (
    "rpo",
    "rto",
    "retention",
    "restore_test_every",
    "copy_region",
    "copy_account",
    "require_cmk",
)


@dataclass(frozen=True)
class Result:
    """One control's verdict on one thing (a data resource, a vault, a recovery point)."""

    account: str
    region: str
    service: str
    arn: str
    status: str
    reason: str
    name: str = ""
    tier: str = ""
    expected: str = ""  # the parameter values the verdict was judged against
    remediation: str = ""  # a resource-specific fix; empty -> the control's remediation


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    practice: str  # REL09-BP01 .. REL09-BP04
    severity: str  # critical, high, medium, low
    scope: str  # what one result is about: resource, vault, recovery_point, estate
    parameters: tuple[str, ...]  # tier fields (or params paths) the control reads
    remediation: str  # the runbook step that fixes a FAIL
    evaluate: Callable[[Evidence], Iterable[Result]]
    parity: str = ""  # the AWS Backup Audit Manager / Steampipe control it matches, if any
    description: str = ""

    def metadata(self) -> dict[str, Any]:
        return {
            "control_id": self.id,
            "title": self.title,
            "practice": self.practice,
            "severity": self.severity,
            "scope": self.scope,
            "parameters": ", ".join(self.parameters),
            "parity": self.parity,
            "remediation": self.remediation,
            "description": self.description,
        }


CONTROLS: dict[str, Control] = {}


def control(
    id: str,
    *,
    title: str,
    practice: str,
    severity: str,
    remediation: str,
    scope: str = "resource",
    parameters: tuple[str, ...] = (),
    parity: str = "",
    description: str = "",
) -> Callable[[Callable[[Evidence], Iterable[Result]]], Control]:
    """Register ``fn`` as a control (``description``, or else its docstring, describes it)."""

    def register(fn: Callable[[Evidence], Iterable[Result]]) -> Control:
        if id in CONTROLS:
            raise ValueError(f"control {id!r} is registered twice")
        if practice not in PRACTICES or severity not in SEVERITIES or scope not in SCOPES:
            raise ValueError(f"control {id!r}: bad practice, severity or scope")
        ctl = Control(
            id,
            title,
            practice,
            severity,
            scope,
            parameters,
            remediation,
            fn,
            parity,
            " ".join((description or fn.__doc__ or "").split()),
        )
        CONTROLS[id] = ctl
        return ctl

    return register
