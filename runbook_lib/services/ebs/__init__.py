"""Amazon EBS volumes (named by their Name tag)."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="ebs",
        package="ebs",
        title="EBS volume",
        arns=(ArnShape(service="ec2", prefix="volume/"),),
        names=NameRule(
            max_length=128,
            bad=r"[^a-zA-Z0-9_.:/ -]",
            lower=False,
            letter_first=False,
            valid=r"^.{1,128}$",
            help="1-128 characters (the Name tag)",
        ),
        aws_backup=True,
        native_backup="ebs-snapshot",
        unsupported={
            "continuous": "EBS restores only from snapshots (each a point in time); there is "
            "no point-in-time restore window",
        },
    ),
)
