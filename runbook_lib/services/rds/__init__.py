"""Amazon RDS DB instances, and the clusters that share RDS's API: Aurora and Neptune."""

from runbook_lib.services import ArnShape, NameRule, ServiceSpec

_NAMES = NameRule(
    max_length=63,
    bad=r"[^a-z0-9-]",
    lower=True,
    letter_first=True,
    valid=r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$",
    help="1-63 letters, digits, '-'; a letter first; no '--' or trailing '-'",
)

SPECS = (
    ServiceSpec(
        name="rds",
        package="rds",
        title="RDS instance",
        arns=(ArnShape(service="rds", prefix="db:"),),
        names=_NAMES,
        aws_backup=True,
        native_backup="rds-snapshot",
        continuous_sources=("rds-pitr",),
    ),
    # Aurora before Neptune: a cluster ARN does not say which engine; the restore asks it
    ServiceSpec(
        name="aurora",
        package="rds",
        title="Aurora cluster",
        arns=(ArnShape(service="rds", prefix="cluster:"),),
        names=_NAMES,
        aws_backup=True,
        native_backup="rds-cluster-snapshot",
        continuous_sources=("rds-cluster-pitr",),
    ),
    ServiceSpec(
        name="neptune",
        package="rds",
        title="Neptune cluster",
        arns=(ArnShape(service="rds", prefix="cluster:"),),
        names=_NAMES,
        aws_backup=True,
        native_backup="rds-cluster-snapshot",
        continuous_sources=("rds-cluster-pitr",),
    ),
)
