"""Amazon S3 buckets."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="s3",
        title="S3 bucket",
        arns=(ArnShape(service="s3", prefix="", regional=False),),
        names=NameRule(
            max_length=63,
            bad=r"[^a-z0-9-]",
            lower=True,
            valid=r"^(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            help="3-63 lowercase letters, digits, '-', '.'",
        ),
        aws_backup=True,
        fingerprint="s3-objects",
        continuous_sources=("s3-versions",),
    ),
)
