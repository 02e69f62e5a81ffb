"""Protect for DynamoDB tables: point-in-time recovery (PITR) where the tier's RPO is a
day or less, kept as long as the tier's retention allows (at most 35 days)."""

from __future__ import annotations

from typing import Any

from runbook_lib.inventory.model import Found, Scope, tag_list
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
        }
    }


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
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


def tag(session: AwsSession, step: Step, tags: dict[str, Any]) -> None:
    session.client("dynamodb", step.account, step.region).tag_resource(
        ResourceArn=step.args["arn"], Tags=tag_list(tags)
    )


plugin.register(
    "dynamodb", current=current, planner=plan, tagger=tag, vault_encrypted="DynamoDB advanced"
)
plugin.role_actions(
    "backup",
    "dynamodb:CreateBackup",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeBackup",
    "dynamodb:ListTagsOfResource",
    "dynamodb:StartAwsBackupJob",
)
