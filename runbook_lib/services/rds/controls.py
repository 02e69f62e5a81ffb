"""The audit control of RDS, Aurora and Neptune: automated backups and their retention
(REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.model import control

control(
    "rds_automated_backups_retention",
    description="Automated backups give databases point-in-time restore; their retention (1-35 days) must reach the tier's retention as far as the service allows.",
    title="RDS / Aurora / Neptune automated backups are on and kept the tier's retention (at most 35 days)",
    practice="REL09-BP03",
    severity="medium",
    parameters=("retention",),
    remediation=step("automated backup retention (days)"),
    parity="Steampipe: rds_db_instance_backup_enabled, "
    "neptune_db_cluster_automated_backup_enabled; AWS Config db-instance-backup-enabled",
    services=("rds", "aurora", "neptune"),
)(native_setting("{service} automated backups", cap=35))
