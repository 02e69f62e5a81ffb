"""Amazon RDS DB instances, and the clusters that share RDS's API: Aurora and Neptune."""

from dataclasses import replace

from runbook_lib.services import ArnShape, ServiceSpec, identifier_rule

_NAMES = identifier_rule(63, any_case=True)

RDS = ServiceSpec(
    name="rds",
    title="RDS instance",
    arns=(ArnShape(service="rds", prefix="db:"),),
    names=_NAMES,
    aws_backup=True,
    native_backup="rds-snapshot",
    continuous_sources=("rds-pitr",),
    fingerprint="database-tables",
)
#: An Aurora cluster is declared like a DB instance but for its ARN shape, snapshots and PITR
AURORA = replace(
    RDS,
    name="aurora",
    title="Aurora cluster",
    arns=(ArnShape(service="rds", prefix="cluster:"),),
    native_backup="rds-cluster-snapshot",
    continuous_sources=("rds-cluster-pitr",),
)
#: A Neptune cluster is declared like an Aurora one: same ARN shape, names, snapshots and PITR
NEPTUNE = replace(AURORA, name="neptune", title="Neptune cluster", fingerprint="")

# Aurora before Neptune: a cluster ARN does not say which engine; the restore asks it
SPECS = (RDS, AURORA, NEPTUNE)
