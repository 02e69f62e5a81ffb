"""Protect (REL09-BP02, BP03): the desired backup state from the params, as a plan, applied
only when approved.

    plan = protect.plan(rb)                      # reads only; plan.frame() is the diff table
    result = protect.apply(rb, plan, approve=True)  # safe order, every step in the ledger

See docs/protect.md for what is set, why, and what the sandbox cannot do. The generic flow
names no service: each service's settings are in ``runbook_lib/services/<package>/protect.py``,
registered in :mod:`runbook_lib.protect.plugin`.
"""

from runbook_lib.protect import central, native, objectives, plugin
from runbook_lib.protect.engine import apply, central_scopes, export_logs_now, plan
from runbook_lib.protect.estate import DataResource, read_resources
from runbook_lib.protect.model import Plan, ProtectApplyError, Step, WeakeningRefused
from runbook_lib.protect.objectives import schedule_for_rpo, schedule_interval

__all__ = [
    "DataResource",
    "Plan",
    "ProtectApplyError",
    "Step",
    "WeakeningRefused",
    "apply",
    "central",
    "central_scopes",
    "export_logs_now",
    "native",
    "objectives",
    "plan",
    "plugin",
    "read_resources",
    "schedule_for_rpo",
    "schedule_interval",
]
