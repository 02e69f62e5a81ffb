"""Amazon CloudWatch Logs log groups (their backups are exports to S3)."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="logs",
        title="CloudWatch Logs log group",
        arns=(ArnShape(service="logs", prefix="log-group:"),),
        names=NameRule(
            max_length=512,
            bad=r"[^a-zA-Z0-9_./#-]",
            help="1-512 letters, digits, '_', '-', '/', '.', '#'",
            leading="/",
        ),
        unsupported={
            "backup_now": "CloudWatch Logs has no on-demand backup and AWS Backup does not "
            "reach log groups: their backup is an export to S3, which protect schedules "
            "(protect.export_logs_now runs one on demand)",
            "continuous": "CloudWatch Logs keeps events by retention; there is no "
            "point-in-time restore window",
        },
    ),
)
