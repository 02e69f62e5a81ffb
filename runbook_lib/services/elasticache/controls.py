"""ElastiCache's own audit control: automatic snapshots and their retention (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("elasticache_automatic_backup_enabled")(
    native_setting("elasticache automatic snapshots", cap=35)
)
