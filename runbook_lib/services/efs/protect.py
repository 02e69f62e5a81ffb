"""Protect for EFS file systems: the automatic backup policy (AWS Backup's default plan)."""

from __future__ import annotations

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState
from runbook_lib.protect.estate import DataResource, get_or_none
from runbook_lib.protect.model import NONE, UPDATE, Step, applier
from runbook_lib.protect.native import _step
from runbook_lib.session import AwsSession


def current(scope: Scope, fs: dict, found: Found) -> dict:
    # the inventory keeps only "protected or not"; protect shows the exact status
    got = get_or_none(
        scope.client("efs"),
        "describe_backup_policy",
        "PolicyNotFound",
        FileSystemId=fs["FileSystemId"],
    )
    return {
        "id": fs["FileSystemId"],
        "current": {"backup_policy": got["BackupPolicy"]["Status"] if got else "DISABLED"},
    }


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    cur = res.current["backup_policy"]
    return [
        _step(
            res,
            "EFS automatic backups",
            cur,
            "ENABLED",
            NONE if cur == "ENABLED" else UPDATE,
            "efs_backup_policy",
        )
    ]


@applier("efs_backup_policy")
def _apply_efs(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("efs", step.account, step.region).put_backup_policy(
        FileSystemId=step.args["id"], BackupPolicy={"Status": "ENABLED"}
    )
    return "ENABLED"


plugin.register(
    "efs",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("efs", "tag_resource", ref="ResourceId", arg="id"),
    vault_encrypted="EFS",
)
plugin.SANDBOX_CANNOT["efs_backup_policy"] = (
    "moto does not implement efs put_backup_policy (only Backup=True at creation)"
)
plugin.role_actions("backup", "elasticfilesystem:Backup", "elasticfilesystem:DescribeTags")
plugin.not_called_on_sandbox(
    "protect",
    {
        "elasticfilesystem:PutBackupPolicy": "moto does not implement it (the plan says "
        "NOT_SUPPORTED_ON_SANDBOX)"
    },
)
