"""DynamoDB's own audit control: point-in-time recovery (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.protect.objectives import wants_continuous  # protect's rule for PITR

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("dynamodb_pitr_enabled")(
    native_setting(
        "dynamodb PITR",
        when=wants_continuous,
        otherwise="tier {tier} has an RPO of {rpo}: protect plans PITR only for RPOs of a day "
        "or less and covers this table with the tier's AWS Backup plan "
        "(resource_protected_by_backup_plan)",
    )
)
