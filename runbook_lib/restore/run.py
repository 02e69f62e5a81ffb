"""A restore test: choose a recovery point -> restore into a scratch resource -> wait ->
validate -> measure RTO and RPO against the tier -> delete the scratch resource (always, in
``finally``) -> one row in the ``restore_tests`` ledger table."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib import intents
from runbook_lib.errors import ParamsError
from runbook_lib.restore import naming
from runbook_lib.restore.model import (
    ERROR,
    FAIL,
    NO_RECOVERY_POINT,
    NOT_RESTORABLE,
    NOT_SUPPORTED,
    PASS,
    NotRestorable,
    NotSupportedOnSandbox,
    RecoveryPoint,
    ResourceRef,
    Restored,
    parse_time,
    service_of_arn,
)
from runbook_lib.restore.recorded import BackupRecords
from runbook_lib.restore.registry import FINDERS, RESTORERS, get_handler
from runbook_lib.restore.restore_testing import check_via, run_via_restore_testing
from runbook_lib.restore.validate import checks_for, validate
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")

#: Test hook: seconds to sleep after the restore, before validation (to interrupt a test
#: while its scratch resource exists). Never set in production.
PAUSE_ENV = "RUNBOOK_RESTORE_PAUSE_AFTER_RESTORE"

LEDGER_COLUMNS = [
    "test_id", "account", "region", "service", "resource_arn", "resource_name", "tier",
    "recovery_point_id", "recovery_point_source", "recovery_point_time", "recovery_point_choice",
    "copy", "recovery_point_region", "recovery_point_copy_of",
    "restore_start", "restore_end", "restore_seconds", "validation_seconds",
    "verdict", "content_verdict", "verdict_detail", "evidence", "checks", "records_found",
    "rto_seconds", "rto_objective_seconds", "rto_met",
    "rpo_seconds", "rpo_objective_seconds", "rpo_met",
    "canary_time", "canary_freshness_seconds",
    "status", "reason", "scratch_name", "scratch_arn", "cleanup_status", "cleanup_detail", "notes",
]  # fmt: skip


#: Which recovery point a restore test restores: the one in the resource's own Region
#: (``local``), its AWS Backup copy in the tier's ``copy_region`` (``dr``), or one test of each.
COPY_CHOICES = ("local", "dr", "both")
SKIPPED = "SKIPPED"


def check_copy(copy: str) -> str:
    if copy not in COPY_CHOICES:
        raise ParamsError(
            "copy", [f"copy: {copy!r} is not allowed; allowed: {', '.join(COPY_CHOICES)}"]
        )
    return copy


# --------------------------------------------------------------------------- recovery points


def find_recovery_points(
    session: Any, ref: ResourceRef, sources: list[str] | None = None
) -> tuple[list[RecoveryPoint], list[str]]:
    """Every recovery point of ``ref`` from every registered source (or ``sources``),
    newest first; and notes on sources that could not be asked."""
    from runbook_lib.services import load

    load("restore")

    points: list[RecoveryPoint] = []
    notes: list[str] = []
    for (svc, source), fn in FINDERS.items():
        if svc != ref.service or (sources and source not in sources):
            continue
        try:
            points.extend(fn(session, ref))
        except NotRestorable:
            raise
        except Exception as err:  # noqa: BLE001  (one source failing must not hide the others)
            if is_not_supported(err) and session.sandbox:
                notes.append(f"{source}: not supported on the sandbox ({type(err).__name__})")
            else:
                notes.append(f"{source}: {type(err).__name__}: {err}")
    points.sort(key=lambda p: (p.created is not None, p.created or datetime.min), reverse=True)
    return points, notes


def choose_recovery_point(
    points: list[RecoveryPoint], records: BackupRecords, rpo_seconds: float, as_of: datetime
) -> tuple[RecoveryPoint | None, str]:
    """The newest recovery point whose content fingerprint was recorded, if it is within
    the RPO (a test is worth most where content can be proven); else the newest one."""
    if not points:
        return None, "no recovery point"
    recorded = [
        p
        for p in points
        if records.lookup(p) is not None and (records.lookup(p).fingerprint is not None)
    ]
    if (
        recorded
        and recorded[0].created
        and (as_of - recorded[0].created).total_seconds() <= rpo_seconds
    ):
        return recorded[0], "newest recovery point with a recorded fingerprint (within the RPO)"
    return points[0], "newest recovery point" + (
        " (none with a recorded fingerprint)" if not recorded else ""
    )


def resource_ref(
    session: Any,
    arn: str,
    *,
    account: str = "",
    region: str = "",
    name: str = "",
    tier: str | None = None,
    field_name: str = "arn",
) -> ResourceRef:
    """A ResourceRef for an ARN (validated before any AWS call)."""
    from runbook_lib.services import load

    load("restore")
    from runbook_lib.restore.model import parse_arn

    svc, ident = service_of_arn(arn, field_name=field_name)
    parts = parse_arn(arn, field_name=field_name)
    account = account or parts["account"]
    region = region or parts["region"]
    # the handler may name another service where the ARN alone does not say which it is
    ref = get_handler(svc).find_ref(session, arn, account, region, name or ident)
    return ResourceRef(
        ref.arn, ref.service, ref.account, ref.region, ref.name, tier, ref.resource_id
    )


# --------------------------------------------------------------------------- one test


def _seconds(td) -> float:
    return float(td.total_seconds())


def restore_one(
    ctx: Any,
    ref: ResourceRef,
    *,
    recovery_point: str | None = None,
    sources: list[str] | None = None,
    checks: dict[str, Any] | None = None,
    as_of: datetime | str | None = None,
    records: BackupRecords | None = None,
    copy: str = "local",
    restore_via: str = "runbook",
) -> dict[str, Any]:
    """Restore-test one resource; returns its ledger row. Never leaves a scratch resource.

    ``restore_via="restore_testing"``: the restore step is AWS Backup's own restore testing
    (the newest completed restore testing job of the resource awaiting validation; see
    ``runbook_lib.restore.restore_testing``); the verdict is put back on that job.

    ``copy="dr"`` tests the resource's AWS Backup copy in its tier's ``copy_region``: the
    scratch copy is restored in that Region and checked against the fingerprint recorded
    for the source recovery point the copy was made from (linked by its copy job)."""
    check_copy(copy)
    check_via(restore_via)
    if restore_via == "restore_testing" and copy != "local":
        raise ParamsError(
            "copy", [f"copy: {copy!r} is not allowed with restore_via='restore_testing': AWS "
                     "Backup restore testing restores in the resource's own Region; use 'local'"]
        )  # fmt: skip
    if copy == "both":
        raise ParamsError(
            "copy", ["copy: restore_one tests one recovery point; use 'local' or 'dr'"]
        )
    session, params = ctx.session, ctx.params
    tier = params.tier(ref.tier)
    tier_name = ref.tier if ref.tier in params.tiers else params.default_tier
    started = utcnow()
    ref_time = parse_time(as_of, field_name="as_of") or started
    test_id = naming.new_test_id(started)
    handler = get_handler(ref.service)
    records = records or BackupRecords(ctx.ledger)
    user_checks = checks_for(checks, ref)
    row: dict[str, Any] = {c: None for c in LEDGER_COLUMNS}
    row.update(
        test_id=test_id, account=ref.account, region=ref.region, service=ref.service, resource_arn=ref.arn,
        resource_name=ref.name, tier=tier_name, rto_objective_seconds=_seconds(tier.rto),
        rpo_objective_seconds=_seconds(tier.rpo), cleanup_status="NOTHING_CREATED", notes=[],
        copy=copy,
    )  # fmt: skip
    if restore_via == "restore_testing":
        return run_via_restore_testing(
            ctx, ref, row, recovery_point=recovery_point, user_checks=user_checks,
            records=records, ref_time=ref_time,
        )  # fmt: skip
    try:
        if copy == "dr":
            if not tier.copy_region:
                row.update(status=SKIPPED, verdict=SKIPPED,
                           reason=f"tier {tier_name} has no copy_region: there is no DR-Region copy to test")  # fmt: skip
                return row
            points, notes = _find_dr(session, ref, tier.copy_region, sources)
            if tier.copy_account and tier.copy_account != ref.account:
                notes.append(
                    f"tier {tier_name} also copies to account {tier.copy_account}; that cross-account "
                    "copy is not restore-tested (only the same-account copy in the copy Region is)"
                )
        else:
            points, notes = find_recovery_points(session, ref, sources)
    except NotRestorable as err:
        row.update(
            status=NOT_RESTORABLE, verdict=NOT_RESTORABLE, reason=str(err), verdict_detail=str(err)
        )
        return row
    row["notes"].extend(notes)
    if recovery_point:
        chosen = next(
            (p for p in points if p.id == recovery_point or p.id.endswith(recovery_point)), None
        )
        choice = "asked for"
        if chosen is None:
            row.update(status=NO_RECOVERY_POINT, verdict=NO_RECOVERY_POINT,
                       reason=f"recovery point {recovery_point!r} not found for {ref.arn} "
                       f"(found: {[p.id for p in points][:5]})")  # fmt: skip
            return row
    else:
        chosen, choice = choose_recovery_point(points, records, _seconds(tier.rpo), ref_time)
    if chosen is None:
        sources_asked = sorted(s for (svc, s) in FINDERS if svc == ref.service)
        where = (
            f"aws-backup copies in {tier.copy_region}"
            if copy == "dr"
            else f"sources asked: {', '.join(sources_asked)}"
        )
        row.update(status=NO_RECOVERY_POINT, verdict=NO_RECOVERY_POINT,
                   reason=f"no recovery point found for {ref.service} {ref.name} ({where})")  # fmt: skip
        return row
    row.update(
        recovery_point_id=chosen.id, recovery_point_source=chosen.source, recovery_point_time=chosen.created,
        recovery_point_choice=choice, recovery_point_region=chosen.region,
        recovery_point_copy_of=chosen.details.get("copy_of"),
    )  # fmt: skip
    if chosen.created is None:
        rec = records.lookup(chosen)
        when = BackupRecords.recorded_time(rec) if rec else None
        if when is not None:
            chosen = replace(chosen, created=when)  # RecoveryPoint is frozen
            row["recovery_point_time"] = when
            row["notes"].append(
                "recovery point time taken from the backups ledger (the service reports none)"
            )
    if chosen.created is not None:
        row["rpo_seconds"] = max(0.0, _seconds(ref_time - chosen.created))
        row["rpo_met"] = row["rpo_seconds"] <= row["rpo_objective_seconds"]
    else:
        row["notes"].append("the recovery point carries no creation time: RPO not measured")
    restorer = RESTORERS.get((ref.service, chosen.source))
    if restorer is None:
        row.update(
            status=NOT_RESTORABLE,
            verdict=NOT_RESTORABLE,
            reason=f"no restorer for {ref.service} from {chosen.source}",
        )
        return row

    target = naming.scratch_name(ref.service, ref.name, test_id)
    expires = started + naming.default_ttl(tier.rto)
    tags = naming.scratch_tags(params, test_id, expires, ref.arn)
    row["scratch_name"] = target if handler.makes_scratch else None
    restored: Restored | None = None
    validation = None
    t0 = time.perf_counter()
    try:
        row["restore_start"] = utcnow()
        log.info(
            "restore test %s: %s %s from %s %s -> %s",
            test_id,
            ref.service,
            ref.name,
            chosen.source,
            chosen.id,
            target,
        )
        try:
            writer = intents.of(ctx)
            intent = None
            if handler.makes_scratch:  # write-ahead: what is about to be made, before the call
                intent = writer.intend(
                    purpose="restore-test", kind="restore copy", service=ref.service,
                    account=chosen.account or ref.account, region=chosen.region or ref.region,
                    name=target, source=chosen.id, expires=expires,
                )  # fmt: skip
            with intents.carrying(writer, intent):
                restored = restorer(session, chosen, ref, target, tags)
            if intent is not None:
                writer.started(intent, restored.arn or restored.ident)
            handler.wait(session, restored)
        except NotSupportedOnSandbox as err:
            row.update(status=NOT_SUPPORTED, verdict=NOT_SUPPORTED, reason=str(err))
            return row
        except Exception as err:  # noqa: BLE001  (a failed restore is a result, not a crash)
            if session.sandbox and is_not_supported(err):
                row.update(status=NOT_SUPPORTED, verdict=NOT_SUPPORTED,
                           reason=f"{ref.service} restore from {chosen.source} is not supported by the sandbox: {type(err).__name__}")  # fmt: skip
            else:
                row.update(
                    status=ERROR,
                    verdict=ERROR,
                    reason=f"restore failed: {type(err).__name__}: {err}",
                )
            return row
        row["restore_end"] = utcnow()
        row["restore_seconds"] = time.perf_counter() - t0
        row["scratch_arn"] = restored.arn
        row["notes"].extend(restored.notes)
        pause = float(os.environ.get(PAUSE_ENV) or 0)
        if pause:
            log.info(
                "restore test %s: pausing %.0f s after the restore (%s)", test_id, pause, PAUSE_ENV
            )
            time.sleep(pause)
        recorded = records.lookup(chosen)
        if recorded is not None and recorded.note:
            row["notes"].append(f"backup-time fingerprint {recorded.note}")
        validation = validate(
            session, handler, ref, chosen, restored, recorded, user_checks,
            workers=params.target.max_workers,
        )  # fmt: skip
        row["notes"].extend(n for n in restored.notes if n not in row["notes"])
        _fill_validation(row, validation, ref_time)
    except Exception as err:  # noqa: BLE001
        row.update(
            status=ERROR,
            verdict=ERROR,
            reason=f"validation failed to run: {type(err).__name__}: {err}",
        )
    finally:
        if handler.makes_scratch:
            _cleanup(ctx, handler, ref, restored, target, test_id, row)
        else:
            row["cleanup_status"] = "NOTHING_CREATED"
    if row.get("status") is None:
        _overall(row)
    # one row, one verdict: ``verdict`` is the test's outcome (= ``status``); what the
    # content checks alone said is ``content_verdict``
    row["verdict"] = row["status"]
    return row


def _fill_validation(row: dict[str, Any], v, ref_time: datetime) -> None:
    row["validation_seconds"] = v.seconds
    row["rto_seconds"] = (row["restore_seconds"] or 0.0) + v.seconds
    row["rto_met"] = row["rto_seconds"] <= row["rto_objective_seconds"]
    row["content_verdict"] = v.verdict
    row["verdict_detail"] = v.detail
    row["evidence"] = v.evidence
    row["checks"] = [c.as_row() for c in v.checks]
    row["records_found"] = v.content.count if v.content else None
    if v.newest_canary is not None:
        row["canary_time"] = v.newest_canary
        row["canary_freshness_seconds"] = max(0.0, _seconds(ref_time - v.newest_canary))


def _overall(row: dict[str, Any]) -> None:
    reasons = []
    content = row["content_verdict"]
    if content == FAIL:
        reasons.append(f"validation failed: {row['verdict_detail']}")
    if row.get("rpo_met") is False:
        reasons.append(
            f"recovery point is {_human(row['rpo_seconds'])} old, older than the {row['tier']} RPO of "
            f"{_human(row['rpo_objective_seconds'])}"
        )
    if row.get("rto_met") is False:
        reasons.append(
            f"restore + validation took {_human(row['rto_seconds'])}, over the {row['tier']} RTO of {_human(row['rto_objective_seconds'])}"
        )
    if row.get("cleanup_status") == "FAILED":
        reasons.append(f"scratch resource not deleted: {row['cleanup_detail']}")
    if reasons:
        row["status"], row["reason"] = FAIL, "; ".join(reasons)
    else:
        row["status"] = content
        row["reason"] = (
            "content proven by the backup-time fingerprint; RTO and RPO met"
            if content == PASS
            else f"restored and checked without a backup-time fingerprint ({', '.join(row['evidence'] or [])}); RTO and RPO met"
        )


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.1f} s"


def _find_dr(
    session: Any, ref: ResourceRef, region: str, sources: list[str] | None
) -> tuple[list[RecoveryPoint], list[str]]:
    """``ref``'s AWS Backup copies in ``region``, newest first (only AWS Backup copies
    across Regions; native backups and PITR stay in the resource's Region)."""
    from runbook_lib.services.backup.restore import find_copies

    if sources and "aws-backup" not in sources:
        return [], [f"copy='dr' reads only aws-backup copies; sources {sources} exclude them"]
    if ref.region == region:
        return [], [f"the copy Region {region} is the resource's own Region"]
    try:
        points, notes = find_copies(session, ref, region)
    except Exception as err:  # noqa: BLE001  (reported like any source that cannot be asked)
        if is_not_supported(err) and session.sandbox:
            return [], [
                f"aws-backup in {region}: not supported on the sandbox ({type(err).__name__})"
            ]
        return [], [f"aws-backup in {region}: {type(err).__name__}: {err}"]
    points.sort(key=lambda p: (p.created is not None, p.created or datetime.min), reverse=True)
    return points, notes


