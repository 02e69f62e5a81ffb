"""EFS file systems; the backup policy puts a file system in AWS Backup's default plan."""

from __future__ import annotations

from runbook_lib.inventory.model import (
    DAILY_RPO,
    Found,
    Protection,
    Scope,
    error_code,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, register

DEFAULT_PLAN_RETENTION_DAYS = 35.0  # aws/efs/automatic-backup-vault: daily, kept 35 days


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("efs"), "describe_file_systems", "FileSystems"))


def _describe(scope: Scope, fs: dict, _extras) -> Found:
    efs = scope.client("efs")
    tags = tag_dict(fs.get("Tags"))
    arn = fs.get("FileSystemArn") or scope.arn(
        "elasticfilesystem", f"file-system/{fs['FileSystemId']}"
    )
    row = scope.row(
        "efs",
        "elasticfilesystem:file-system",
        arn,
        fs.get("Name") or tags.get("Name") or fs["FileSystemId"],
        size_bytes=(fs.get("SizeInBytes") or {}).get("Value"),
        encrypted=bool(fs.get("Encrypted")),
        kms_key=fs.get("KmsKeyId"),
        tags=tags,
        created=fs.get("CreationTime"),
    )
    try:
        status = efs.describe_backup_policy(FileSystemId=fs["FileSystemId"])["BackupPolicy"][
            "Status"
        ]
    except efs.exceptions.ClientError as err:
        if error_code(err) != "PolicyNotFound":
            raise
        status = "DISABLED"
    protections = []
    if status in ("ENABLED", "ENABLING"):
        protections.append(
            Protection(
                mechanism="efs backup policy (AWS Backup default plan)",
                rpo=DAILY_RPO,
                retention_days=DEFAULT_PLAN_RETENTION_DAYS,
                detail="daily backups to aws/efs/automatic-backup-vault",
            )
        )
    return Found(row=row, protections=protections)


register(
    Service(
        "efs",
        list=_list,
        describe=_describe,
        fixes={},  # the tier's AWS Backup plan steps; the efs_backup_policy_enabled control
    )
)
