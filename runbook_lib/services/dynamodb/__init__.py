"""Amazon DynamoDB tables."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="dynamodb",
        title="DynamoDB table",
        arns=(ArnShape(service="dynamodb", prefix="table/"),),
        names=NameRule(
            max_length=255,
            bad=r"[^a-zA-Z0-9_.-]",
            valid=r"^[a-zA-Z0-9_.-]{3,255}$",
            help="3-255 letters, digits, '_', '-', '.'",
        ),
        aws_backup=True,
        native_backup="dynamodb-backup",
        fingerprint="dynamodb-items",
        continuous_sources=("dynamodb-pitr",),
    ),
)
