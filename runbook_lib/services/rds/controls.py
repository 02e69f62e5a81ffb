"""The audit control of RDS, Aurora and Neptune: automated backups and their retention
(REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("rds_automated_backups_retention")(native_setting("{service} automated backups", cap=35))
