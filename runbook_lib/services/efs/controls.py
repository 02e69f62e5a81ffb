"""EFS's own audit control: the automatic-backup policy (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("efs_backup_policy_enabled")(native_setting("efs backup policy"))
