"""Protect for ElastiCache replication groups and standalone Redis/Valkey clusters:
automatic snapshot retention (at most 35 days)."""

from __future__ import annotations

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import NONE, UPDATE, Step, applier
from runbook_lib.protect.native import _step
from runbook_lib.session import AwsSession

ELASTICACHE_MAX_RETENTION_DAYS = 35


def current(scope: Scope, item: dict, found: Found) -> dict:
    # replication groups and standalone Redis/Valkey clusters (the inventory lists both;
    # the retention is set with ModifyReplicationGroup or ModifyCacheCluster)
    return {
        "current": {
            "standalone": item.get("_kind") != "replicationgroup",
            "snapshot_retention": item.get("SnapshotRetentionLimit") or 0,
            "snapshot_window": item.get("SnapshotWindow"),
        },
    }


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    want = min(ELASTICACHE_MAX_RETENTION_DAYS, obj.days(tier.retention))
    cur = res.current["snapshot_retention"]
    standalone = res.current.get("standalone", False)
    return [
        _step(
            res,
            "snapshot retention (days)",
            cur,
            want,
            NONE if cur >= want else UPDATE,
            "elasticache_cluster_retention" if standalone else "elasticache_retention",
            {"days": want},
            note="standalone cache cluster" if standalone else "",
        )
    ]


@applier("elasticache_retention")
@applier("elasticache_cluster_retention")
def _apply_elasticache(session: AwsSession, step: Step, state: ApplyState) -> int:
    """The snapshot retention of a replication group, or of a standalone cache cluster."""
    ec = session.client("elasticache", step.account, step.region)
    if step.kind == "elasticache_cluster_retention":
        modify, target = ec.modify_cache_cluster, {"CacheClusterId": step.args["name"]}
    else:
        modify, target = ec.modify_replication_group, {"ReplicationGroupId": step.args["name"]}
    modify(**target, SnapshotRetentionLimit=step.args["days"], ApplyImmediately=True)
    return step.args["days"]


plugin.register(
    "elasticache",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("elasticache", "add_tags_to_resource", ref="ResourceName"),
)
plugin.not_called_on_sandbox(
    "protect",
    {
        "elasticache:ModifyCacheCluster": "no standalone cache cluster in the demo estate "
        "(tests/test_protect.py applies it to one)"
    },
)
