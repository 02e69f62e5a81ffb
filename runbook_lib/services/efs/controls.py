"""EFS's own audit control: the automatic-backup policy (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.model import control

control(
    "efs_backup_policy_enabled",
    description="The EFS backup policy makes AWS Backup take daily backups of the file system.",
    title="EFS file system has automatic backups (backup policy) enabled",
    practice="REL09-BP03",
    severity="low",
    remediation=step("EFS automatic backups"),
    parity="Steampipe: efs_file_system_automatic_backups_enabled",
    services=("efs",),
)(native_setting("efs backup policy"))