def _cleanup(
    ctx, handler, ref: ResourceRef, restored: Restored | None, target: str, test_id: str, row: dict
) -> None:
    """Delete what this test created, found by handle or by its test id tag; verify it is gone.
    The scratch copy lives in the recovery point's Region (a DR copy restores there)."""
    session, key = ctx.session, ctx.params.tag_keys.restore_test
    ref = ResourceRef(ref.arn, ref.service, ref.account, row.get("recovery_point_region") or ref.region,
                      ref.name, ref.tier, ref.resource_id)  # fmt: skip
    try:
        victims = [restored] if restored is not None else []
        if restored is None or (restored.resource_id is None and handler.assigns_id):
            victims += [
                r
                for r in handler.list_tagged(session, ref.account, ref.region, key)
                if r.details.get("tags", {}).get(key) == test_id
            ]
            if not handler.assigns_id:  # the scratch name is the resource's identifier
                victims.append(Restored(ref.service, ref.account, ref.region, target))
        deleted = 0
        for v in victims:
            if handler.exists(session, v):
                handler.delete(session, v)
                deleted += 1
        left = [v.name for v in victims if handler.exists(session, v)]
        if left:
            row.update(
                cleanup_status="DELETE_REQUESTED",
                cleanup_detail=f"still present (deleting): {left}",
            )
        else:
            row.update(
                cleanup_status="DELETED" if deleted else "NOTHING_CREATED",
                cleanup_detail=f"{deleted} deleted",
            )
    except Exception as err:  # noqa: BLE001  (record it; the sweep will retry by tag)
        # a delete or an existence check that failed (throttled, denied): the copy may still
        # exist, so never DELETED / NOTHING_CREATED; it keeps its tags for the sweep
        row.update(
            cleanup_status="FAILED",
            cleanup_detail=f"{ref.service} {target}: {type(err).__name__}: {err}; it keeps its "
            f"{key}={test_id} tag and the sweep deletes it after its expiry",
        )
        log.warning("restore test %s: clean-up failed: %s", test_id, err)


