"""CloudWatch log groups: a subscription or an S3 export is their backup."""

from __future__ import annotations

from runbook_lib.inventory.model import (
    CONTINUOUS_RPO,
    NEVER,
    Found,
    Protection,
    RecoveryPoint,
    Scope,
    as_utc,
    paginate,
)
from runbook_lib.inventory.services import Service, register


def _list(scope: Scope) -> list[dict]:
    return list(paginate(scope.client("logs"), "describe_log_groups", "logGroups"))


def _extras(scope: Scope) -> dict[str, list[dict]]:
    """Completed S3 export tasks by log group (one paginated call per scope)."""
    exports: dict[str, list[dict]] = {}
    tasks = paginate(
        scope.client("logs"), "describe_export_tasks", "exportTasks", statusCode="COMPLETED"
    )
    for t in tasks:
        exports.setdefault(t.get("logGroupName", ""), []).append(t)
    return exports


def _describe(scope: Scope, group: dict, exports: dict) -> Found:
    logs = scope.client("logs")
    name = group["logGroupName"]
    arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
    tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
    row = scope.row(
        "logs",
        "logs:log-group",
        arn,
        name,
        size_bytes=group.get("storedBytes"),
        encrypted=True,  # always encrypted; kmsKeyId only when a customer key is associated
        kms_key=group.get("kmsKeyId"),
        tags=tags,
        created=group.get("creationTime"),
    )
    kept = float(group["retentionInDays"]) if group.get("retentionInDays") else NEVER
    protections = [
        Protection(
            "logs retention",
            None,
            kept,
            detail="events are kept " + (f"{kept:g} days" if kept != NEVER else "forever"),
        )
    ]
    subs = paginate(logs, "describe_subscription_filters", "subscriptionFilters", logGroupName=name)
    for sub in subs:
        protections.append(
            Protection(
                f"logs subscription to {sub.get('destinationArn', '?')}",
                CONTINUOUS_RPO,
                None,
                detail="exported: events stream out as they arrive",
            )
        )
    points = []
    for task in exports.get(name, []):
        dest = f"s3://{task.get('destination')}/{task.get('destinationPrefix', '')}"
        points.append(
            RecoveryPoint(
                arn, as_utc(task["to"]), "logs export to s3", scope.region, scope.account, dest
            )
        )
    if points:
        protections.append(
            Protection(
                "logs export to s3",
                None,
                None,
                detail=f"exported: {len(points)} one-off export task(s); nothing schedules more",
            )
        )
    return Found(row, protections, points)


register(
    Service(
        "logs",
        list=_list,
        extras=_extras,
        describe=_describe,
        aws_backup=False,
        native_rpo=CONTINUOUS_RPO,
        fixes={
            "no_copy_region": "protect: logs export to an s3 bucket in {region}",
            "no_backup": "protect: logs subscription/export to s3",
            "rpo_too_long": "protect: logs subscription/export to s3",
            "retention_short": "protect: logs retention",
            "no_cmk": "protect: logs kms key association",
        },
    )
)
