"""plan(ctx) -> Plan (reads only) and apply(ctx, plan, approve=...) -> the ledger rows."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from runbook_lib import intents
from runbook_lib.arguments import approval
from runbook_lib.model import NOT_SUPPORTED_ON_SANDBOX
from runbook_lib.progress import progress as tqdm
from runbook_lib.protect import central, native, plugin
from runbook_lib.protect.estate import DataResource, read_resources
from runbook_lib.protect.model import (
    APPLIERS,
    MANUAL,
    NONE,
    NOT_SUPPORTED,
    STATUS_OF_ACTION,
    Plan,
    ProtectApplyError,
    Step,
    WeakeningRefused,
    _text,
)
from runbook_lib.session import is_not_supported, utcnow

if TYPE_CHECKING:
    from runbook_lib.inventory import Inventory

log = logging.getLogger("runbook_lib")

# protect_actions.status values
APPLIED, FAILED, NOT_RUN = "APPLIED", "FAILED", "NOT_RUN"
NEEDS_IRREVERSIBLE_APPROVAL = "SKIPPED_NEEDS_IRREVERSIBLE_APPROVAL"


def central_scopes(ctx: Any) -> list[tuple[str, str]]:
    """Every (account, Region) that needs a key and a vault: the estate's Regions plus
    every tier's copy Region, in every account (workload accounts and the backup account)."""
    p = ctx.params
    regions = list(p.regions) + sorted(
        {t.copy_region for t in p.tiers.values() if t.copy_region} - set(p.regions)
    )
    return [(a, r) for a in p.account_ids for r in regions]


def plan(
    ctx: Any, resources: list[DataResource] | None = None, *, inventory: Inventory | None = None
) -> Plan:
    """The desired state from the params compared with what is there. Changes nothing.

    The resources are those of ``inventory`` (what ``inventory.discover`` returned, so one
    listing serves both), discovered in the workload accounts when not given."""
    plugin.load()
    params, session = ctx.params, ctx.session
    workloads = params.workload_accounts or params.account_ids
    errors: list[dict] = []
    if resources is None:
        resources, errors = read_resources(session, workloads, params, inventory=inventory)
    keys: dict[tuple[str, str], str] = {}
    scopes = central_scopes(ctx)
    steps: list[Step] = []
    steps += central.plan_roles(session, params, workloads)
    steps += central.plan_keys(session, params, scopes, keys)
    steps += central.plan_vaults(session, params, scopes, keys)
    steps += central.plan_backup_plans(session, params, list(session.scopes(workloads)))
    steps += native.plan_native(session, params, resources)
    steps.sort(key=lambda s: s.phase)  # stable: keeps the order within a phase
    out = Plan(
        run_id=ctx.run_id,
        created=utcnow(),
        steps=steps,
        keys=keys,
        read_errors=errors,
        allow_weakening=params.protect.allow_weakening,
    )
    log.info(
        "protect plan: %d step(s) to apply, %d refused, %d manual, %d not supported on the sandbox",
        len(out.changes),
        len(out.refused),
        sum(s.action == MANUAL for s in steps),
        sum(s.action == NOT_SUPPORTED for s in steps),
    )
    return out


def _row(ctx: Any, step: Step, status: str, after: Any = None, error: str = "") -> dict[str, Any]:
    return {
        "step": f"{step.phase:02d}:{step.kind}",
        "account": step.account,
        "region": step.region,
        "resource": step.resource,
        "setting": step.setting,
        "action": step.action,
        "before": _text(step.current),
        "after": _text(after) if status == APPLIED else _text(step.current),
        "desired": _text(step.desired),
        "status": status,
        "error": error,
        "risk": step.risk,
        "applied_at": utcnow(),
    }


