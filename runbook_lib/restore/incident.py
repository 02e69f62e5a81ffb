"""An incident restore: bring a resource back to a point in time under a chosen name, for
real. Planned first (dry run); applied only with ``approve=True``; never cleaned up; ends
with the hand-over steps the SRE must take for the application to use it."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib import intents
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.restore.model import (
    NOT_SUPPORTED,
    NotSupportedOnSandbox,
    RecoveryPoint,
    ResourceRef,
    parse_time,
    service_of_arn,
    utc,
)
from runbook_lib.restore.recorded import BackupRecords
from runbook_lib.restore.registry import RESTORERS, get_handler
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")

#: The ledger table an applied incident restore is recorded in (columns: docs/ledger.md).
LEDGER_TABLE = "incident_restores"
COMPLETED, FAILED = "COMPLETED", "FAILED"


def continuous_sources() -> set[str]:
    """Sources that restore to any time in a window (the others are fixed copies)."""
    from runbook_lib import services as registry

    return {src for s in registry.specs().values() for src in s.continuous_sources}


def target_name_problem(service: str, name: str) -> str | None:
    """Why ``name`` cannot name a restored ``service`` resource, or None if it can."""
    from runbook_lib import services as registry

    rule = registry.spec(service).names
    if rule.valid and not re.match(rule.valid, name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        return f"target_name: {shown} is not a valid {service} name; allowed: {rule.help}"
    return None


@dataclass
class IncidentPlan:
    ref: ResourceRef
    recovery_point: RecoveryPoint | None
    target_name: str
    restore_time: datetime | None
    choice: str
    tags: dict[str, str]
    blocked: str = ""
    notes: list[str] = field(default_factory=list)
    requested_at: datetime | None = None  # when the plan was made (the restore was asked for)

    @property
    def table(self) -> pd.DataFrame:
        rp = self.recovery_point
        rows = [
            ("source", self.ref.arn),
            ("service", self.ref.service),
            ("account / Region", f"{self.ref.account} / {self.ref.region}"),
            ("recovery point", rp.id if rp else "—"),
            ("recovery point source", rp.source if rp else "—"),
            ("recovery point time", rp.created.isoformat() if rp and rp.created else "—"),
            (
                "restore to time",
                self.restore_time.isoformat() if self.restore_time else "the recovery point's time",
            ),
            ("why this recovery point", self.choice),
            ("new resource name", self.target_name),
            ("tags on the new resource", ", ".join(f"{k}={v}" for k, v in self.tags.items())),
            (
                "status",
                f"BLOCKED: {self.blocked}"
                if self.blocked
                else "ready to apply (needs approve=True)",
            ),
        ]
        rows += [("note", n) for n in self.notes]
        return pd.DataFrame(rows, columns=["item", "value"])


def default_source(ctx: Any) -> str:
    """No source_arn given: the strictest-tier resource of the services whose restore
    handler is an ``example_source``, for an example plan that is never applied (an
    incident restore needs its source named)."""
    from runbook_lib import services as registry
    from runbook_lib.restore.registry import loaded
    from runbook_lib.restore.resources import discover_resources

    examples = sorted(svc for svc, h in loaded().items() if h.example_source)
    df = discover_resources(ctx)
    df = df[df["service"].isin(examples)].copy()
    if df.empty:
        what = " or ".join(registry.spec(svc).title for svc in examples) or "resource"
        raise ParamsError(
            "source_arn",
            [f"source_arn: required (the estate has no {what} to demonstrate with)"],
        )
    p = ctx.params
    df["_rank"] = df["tier"].map(
        lambda t: p.tiers[t].rpo if t in p.tiers else p.tier(None).rpo * 1000
    )
    return str(df.sort_values(["_rank", "arn"])["arn"].iloc[0])


def plan_incident_restore(
    ctx: Any,
    source_arn: str = "",
    target_name: str = "",
    restore_time: str | datetime | None = "",
    recovery_point: str = "",
) -> IncidentPlan:
    """Which recovery point, which name, which tags: checked before anything changes."""
    from runbook_lib.restore.run import find_recovery_points, resource_ref

    when = parse_time(restore_time, field_name="restore_time")
    if source_arn:
        service, _ = service_of_arn(source_arn, field_name="source_arn")
        problem = target_name and target_name_problem(service, target_name)
        if problem:
            raise ParamsError("target_name", [problem])
    notes: list[str] = []
    example = not source_arn
    if example:  # shown as an example, never restored: a real restore names its source
        source_arn = default_source(ctx)
        notes.append(f"no source_arn given: an example plan for {source_arn}")
    ref = resource_ref(ctx.session, source_arn, field_name="source_arn")
    handler = get_handler(ref.service)
    now = utcnow()
    if when and when > now:
        raise ParamsError(
            "restore_time",
            [f"restore_time: {when.isoformat()} is in the future (now {now.isoformat()})"],
        )
    if not target_name:
        base = re.sub(r"[^a-z0-9-]", "-", ref.name.lower()).strip("-")[:40].rstrip("-")
        target_name = f"{base}-restored-{now:%Y%m%d%H%M}"
        notes.append("no target_name given: a name was derived from the source and the time")
    problem = target_name_problem(ref.service, target_name)
    if problem:
        raise ParamsError("target_name", [problem])
    points, finder_notes = find_recovery_points(ctx.session, ref)
    notes += finder_notes
    rp, choice = _choose(points, when, recovery_point)
    src_tags = _source_tags(ctx, ref)
    tags = {
        k: v
        for k, v in src_tags.items()
        if not k.startswith("aws:")
        and k not in (ctx.params.tag_keys.restore_test, ctx.params.tag_keys.expires)
    }
    tags.update(
        {"restored-from": (rp.id if rp else "")[:256], "restored-at": f"{now:%Y-%m-%dT%H:%M:%SZ}"}
    )
    plan = IncidentPlan(
        ref,
        rp,
        target_name,
        when if rp and rp.source in continuous_sources() else None,
        choice,
        tags,
        notes=notes,
        requested_at=now,
    )
    if example:
        plan.blocked = (
            "no source_arn given: an incident restore happens only for a resource named "
            f"explicitly; this example shows what restoring {source_arn} would do "
            "(run again with source_arn set to restore it)"
        )
    elif target_name in {ref.name, src_tags.get("Name")} - {None, ""}:
        # a new resource under the source's own name (or Name tag) would be mistaken for it
        plan.blocked = (
            f"target_name {target_name!r} is the source's own name: choose another name "
            "(the damaged resource stays as it is, for investigation)"
        )
    elif rp is None:
        plan.blocked = choice
    elif (ref.service, rp.source) not in RESTORERS:
        plan.blocked = f"no restorer for {ref.service} from {rp.source}"
    elif handler.makes_scratch:
        try:
            taken = handler.exists(ctx.session, _as_restored(ref, target_name))
        except Exception as err:  # noqa: BLE001 - throttled, denied, owned by another account
            taken = None
            plan.blocked = (
                f"could not check whether a {ref.service} named {target_name!r} exists "
                f"({type(err).__name__}: {str(err)[:200]}); choose another target_name or "
                "fix access, then plan again"
            )
        if taken:
            plan.blocked = (
                f"a {ref.service} named {target_name!r} already exists: choose another target_name"
            )
    if rp is not None:
        plan.notes.extend(handler.plan_notes(ctx.session, rp))
    return plan


def _as_restored(ref: ResourceRef, name: str):
    from runbook_lib.restore.model import Restored

    return Restored(ref.service, ref.account, ref.region, name)


def _choose(
    points: list[RecoveryPoint], when: datetime | None, wanted: str
) -> tuple[RecoveryPoint | None, str]:
    if wanted:
        rp = next((p for p in points if p.id == wanted or p.id.endswith(wanted)), None)
        return (
            rp,
            "asked for"
            if rp
            else f"recovery point {wanted!r} not found (have: {[p.id for p in points][:5]})",
        )
    if not points:
        return None, "no recovery point exists for this resource"
    if when is None:
        return points[0], "newest recovery point"
    continuous = continuous_sources()
    for p in points:
        if p.source in continuous and get_handler(p.service).covers(p, when):
            return p, f"continuous backup ({p.source}) covers {when:%Y-%m-%dT%H:%M:%SZ}"
    before = [p for p in points if p.created and p.created <= when and p.source not in continuous]
    if before:
        return before[0], f"newest recovery point at or before {when:%Y-%m-%dT%H:%M:%SZ}"
    return None, f"no recovery point at or before {when:%Y-%m-%dT%H:%M:%SZ}"


def _source_tags(ctx, ref: ResourceRef) -> dict[str, str]:
    from runbook_lib.restore.resources import discover_resources

    try:
        df = discover_resources(ctx)
        row = df[df["arn"] == ref.arn]
        tags = row["tags"].iloc[0] if not row.empty else {}
        return dict(tags) if isinstance(tags, dict) else {}
    except Exception:  # noqa: BLE001  (tags are a convenience; the restore does not depend on them)
        return {}


def apply_incident_restore(ctx: Any, plan: IncidentPlan, approve: bool = False) -> pd.DataFrame:
    """Restore as planned when ``approve``; otherwise say that nothing was done.

    An approved restore is recorded in the ledger table ``incident_restores`` (one row:
    source, recovery point, target, timings, data-loss window, hand-over checklist), also
    when it fails (status ``FAILED`` and the error, then the error is raised). A blocked or
    unapproved plan records nothing."""
    from runbook_lib.arguments import approval

    approve = approval(approve)
    if plan.blocked:
        return pd.DataFrame(
            [{"status": "BLOCKED", "detail": plan.blocked, "target": plan.target_name}]
        )
    if not approve:
        return pd.DataFrame(
            [
                {
                    "status": "PLANNED",
                    "detail": "not applied: re-run with approve=True to restore",
                    "target": plan.target_name,
                }
            ]
        )
    handler = get_handler(plan.ref.service)
    restorer = RESTORERS[(plan.ref.service, plan.recovery_point.source)]
    restore_id = f"incident-{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    log.info(
        "incident restore %s: %s %s from %s %s -> %s",
        restore_id,
        plan.ref.service,
        plan.ref.name,
        plan.recovery_point.source,
        plan.recovery_point.id,
        plan.target_name,
    )
    started = utcnow()
    t0 = time.perf_counter()
    try:
        writer = intents.of(ctx)
        intent = writer.intend(
            purpose="incident-restore", kind="restore copy", service=plan.ref.service,
            account=plan.recovery_point.account or plan.ref.account,
            region=plan.recovery_point.region or plan.ref.region,
            name=plan.target_name, source=plan.recovery_point.id,
        )  # fmt: skip
        with intents.carrying(writer, intent):
            restored = restorer(
                ctx.session,
                plan.recovery_point,
                plan.ref,
                plan.target_name,
                plan.tags,
                plan.restore_time,
            )
        writer.started(intent, restored.arn or restored.ident)
        handler.wait(ctx.session, restored)
    except Exception as err:
        seconds = time.perf_counter() - t0
        status = (
            NOT_SUPPORTED
            if isinstance(err, NotSupportedOnSandbox)
            or (ctx.session.sandbox and is_not_supported(err))
            else FAILED
        )
        try:
            _record(ctx, plan, restore_id, started, None, seconds, status,
                    f"{type(err).__name__}: {err}")  # fmt: skip
        except Exception as ledger_err:  # noqa: BLE001  (the restore's own error matters more)
            err.add_note(f"and recording it in the ledger failed: {ledger_err}")
        raise
    ended = utcnow()
    seconds = time.perf_counter() - t0
    row: dict[str, Any] = {
        "status": "RESTORED",
        "target": restored.name,
        "arn": restored.arn,
        "resource_id": restored.resource_id,
        "restore_seconds": round(seconds, 3),
        "recovery_point": plan.recovery_point.id,
        "recovery_point_time": plan.recovery_point.created,
        "data_loss_window": _loss(plan),
        "detail": "; ".join(restored.notes),
    }
    if handler.has_data and handler.makes_scratch:
        from runbook_lib.restore.validate import _fingerprint_check

        try:
            content = handler.read_content(
                ctx.session, restored, workers=ctx.params.target.max_workers
            )
            recorded = BackupRecords(ctx.ledger).lookup(plan.recovery_point)
            check = _fingerprint_check(
                ctx.session, handler, plan.ref, plan.recovery_point, content, recorded
            )
            row.update(records=content.count, content_check=f"{check.status}: {check.detail}")
        except Exception as err:  # noqa: BLE001  (the restore is done: say the check failed)
            row.update(content_check=f"ERROR: could not read the restored copy: {err}")
    plan.notes.append(f"restored {restored.name} in {seconds:.1f} s")
    ctx.notes["incident_restored"] = restored
    result = pd.DataFrame([row])
    checklist = handover_checklist(ctx, plan, result)
    try:
        _record(ctx, plan, restore_id, started, ended, seconds, COMPLETED, "",
                restored=restored, result=row, checklist=checklist)  # fmt: skip
    except Exception as err:
        raise RunbookError(
            f"incident restore {restore_id}: {restored.name} ({restored.arn}) was restored, "
            f"but recording it in the ledger table {LEDGER_TABLE} failed: {err}"
        ) from err
    result.insert(0, "restore_id", restore_id)
    return result


def _record(
    ctx: Any,
    plan: IncidentPlan,
    restore_id: str,
    started: datetime,
    ended: datetime | None,
    seconds: float,
    status: str,
    error: str,
    restored: Any = None,
    result: dict[str, Any] | None = None,
    checklist: pd.DataFrame | None = None,
) -> str | None:
    """One ``incident_restores`` row (columns: docs/ledger.md)."""
    rp = plan.recovery_point
    result = result or {}
    point = plan.restore_time or rp.created
    loss = (
        (utc(plan.requested_at) - utc(point)).total_seconds()
        if point is not None and plan.requested_at is not None
        else None
    )
    steps = (
        checklist[["#", "step", "why", "how", "needed"]].to_dict("records")
        if checklist is not None
        else None
    )
    row = {
        "restore_id": restore_id,
        "account": plan.ref.account,
        "region": plan.ref.region,
        "service": plan.ref.service,
        "tier": plan.ref.tier,
        "source_arn": plan.ref.arn,
        "source_name": plan.ref.name,
        "target_name": restored.name if restored is not None else plan.target_name,
        "target_arn": restored.arn if restored is not None else None,
        "target_resource_id": restored.resource_id if restored is not None else None,
        "recovery_point_id": rp.id,
        "recovery_point_source": rp.source,
        "recovery_point_time": rp.created,
        "restore_to_time": plan.restore_time,
        "restored_to_time": point,
        "choice": plan.choice,
        "requested_at": plan.requested_at,
        "restore_start": started,
        "restore_end": ended,
        "restore_seconds": round(seconds, 3),
        "status": status,
        "error": error or None,
        "data_loss_seconds": loss,
        "data_loss": _loss(plan),
        "records": result.get("records"),
        "content_check": result.get("content_check"),
        "approved_by": ctx.run_id,
        "tags": json.dumps(plan.tags, ensure_ascii=False),
        "handover": json.dumps(steps, ensure_ascii=False) if steps is not None else None,
        "notes": json.dumps(
            list(plan.notes) + (list(restored.notes) if restored is not None else []),
            ensure_ascii=False,
        ),
    }
    df = pd.DataFrame([row])
    for col in ("recovery_point_time", "restore_to_time", "restored_to_time", "requested_at",
                "restore_start", "restore_end"):  # fmt: skip
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
    df = df.astype({"restore_seconds": "float64", "data_loss_seconds": "float64",
                    "records": "Int64"})  # fmt: skip
    text = [c for c in df.columns if df[c].dtype == object]
    df[text] = df[text].astype("str")
    where = ctx.ledger.append(LEDGER_TABLE, df, ctx.run_id)
    log.info("incident restore %s: %s, recorded in %s", restore_id, status, where)
    return where


def _loss(plan: IncidentPlan) -> str:
    t = plan.restore_time or (plan.recovery_point.created if plan.recovery_point else None)
    if t is None:
        return "unknown"
    return f"changes after {utc(t):%Y-%m-%dT%H:%M:%SZ} are not in the restored copy"


def handover_checklist(
    ctx: Any, plan: IncidentPlan, result: pd.DataFrame | None = None
) -> pd.DataFrame:
    """What the SRE must do next, in order, for this resource (generated, not generic)."""
    from runbook_lib.restore.model import Restored

    restored = ctx.notes.get("incident_restored")
    done = (
        restored is not None
        and result is not None
        and not result.empty
        and result["status"].iloc[0] == "RESTORED"
    )
    if restored is None:
        restored = Restored(plan.ref.service, plan.ref.account, plan.ref.region, plan.target_name)
    steps = [
        {"step": "check the data", "why": "confirm the restored copy holds what the application needs",
         "how": f"query a few known records in {restored.name}; compare counts with the incident timeline", "needed": "yes"},
        {"step": "point the application at it", "why": "the application still uses the damaged resource",
         "how": f"change the configuration / secret / DNS that names {plan.ref.name} to {restored.name}; deploy", "needed": "yes"},
    ]  # fmt: skip
    try:
        steps += get_handler(plan.ref.service).handover(ctx.session, plan.ref, restored)
    except Exception as err:  # noqa: BLE001
        steps.append(
            {
                "step": "service-specific settings",
                "why": f"could not read the source's settings: {err}",
                "how": "compare by hand",
                "needed": "yes",
            }
        )
    tier_key = ctx.params.tag_keys.tier
    tier = plan.tags.get(tier_key)
    steps += [
        {"step": "tag it", "why": f"backup plans select by tags: without {tier_key} the new resource is not backed up",
         "how": f"tags set by the restore: {', '.join(f'{k}={v}' for k, v in plan.tags.items())}" + ("" if tier else f"; add {tier_key}=<tier>"),
         "needed": "done" if (done and tier) else "yes"},
        {"step": "alarms and dashboards", "why": "CloudWatch alarms and dashboards name the old resource",
         "how": f"re-point alarms on {plan.ref.name} to {restored.name}", "needed": "yes"},
        {"step": "protect and prove", "why": "the new resource must be backed up and restore-tested like the old one",
         "how": "run the protect runbook (plan -> approve), then a backup_now, then a restore test of the new resource", "needed": "yes"},
        {"step": "retire the old resource", "why": "keep it until the incident review, then delete it (it still costs money)",
         "how": f"tag {plan.ref.name} incident=<id>; delete after the post-incident review", "needed": "after review"},
    ]  # fmt: skip
    df = pd.DataFrame(steps, columns=["step", "why", "how", "needed"])
    df.insert(0, "#", range(1, len(df) + 1))
    df["done"] = False
    return df


def require(plan: IncidentPlan) -> None:
    if plan.blocked:
        raise RunbookError(f"incident restore of {plan.ref.arn}: {plan.blocked}")
