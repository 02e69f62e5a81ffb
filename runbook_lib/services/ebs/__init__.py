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
            "controls": "an EBS volume has no backup setting of its own beyond AWS Backup and "
            "its snapshots: judged by the generic BP01-BP03 controls",
            "continuous": "EBS restores only from snapshots (each a point in time); there is "
            "no point-in-time restore window",
        },
    ),
)