def apply(
    ctx: Any, plan: Plan, *, approve: bool = False, approve_irreversible: bool = False
) -> pd.DataFrame:
    """Apply the plan's changes in a safe order, recording each step in ``protect_actions``.

    Without ``approve`` nothing changes (the rows say NOT_APPROVED). A plan that would
    weaken a protection is refused before any change unless ``protect.allow_weakening``.
    Irreversible steps (Vault Lock in compliance mode) also need ``approve_irreversible``.
    On the first failure the remaining steps are recorded as NOT_RUN and
    :class:`ProtectApplyError` is raised; plan again and apply to continue from there.
    """
    approve = approval(approve)
    approve_irreversible = approval(approve_irreversible, "approve_irreversible")
    todo = [s for s in plan.steps if s.action != NONE]
    if not approve:
        log.info("protect: not approved; nothing applied (%d change(s) planned)", len(plan.changes))
        return pd.DataFrame([_row(ctx, s, "NOT_APPROVED") for s in todo])
    if plan.refused and not ctx.params.protect.allow_weakening:
        raise WeakeningRefused(plan.explain_refusals())
    plugin.load()  # the services' appliers
    state = central.ApplyState(
        session=ctx.session, params=ctx.params, keys=dict(plan.keys), intents=intents.of(ctx)
    )
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        ctx.ledger.append("protect_actions", [row], ctx.run_id)

    changes = [s for s in todo if s.is_change]
    bar = tqdm(todo, desc="protect apply", unit="step", disable=None)
    for i, step in enumerate(bar):
        if not step.is_change:
            record(
                _row(
                    ctx,
                    step,
                    STATUS_OF_ACTION.get(step.action, step.action.upper()),
                    error=step.note,
                )
            )
            continue
        if step.irreversible and not approve_irreversible:
            why = (
                f"{step.resource} {step.setting} in {step.account}/{step.region} is irreversible: {step.note}. "
                "Pass approve_irreversible=True (a separate approval) to apply it."
            )
            log.warning("protect: skipped: %s", why)
            record(_row(ctx, step, NEEDS_IRREVERSIBLE_APPROVAL, error=why))
            continue
        t0 = time.monotonic()
        try:
            after = APPLIERS[step.kind](ctx.session, step, state)
        except Exception as err:
            if ctx.session.sandbox and is_not_supported(err):
                log.info(
                    "protect: %s %s: not supported on the sandbox", step.resource, step.setting
                )
                record(
                    _row(
                        ctx,
                        step,
                        NOT_SUPPORTED_ON_SANDBOX,
                        error=f"{type(err).__name__}: {err}"[:500],
                    )
                )
                continue
            record(_row(ctx, step, FAILED, error=f"{type(err).__name__}: {err}"[:1000]))
            rest = [s for s in todo[i + 1 :]]
            for s in rest:
                record(
                    _row(
                        ctx,
                        s,
                        NOT_RUN,
                        error=f"not run: step {step.kind} on {step.resource} failed",
                    )
                )
            done = sum(r["status"] == APPLIED for r in rows)
            raise ProtectApplyError(
                f"protect apply stopped at {step.account}/{step.region} {step.resource} ({step.setting}): {err}. "
                f"{done} of {len(changes)} change(s) were applied and recorded in the ledger (protect_actions, "
                f"run {ctx.run_id}); {sum(s.is_change for s in rest)} were not run. Fix the cause, then plan "
                "and apply again: applied steps show as done and the rest continues."
            ) from err
        log.info(
            "protect: applied %s %s on %s (%.2fs)",
            step.kind,
            step.setting,
            step.resource,
            time.monotonic() - t0,
        )
        record(_row(ctx, step, APPLIED, after=after))
    applied = sum(r["status"] == APPLIED for r in rows)
    log.info("protect: %d change(s) applied", applied)
    return pd.DataFrame(rows)


def export_logs_now(ctx: Any, *, approve: bool = False) -> pd.DataFrame:
    """What the export schedules do, on demand (the sandbox never fires schedules):
    one export task per log group into the export bucket (the log service's protect
    module, ``plugin.ON_DEMAND["export_logs_now"]``)."""
    approve = approval(approve)
    params, session = ctx.params, ctx.session
    plugin.load()
    export = plugin.ON_DEMAND["export_logs_now"]
    resources, _ = read_resources(session, params.workload_accounts or params.account_ids, params)
    return export(ctx, resources, approve)
