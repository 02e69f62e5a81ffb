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

from runbook_lib.audit import evidence, model, report
from runbook_lib.audit.evidence import *  # noqa: F403  (each module's __all__ is the API)
from runbook_lib.audit.model import *  # noqa: F403
from runbook_lib.audit.report import *  # noqa: F403

__all__ = [*evidence.__all__, *model.__all__, *report.__all__]
