"""Native protection settings, where they serve the objective better than AWS Backup or
where AWS Backup does not reach: each service's own settings (continuous backup, backup
retention, versioning and replication, snapshot policies, log export...), planned by the
service's protect module (``runbook_lib.services.<package>.protect``, registered in
``plugin.PLANNERS`` and ``plugin.REGION_PLANNERS``). This module holds what they share:
the classification tag, the encryption / customer-managed key checks, the step builder
and the sandbox gate.

Rule everywhere: a setting is changed only when it is weaker than the tier asks for; a
setting stronger than the objective is kept (never lowered).
"""

from __future__ import annotations

from typing import Any

from runbook_lib.params import Params
from runbook_lib.protect import plugin
from runbook_lib.protect.central import MANAGED_TAG, ApplyState
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import (
    CREATE,
    MANUAL,
    NOT_SUPPORTED,
    PHASES,
    UPDATE,
    Step,
    applier,
)
from runbook_lib.session import AwsSession

NATIVE, AFTER = PHASES["native"], PHASES["native_after"]


def is_managed(res: DataResource) -> bool:
    """Made by protect itself (a replica or export bucket): configured when created."""
    return all(res.tags.get(k) == v for k, v in MANAGED_TAG.items())


def key_judgement(res: DataResource) -> str:
    """Why ``res`` does not count as encrypted with a customer-managed key (``res.cmk`` is the
    inventory's judgement: ``inventory.keys``), for the plan's note."""
    if not res.kms_key:
        return "encrypted with an AWS-owned key (no KMS key named)"
    if res.cmk is None:
        return (
            f"KMS could not describe {res.kms_key}: whether it is customer-managed is unknown "
            "(not assumed); check the key and the role's kms:DescribeKey"
        )
    return f"{res.kms_key} is an AWS-managed key (KMS KeyManager=AWS or an alias/aws/* key)"


def _step(
    res: DataResource,
    setting: str,
    current: Any,
    desired: Any,
    action: str,
    kind: str,
    args: dict | None = None,
    note: str = "",
    phase: int = NATIVE,
    risk: str = "low",
) -> Step:
    """A step on one data resource; its args carry the resource's service, name, id, ARN."""
    return Step(
        phase=phase,
        account=res.account,
        region=res.region,
        resource=res.arn,
        setting=setting,
        current=current,
        desired=desired,
        action=action,
        risk=risk,
        kind=kind,
        args={
            "service": res.service,
            "name": res.name,
            "id": res.id,
            "arn": res.arn,
            **(args or {}),
        },
        note=note,
    )


def _sandbox_gate(session: AwsSession, step: Step) -> Step:
    cannot = plugin.SANDBOX_CANNOT
    if session.sandbox and step.kind in cannot and step.action in (CREATE, UPDATE):
        step.note = f"NOT_SUPPORTED_ON_SANDBOX: {cannot[step.kind]}"
        step.action = NOT_SUPPORTED
    return step


# --------------------------------------------------------------------------- planning


def plan_native(session: AwsSession, params: Params, resources: list[DataResource]) -> list[Step]:
    plugin.load()
    steps: list[Step] = []
    # per (account, Region) of the estate first: settings of the scope itself and the
    # buckets resources there write to
    scopes = sorted(
        {(r.account, r.region) for r in resources}
        | set(session.scopes(params.workload_accounts or params.account_ids))
    )
    for planner in plugin.REGION_PLANNERS.values():
        for account, region in scopes:
            here = [r for r in resources if (r.account, r.region) == (account, region)]
            steps += planner(session, params, account, region, here)
    for res in resources:
        if is_managed(res):
            continue  # resources protect made itself are configured when created
        tier = params.tiers[res.tier]
        if not res.tier_tagged and params.protect.tag_untagged:
            steps.append(
                _step(
                    res,
                    "classification tag",
                    "untagged",
                    f"{params.tag_keys.tier}={res.tier}",
                    CREATE,
                    "classify",
                    {"tags": {params.tag_keys.tier: res.tier}},
                    phase=PHASES["classification"],
                    note="protect.tag_untagged: unclassified resources get default_tier",
                )
            )
        own_encryption = res.service in plugin.OWN_ENCRYPTION  # planned with its settings
        if res.encrypted is False and not own_encryption:
            steps.append(
                _step(
                    res,
                    "encryption at rest",
                    "unencrypted",
                    "encrypted",
                    MANUAL,
                    "manual",
                    note="cannot be encrypted in place: restore an encrypted copy from a snapshot "
                    "and switch over (a planned change, not done by this runbook)",
                )
            )
        elif tier.require_cmk and not own_encryption and res.cmk is not True:
            steps.append(
                _step(
                    res,
                    "customer-managed key",
                    res.kms_key or "AWS-owned key",
                    "CMK",
                    MANUAL,
                    "manual",
                    note=f"{key_judgement(res)}; "
                    "the tier requires a CMK; changing a resource's key is a planned migration. "
                    "Backups in the vault are still encrypted with the vault's CMK where AWS Backup "
                    f"manages the encryption ({', '.join(plugin.VAULT_ENCRYPTED.values())})",
                )
            )
        planner = plugin.PLANNERS.get(res.service)
        if planner is not None:
            steps += [_sandbox_gate(session, s) for s in planner(session, params, res, tier)]
    return steps


# --------------------------------------------------------------------------- apply


@applier("manual")
@applier("noop")
def _apply_nothing(session: AwsSession, step: Step, state: ApplyState) -> None:
    return None


@applier("classify")
def _apply_classify(session: AwsSession, step: Step, state: ApplyState) -> dict:
    plugin.load()
    plugin.TAGGERS[step.args["service"]](session, step, step.args["tags"])
    return step.args["tags"]
