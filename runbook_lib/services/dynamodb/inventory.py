"""DynamoDB tables: PITR per table (describe_continuous_backups), on-demand backups per scope."""

from __future__ import annotations

from collections.abc import Iterator

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    Found,
    Protection,
    RecoveryPoint,
    Scope,
    by_resource,
    paginate,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, register


def _list(scope: Scope) -> list[str]:
    return list(paginate(scope.client("dynamodb"), "list_tables", "TableNames"))


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    return by_resource(
        scope.point(
            b["TableArn"],
            f"dynamodb {b.get('BackupType', 'USER').lower()} backup",
            b["BackupCreationDateTime"],
            b["BackupArn"],
        )
        for b in _backups(scope.client("dynamodb"))
        if b.get("BackupStatus") == "AVAILABLE"
    )


def _backups(ddb) -> Iterator[dict]:
    """Every backup summary: list_backups has no paginator in botocore, so its
    ExclusiveStartBackupArn is followed by hand."""
    kwargs: dict = {}
    while True:
        page = ddb.list_backups(**kwargs)
        yield from page.get("BackupSummaries", [])
        if not page.get("LastEvaluatedBackupArn"):
            return
        kwargs = {"ExclusiveStartBackupArn": page["LastEvaluatedBackupArn"]}


def _describe(scope: Scope, name: str, backups: dict) -> Found:
    ddb = scope.client("dynamodb")
    table = ddb.describe_table(TableName=name)["Table"]
    arn = table["TableArn"]
    tags = tag_dict(list(paginate(ddb, "list_tags_of_resource", "Tags", ResourceArn=arn)))
    sse = table.get("SSEDescription") or {}
    row = scope.row(
        "dynamodb",
        "dynamodb:table",
        arn,
        name,
        size_bytes=table.get("TableSizeBytes"),
        encrypted=True,  # always encrypted at rest; no SSEDescription = AWS-owned key
        kms_key=sse.get("KMSMasterKeyArn") if sse.get("Status") == "ENABLED" else None,
        tags=tags,
        created=table.get("CreationDateTime"),
    )
    cb = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = cb.get("PointInTimeRecoveryDescription") or {}
    points = list(backups.get(arn, []))
    protections = []
    if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
        days = pitr.get("RecoveryPeriodInDays") or 35
        protections.append(
            Protection(mechanism="dynamodb PITR", rpo=CONTINUOUS_RPO, retention_days=float(days))
        )
        if pitr.get("LatestRestorableDateTime"):
            points.append(scope.point(arn, "dynamodb PITR", pitr["LatestRestorableDateTime"]))
    return Found(row=row, protections=protections, recovery_points=points)


register(
    Service(
        "dynamodb",
        list=_list,
        extras=_extras,
        describe=_describe,
        fixes={},  # the tier's AWS Backup plan steps; PITR: the dynamodb_pitr_enabled control
    )
)
