"""ElastiCache's own audit control: automatic snapshots and their retention (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.model import control

control(
    "elasticache_automatic_backup_enabled",
    description="Automatic snapshots are the only restore path of a Redis cache that holds data.",
    title="ElastiCache Redis automatic snapshots are on and kept the tier's retention (at most 35 days)",
    practice="REL09-BP03",
    severity="low",
    parameters=("retention",),
    remediation=step("snapshot retention (days)"),
    parity="Steampipe: elasticache_redis_cluster_automatic_backup_retention_15_days",
    services=("elasticache",),
)(native_setting("elasticache automatic snapshots", cap=35))
