"""Amazon EFS file systems (named by their Name tag)."""

from runbook_lib.services import NAME_TAG, ArnShape, ServiceSpec

SPECS = (
    ServiceSpec(
        name="efs",
        title="EFS file system",
        arns=(ArnShape(service="elasticfilesystem", prefix="file-system/"),),
        names=NAME_TAG,
        aws_backup=True,
        unsupported={
            "continuous": "EFS restores only from AWS Backup recovery points (each a point in "
            "time); there is no point-in-time restore window",
        },
    ),
)
