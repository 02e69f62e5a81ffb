"""Protect for DynamoDB tables: point-in-time recovery (PITR) where the tier's RPO is a
day or less, kept as long as the tier's retention allows (at most 35 days); deletion
protection where the tier asks for it (``deletion_protection: true``)."""

from __future__ import annotations

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState
from runbook_lib.protect.estate import DataResource, protection
from runbook_lib.protect.model import NONE, UPDATE, Step, applier
from runbook_lib.protect.native import _step
from runbook_lib.session import AwsSession

PITR_MAX_DAYS = 35  # DynamoDB's RecoveryPeriodInDays at most


def current(scope: Scope, name: str, found: Found) -> dict:
    pitr = protection(found, "dynamodb PITR")  # retention = RecoveryPeriodInDays (or 35)
    return {
        "current": {
            "pitr": pitr is not None,
            "pitr_days": int(pitr.retention_days) if pitr else None,
            "deletion_protection": bool(found.row.get("deletion_protection")),
        }
    }


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    return _deletion_protection(res, tier) + _plan_pitr(res, tier)


def _deletion_protection(res: DataResource, tier: Tier) -> list[Step]:
    """Deletion protection, for tiers that ask for it (``deletion_protection: true``)."""
    if not tier.deletion_protection:
        return []
    on = bool(res.current.get("deletion_protection"))
    kind = "dynamodb_deletion_protection"
    return [
        _step(res, "deletion protection", "on" if on else "off", "on", NONE if on else UPDATE, kind)
    ]


def _plan_pitr(res: DataResource, tier: Tier) -> list[Step]:
    if not obj.wants_continuous(tier):
        return []
    want_days = min(PITR_MAX_DAYS, obj.days(tier.retention))
    cur, cur_days = res.current["pitr"], res.current.get("pitr_days")
    if cur and (cur_days or PITR_MAX_DAYS) >= want_days:
        return [
            _step(
                res,
                "point-in-time recovery",
                f"on ({cur_days or 35}d)",
                f"on (>= {want_days}d)",
                NONE,
                "pitr",
            )
        ]
    return [
        _step(
            res,
            "point-in-time recovery",
            f"on ({cur_days}d)" if cur else "off",
            f"on ({want_days}d)",
            UPDATE,
            "pitr",
            {"days": want_days},
        )
    ]


@applier("pitr")
def _apply_pitr(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("dynamodb", step.account, step.region).update_continuous_backups(
        TableName=step.args["name"],
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": step.args["days"],
        },
    )
    return f"on ({step.args['days']}d)"


@applier("dynamodb_deletion_protection")
def _apply_deletion_protection(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("dynamodb", step.account, step.region).update_table(
        TableName=step.args["name"], DeletionProtectionEnabled=True
    )
    return "on"


plugin.register(
    "dynamodb",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("dynamodb", "tag_resource", ref="ResourceArn"),
    vault_encrypted="DynamoDB advanced",
)
plugin.role_actions(
    "backup",
    "dynamodb:CreateBackup",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeBackup",
    "dynamodb:ListTagsOfResource",
    "dynamodb:StartAwsBackupJob",
)
plugin.not_called_on_sandbox(
    "protect",
    {"dynamodb:UpdateTable": "deletion protection: no tier of the sandbox params asks for it"},
)
