"""DynamoDB's own audit control: point-in-time recovery (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.model import control
from runbook_lib.protect.objectives import wants_continuous  # protect's rule for PITR

control(
    "dynamodb_pitr_enabled",
    description="Point-in-time recovery gives DynamoDB a continuous backup (about 5 minutes RPO, up to 35 days).",
    title="DynamoDB table has point-in-time recovery enabled",
    practice="REL09-BP03",
    severity="medium",
    remediation=step("point-in-time recovery"),
    parity="Steampipe: dynamodb_table_point_in_time_recovery_enabled",
    services=("dynamodb",),
)(
    native_setting(
        "dynamodb PITR",
        when=wants_continuous,
        otherwise="tier {tier} has an RPO of {rpo}: protect plans PITR only for RPOs of a day "
        "or less and covers this table with the tier's AWS Backup plan "
        "(resource_protected_by_backup_plan)",
    )
)
