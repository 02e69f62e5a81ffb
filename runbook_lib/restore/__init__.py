"""Restore tests (REL09-BP04) and incident restores.

Public API::

    select_resources(ctx, resources=None, mode="due"|"sample"|"arns", ...) -> selection table
    restore_test(ctx, selection, checks=..., as_of=...)                 -> one row per test (ledger: restore_tests)
    restore_test(ctx, selection, restore_via="restore_testing")          -> validate AWS Backup restore testing's copies
    restore_one(ctx, ref, recovery_point=..., ...)                       -> one test's row
    find_recovery_points(session, ref) / resource_ref(session, arn)     -> RecoveryPoint list / ResourceRef
    sweep(ctx, dry_run=True)                                              -> expired scratch resources (deleted if not dry_run)
    plan_incident_restore(ctx, source_arn, target_name, restore_time, recovery_point) -> IncidentPlan
    apply_incident_restore(ctx, plan, approve=False) / handover_checklist(ctx, plan, result)
    results_table(tests) / checks_table(tests) / rto_rpo_chart(tests)

Recovery point sources are pluggable: ``registry.finder(service, source)`` and
``registry.restorer(service, source)``; services are ``registry.ServiceHandler`` subclasses.
"""

from runbook_lib.restore import model
from runbook_lib.restore.incident import (
    IncidentPlan,
    apply_incident_restore,
    handover_checklist,
    plan_incident_restore,
)
from runbook_lib.restore.model import *  # noqa: F403  (its __all__: the statuses and records)
from runbook_lib.restore.registry import FINDERS, HANDLERS, RESTORERS, finder, restorer
from runbook_lib.restore.report import checks_table, results_table, rto_rpo_chart
from runbook_lib.restore.resources import discover_resources
from runbook_lib.restore.run import (
    LEDGER_COLUMNS,
    find_recovery_points,
    resource_ref,
    restore_one,
    restore_test,
)
from runbook_lib.restore.select import select_resources
from runbook_lib.restore.sweep import find_scratch, sweep

__all__ = [
    *model.__all__,
    "FINDERS", "HANDLERS", "RESTORERS", "LEDGER_COLUMNS",
    "IncidentPlan",
    "apply_incident_restore", "checks_table", "discover_resources", "find_recovery_points", "find_scratch",
    "finder", "handover_checklist", "plan_incident_restore", "resource_ref", "restore_one", "restore_test",
    "restorer", "results_table", "rto_rpo_chart", "select_resources", "sweep",
]  # fmt: skip
