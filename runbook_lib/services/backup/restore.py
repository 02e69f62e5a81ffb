"""AWS Backup recovery points, for every service AWS Backup protects (``ServiceSpec.aws_backup``):
found with ``list_recovery_points_by_resource``, restored with ``start_restore_job`` using the
recovery point's own restore metadata, overridden to name the new resource. What differs per
service is its restore handler's: ``backup_resource_type``, ``backup_restore_metadata(target)``
and ``resource_id(arn)`` (the created resource's id, where the service assigns one)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from runbook_lib import intents
from runbook_lib.inventory.backup import point_fields
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, RestoreError, utc
from runbook_lib.restore.registry import finder, get_handler, point, restorer
from runbook_lib.session import is_not_supported

SERVICE_ROLE = "service-role/AWSBackupDefaultServiceRole"


def protected_services() -> tuple[str, ...]:
    """The services whose resources AWS Backup protects, restores and copies."""
    from runbook_lib import services as registry

    return tuple(s.name for s in registry.specs().values() if s.aws_backup)


def _find(session, ref: ResourceRef) -> list[RecoveryPoint]:
    backup = session.client("backup", ref.account, ref.region)
    out: list[RecoveryPoint] = []
    kwargs: dict[str, Any] = {"ResourceArn": ref.arn}
    try:
        while True:
            page = backup.list_recovery_points_by_resource(**kwargs)
            for rp in page.get("RecoveryPoints", []):
                if rp.get("Status") not in ("COMPLETED", None):
                    continue
                out.append(point(ref, "aws-backup", **point_fields(rp)))
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]
    except Exception as err:
        if is_not_supported(err):
            return []  # AWS Backup not available here (a sandbox without the extension)
        raise


def _metadata(session, rp: RecoveryPoint, ref: ResourceRef, target: str) -> dict[str, str]:
    backup = session.client("backup", rp.account, rp.region)
    meta = dict(
        backup.get_recovery_point_restore_metadata(
            BackupVaultName=rp.vault, RecoveryPointArn=rp.id
        ).get("RestoreMetadata", {})
    )
    meta.update(get_handler(rp.service).backup_restore_metadata(target))
    return {k: v for k, v in meta.items() if v not in (None, "")}


def _restore(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
) -> Restored:
    handler = get_handler(rp.service)
    if not handler.backup_resource_type:
        raise RestoreError(f"{rp.service}: its restore handler names no AWS Backup resource type")
    backup = session.client("backup", rp.account, rp.region)
    request = {
        "RecoveryPointArn": rp.id,
        "IamRoleArn": f"arn:aws:iam::{rp.account}:role/{SERVICE_ROLE}",
        "Metadata": _metadata(session, rp, ref, target),
        "ResourceType": handler.backup_resource_type,
    }
    token = intents.carried_token()
    if token:  # the write-ahead intent's token: a retried start never makes a second copy
        request["IdempotencyToken"] = token
    job_id = _start(backup, request)
    intents.started(f"{JOB_REF}{job_id}")  # before the wait: a kill during the job is recoverable
    deadline = time.monotonic() + handler.wait_seconds
    delay = 0.2
    while True:
        d = backup.describe_restore_job(RestoreJobId=job_id)
        status = d.get("Status")
        if status == "COMPLETED":
            break
        if status in ("FAILED", "ABORTED"):
            raise RestoreError(
                f"AWS Backup restore job {job_id} {status}: {d.get('StatusMessage', '')}"
            )
        if time.monotonic() > deadline:
            raise RestoreError(f"AWS Backup restore job {job_id} still {status} at the deadline")
        time.sleep(delay)
        delay = min(delay * 2, 15.0)
    created = d.get("CreatedResourceArn") or ""
    resource_id = handler.resource_id(created)  # where the service assigns an id
    out = Restored(
        rp.service, rp.account, rp.region, target, created or None, resource_id=resource_id
    )
    out.details["restore_job_id"] = job_id
    if tags:
        handler.tag(session, out, tags)
    return out


#: how a restore job id is written in the intents table's ``ref`` column
JOB_REF = "restore-job:"


def created_by_job(session: Any, account: str, region: str, job_id: str) -> str | None:
    """The ARN of what restore job ``job_id`` created (None while it has made nothing)."""
    backup = session.client("backup", account, region)
    return backup.describe_restore_job(RestoreJobId=job_id).get("CreatedResourceArn") or None


def jobs_from(
    session: Any, account: str, region: str, recovery_point: str, after: Any
) -> list[dict[str, Any]]:
    """Restore jobs of ``recovery_point`` created at or after ``after``, oldest first."""
    backup = session.client("backup", account, region)
    kwargs: dict[str, Any] = {"ByCreatedAfter": after}
    jobs: list[dict[str, Any]] = []
    while True:
        page = backup.list_restore_jobs(**kwargs)
        jobs += [
            j for j in page.get("RestoreJobs", []) if j.get("RecoveryPointArn") == recovery_point
        ]
        if not page.get("NextToken"):
            return sorted(jobs, key=lambda j: j.get("CreationDate") or after)
        kwargs["NextToken"] = page["NextToken"]


#: errors after which a start may have happened on the server although no answer came
_UNANSWERED = (ConnectionClosedError, ReadTimeoutError, EndpointConnectionError)


def _start(backup: Any, request: dict[str, Any], attempts: int = 3) -> str:
    """StartRestoreJob; with an idempotency token, a start whose answer was lost is asked
    again (AWS returns the job the first call started, or starts it if it never arrived)."""
    for attempt in range(1, attempts + 1):
        try:
            return backup.start_restore_job(**request)["RestoreJobId"]
        except _UNANSWERED:
            if "IdempotencyToken" not in request or attempt == attempts:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


for _svc in protected_services():
    finder(_svc, "aws-backup")(_find)
    restorer(_svc, "aws-backup")(_restore)


# --------------------------------------------------------------------------- DR-Region copies


def copy_links(session, ref: ResourceRef, region: str) -> dict[str, dict[str, Any]]:
    """Destination recovery point ARN -> its COMPLETED copy job, for the copies of ``ref``'s
    recovery points made into ``region``. Copy jobs are listed in the source Region (as on
    AWS); the job is the only record linking a copy to the recovery point it was made from."""
    backup = session.client("backup", ref.account, ref.region)
    links: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"ByResourceArn": ref.arn, "ByState": "COMPLETED"}
    while True:
        page = backup.list_copy_jobs(**kwargs)
        for job in page.get("CopyJobs", []):
            dest = job.get("DestinationRecoveryPointArn") or ""
            if dest and dest.split(":")[3] == region and job.get("SourceRecoveryPointArn"):
                links[dest] = job
        if not page.get("NextToken"):
            return links
        kwargs["NextToken"] = page["NextToken"]


def find_copies(session, ref: ResourceRef, region: str) -> tuple[list[RecoveryPoint], list[str]]:
    """``ref``'s AWS Backup recovery points held in ``region`` (the tier's copy Region) by
    the same account: every vault of that Region listed with ``ByResourceArn``. Each copy
    made by a copy job carries ``details['copy_of']`` (the source recovery point ARN, from
    the job) and is dated by its source recovery point, whose data it holds."""
    if ref.service not in protected_services():
        return [], [f"{ref.service}: AWS Backup does not protect it, so it has no DR-Region copy"]
    notes: list[str] = []
    dr = session.client("backup", ref.account, region)
    try:
        links = copy_links(session, ref, region)
        vaults = [
            v["BackupVaultName"]
            for p in dr.get_paginator("list_backup_vaults").paginate()
            for v in p.get("BackupVaultList", [])
        ]
    except Exception as err:
        if is_not_supported(err):
            return [], [f"aws-backup in {region}: not available ({type(err).__name__})"]
        raise
    out: list[RecoveryPoint] = []
    source = session.client("backup", ref.account, ref.region)
    for vault in vaults:
        kwargs: dict[str, Any] = {"BackupVaultName": vault, "ByResourceArn": ref.arn}
        while True:
            page = dr.list_recovery_points_by_backup_vault(**kwargs)
            for rp in page.get("RecoveryPoints", []):
                if rp.get("Status") not in ("COMPLETED", None):
                    continue
                copy_id, created = rp["RecoveryPointArn"], utc(rp.get("CreationDate"))
                details: dict[str, Any] = {"copy_created": created}
                job = links.get(copy_id)
                if job is not None:
                    details.update(
                        copy_of=job["SourceRecoveryPointArn"], copy_job_id=job.get("CopyJobId")
                    )
                    src_vault = (job.get("SourceBackupVaultArn") or "").rsplit(":", 1)[-1]
                    try:
                        src = source.describe_recovery_point(
                            BackupVaultName=src_vault,
                            RecoveryPointArn=job["SourceRecoveryPointArn"],
                        )
                        created = utc(src.get("CreationDate")) or created
                    except Exception as err:  # noqa: BLE001  (the source point may have expired)
                        notes.append(
                            f"source recovery point {job['SourceRecoveryPointArn']} of copy "
                            f"{copy_id} not readable ({type(err).__name__}): dated by the copy"
                        )
                else:
                    notes.append(
                        f"copy {copy_id} in {region}: no completed copy job links it to a "
                        "source recovery point, so no backup-time fingerprint applies"
                    )
                held = {"created": created, "region": region, "vault": vault, "details": details}
                out.append(point(ref, "aws-backup", **{**point_fields(rp), **held}))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return out, notes
