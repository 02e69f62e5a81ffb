"""DynamoDB tables: describe_table and PITR (describe_continuous_backups) per table, the
API has no batch form of either; tags in batches (tagging API), on-demand backups per scope."""

from __future__ import annotations

from collections.abc import Iterator

from runbook_lib.inventory.model import CONTINUOUS_RPO, Found, Protection, Scope, paginate, tag_dict
from runbook_lib.inventory.plugin import Service, TagSource, recovery_points, register
from runbook_lib.model import RecoveryPoint


def _list(scope: Scope) -> list[str]:
    return list(paginate(scope.client("dynamodb"), "list_tables", "TableNames"))


def _extras(scope: Scope) -> dict[str, list[RecoveryPoint]]:
    return recovery_points(_backups(scope.client("dynamodb")), lambda b: _point(scope, b))


def _point(scope: Scope, backup: dict) -> RecoveryPoint | None:
    if backup.get("BackupStatus") != "AVAILABLE":
        return None
    source = f"dynamodb {backup.get('BackupType', 'USER').lower()} backup"
    return scope.point(
        backup["TableArn"], source, backup["BackupCreationDateTime"], backup["BackupArn"]
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


def _tags(scope: Scope, arn: str, _name: str) -> dict[str, str]:
    """A table's tags, one table at a time (where the tagging API's batch is not used)."""
    ddb = scope.client("dynamodb")
    return tag_dict(list(paginate(ddb, "list_tags_of_resource", "Tags", ResourceArn=arn)))


def _describe(scope: Scope, name: str, backups: dict) -> Found:
    ddb = scope.client("dynamodb")
    table = ddb.describe_table(TableName=name)["Table"]
    arn = table["TableArn"]
    sse = table.get("SSEDescription") or {}
    row = scope.row(
        "dynamodb",
        "dynamodb:table",
        arn,
        name,
        size_bytes=table.get("TableSizeBytes"),
        encrypted=True,  # always encrypted at rest; no SSEDescription = AWS-owned key
        kms_key=sse.get("KMSMasterKeyArn") if sse.get("Status") == "ENABLED" else None,
        created=table.get("CreationDateTime"),
        deletion_protection=bool(table.get("DeletionProtectionEnabled")),  # absent = off
    )
    cb = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = cb.get("PointInTimeRecoveryDescription") or {}
    points = list(backups.get(arn, []))
    protections = []
    if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
        days = float(pitr.get("RecoveryPeriodInDays") or 35)
        protections.append(
            Protection(mechanism="dynamodb PITR", rpo=CONTINUOUS_RPO, retention_days=days)
        )
        if pitr.get("LatestRestorableDateTime"):
            points.append(scope.point(arn, "dynamodb PITR", pitr["LatestRestorableDateTime"]))
    return Found(row=row, protections=protections, recovery_points=points)


TAGS = TagSource(types=("dynamodb:table",), read=_tags)
# fixes: none; the tier's AWS Backup plan steps, and PITR's dynamodb_pitr_enabled control
register(Service("dynamodb", list=_list, extras=_extras, describe=_describe, tags=TAGS))
