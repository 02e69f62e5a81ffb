"""Backup, copy and restore jobs.

A job's data is captured when it starts (a backup holds the resource as it was at
``start_backup_job``). Its state moves CREATED/PENDING -> RUNNING -> COMPLETED on
later reads: after ``faults.settings["job_seconds"]`` (0 by default, so the first
describe/list after the start already shows COMPLETED). The recovery point (backup,
copy) or the new resource (restore) appears when the job completes. A fault from
``faults.set_fault`` decides the end state instead.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.moto_api._internal import mock_random

from . import faults, recovery_points, resources, vaults
from .errors import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from .state import as_utc, ext_state, get_vault, now, split_arn

TERMINAL = {"COMPLETED", "FAILED", "EXPIRED", "ABORTED", "PARTIAL"}
_lock = threading.RLock()


@dataclass
class Job:
    job_type: str  # BACKUP | COPY | RESTORE
    job_id: str
    account_id: str
    region: str
    resource_arn: str
    resource_type: str
    resource_name: str
    iam_role_arn: str | None
    state: str
    size: int | None
    fault: faults.Fault | None
    on_complete: Callable[[Job], None] | None = None
    on_fail: Callable[[Job], None] | None = None
    creation_date: dt.datetime = field(default_factory=now)
    completion_date: dt.datetime | None = None
    status_message: str | None = None
    percent_done: float = 0.0
    created_by: dict[str, str] | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def advance(self) -> None:
        """Move the job on according to elapsed time and its fault."""
        with _lock:
            if self.state in TERMINAL:
                return
            if self.fault and self.fault.state == "RUNNING":
                self.state, self.percent_done = "RUNNING", 50.0
                self.status_message = self.fault.status_message
                return
            seconds = faults.settings.get("job_seconds", 0.0)
            elapsed = (now() - self.creation_date).total_seconds()
            if elapsed < seconds:
                self.state = "RUNNING"
                self.percent_done = round(100.0 * elapsed / seconds, 1)
                return
            self.completion_date = now()
            if self.fault:
                self._end(self.fault.state, self.fault.status_message)
                return
            try:
                if self.on_complete:
                    self.on_complete(self)
            except Exception as err:  # the service refused: the job fails, as on AWS
                self._end("FAILED", f"{type(err).__name__}: {getattr(err, 'message', err)}")
                return
            self.state, self.percent_done = "COMPLETED", 100.0

    def _end(self, state: str, message: str) -> None:
        self.state, self.status_message = state, message
        if self.on_fail:
            self.on_fail(self)

    def stop(self) -> None:
        with _lock:
            if self.state in TERMINAL:
                raise InvalidRequestException(
                    f"Backup job {self.job_id} is {self.state} and cannot be stopped"
                )
            self.completion_date = now()
            self._end("ABORTED", "Backup job stopped by request")

    def common(self) -> dict[str, Any]:
        return {
            "AccountId": self.account_id,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "ResourceName": self.resource_name,
            "CreationDate": self.creation_date,
            "CompletionDate": self.completion_date,
            "StatusMessage": self.status_message,
            "BackupSizeInBytes": self.size,
            "IamRoleArn": self.iam_role_arn,
            "CreatedBy": self.created_by,
        }

    def describe(self) -> dict[str, Any]:
        out = self.common()
        f = self.fields
        if self.job_type == "BACKUP":
            out.update(
                BackupJobId=self.job_id,
                State=self.state,
                PercentDone=str(self.percent_done),
                BackupVaultName=f["vault"].backup_vault_name,
                BackupVaultArn=f["vault"].backup_vault_arn,
                RecoveryPointArn=f["recovery_point_arn"],
                RecoveryPointLifecycle=f["lifecycle"],
                EncryptionKeyArn=f["vault"].encryption_key_arn,
                IsEncrypted=True,
                StartBy=self.creation_date + dt.timedelta(minutes=f["start_window"]),
                ExpectedCompletionDate=self.creation_date
                + dt.timedelta(minutes=f["complete_window"]),
                BackupType="FULL",
                BytesTransferred=self.size if self.state == "COMPLETED" else 0,
                InitiationDate=self.creation_date,
                VaultType=vaults.vault_type(f["vault"]),
                IsParent=False,
            )
        elif self.job_type == "COPY":
            out.pop("ResourceName")
            out.update(
                CopyJobId=self.job_id,
                State=self.state,
                SourceBackupVaultArn=f["source_vault_arn"],
                SourceRecoveryPointArn=f["source_recovery_point_arn"],
                DestinationBackupVaultArn=f["destination_vault_arn"],
                DestinationRecoveryPointArn=f["destination_recovery_point_arn"],
                IsParent=False,
                ResourceName=self.resource_name,
            )
        else:
            out.pop("ResourceArn")
            out.pop("ResourceName")
            out.update(
                RestoreJobId=self.job_id,
                Status=self.state,
                PercentDone=str(self.percent_done),
                RecoveryPointArn=f["recovery_point_arn"],
                SourceResourceArn=self.resource_arn,
                BackupVaultArn=f["vault_arn"],
                CreatedResourceArn=f.get("created_resource_arn"),
                RecoveryPointCreationDate=f["recovery_point_creation_date"],
                ExpectedCompletionTimeMinutes=1,
                IsParent=False,
            )
        return {k: v for k, v in out.items() if v is not None}


def _new_id() -> str:
    return str(mock_random.uuid4()).upper()


def _table(kind: str, account_id: str, region: str) -> dict[str, Job]:
    st = ext_state(account_id, region)
    return {"BACKUP": st.backup_jobs, "COPY": st.copy_jobs, "RESTORE": st.restore_jobs}[kind]


def get_job(kind: str, account_id: str, region: str, job_id: str) -> Job:
    job = _table(kind, account_id, region).get(job_id)
    if job is None:
        raise ResourceNotFoundException(
            f"{kind.capitalize()} job {job_id} not found in account {account_id} "
            f"and Region {region}"
        )
    job.advance()
    return job


def list_jobs(kind: str, account_id: str, region: str, p: dict[str, Any]) -> list[Job]:
    out = []
    for job in list(_table(kind, account_id, region).values()):
        job.advance()
        if p.get("ByState") and job.state != p["ByState"]:
            continue
        if p.get("ByStatus") and job.state != p["ByStatus"]:
            continue
        if p.get("ByResourceArn") and job.resource_arn != p["ByResourceArn"]:
            continue
        if p.get("ByResourceType") and job.resource_type != p["ByResourceType"]:
            continue
        if p.get("ByAccountId") and job.account_id != p["ByAccountId"]:
            continue
        vault = job.fields.get("vault")
        if p.get("ByBackupVaultName") and (
            vault is None or vault.backup_vault_name != p["ByBackupVaultName"]
        ):
            continue
        dest = job.fields.get("destination_vault_arn")
        if p.get("ByDestinationVaultArn") and dest != p["ByDestinationVaultArn"]:
            continue
        plan_arn = (job.created_by or {}).get("RestoreTestingPlanArn")
        if p.get("ByRestoreTestingPlanArn") and plan_arn != p["ByRestoreTestingPlanArn"]:
            continue
        src_rp = job.fields.get("source_recovery_point_arn")
        if p.get("BySourceRecoveryPointArn") and src_rp != p["BySourceRecoveryPointArn"]:
            continue
        if p.get("ByCreatedAfter") and job.creation_date < as_utc(p["ByCreatedAfter"]):
            continue
        if p.get("ByCreatedBefore") and job.creation_date > as_utc(p["ByCreatedBefore"]):
            continue
        done = job.completion_date
        if p.get("ByCompleteAfter") and (not done or done < as_utc(p["ByCompleteAfter"])):
            continue
        if p.get("ByCompleteBefore") and (not done or done > as_utc(p["ByCompleteBefore"])):
            continue
        out.append(job)
    return sorted(out, key=lambda j: j.creation_date, reverse=True)


def advance_all(account_id: str, region: str) -> None:
    st = ext_state(account_id, region)
    for table in (st.backup_jobs, st.copy_jobs, st.restore_jobs):
        for job in list(table.values()):
            job.advance()


# ------------------------------------------------------------------- backup


def start_backup_job(
    account_id: str,
    region: str,
    p: dict[str, Any],
    created_by: dict[str, str] | None = None,
    copy_actions: list[dict[str, Any]] | None = None,
) -> Job:
    token = p.get("IdempotencyToken")
    if token:  # AWS: a retry with the same token starts nothing new and returns the job
        for known in _table("BACKUP", account_id, region).values():
            if known.fields.get("idempotency_token") == token:
                return known
    vault = get_vault(account_id, region, p["BackupVaultName"])
    res = resources.identify(account_id, region, p["ResourceArn"])
    lifecycle = p.get("Lifecycle")
    _check_lifecycle(lifecycle, vault)
    job_id = _new_id()
    rp_id = str(mock_random.uuid4())
    rp_arn = f"arn:aws:backup:{region}:{account_id}:recovery-point:{rp_id}"
    fault = faults.take_fault("BACKUP", res.arn)
    payload, error = None, None
    if fault is None:
        try:
            payload = resources.take(res, rp_id)
        except Exception as err:  # the resource is missing: the job will fail
            error = f"{type(err).__name__}: {getattr(err, 'message', err)}"

    def complete(job: Job) -> None:
        if payload is None:
            raise RuntimeError(error or "no data captured")
        rp = recovery_points.RecoveryPoint(
            arn=rp_arn,
            account_id=account_id,
            region=region,
            vault=vault,
            resource_arn=res.arn,
            resource_type=res.resource_type,
            resource_name=res.name,
            payload=payload,
            iam_role_arn=p.get("IamRoleArn"),
            lifecycle=lifecycle,
            created_by=created_by,
            creation_date=job.creation_date,
        )
        recovery_points.add(rp)
        for action in copy_actions or []:
            copy_args = {
                "RecoveryPointArn": rp_arn,
                "SourceBackupVaultName": vault.backup_vault_name,
                "DestinationBackupVaultArn": action["DestinationBackupVaultArn"],
                "IamRoleArn": p.get("IamRoleArn"),
                "Lifecycle": action.get("Lifecycle"),
            }
            try:
                start_copy_job(account_id, region, copy_args, created_by=created_by)
            except Exception as err:  # AWS: the copy job fails; the backup stands
                _failed_copy_job(account_id, region, rp, copy_args, err, created_by)

    def fail(job: Job) -> None:
        if payload is not None:
            resources.discard(payload, account_id)
        job.fields["recovery_point_arn"] = None

    job = Job(
        job_type="BACKUP",
        job_id=job_id,
        account_id=account_id,
        region=region,
        resource_arn=res.arn,
        resource_type=res.resource_type,
        resource_name=res.name,
        iam_role_arn=p.get("IamRoleArn"),
        state="CREATED",
        size=payload.size if payload else None,
        fault=fault,
        on_complete=complete,
        on_fail=fail,
        created_by=created_by,
        fields={
            "vault": vault,
            "recovery_point_arn": rp_arn,
            "lifecycle": lifecycle,
            "start_window": p.get("StartWindowMinutes") or 480,
            "complete_window": p.get("CompleteWindowMinutes") or 10080,
            "idempotency_token": token,
        },
    )
    _table("BACKUP", account_id, region)[job_id] = job
    return job


def _check_lifecycle(lifecycle: dict[str, Any] | None, vault: Any) -> None:
    lc = lifecycle or {}
    cold, delete_after = lc.get("MoveToColdStorageAfterDays"), lc.get("DeleteAfterDays")
    if cold and delete_after and delete_after < cold + 90:
        raise InvalidParameterValueException(
            "DeleteAfterDays must be at least 90 days greater than MoveToColdStorageAfterDays"
        )
    if vault.locked and vault.min_retention_days and delete_after:
        if delete_after < vault.min_retention_days:
            raise InvalidParameterValueException(
                f"Lifecycle DeleteAfterDays {delete_after} is shorter than MinRetentionDays "
                f"{vault.min_retention_days} of the locked vault {vault.backup_vault_name}"
            )


# --------------------------------------------------------------------- copy


def start_copy_job(
    account_id: str,
    region: str,
    p: dict[str, Any],
    created_by: dict[str, str] | None = None,
) -> Job:
    source = recovery_points.get(
        account_id, region, p["SourceBackupVaultName"], p["RecoveryPointArn"]
    )
    dest_arn = p["DestinationBackupVaultArn"]
    service, dest_region, dest_account, rest = split_arn(dest_arn)
    if service != "backup" or not rest.startswith("backup-vault:"):
        raise InvalidParameterValueException(f"Invalid DestinationBackupVaultArn: {dest_arn}")
    if dest_account != account_id:
        raise InvalidParameterValueException(
            "Cross-account copy is not supported by the sandbox (moto cannot share "
            "snapshots or KMS keys across accounts)"
        )
    dest_vault = get_vault(dest_account, dest_region, rest.split(":", 1)[1])
    _check_lifecycle(p.get("Lifecycle"), dest_vault)
    vaults.check_copy_target(dest_vault, p.get("Lifecycle"))
    rp_id = str(mock_random.uuid4())
    dest_rp_arn = f"arn:aws:backup:{dest_region}:{account_id}:recovery-point:{rp_id}"
    fault = faults.take_fault("COPY", source.resource_arn)
    payload = None
    if fault is None:
        payload = resources.copy_to(
            source.payload, account_id, dest_region, dest_vault.encryption_key_arn, rp_id
        )

    def complete(job: Job) -> None:
        assert payload is not None
        recovery_points.add(
            recovery_points.RecoveryPoint(
                arn=dest_rp_arn,
                account_id=account_id,
                region=dest_region,
                vault=dest_vault,
                resource_arn=source.resource_arn,
                resource_type=source.resource_type,
                resource_name=source.resource_name,
                payload=payload,
                iam_role_arn=p.get("IamRoleArn"),
                lifecycle=p.get("Lifecycle"),
                created_by=created_by,
                source_vault_arn=source.vault.backup_vault_arn,
                creation_date=source.creation_date,
            )
        )

    def fail(job: Job) -> None:
        if payload is not None:
            resources.discard(payload, account_id)
        job.fields["destination_recovery_point_arn"] = None

    job = Job(
        job_type="COPY",
        job_id=_new_id(),
        account_id=account_id,
        region=region,
        resource_arn=source.resource_arn,
        resource_type=source.resource_type,
        resource_name=source.resource_name,
        iam_role_arn=p.get("IamRoleArn"),
        state="CREATED",
        size=source.payload.size,
        fault=fault,
        on_complete=complete,
        on_fail=fail,
        created_by=created_by,
        fields={
            "source_vault_arn": source.vault.backup_vault_arn,
            "source_recovery_point_arn": source.arn,
            "destination_vault_arn": dest_vault.backup_vault_arn,
            "destination_recovery_point_arn": dest_rp_arn,
        },
    )
    _table("COPY", account_id, region)[job.job_id] = job
    return job


def _failed_copy_job(
    account_id: str,
    region: str,
    source: Any,
    p: dict[str, Any],
    err: Exception,
    created_by: dict[str, str] | None,
) -> Job:
    """A plan's copy action the sandbox refused (e.g. to another account): a COPY job that
    FAILED with the reason, as AWS lists a copy job that failed; the backup is untouched."""
    job = Job(
        job_type="COPY",
        job_id=_new_id(),
        account_id=account_id,
        region=region,
        resource_arn=source.resource_arn,
        resource_type=source.resource_type,
        resource_name=source.resource_name,
        iam_role_arn=p.get("IamRoleArn"),
        state="FAILED",
        size=source.payload.size,
        fault=None,
        created_by=created_by,
        completion_date=now(),
        status_message=f"{type(err).__name__}: {getattr(err, 'message', err)}",
        fields={
            "source_vault_arn": source.vault.backup_vault_arn,
            "source_recovery_point_arn": source.arn,
            "destination_vault_arn": p["DestinationBackupVaultArn"],
            "destination_recovery_point_arn": None,
        },
    )
    _table("COPY", account_id, region)[job.job_id] = job
    return job


# ------------------------------------------------------------------ restore


def start_restore_job(
    account_id: str,
    region: str,
    p: dict[str, Any],
    created_by: dict[str, str] | None = None,
    job_class: type[Job] = Job,
) -> Job:
    """Start a restore job (``created_by``: what started it, e.g. a restore testing plan;
    ``job_class``: a Job subclass for jobs that do more after the restore)."""
    arn = p["RecoveryPointArn"]
    _, rp_region, rp_account, _ = split_arn(arn)
    if (rp_region, rp_account) != (region, account_id):
        raise ResourceNotFoundException(
            f"Recovery point {arn} not found in account {account_id} and Region {region}"
        )
    token = p.get("IdempotencyToken")
    if token:  # AWS: a retry with the same token starts nothing new and returns the job
        for known in _table("RESTORE", account_id, region).values():
            if known.fields.get("idempotency_token") == token:
                return known
    rp = recovery_points.get(account_id, region, None, arn)
    metadata = dict(p.get("Metadata") or {})
    if p.get("ResourceType") and p["ResourceType"] != rp.resource_type:
        raise InvalidParameterValueException(
            f"ResourceType {p['ResourceType']} does not match the recovery point's "
            f"{rp.resource_type}"
        )
    resources.check_restore(rp.payload, rp.resource_name, metadata)
    job_id = _new_id()

    def complete(job: Job) -> None:
        job.fields["created_resource_arn"] = resources.restore(
            rp.payload, account_id, metadata, job_id
        )
        rp.last_restore_time = now()

    job = job_class(
        job_type="RESTORE",
        job_id=job_id,
        account_id=account_id,
        region=region,
        resource_arn=rp.resource_arn,
        resource_type=rp.resource_type,
        resource_name=rp.resource_name,
        iam_role_arn=p.get("IamRoleArn"),
        state="PENDING",
        size=rp.payload.size,
        fault=faults.take_fault("RESTORE", rp.resource_arn),
        on_complete=complete,
        created_by=created_by,
        fields={
            "metadata": metadata,
            "recovery_point_arn": arn,
            "vault_arn": rp.vault.backup_vault_arn,
            "recovery_point_creation_date": rp.creation_date,
            "idempotency_token": token,
        },
    )
    _table("RESTORE", account_id, region)[job_id] = job
    return job
