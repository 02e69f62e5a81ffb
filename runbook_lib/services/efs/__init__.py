"""Amazon EFS file systems (named by their Name tag)."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="efs",
        package="efs",
        title="EFS file system",
        arns=(ArnShape(service="elasticfilesystem", prefix="file-system/"),),
        names=NameRule(
            max_length=128,
            bad=r"[^a-zA-Z0-9_.:/ -]",
            lower=False,
            letter_first=False,
            valid=r"^.{1,128}$",
            help="1-128 characters (the Name tag)",
        ),
        aws_backup=True,
        unsupported={
            "continuous": "EFS restores only from AWS Backup recovery points (each a point in "
            "time); there is no point-in-time restore window",
        },
    ),
)
