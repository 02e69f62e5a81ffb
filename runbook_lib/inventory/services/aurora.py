"""Aurora clusters (MySQL and PostgreSQL compatible)."""

from runbook_lib.inventory.services import register
from runbook_lib.inventory.services.rds_common import cluster_service

register(cluster_service("aurora", "rds", lambda engine: engine.startswith("aurora")))
