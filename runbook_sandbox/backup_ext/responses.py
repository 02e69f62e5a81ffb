"""AWS Backup operations added to moto's ``BackupResponse``.

moto picks the operation from the HTTP method and path using the botocore service
model, then calls the method of the same snake_case name. Each method here parses
the request by that model (``parse_parameters``) and answers with an
``ActionResult`` that moto serialises by the model, so names and types follow
the AWS API exactly.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from . import jobs, policy, recovery_points, selections
from .errors import InvalidRequestException
from .state import ext_state, paginate


def _params(self: Any) -> dict[str, Any]:
    self.parse_parameters(self.normalized_request)
    return dict(self.params)


def _ctx(self: Any) -> tuple[str, str]:
    return self.current_account, self.region


def _page(items: list[Any], p: dict[str, Any], key: str) -> ActionResult:
    page, token = paginate(items, p.get("MaxResults"), p.get("NextToken"))
    result: dict[str, Any] = {key: page}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


# ----------------------------------------------------------------- selections


def create_backup_selection(self: Any) -> ActionResult:
    p = _params(self)
    sel = selections.create(
        *_ctx(self), p["BackupPlanId"], p["BackupSelection"], p.get("CreatorRequestId")
    )
    return ActionResult(
        {
            "SelectionId": sel.selection_id,
            "BackupPlanId": sel.plan_id,
            "CreationDate": sel.creation_date,
        }
    )


def get_backup_selection(self: Any) -> ActionResult:
    p = _params(self)
    sel = selections.get(*_ctx(self), p["BackupPlanId"], p["SelectionId"])
    out = sel.summary()
    out.pop("SelectionName")
    out.pop("IamRoleArn", None)
    out["BackupSelection"] = sel.body
    return ActionResult(out)


def list_backup_selections(self: Any) -> ActionResult:
    p = _params(self)
    items = [s.summary() for s in selections.list_for_plan(*_ctx(self), p["BackupPlanId"])]
    return _page(items, p, "BackupSelectionsList")


def delete_backup_selection(self: Any) -> EmptyResult:
    p = _params(self)
    selections.delete(*_ctx(self), p["BackupPlanId"], p["SelectionId"])
    return EmptyResult()


def list_protected_resources(self: Any) -> ActionResult:
    p = _params(self)
    jobs.advance_all(*_ctx(self))
    latest: dict[str, Any] = {}
    for rp in ext_state(*_ctx(self)).recovery_points.values():
        if (
            rp.resource_arn not in latest
            or rp.creation_date > latest[rp.resource_arn].creation_date
        ):
            latest[rp.resource_arn] = rp
    items = [
        {
            "ResourceArn": rp.resource_arn,
            "ResourceType": rp.resource_type,
            "ResourceName": rp.resource_name,
            "LastBackupTime": rp.creation_date,
            "LastBackupVaultArn": rp.vault.backup_vault_arn,
            "LastRecoveryPointArn": rp.arn,
        }
        for _, rp in sorted(latest.items())
    ]
    return _page(items, p, "Results")


# ------------------------------------------------------------------- jobs


def start_backup_job(self: Any) -> ActionResult:
    job = jobs.start_backup_job(*_ctx(self), _params(self))
    return ActionResult(
        {
            "BackupJobId": job.job_id,
            "RecoveryPointArn": job.fields["recovery_point_arn"],
            "CreationDate": job.creation_date,
            "IsParent": False,
        }
    )


def describe_backup_job(self: Any) -> ActionResult:
    p = _params(self)
    return ActionResult(jobs.get_job("BACKUP", *_ctx(self), p["BackupJobId"]).describe())


def list_backup_jobs(self: Any) -> ActionResult:
    p = _params(self)
    items = [j.describe() for j in jobs.list_jobs("BACKUP", *_ctx(self), p)]
    return _page(items, p, "BackupJobs")


def stop_backup_job(self: Any) -> EmptyResult:
    p = _params(self)
    jobs.get_job("BACKUP", *_ctx(self), p["BackupJobId"]).stop()
    return EmptyResult()


def start_copy_job(self: Any) -> ActionResult:
    job = jobs.start_copy_job(*_ctx(self), _params(self))
    return ActionResult(
        {"CopyJobId": job.job_id, "CreationDate": job.creation_date, "IsParent": False}
    )


def describe_copy_job(self: Any) -> ActionResult:
    p = _params(self)
    return ActionResult({"CopyJob": jobs.get_job("COPY", *_ctx(self), p["CopyJobId"]).describe()})


def list_copy_jobs(self: Any) -> ActionResult:
    p = _params(self)
    items = [j.describe() for j in jobs.list_jobs("COPY", *_ctx(self), p)]
    return _page(items, p, "CopyJobs")


def start_restore_job(self: Any) -> ActionResult:
    job = jobs.start_restore_job(*_ctx(self), _params(self))
    return ActionResult({"RestoreJobId": job.job_id})


def describe_restore_job(self: Any) -> ActionResult:
    p = _params(self)
    return ActionResult(jobs.get_job("RESTORE", *_ctx(self), p["RestoreJobId"]).describe())


def list_restore_jobs(self: Any) -> ActionResult:
    p = _params(self)
    items = [j.describe() for j in jobs.list_jobs("RESTORE", *_ctx(self), p)]
    return _page(items, p, "RestoreJobs")


# -------------------------------------------------------- recovery points


def list_recovery_points_by_backup_vault(self: Any) -> ActionResult:
    p = _params(self)
    jobs.advance_all(*_ctx(self))
    points = recovery_points.list_by_vault(*_ctx(self), p["BackupVaultName"], p)
    return _page([rp.by_vault() for rp in points], p, "RecoveryPoints")


def list_recovery_points_by_resource(self: Any) -> ActionResult:
    p = _params(self)
    jobs.advance_all(*_ctx(self))
    points = recovery_points.list_by_resource(*_ctx(self), p["ResourceArn"])
    return _page([rp.by_resource() for rp in points], p, "RecoveryPoints")


def describe_recovery_point(self: Any) -> ActionResult:
    p = _params(self)
    jobs.advance_all(*_ctx(self))
    rp = recovery_points.get(*_ctx(self), p["BackupVaultName"], p["RecoveryPointArn"])
    return ActionResult(rp.describe())


def delete_recovery_point(self: Any) -> EmptyResult:
    p = _params(self)
    recovery_points.delete(*_ctx(self), p["BackupVaultName"], p["RecoveryPointArn"])
    return EmptyResult()


def update_recovery_point_lifecycle(self: Any) -> ActionResult:
    p = _params(self)
    rp = recovery_points.update_lifecycle(
        *_ctx(self), p["BackupVaultName"], p["RecoveryPointArn"], p.get("Lifecycle")
    )
    return ActionResult(
        {
            "BackupVaultArn": rp.vault.backup_vault_arn,
            "RecoveryPointArn": rp.arn,
            "Lifecycle": rp.lifecycle,
            "CalculatedLifecycle": rp.calculated_lifecycle,
        }
    )


def get_recovery_point_restore_metadata(self: Any) -> ActionResult:
    p = _params(self)
    rp = recovery_points.get(*_ctx(self), p["BackupVaultName"], p["RecoveryPointArn"])
    return ActionResult(
        {
            "BackupVaultArn": rp.vault.backup_vault_arn,
            "RecoveryPointArn": rp.arn,
            "ResourceType": rp.resource_type,
            "RestoreMetadata": recovery_points.resources.restore_metadata(
                rp.payload, rp.resource_name
            ),
        }
    )


# ------------------------------------------------------ vault access policy


def put_backup_vault_access_policy(self: Any) -> EmptyResult:
    p = _params(self)
    policy.put(*_ctx(self), p["BackupVaultName"], p.get("Policy"))
    return EmptyResult()


def get_backup_vault_access_policy(self: Any) -> ActionResult:
    p = _params(self)
    vault, doc = policy.get(*_ctx(self), p["BackupVaultName"])
    return ActionResult(
        {
            "BackupVaultName": vault.backup_vault_name,
            "BackupVaultArn": vault.backup_vault_arn,
            "Policy": doc,
        }
    )


def delete_backup_vault_access_policy(self: Any) -> EmptyResult:
    p = _params(self)
    policy.delete(*_ctx(self), p["BackupVaultName"])
    return EmptyResult()


# ------------------------------------------------------------ vault deletion


def delete_backup_vault(self: Any) -> Any:
    """AWS refuses to delete a vault that still holds recovery points."""
    name = self.path.rstrip("/").split("/")[-1]
    vault = self.backup_backend.vaults.get(name)
    if vault is not None and any(
        rp.vault is vault for rp in ext_state(*_ctx(self)).recovery_points.values()
    ):
        raise InvalidRequestException(
            f"Backup vault {name} cannot be deleted because it contains recovery points"
        )
    ext_state(*_ctx(self)).access_policies.pop(name, None)
    return _MOTO_DELETE_BACKUP_VAULT(self)


_MOTO_DELETE_BACKUP_VAULT: Any = None

OPERATIONS = {
    name: func
    for name, func in dict(globals()).items()
    if callable(func) and not name.startswith("_") and func.__module__ == __name__
}
