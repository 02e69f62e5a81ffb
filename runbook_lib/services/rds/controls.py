"""The audit controls of RDS, Aurora and Neptune: automated backups and their retention
(REL09-BP03), tags copied to snapshots (REL09-BP01)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.controls.secure import setting_control

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("rds_automated_backups_retention")(native_setting("{service} automated backups", cap=35))
control("rds_copy_tags_to_snapshot")(
    setting_control(
        "copy_tags_to_snapshot",
        label="CopyTagsToSnapshot",
        remedy="modify {service} {name} in {region} with CopyTagsToSnapshot=true "
        "(modify-db-instance / modify-db-cluster --copy-tags-to-snapshot)",
    )
)
