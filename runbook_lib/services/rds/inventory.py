"""RDS DB instances (not cluster members: those are inventoried with their cluster), and
Aurora and Neptune clusters. Neptune is listed through the RDS API: it shares RDS's control
plane, and only the RDS shape of DescribeDBClusters carries the cluster's tags."""

from __future__ import annotations

from runbook_lib.inventory.plugin import register
from runbook_lib.services.rds.common import rds_service
from runbook_lib.services.rds.names import CLUSTER, INSTANCE

#: RDS DB instances
register(rds_service("rds", INSTANCE))
#: Aurora clusters (MySQL and PostgreSQL compatible)
register(rds_service("aurora", CLUSTER, lambda engine: engine.startswith("aurora")))
#: Neptune clusters
register(rds_service("neptune", CLUSTER, lambda engine: engine == "neptune"))
