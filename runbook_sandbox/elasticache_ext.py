"""ElastiCache ModifyCacheCluster for the sandbox: moto 5.2.5 does not implement it.

Only what protect changes is modelled: a standalone cluster's ``SnapshotRetentionLimit``
(and ``SnapshotWindow``). Any other field given is refused with InvalidParameterValue, so
a runbook can never believe the sandbox applied a change it ignored.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.exceptions import InvalidParameterValueException as InvalidParameterValue
from moto.elasticache.responses import ElastiCacheResponse

SUPPORTED = {"CacheClusterId", "SnapshotRetentionLimit", "SnapshotWindow", "ApplyImmediately"}


def modify_cache_cluster(self: Any) -> ActionResult:
    given = {k for k in self.querystring if k not in ("Action", "Version")}
    unsupported = sorted(given - SUPPORTED)
    if unsupported:
        raise InvalidParameterValue(
            f"the sandbox's ModifyCacheCluster models only {sorted(SUPPORTED)}; got {unsupported}"
        )
    name = self._get_param("CacheClusterId")
    cluster = self.elasticache_backend.describe_cache_clusters(cache_cluster_id=name)[0]
    limit = self._get_int_param("SnapshotRetentionLimit")
    if limit is not None:
        if not 0 <= limit <= 35:
            raise InvalidParameterValue(f"SnapshotRetentionLimit {limit}: allowed 0 to 35")
        cluster.snapshot_retention_limit = limit
    window = self._get_param("SnapshotWindow")
    if window:
        cluster.snapshot_window = window
    return ActionResult({"CacheCluster": cluster})


def install() -> None:
    """Teach moto the operation (safe to call twice; moto's own wins if it gains one)."""
    if not hasattr(ElastiCacheResponse, "modify_cache_cluster"):
        ElastiCacheResponse.modify_cache_cluster = modify_cache_cluster  # type: ignore[attr-defined]
