"""Amazon ElastiCache (Redis OSS / Valkey) replication groups and standalone clusters."""

from runbook_lib.services import ArnShape, ServiceSpec, identifier_rule

SPECS = (
    ServiceSpec(
        name="elasticache",
        title="ElastiCache replication group",
        arns=(
            ArnShape(service="elasticache", prefix="replicationgroup:"),
            ArnShape(service="elasticache", prefix="cluster:", restorable=False),
        ),
        names=identifier_rule(40),
        native_backup="elasticache-snapshot",
        fingerprint="redis-keys-2",
        unsupported={
            "continuous": "ElastiCache restores only from snapshots (each a point in time); "
            "there is no point-in-time restore window",
        },
    ),
)
