"""Neptune clusters, listed through the RDS API: Neptune shares RDS's control plane, and
only the RDS shape of DescribeDBClusters carries the cluster's tags."""

from runbook_lib.inventory.services import register
from runbook_lib.inventory.services.rds_common import cluster_service

register(cluster_service("neptune", "rds", lambda engine: engine == "neptune"))
