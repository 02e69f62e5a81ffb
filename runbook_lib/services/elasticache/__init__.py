"""Amazon ElastiCache (Redis OSS / Valkey) replication groups and standalone clusters."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

SPECS = (
    ServiceSpec(
        name="elasticache",
        package="elasticache",
        title="ElastiCache replication group",
        arns=(
            ArnShape(service="elasticache", prefix="replicationgroup:"),
            ArnShape(service="elasticache", prefix="cluster:", restorable=False),
        ),
        names=NameRule(
            max_length=40,
            bad=r"[^a-z0-9-]",
            lower=True,
            letter_first=True,
            valid=r"^[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)$",
            help="1-40 lowercase letters, digits, '-'; a letter first",
        ),
        native_backup="elasticache-snapshot",
        unsupported={
            "continuous": "ElastiCache restores only from snapshots (each a point in time); "
            "there is no point-in-time restore window",
        },
    ),
)