# --------------------------------------------------------------------------- many tests


def restore_test(
    ctx: Any,
    selection: pd.DataFrame,
    *,
    checks: dict[str, Any] | None = None,
    as_of: datetime | str | None = None,
    sources: list[str] | None = None,
    recovery_points: dict[str, str] | None = None,
    record: bool = True,
    copy: str = "local",
    restore_via: str = "runbook",
) -> pd.DataFrame:
    """Restore-test every selected row (``selected`` column true, if present); append one
    row per test to ``restore_tests``; return the rows.

    ``copy``: ``local`` (the recovery point in the resource's Region), ``dr`` (its AWS
    Backup copy in the tier's ``copy_region``, restored there) or ``both`` (one test each).
    ``restore_via``: ``runbook`` (restore into a scratch copy of the runbook's own) or
    ``restore_testing`` (validate the copies AWS Backup restore testing made; ``local`` only)."""
    from runbook_lib.progress import progress as tqdm

    check_copy(copy)
    check_via(restore_via)
    if restore_via == "restore_testing" and copy != "local":
        raise ParamsError(
            "copy", [f"copy: {copy!r} is not allowed with restore_via='restore_testing'; use 'local'"]
        )  # fmt: skip
    parse_time(as_of, field_name="as_of")
    # the shape of every entry (keyed by ARN, name, service or '*') before any AWS call
    for selector in ["*", *(checks if isinstance(checks, dict) else {})]:
        checks_for(checks, ResourceRef(selector, selector, "", "", selector))
    sel = selection
    if "selected" in sel:
        sel = sel[sel["selected"].astype(bool)]
    records = BackupRecords(ctx.ledger)
    rows = []
    from runbook_lib.restore.resources import ref_from_row

    for r in tqdm(sel.to_dict("records"), desc="restore tests", disable=None):
        ref = ref_from_row(r)
        rp = (recovery_points or {}).get(ref.arn)
        for which in ("local", "dr") if copy == "both" else (copy,):
            row = restore_one(
                ctx, ref, recovery_point=rp, sources=sources, checks=checks, as_of=as_of,
                records=records, copy=which, restore_via=restore_via,
            )  # fmt: skip
            log.info(
                "restore test %s %s (%s): %s %s",
                ref.service,
                ref.name,
                which,
                row["status"],
                row.get("reason") or "",
            )
            rows.append(row)
    df = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    if record and not df.empty:
        ctx.ledger.append("restore_tests", df, ctx.run_id)
    return df
