"""Protect for EBS volumes: encryption by default in every (account, Region) of the estate.

A volume has no backup setting of its own: the tier's AWS Backup plan covers it, and an
unencrypted volume or one without a customer-managed key is a manual step (the generic
checks in ``protect.native``).
"""

from __future__ import annotations

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import NONE, UPDATE, Step, applier
from runbook_lib.protect.native import NATIVE
from runbook_lib.session import AwsSession


def current(scope: Scope, volume: dict, found: Found) -> dict:
    return {"id": volume["VolumeId"], "current": {}}


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    return []  # nothing per volume: see plan_encryption_default


def plan_encryption_default(
    session: AwsSession, params: Params, account: str, region: str, resources: list[DataResource]
) -> list[Step]:
    """EBS encryption by default, in every (account, Region), volumes there or not."""
    on = session.client("ec2", account, region).get_ebs_encryption_by_default()[
        "EbsEncryptionByDefault"
    ]
    return [
        Step(
            phase=NATIVE,
            account=account,
            region=region,
            resource=f"ec2 {account}/{region}",
            setting="EBS encryption by default",
            current=on,
            desired=True,
            action=NONE if on else UPDATE,
            risk="low",
            kind="ebs_default",
            args={},
        )
    ]


@applier("ebs_default")
def _apply_ebs_default(session: AwsSession, step: Step, state: ApplyState) -> bool:
    return session.client("ec2", step.account, step.region).enable_ebs_encryption_by_default()[
        "EbsEncryptionByDefault"
    ]


plugin.register(
    "ebs",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("ec2", "create_tags", ref="Resources[]", arg="id"),
)
plugin.REGION_PLANNERS["ebs_encryption_default"] = plan_encryption_default
plugin.role_actions(
    "backup", "ec2:CreateSnapshot", "ec2:CreateTags", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"
)
