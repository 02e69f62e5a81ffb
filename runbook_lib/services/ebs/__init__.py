"""Amazon EBS volumes (named by their Name tag)."""

from runbook_lib.services import NAME_TAG, ArnShape, ServiceSpec

SPECS = (
    ServiceSpec(
        name="ebs",
        title="EBS volume",
        arns=(ArnShape(service="ec2", prefix="volume/"),),
        names=NAME_TAG,
        aws_backup=True,
        native_backup="ebs-snapshot",
        unsupported={
            "continuous": "EBS restores only from snapshots (each a point in time); there is "
            "no point-in-time restore window",
        },
    ),
)
