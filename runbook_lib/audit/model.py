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

from runbook_lib.model import attrs

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
SCOPES = ("resource", "vault", "recovery_point", "estate", "key")
#: Where a control's facts come from (its ``sources``): the inventory alone, AWS Backup's
#: vaults and recovery points in the estate, the copy destinations outside it, the ledger,
#: settings the audit reads per (account, Region) beyond the inventory (a service's
#: ``evidence.setting_read``: e.g. encryption by default, the rotation of backup keys).
INVENTORY, AWS_BACKUP, COPY_DESTINATIONS, LEDGER, SETTINGS = (
    "inventory",
    "aws_backup",
    "copy_destinations",
    "ledger",
    "settings",
)
SOURCES = (INVENTORY, AWS_BACKUP, COPY_DESTINATIONS, LEDGER, SETTINGS)
#: The practices whose inventory-judged resource findings are the inventory's gaps.
GAP_PRACTICES = ("REL09-BP01", "REL09-BP02", "REL09-BP03")
#: the scanners whose control ids a control records (its field -> the scanner's name)
PARITY = {
    "prowler": "Prowler",
    "audit_manager": "AWS Backup Audit Manager",
    "steampipe": "Steampipe",
}
TIER_FIELDS = (
    "rpo",
    "rto",
    "retention",
    "restore_test_every",
    "copy_region",
    "copy_account",
    "require_cmk",
    "deletion_protection",
    "immutable",
    "air_gapped_copy",
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


#: a control's evaluate function: the run's evidence -> one Result per thing it judges
Evaluate = Callable[["Evidence"], Iterable[Result]]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    practice: str  # REL09-BP01 .. REL09-BP04
    severity: str  # critical, high, medium, low
    scope: str  # what one result is about: resource, vault, recovery_point, estate, key
    parameters: tuple[str, ...]  # tier fields (or params paths) the control reads
    remediation: str  # the runbook step that fixes a FAIL
    evaluate: Evaluate
    #: the scanner controls it matches, by id (empty where none does)
    prowler: tuple[str, ...] = ()  # Prowler check ids
    audit_manager: tuple[str, ...] = ()  # AWS Backup Audit Manager controls
    steampipe: tuple[str, ...] = ()  # Steampipe AWS Compliance controls
    parity_note: str = ""  # how far it matches them, or why no scanner has it
    description: str = ""
    #: the evidence it reads (SOURCES); judged from the inventory alone, its FAILs are gaps
    sources: tuple[str, ...] = (INVENTORY,)
    #: the inventory services it is about (it sees only their data resources); () = all.
    #: A service's own controls live in ``runbook_lib/services/<package>/controls.py``.
    services: tuple[str, ...] = ()

    @property
    def makes_gaps(self) -> bool:
        """Its FAIL findings are the inventory's gaps: a BP01-BP03 control about one data
        resource, judged from the inventory's own facts (no vault, copy or ledger read)."""
        return (
            self.practice in GAP_PRACTICES
            and self.scope == "resource"
            and set(self.sources) <= {INVENTORY}
        )

    @property
    def parity(self) -> str:
        """The scanner controls it matches, one line: ``Prowler: a, b; Steampipe: c``."""
        named = zip(
            PARITY.values(), (self.prowler, self.audit_manager, self.steampipe), strict=True
        )
        parts = [f"{who}: {', '.join(ids)}" for who, ids in named if ids]
        return "; ".join([*parts, *([f"({self.parity_note})"] if self.parity_note else [])])

    def metadata(self) -> dict[str, Any]:
        return {
            "control_id": self.id,
            **attrs(self, "title practice severity scope"),
            "parameters": ", ".join(self.parameters),
            **{field: ", ".join(getattr(self, field)) for field in PARITY},
            **attrs(self, "parity_note remediation"),
            "evidence": ", ".join(self.sources),
            **attrs(self, "makes_gaps description"),
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
    prowler: tuple[str, ...] = (),
    audit_manager: tuple[str, ...] = (),
    steampipe: tuple[str, ...] = (),
    parity_note: str = "",
    description: str = "",
    sources: tuple[str, ...] = (INVENTORY,),
    services: tuple[str, ...] = (),
) -> Callable[[Evaluate], Control]:
    """Register ``fn`` as a control (``description``, or else its docstring, describes it).
    With ``services``, ``fn`` is given the evidence of those services' data resources only."""

    def register(fn: Evaluate) -> Control:
        if id in CONTROLS:
            raise ValueError(f"control {id!r} is registered twice")
        bad = practice not in PRACTICES or severity not in SEVERITIES or scope not in SCOPES
        bad = bad or any(isinstance(ids, str) for ids in (prowler, audit_manager, steampipe))
        if bad or not set(sources) <= set(SOURCES):
            raise ValueError(
                f"control {id!r}: bad practice, severity, scope or sources, or scanner ids "
                "(prowler, audit_manager, steampipe) not given as lists"
            )
        ctl = Control(
            id=id,
            title=title,
            practice=practice,
            severity=severity,
            scope=scope,
            parameters=tuple(parameters),
            remediation=remediation,
            evaluate=_about(services, fn) if services else fn,
            prowler=tuple(prowler),
            audit_manager=tuple(audit_manager),
            steampipe=tuple(steampipe),
            parity_note=parity_note,
            description=" ".join((description or fn.__doc__ or "").split()),
            sources=tuple(sources),
            services=tuple(services),
        )
        CONTROLS[id] = ctl
        return ctl

    return register


def _about(services: tuple[str, ...], fn: Evaluate) -> Evaluate:
    """``fn`` judging only the data resources of ``services``."""

    def evaluate(ev: Evidence) -> Iterable[Result]:
        return fn(ev.only(services))

    return evaluate


__all__ = [
    "CONTROLS", "ERROR", "FAIL", "NOT_APPLICABLE", "NOT_SUPPORTED", "PASS", "PRACTICES",
    "SEVERITIES", "STATUSES", "Control", "Result", "control",
]  # fmt: skip
