"""Audit (REL09-BP01..BP04): every control evaluated per resource, with evidence.

    findings = audit.evaluate(rb)            # discovers the inventory, reads AWS Backup + ledger
    findings.summary(); findings.by_practice(); findings.by_control(); findings.failed()
    findings.figure()                        # pass rate per control, by practice
    audit.record(rb, findings)               # append to the ledger's ``findings`` table

Controls are a registry (:data:`CONTROLS`) of small units with their own metadata;
``controls_table()`` is the catalogue an auditor reads. The inventory's gaps are the FAIL
findings of ``gap_controls()`` judged from the inventory alone (``inventory_findings``).
See docs/audit.md.
"""

from runbook_lib.audit.evidence import Evidence, gather, inventory_evidence, read_restore_tests
from runbook_lib.audit.model import (
    CONTROLS,
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    NOT_SUPPORTED,
    PASS,
    PRACTICES,
    SEVERITIES,
    STATUSES,
    Control,
    Result,
    control,
)
from runbook_lib.audit.report import (
    COLUMNS,
    Findings,
    controls_table,
    evaluate,
    gap_controls,
    inventory_findings,
    judge,
    record,
    select_controls,
)

__all__ = [
    "COLUMNS",
    "CONTROLS",
    "ERROR",
    "FAIL",
    "NOT_APPLICABLE",
    "NOT_SUPPORTED",
    "PASS",
    "PRACTICES",
    "SEVERITIES",
    "STATUSES",
    "Control",
    "Evidence",
    "Findings",
    "Result",
    "control",
    "controls_table",
    "evaluate",
    "gap_controls",
    "gather",
    "inventory_evidence",
    "inventory_findings",
    "judge",
    "read_restore_tests",
    "record",
    "select_controls",
]
