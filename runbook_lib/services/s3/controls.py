"""S3's own audit control: bucket versioning (REL09-BP03)."""

from __future__ import annotations

from runbook_lib.audit.controls import declared_in
from runbook_lib.audit.controls.automate import native_setting

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("s3_versioning_enabled")(native_setting("s3 versioning"))
