"""One module per service; importing this package registers them all."""

from runbook_lib.restore.services import (  # noqa: F401
    aws_backup,
    dynamodb,
    ebs,
    efs,
    elasticache,
    logs,
    opensearch,
    rds,
    s3,
)
