"""S3's own audit control: bucket versioning (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.model import control

control(
    "s3_versioning_enabled",
    description="Versioning keeps every overwritten and deleted object, the bucket's own undo.",
    title="S3 bucket has versioning enabled",
    practice="REL09-BP03",
    severity="medium",
    remediation=step("versioning"),
    parity="Steampipe: s3_bucket_versioning_enabled",
    services=("s3",),
)(native_setting("s3 versioning"))
