"""Protect for RDS instances and Aurora and Neptune clusters: automated backup retention
(at most 35 days; the AWS Backup plan keeps the rest) and a backup window; deletion
protection where the tier asks for it (``deletion_protection: true``)."""

from __future__ import annotations

from typing import Any

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import NONE, UPDATE, Step, applier
from runbook_lib.protect.native import _step
from runbook_lib.services.rds.names import CLUSTER, INSTANCE
from runbook_lib.session import AwsSession

RDS_MAX_RETENTION_DAYS = 35


def current_instance(scope: Scope, db: dict, found: Found) -> dict:
    return {
        "current": {
            "retention_days": db.get("BackupRetentionPeriod", 0),
            "backup_window": db.get("PreferredBackupWindow"),
            "deletion_protection": bool(db.get("DeletionProtection")),
        }
    }


def current_cluster(scope: Scope, cluster: dict, found: Found) -> dict:
    out = current_instance(scope, cluster, found)
    out["current"]["engine"] = cluster.get("Engine", "")
    return out


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    return _plan_retention(res, tier) + _deletion_protection(res, tier)


def _deletion_protection(res: DataResource, tier: Tier) -> list[Step]:
    """Deletion protection, for tiers that ask for it (``deletion_protection: true``)."""
    if not tier.deletion_protection:
        return []
    on, cluster = bool(res.current.get("deletion_protection")), res.resource_type == "rds:cluster"
    action = NONE if on else UPDATE
    args = {"cluster": cluster}
    return [
        _step(
            res,
            "deletion protection",
            "on" if on else "off",
            "on",
            action,
            "rds_deletion_protection",
            args,
        )
    ]


def _plan_retention(res: DataResource, tier: Tier) -> list[Step]:
    want = min(RDS_MAX_RETENTION_DAYS, obj.days(tier.retention))
    cur = res.current.get("retention_days") or 0
    note = (
        ""
        if obj.days(tier.retention) <= RDS_MAX_RETENTION_DAYS
        else (
            f"RDS keeps at most {RDS_MAX_RETENTION_DAYS}d of automated backups; the AWS Backup plan keeps the rest"
        )
    )
    return [
        _step(
            res,
            "automated backup retention (days)",
            cur,
            want,
            NONE if cur >= want else UPDATE,
            "rds_retention",
            {
                "days": want,
                "cluster": res.resource_type == "rds:cluster",
                "window": res.current.get("backup_window"),
            },
            note=note,
        )
    ]


@applier("rds_retention")
def _apply_rds_retention(session: AwsSession, step: Step, state: ApplyState) -> int:
    rds = session.client("rds", step.account, step.region)
    kwargs: dict[str, Any] = {"BackupRetentionPeriod": step.args["days"], "ApplyImmediately": True}
    if not step.args.get("window"):
        h = state.params.protect.backup_hour_utc
        kwargs["PreferredBackupWindow"] = f"{h:02d}:00-{h:02d}:30"
    _modify(rds, step, **kwargs)
    return step.args["days"]


@applier("rds_deletion_protection")
def _apply_rds_deletion_protection(session: AwsSession, step: Step, state: ApplyState) -> str:
    rds = session.client("rds", step.account, step.region)
    _modify(rds, step, DeletionProtection=True, ApplyImmediately=True)
    return "on"


def _modify(rds: Any, step: Step, **settings: Any) -> None:
    """Change ``settings`` of the DB cluster or DB instance ``step`` names."""
    kind = CLUSTER if step.args["cluster"] else INSTANCE
    getattr(rds, kind.modify)(**{kind.ident: step.args["name"]}, **settings)


tag = plugin.api_tagger("rds", "add_tags_to_resource", ref="ResourceName")


plugin.register("rds", current=current_instance, planner=plan, tagger=tag)
plugin.register("aurora", current=current_cluster, planner=plan, tagger=tag)
plugin.register("neptune", current=current_cluster, planner=plan, tagger=tag)
plugin.role_actions(
    "backup",
    "rds:CreateDBSnapshot",
    "rds:CreateDBClusterSnapshot",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusters",
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBClusterSnapshots",
    "rds:AddTagsToResource",
    "rds:ListTagsForResource",
)
plugin.not_called_on_sandbox(
    "protect",
    {"rds:AddTagsToResource": "classification of an untagged database (none in the demo estate)"},
)
