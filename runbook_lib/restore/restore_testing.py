"""A restore test whose restore step is AWS Backup's own restore testing (``restore_via=
"restore_testing"``).

AWS Backup restore testing plans restore recovery points on a schedule and keep each
restored copy for the selection's ``ValidationWindowHours``; they prove that the restore
job finished, not what the copy holds. Here the runbook:

1. finds the newest COMPLETED restore job of the resource that a restore testing plan
   started (``CreatedBy.RestoreTestingPlanArn``), whose copy is still there (no
   ``DeletionStatus``) and not yet validated (no final ``ValidationStatus``);
2. puts ``VALIDATING``, then validates the copy with the fingerprint and canary recorded
   when the recovery point was made, the user checks and the metadata (``validate``);
3. puts the verdict with ``PutRestoreValidationResult``: ``SUCCESSFUL`` when the content
   checked out (PASS, PASS_WEAK), ``FAILED`` otherwise, with a message naming the verdict;
4. leaves the clean-up to AWS Backup (a final validation status starts it) and checks it
   happened: ``DeletionStatus`` and the copy's existence, within ``cleanup_wait`` seconds.

The runbook creates nothing of its own in this mode: ``cleanup_status`` reports AWS
Backup's deletion. The row is a ``restore_tests`` row like any other restore test.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from runbook_lib.errors import ParamsError
from runbook_lib.restore.model import (
    ERROR,
    FAIL,
    PASS,
    PASS_WEAK,
    ResourceRef,
    Restored,
    service_of_arn,
    utc,
)
from runbook_lib.restore.registry import get_handler, point

log = logging.getLogger("runbook_lib")

#: How a restore test restores: the runbook's own restore into a scratch copy, or AWS
#: Backup's restore testing jobs.
RESTORE_VIA = ("runbook", "restore_testing")
FINAL = ("SUCCESSFUL", "FAILED", "TIMED_OUT")
#: AWS Backup takes at most this many characters of ValidationStatusMessage here (the
#: model sets no limit; a verdict's first lines are what a console reader needs)
MESSAGE_MAX = 1000
CLEANUP_WAIT = 60.0  # seconds to wait for AWS Backup's deletion before recording it as pending


def check_via(restore_via: str) -> str:
    if restore_via not in RESTORE_VIA:
        raise ParamsError(
            "restore_via",
            [f"restore_via: {restore_via!r} is not allowed; allowed: {', '.join(RESTORE_VIA)}"],
        )
    return restore_via


def _list_jobs(session: Any, ref: ResourceRef) -> list[dict[str, Any]]:
    """Completed restore jobs of ``ref`` that a restore testing plan started, newest first."""
    backup = session.client("backup", ref.account, ref.region)
    found: list[dict[str, Any]] = []
    pages = backup.get_paginator("list_restore_jobs_by_protected_resource").paginate(
        ResourceArn=ref.arn, ByStatus="COMPLETED"
    )
    for page in pages:
        for job in page.get("RestoreJobs", []):
            if (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn"):
                found.append(job)
    return sorted(found, key=lambda j: utc(j.get("CreationDate")) or datetime.min, reverse=True)


def _awaiting(job: dict[str, Any]) -> bool:
    """The copy is still there and nobody has put a final validation result."""
    return not job.get("DeletionStatus") and job.get("ValidationStatus") not in FINAL


def _describe_job(job: dict[str, Any]) -> str:
    state = ", ".join(f"{k} {job[k]}" for k in ("ValidationStatus", "DeletionStatus") if job.get(k))
    return f"job {job.get('RestoreJobId')} ({state or 'COMPLETED'})"


def _put(backup: Any, job_id: str, status: str, message: str) -> None:
    backup.put_restore_validation_result(
        RestoreJobId=job_id, ValidationStatus=status, ValidationStatusMessage=message[:MESSAGE_MAX]
    )


def _verdict_message(row: dict[str, Any]) -> tuple[str, str]:
    """(ValidationStatus, message) for the test in ``row``: SUCCESSFUL when the content
    checked out, FAILED otherwise; the message names the content verdict, the test's
    overall verdict and why."""
    content = row.get("content_verdict")
    status = "SUCCESSFUL" if content in (PASS, PASS_WEAK) else "FAILED"
    text = f"runbook content verdict {content or row.get('status')}: {row.get('verdict_detail') or row.get('reason') or ''}"
    if row.get("status") not in (content, None):
        text += f" | overall {row['status']}: {row.get('reason') or ''}"
    return status, f"{text} (test {row['test_id']})"


def run_via_restore_testing(
    ctx: Any,
    ref: ResourceRef,
    row: dict[str, Any],
    *,
    recovery_point: str | None,
    user_checks: dict[str, Any],
    records: Any,
    ref_time: datetime,
    cleanup_wait: float = CLEANUP_WAIT,
) -> dict[str, Any]:
    """Fill ``row`` (restore_one's, with its identity columns set) from a restore testing
    job of ``ref``; ``recovery_point`` picks the job by its id or recovery point."""
    from runbook_lib.restore.run import SKIPPED, _fill_validation, _overall, _seconds
    from runbook_lib.restore.validate import validate

    session = ctx.session
    handler = get_handler(ref.service)
    row["cleanup_status"] = "NOTHING_CREATED"
    jobs = _list_jobs(session, ref)
    if recovery_point:
        jobs = [
            j
            for j in jobs
            if recovery_point
            in (j.get("RestoreJobId"), j.get("RecoveryPointArn"), j.get("CreatedResourceArn"))
            or (j.get("RecoveryPointArn") or "").endswith(recovery_point)
        ]
    ready = [j for j in jobs if _awaiting(j) and j.get("CreatedResourceArn")]
    if not ready:
        seen = "; ".join(_describe_job(j) for j in jobs[:3]) or "none"
        row.update(
            status=SKIPPED,
            verdict=SKIPPED,
            reason=f"no completed AWS Backup restore testing job of {ref.name} awaits validation "
            f"(restored copy present, no final ValidationStatus); newest: {seen}. A restore "
            "testing plan covering it, with ValidationWindowHours > 0, makes one on its schedule",
        )
        return row
    job = ready[0]
    job_id, created = job["RestoreJobId"], job["CreatedResourceArn"]
    plan_arn = job["CreatedBy"]["RestoreTestingPlanArn"]
    vault = (job.get("BackupVaultArn") or "").rsplit(":", 1)[-1] or None
    chosen = point(
        ref,
        "aws-backup",
        id=job.get("RecoveryPointArn", ""),
        created=utc(job.get("RecoveryPointCreationDate")),
        vault=vault,
    )
    begun, ended = utc(job.get("CreationDate")), utc(job.get("CompletionDate"))
    row.update(
        recovery_point_id=chosen.id, recovery_point_source=chosen.source,
        recovery_point_time=chosen.created, recovery_point_region=ref.region,
        recovery_point_choice=f"AWS Backup restore testing job {job_id} of {plan_arn.rsplit(':', 1)[-1]}",
        restore_start=begun, restore_end=ended,
        restore_seconds=_seconds(ended - begun) if begun and ended else None,
        scratch_arn=created, scratch_name=service_of_arn(created, field_name="CreatedResourceArn")[1],
    )  # fmt: skip
    row["notes"].append(
        f"restored by AWS Backup restore testing (plan {plan_arn}, job {job_id}); the runbook "
        "created nothing and leaves the deletion to AWS Backup"
    )
    if chosen.created is not None:
        row["rpo_seconds"] = max(0.0, _seconds(ref_time - chosen.created))
        row["rpo_met"] = row["rpo_seconds"] <= row["rpo_objective_seconds"]
    restored = Restored(
        ref.service, ref.account, ref.region, row["scratch_name"], created,
        resource_id=handler.resource_id(created),
    )  # fmt: skip
    backup = session.client("backup", ref.account, ref.region)
    try:
        _put(backup, job_id, "VALIDATING", f"runbook test {row['test_id']} validating the content")
        handler.wait(session, restored)
        recorded = records.lookup(chosen)
        if recorded is not None and recorded.note:
            row["notes"].append(f"backup-time fingerprint {recorded.note}")
        validation = validate(
            session, handler, ref, chosen, restored, recorded, user_checks,
            workers=ctx.params.target.max_workers,
        )  # fmt: skip
        row["notes"].extend(n for n in restored.notes if n not in row["notes"])
        _fill_validation(row, validation, ref_time)
    except Exception as err:  # noqa: BLE001  (a validation that could not run is a result)
        row.update(status=ERROR, verdict=ERROR,
                   reason=f"validation failed to run: {type(err).__name__}: {err}")  # fmt: skip
    if row.get("status") is None:
        _overall(row)  # without the clean-up, which is AWS Backup's: judged below
    status, message = _verdict_message(row)
    try:
        _put(backup, job_id, status, message)
        row["notes"].append(f"ValidationStatus {status} put on restore job {job_id}")
    except Exception as err:  # noqa: BLE001  (the verdict stands; AWS Backup did not take it)
        row["notes"].append(
            f"PutRestoreValidationResult {status} failed: {type(err).__name__}: {err}"
        )
        if row.get("status") != ERROR:
            row.update(status=ERROR, reason=f"{row.get('reason') or ''}; the verdict could not "
                       f"be put on restore job {job_id}: {type(err).__name__}: {err}")  # fmt: skip
    _check_cleanup(session, backup, handler, restored, job_id, row, cleanup_wait)
    if row.get("cleanup_status") == "FAILED" and row.get("status") in (PASS, PASS_WEAK):
        row.update(status=FAIL, reason=f"restored copy not deleted: {row['cleanup_detail']}")
    row["verdict"] = row["status"]
    return row


def _check_cleanup(
    session: Any,
    backup: Any,
    handler: Any,
    restored: Restored,
    job_id: str,
    row: dict[str, Any],
    wait: float,
) -> None:
    """Record whether AWS Backup deleted the restored copy (``DeletionStatus`` and an
    existence check), waiting up to ``wait`` seconds for it."""
    deadline, delay = time.monotonic() + wait, 0.2
    while True:
        d = backup.describe_restore_job(RestoreJobId=job_id)
        deletion, why = d.get("DeletionStatus"), d.get("DeletionStatusMessage") or ""
        if deletion in ("SUCCESSFUL", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 15.0)
    try:
        gone = not handler.exists(session, restored)
    except Exception as err:  # noqa: BLE001  (cannot tell: never read as deleted)
        gone, why = False, f"{why}; existence check failed: {type(err).__name__}: {err}"
    if deletion == "SUCCESSFUL" and gone:
        row.update(cleanup_status="DELETED", cleanup_detail=f"deleted by AWS Backup: {why}")
    elif deletion == "FAILED":
        row.update(
            cleanup_status="FAILED",
            cleanup_detail=f"AWS Backup could not delete {restored.arn}: {why}; it carries no "
            "runbook tags, so the sweep leaves it: delete it by hand",
        )
    else:
        row.update(
            cleanup_status="DELETE_REQUESTED",
            cleanup_detail=f"AWS Backup has not deleted {restored.arn} yet (DeletionStatus "
            f"{deletion or 'not started'}{', copy still present' if not gone else ''}) "
            f"{wait:.0f} s after the verdict; it deletes it once a final validation status is "
            "put or the validation window closes",
        )
