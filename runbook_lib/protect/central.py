"""The central pieces: service roles, a customer-managed key and a locked vault per
(account, Region), the vault access policy, and one AWS Backup plan + tag selection per tier.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.intents import Intents
from runbook_lib.inventory.backup import ScheduleError
from runbook_lib.inventory.model import tag_list
from runbook_lib.params import Params
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.model import (
    CREATE,
    MANUAL,
    NONE,
    NOT_SUPPORTED,
    PHASES,
    REFUSED,
    UPDATE,
    Step,
    applier,
)
from runbook_lib.session import AwsSession, is_not_supported

PROTECTED_ACTIONS = [
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:PutBackupVaultAccessPolicy",
    "backup:DeleteBackupVaultAccessPolicy",
]
MANAGED_TAG = {"managed-by": "runbook-protect"}
#: tag on every key protect creates, naming the alias it was made for: a key whose alias was
#: never created (CreateAlias failed, the CreateKey response was lost, the run was killed)
#: is found by it and adopted by the next plan instead of a second key being made
KEY_FOR_ALIAS_TAG = "runbook-protect-key-for-alias"
GLOBAL = "global"  # the Region column of account-wide settings (IAM roles)


def step_maker(phase: str, **fixed: Any) -> Callable[..., Step]:
    """A maker of the steps of one central piece in one scope: the ``phase`` and the applier
    (``kind``) named ``phase``, low risk, and ``fixed`` (account, region, resource, setting);
    each call adds what is current, desired and to be done (and may override any of them)."""
    return partial(Step, phase=PHASES[phase], kind=phase, risk="low", **fixed)


def _code(err: Exception) -> str:
    return err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""


@dataclass(kw_only=True)
class ApplyState:
    session: AwsSession
    params: Params
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    plan_ids: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (acct, region, tier)
    intents: Intents | None = None  # the write-ahead record of what apply creates

    def key(self, account: str, region: str) -> str:
        try:
            return self.keys[(account, region)]
        except KeyError:
            raise KeyError(
                f"no backup key for {account}/{region}: the key step did not run"
            ) from None


# --------------------------------------------------------------------------- names


def vault_arn(params: Params, account: str, region: str) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{params.protect.vault_name}"


def role_arn(params: Params, account: str, which: str) -> str:
    name = {
        "backup": params.protect.backup_role_name,
        "replication": params.protect.replication_role_name,
        "scheduler": params.protect.scheduler_role_name,
    }[which]
    return f"arn:aws:iam::{account}:role/{name}"


def plan_name(params: Params, tier: str) -> str:
    return f"{params.protect.plan_prefix}-{tier}"


def selection_name(params: Params, tier: str) -> str:
    return f"{params.protect.plan_prefix}-{tier}-by-tag"


def copy_region_for(params: Params, region: str, tier: str) -> str | None:
    """The tier's copy Region; for resources already in that Region, the first other Region
    of the estate (a copy must survive the loss of the Region the data is in)."""
    t = params.tiers[tier]
    if not t.copy_region:
        return None
    if t.copy_region != region:
        return t.copy_region
    return next((r for r in params.regions if r != region), None)


def copy_targets(params: Params, account: str, region: str, tier: str) -> list[str]:
    t = params.tiers[tier]
    out = []
    other = copy_region_for(params, region, tier)
    if other:
        out.append(vault_arn(params, account, other))
    if t.copy_account and t.copy_account != account:
        out.append(vault_arn(params, t.copy_account, region))
    return out


def vault_policy(params: Params, account: str) -> dict[str, Any]:
    """Deny deleting or shortening recovery points, and changing this policy, to all but
    the break-glass roles; let the estate's accounts copy into the vault."""
    deny: dict[str, Any] = {
        "Sid": "DenyRecoveryPointTamperingExceptBreakGlass",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": PROTECTED_ACTIONS,
        "Resource": "*",
    }
    if params.protect.break_glass_roles:
        deny["Condition"] = {
            "ArnNotLike": {"aws:PrincipalArn": sorted(params.protect.break_glass_roles)}
        }
    others = sorted(a for a in params.account_ids if a != account)
    statements = [deny]
    if others:
        statements.append(
            {
                "Sid": "AllowCopyFromEstateAccounts",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in others]},
                "Action": "backup:CopyIntoBackupVault",
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------- service roles

#: protect's service roles, in plan order (the params name them: ``protect.<which>_role_name``);
#: AWS Backup's is generic, the others are added by the services that need them
#: (``plugin.ROLE_TRUST``: who assumes it, ``plugin.ROLE_ACTIONS``: what it may do)
ROLES = ("backup", "replication", "scheduler")
plugin.ROLE_TRUST["backup"] = "backup.amazonaws.com"
# what AWS Backup needs whatever it backs up (selections by tag, the vault's CMK); each
# service adds the actions on its own resources
plugin.role_actions(
    "backup",
    "backup:DescribeBackupVault",
    "backup:CopyIntoBackupVault",
    "tag:GetResources",
    "kms:DescribeKey",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:CreateGrant",
)


def roles() -> list[str]:
    """The service roles protect makes: those a service (or AWS Backup) needs."""
    plugin.load()
    return [which for which in ROLES if which in plugin.ROLE_TRUST]


def plan_roles(session: AwsSession, params: Params, accounts: list[str]) -> list[Step]:
    steps = []
    for account in accounts:
        iam = session.client("iam", account)
        for which in roles():
            arn = role_arn(params, account, which)
            name = arn.split("/", 1)[1]
            try:
                iam.get_role(RoleName=name)
                exists = True
            except ClientError as err:
                if _code(err) != "NoSuchEntity":
                    raise
                exists = False
            # a role is in place only with its policy granting what the services need: a
            # create whose policy call failed (or whose answer was lost) leaves it bare
            missing = _missing_actions(iam, name, which) if exists else set()
            current = "absent"
            if exists:
                current = (
                    f"exists, its policy lacks {len(missing)} action(s): "
                    f"{', '.join(sorted(missing)[:5])}{' ...' if len(missing) > 5 else ''}"
                    if missing
                    else "exists"
                )
            role = step_maker("role", account=account, region=GLOBAL, resource=arn)
            steps.append(
                role(
                    setting=f"service role ({plugin.ROLE_TRUST[which]})",
                    current=current,
                    desired="exists",
                    action=CREATE if not exists else (UPDATE if missing else NONE),
                    args={"name": name, "which": which},
                )
            )
    return steps


def _role_policy_name(name: str) -> str:
    return f"{name}-inline"


def _missing_actions(iam: Any, name: str, which: str) -> set[str]:
    """The actions the role's inline policy should grant and does not (all when absent)."""
    wanted = set(plugin.ROLE_ACTIONS[which])
    try:
        doc = iam.get_role_policy(RoleName=name, PolicyName=_role_policy_name(name))[
            "PolicyDocument"
        ]
    except ClientError as err:
        if _code(err) != "NoSuchEntity":
            raise
        return wanted
    if isinstance(doc, str):  # IAM returns it URL-encoded where botocore does not decode it
        doc = json.loads(urllib.parse.unquote(doc))
    granted: set[str] = set()
    for statement in doc.get("Statement", []):
        if statement.get("Effect") == "Allow":
            actions = statement.get("Action", [])
            granted |= {actions} if isinstance(actions, str) else set(actions)
    return wanted - granted


@applier("role")
def _apply_role(session: AwsSession, step: Step, state: ApplyState) -> str:
    plugin.load()
    iam = session.client("iam", step.account)
    which, name = step.args["which"], step.args["name"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": plugin.ROLE_TRUST[which]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    if step.action == CREATE:
        try:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"Service role used by the protect runbook ({which})",
                Tags=tag_list(MANAGED_TAG),
            )
        except ClientError as err:  # made by a call whose answer was lost: go on to its policy
            if _code(err) != "EntityAlreadyExists":
                raise
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": sorted(plugin.ROLE_ACTIONS[which]),
                "Resource": "*",
            }
        ],
    }
    iam.put_role_policy(
        RoleName=name, PolicyName=_role_policy_name(name), PolicyDocument=json.dumps(policy)
    )
    return "exists"


# --------------------------------------------------------------------------- keys


def find_key(session: AwsSession, params: Params, account: str, region: str) -> str | None:
    kms = session.client("kms", account, region)
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == params.protect.key_alias and alias.get("TargetKeyId"):
                return kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]
    return None


def plan_keys(
    session: AwsSession, params: Params, scopes: list[tuple[str, str]], keys: dict
) -> list[Step]:
    steps = []
    alias = params.protect.key_alias
    for account, region in scopes:
        arn = find_key(session, params, account, region)
        orphans = [] if arn else orphan_keys(session, params, account, region)
        key = arn or (orphans[0] if orphans else None)
        if key:
            keys[(account, region)] = key
            rotation = session.client("kms", account, region).get_key_rotation_status(KeyId=key)[
                "KeyRotationEnabled"
            ]
        else:
            rotation = None
        step = step_maker("key", account=account, region=region, resource=alias)(
            setting="customer-managed KMS key",
            current=arn or "absent",
            desired="exists",
            action=NONE if arn else CREATE,
        )
        if orphans:  # made by an earlier apply that never named it: adopt, never make another
            extra = orphans[1:]
            step = replace(
                step,
                current=f"key {orphans[0]} made for {alias} without the alias",
                desired=f"alias {alias} on that key",
                action=UPDATE,
                kind="key_adopt",
                args={"key": orphans[0]},
                note=(
                    f"{len(extra)} more key(s) made for {alias} without the alias: "
                    f"{', '.join(extra)}; nothing uses them: disable them and schedule their "
                    "deletion by hand (kms:ScheduleKeyDeletion) after checking"
                    if extra
                    else ""
                ),
            )
        steps.append(step)
        rotate = step_maker("key_rotation", account=account, region=region, resource=alias)
        steps.append(
            rotate(
                setting="key rotation",
                current=rotation,
                desired=True,
                action=NONE if rotation else UPDATE,
            )
        )
    return steps


def orphan_keys(session: AwsSession, params: Params, account: str, region: str) -> list[str]:
    """Enabled keys tagged as made for the params' alias (by an earlier apply), oldest
    first. Read only when the alias is missing: one ListResourceTags per customer key."""
    kms = session.client("kms", account, region)
    alias = params.protect.key_alias
    found: list[tuple[Any, str]] = []
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page.get("Keys", []):
            try:
                tags = kms.list_resource_tags(KeyId=entry["KeyId"]).get("Tags", [])
            except ClientError as err:
                if _code(err) in ("AccessDeniedException", "NotFoundException"):
                    continue  # AWS-managed keys refuse the call; a key just deleted is gone
                raise
            if not any(t["TagKey"] == KEY_FOR_ALIAS_TAG and t["TagValue"] == alias for t in tags):
                continue
            meta = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
            if meta.get("KeyState") == "Enabled":
                found.append((meta.get("CreationDate"), meta["Arn"]))
    return [arn for _, arn in sorted(found, key=lambda f: (f[0] is None, f[0] or 0, f[1]))]


@applier("key")
def _apply_key(session: AwsSession, step: Step, state: ApplyState) -> str:
    kms = session.client("kms", step.account, step.region)
    alias = state.params.protect.key_alias
    intent = state.intents and state.intents.intend(
        purpose="protect", kind="kms key", service="kms", account=step.account,
        region=step.region, name=alias,
    )  # fmt: skip
    tags = {**MANAGED_TAG, KEY_FOR_ALIAS_TAG: alias}
    key = kms.create_key(
        Description="AWS Backup vault key (protect runbook)",
        KeyUsage="ENCRYPT_DECRYPT",
        Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()],
    )["KeyMetadata"]["Arn"]
    if intent:
        state.intents.started(intent, key)
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    state.keys[(step.account, step.region)] = key
    return key


@applier("key_adopt")
def _apply_key_adopt(session: AwsSession, step: Step, state: ApplyState) -> str:
    key = step.args["key"]
    kms = session.client("kms", step.account, step.region)
    kms.create_alias(AliasName=state.params.protect.key_alias, TargetKeyId=key)
    state.keys[(step.account, step.region)] = key
    return key


@applier("key_rotation")
def _apply_rotation(session: AwsSession, step: Step, state: ApplyState) -> bool:
    session.client("kms", step.account, step.region).enable_key_rotation(
        KeyId=state.key(step.account, step.region)
    )
    return True


# --------------------------------------------------------------------------- vaults


def describe_vault(session: AwsSession, params: Params, account: str, region: str) -> dict | None:
    try:
        return session.client("backup", account, region).describe_backup_vault(
            BackupVaultName=params.protect.vault_name
        )
    except ClientError as err:
        if _code(err) in ("ResourceNotFoundException", "AccessDeniedException"):
            return None
        raise


def plan_vaults(
    session: AwsSession, params: Params, scopes: list[tuple[str, str]], keys: dict
) -> list[Step]:
    steps = []
    p = params.protect
    for account, region in scopes:
        vault = describe_vault(session, params, account, region)
        step = step_maker(
            "vault",
            account=account,
            region=region,
            resource=p.vault_name,
            setting="backup vault (CMK)",
        )
        if vault is None:
            steps.append(
                step(
                    current="absent", desired="exists, encrypted with " + p.key_alias, action=CREATE
                )
            )
        else:
            key = keys.get((account, region))
            same = key is not None and vault.get("EncryptionKeyArn") == key
            steps.append(
                step(
                    current=vault.get("EncryptionKeyArn"),
                    desired=key or p.key_alias,
                    action=NONE if same else "manual",
                    note=""
                    if same
                    else "a vault's key cannot be changed; recovery points stay encrypted with "
                    "the vault's current key. Create a new vault name in protect.vault_name to move to the CMK.",
                )
            )
        steps += _plan_policy(session, params, account, region, vault)
        steps += _plan_lock(params, account, region, vault)
    return steps


@applier("vault")
def _apply_vault(session: AwsSession, step: Step, state: ApplyState) -> str:
    out = session.client("backup", step.account, step.region).create_backup_vault(
        BackupVaultName=state.params.protect.vault_name,
        EncryptionKeyArn=state.key(step.account, step.region),
        BackupVaultTags=dict(MANAGED_TAG),
    )
    return out["BackupVaultArn"]


def _plan_policy(
    session: AwsSession, params: Params, account: str, region: str, vault: dict | None
) -> list[Step]:
    desired = vault_policy(params, account)
    step = step_maker(
        "vault_policy",
        account=account,
        region=region,
        resource=params.protect.vault_name,
        setting="vault access policy (deny delete/shorten except break-glass)",
    )
    summary = f"deny {len(PROTECTED_ACTIONS)} actions except {len(params.protect.break_glass_roles)} break-glass role(s)"
    current: Any = "absent"
    action = CREATE
    if vault is not None:
        try:
            doc = (
                session.client("backup", account, region)
                .get_backup_vault_access_policy(BackupVaultName=params.protect.vault_name)
                .get("Policy")
            )
            current = json.loads(doc) if doc else "absent"
        except ClientError as err:
            if is_not_supported(err) and session.sandbox:
                return [
                    step(
                        current="unknown",
                        desired=summary,
                        action=NOT_SUPPORTED,
                        note="the sandbox cannot store vault access policies",
                    )
                ]
            if _code(err) != "ResourceNotFoundException":
                raise
        if current == desired:
            action = NONE
        elif current != "absent":
            action = UPDATE
    return [
        step(
            current="absent"
            if current == "absent"
            else ("as desired" if action == NONE else "differs"),
            desired=summary,
            action=action,
            risk="medium" if action == UPDATE else "low",
            args={"policy": desired},
            note="on the sandbox the Deny applies to every caller: Conditions are not evaluated"
            if session.sandbox and action != NONE
            else "",
        )
    ]


@applier("vault_policy")
def _apply_policy(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("backup", step.account, step.region).put_backup_vault_access_policy(
        BackupVaultName=state.params.protect.vault_name, Policy=json.dumps(step.args["policy"])
    )
    return "as desired"


def _plan_lock(params: Params, account: str, region: str, vault: dict | None) -> list[Step]:
    lock = params.protect.vault_lock
    if lock is None:
        return []
    desired = {
        "mode": lock.mode,
        "MinRetentionDays": obj.days(lock.min_retention),
        "MaxRetentionDays": obj.days(lock.max_retention),
    }
    name = params.protect.vault_name
    current: dict[str, Any] | str = "unlocked"
    action, note, risk = CREATE, "", "medium"
    if vault and vault.get("Locked"):
        current = {
            "mode": "compliance" if vault.get("LockDate") else "governance",
            "MinRetentionDays": vault.get("MinRetentionDays"),
            "MaxRetentionDays": vault.get("MaxRetentionDays"),
        }
        weaker = []
        if (current["MinRetentionDays"] or 0) > desired["MinRetentionDays"]:
            weaker.append(
                f"min retention {current['MinRetentionDays']}d -> {desired['MinRetentionDays']}d"
            )
        if current["mode"] == "compliance" and lock.mode == "governance":
            weaker.append("compliance -> governance")
        if current == desired:
            action = NONE
        elif weaker and not params.protect.allow_weakening:
            action, note = REFUSED, "would weaken the vault lock: " + "; ".join(weaker)
        else:
            action, risk = UPDATE, "weakens" if weaker else "medium"
    irreversible = lock.mode == "compliance" and action in (CREATE, UPDATE)
    if irreversible:
        risk = "irreversible"
        note = (
            f"compliance mode: after {obj.days(lock.changeable_for)} day(s) nobody, not even the "
            "account root, can remove the lock or delete recovery points before their retention ends"
        )
    return [
        step_maker("vault_lock", account=account, region=region, resource=name)(
            setting="vault lock",
            current=current,
            desired=desired,
            action=action,
            risk=risk,
            args={"lock": desired, "changeable_for": obj.days(lock.changeable_for)},
            note=note,
            irreversible=irreversible,
        )
    ]


@applier("vault_lock")
def _apply_lock(session: AwsSession, step: Step, state: ApplyState) -> dict:
    lock = step.args["lock"]
    kwargs: dict[str, Any] = {
        "BackupVaultName": state.params.protect.vault_name,
        "MinRetentionDays": lock["MinRetentionDays"],
    }
    if lock["MaxRetentionDays"]:
        kwargs["MaxRetentionDays"] = lock["MaxRetentionDays"]
    if lock["mode"] == "compliance":
        kwargs["ChangeableForDays"] = step.args["changeable_for"]
    session.client("backup", step.account, step.region).put_backup_vault_lock_configuration(
        **kwargs
    )
    return lock


# --------------------------------------------------------------------------- plans and selections


def _find_plan(session: AwsSession, account: str, region: str, name: str) -> dict | None:
    backup = session.client("backup", account, region)
    for page in backup.get_paginator("list_backup_plans").paginate():
        for p in page.get("BackupPlansList", []):
            if p.get("BackupPlanName") == name and not p.get("DeletionDate"):
                return p
    return None


_RULE_KEYS = (
    "TargetBackupVaultName",
    "ScheduleExpression",
    "StartWindowMinutes",
    "CompletionWindowMinutes",
    "Lifecycle",
    "CopyActions",
    "EnableContinuousBackup",
)


def _rule_view(rule: dict) -> dict:
    out = {k: rule.get(k) for k in _RULE_KEYS if rule.get(k) not in (None, [], {})}
    if "Lifecycle" in out:
        out["Lifecycle"] = {
            k: v
            for k, v in out["Lifecycle"].items()
            if k in ("DeleteAfterDays", "MoveToColdStorageAfterDays")
        }
    if "CopyActions" in out:
        out["CopyActions"] = sorted(
            (
                {
                    "DestinationBackupVaultArn": c["DestinationBackupVaultArn"],
                    "Lifecycle": {
                        k: v
                        for k, v in (c.get("Lifecycle") or {}).items()
                        if k in ("DeleteAfterDays", "MoveToColdStorageAfterDays")
                    },
                }
                for c in out["CopyActions"]
            ),
            key=lambda c: c["DestinationBackupVaultArn"],
        )
    out.pop("EnableContinuousBackup", None) if not rule.get("EnableContinuousBackup") else None
    return out


def weakenings(current: dict, desired: dict, rule_name: str = "") -> list[str]:
    """How ``desired`` would weaken ``current`` (a rule in _rule_view form).

    A current schedule that cannot be read is reported as a possible weakening (naming the
    rule and the expression): whether the new one runs less often cannot be judged.
    """
    out = []
    cur_del = (current.get("Lifecycle") or {}).get("DeleteAfterDays")
    new_del = (desired.get("Lifecycle") or {}).get("DeleteAfterDays")
    if cur_del is None and new_del is not None:
        out.append(f"retention kept forever -> {new_del}d")
    elif cur_del and new_del and new_del < cur_del:
        out.append(f"retention {cur_del}d -> {new_del}d")
    removed = {c["DestinationBackupVaultArn"] for c in current.get("CopyActions", [])} - {
        c["DestinationBackupVaultArn"] for c in desired.get("CopyActions", [])
    }
    if removed:
        out.append("copy removed to " + ", ".join(sorted(removed)))
    cur_sched, new_sched = current.get("ScheduleExpression"), desired.get("ScheduleExpression")
    if cur_sched and new_sched:  # no current schedule: nothing to compare with
        try:
            cur_interval = obj.schedule_interval(cur_sched)
        except ScheduleError as err:
            out.append(
                f"rule {rule_name or '(unnamed)'}: {err}; whether {new_sched} runs less often "
                "is unknown"
            )
        else:
            if obj.schedule_interval(new_sched) > cur_interval:
                out.append(f"schedule {cur_sched} -> {new_sched} (less often)")
    if current.get("EnableContinuousBackup") and not desired.get("EnableContinuousBackup"):
        out.append("continuous backup turned off")
    return out


def plan_backup_plans(
    session: AwsSession, params: Params, scopes: list[tuple[str, str]]
) -> list[Step]:
    steps = []
    for account, region in scopes:
        for tier in obj.ranked_tiers(params):
            name = plan_name(params, tier)
            rule = obj.backup_rule(
                params, tier, params.protect.vault_name, copy_targets(params, account, region, tier)
            )
            _lc, cold_note = obj.lifecycle(params.tiers[tier])
            desired = _rule_view(rule)
            found = _find_plan(session, account, region, name)
            current_view: Any = "absent"
            plan_id = None
            action, risk = CREATE, "low"
            notes = [n for n in [cold_note] if n]
            targets = [c["DestinationBackupVaultArn"] for c in rule["CopyActions"]]
            if session.sandbox and any(arn.split(":")[4] != account for arn in targets):
                notes.append(
                    "cross-account copy is stored in the plan, but the sandbox cannot copy across accounts"
                )
            if found:
                plan_id = found["BackupPlanId"]
                got = session.client("backup", account, region).get_backup_plan(
                    BackupPlanId=plan_id
                )["BackupPlan"]
                rules = got.get("Rules", [])
                current_view = (
                    _rule_view(rules[0]) if len(rules) == 1 else [_rule_view(r) for r in rules]
                )
                if current_view == desired:
                    action = NONE
                else:
                    # every current rule counts: replacing two rules by one must not
                    # drop the stronger one unnoticed
                    weak = []
                    for r in rules:
                        label = f"rule {r.get('RuleName', '(unnamed)')}: "
                        for w in weakenings(_rule_view(r), desired, r.get("RuleName", "")):
                            w = label + w if len(rules) > 1 and not w.startswith(label) else w
                            weak += [w] if w not in weak else []
                    if weak and not params.protect.allow_weakening:
                        action = REFUSED
                        notes.insert(0, "would weaken: " + "; ".join(weak))
                    else:
                        action, risk = UPDATE, "weakens" if weak else "medium"
                    if action == UPDATE and session.sandbox:
                        action = NOT_SUPPORTED
                        notes.insert(
                            0,
                            "NOT_SUPPORTED_ON_SANDBOX: moto does not implement update_backup_plan",
                        )
            step = step_maker("backup_plan", account=account, region=region, resource=name)
            steps.append(
                step(
                    setting=f"backup plan ({tier})",
                    current=current_view,
                    desired=desired,
                    action=action,
                    risk=risk,
                    args={"tier": tier, "rule": rule, "plan_id": plan_id},
                    note="; ".join(notes),
                )
            )
            steps.append(_plan_selection(session, params, account, region, tier, plan_id))
    return steps


def _plan_selection(
    session: AwsSession, params: Params, account: str, region: str, tier: str, plan_id: str | None
) -> Step:
    name = selection_name(params, tier)
    desired = {"tag": f"{params.tag_keys.tier}={tier}", "role": role_arn(params, account, "backup")}
    step = step_maker(
        "selection",
        account=account,
        region=region,
        resource=name,
        setting=f"backup selection ({tier})",
        desired=desired,
    )
    if plan_id:
        backup = session.client("backup", account, region)
        try:
            found = [
                s
                for s in backup.list_backup_selections(BackupPlanId=plan_id).get(
                    "BackupSelectionsList", []
                )
                if s["SelectionName"] == name
            ]
        except ClientError as err:
            if session.sandbox and is_not_supported(err):
                return step(
                    current="unknown",
                    action=NOT_SUPPORTED,
                    args={"tier": tier},
                    note="the sandbox has no backup selections",
                )
            raise
        if len(found) > 1:
            return _plan_duplicates(backup, plan_id, found, tier, step)
        if found:
            return step(current=desired, action=NONE, args={"tier": tier})
    return step(current="absent", action=CREATE, args={"tier": tier, "plan_id": plan_id})


def _plan_duplicates(
    backup: Any, plan_id: str, found: list[dict], tier: str, step: Callable[..., Step]
) -> Step:
    """Several selections of protect's name in one plan (a retried create whose first
    response was lost): keep the oldest; delete the others only where they select exactly
    what the oldest does, else a person decides."""
    found = sorted(found, key=lambda s: (s.get("CreationDate") is None, s.get("CreationDate") or 0))
    keep = found[0]

    def body(sel: dict) -> dict:
        got = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=sel["SelectionId"])
        return got.get("BackupSelection", {})

    kept = body(keep)
    same = [s["SelectionId"] for s in found[1:] if body(s) == kept]
    differ = [s["SelectionId"] for s in found[1:] if s["SelectionId"] not in same]
    name = keep["SelectionName"]
    return step(
        resource=name,
        current=f"{len(found)} selections named {name}",
        desired=f"one (keep {keep['SelectionId']})",
        action=MANUAL if differ else UPDATE,
        kind="selection_dedupe",
        args={"tier": tier, "plan_id": plan_id, "remove": same},
        note=(
            f"selections {', '.join(differ)} share the name but select other resources: "
            "compare them with the kept one and delete by hand"
            if differ
            else f"duplicates {', '.join(same)} select exactly what the kept one does"
        ),
    )


@applier("selection_dedupe")
def _apply_dedupe(session: AwsSession, step: Step, state: ApplyState) -> list[str]:
    backup = session.client("backup", step.account, step.region)
    for selection_id in step.args["remove"]:
        backup.delete_backup_selection(BackupPlanId=step.args["plan_id"], SelectionId=selection_id)
    return step.args["remove"]


@applier("backup_plan")
def _apply_plan(session: AwsSession, step: Step, state: ApplyState) -> str:
    backup = session.client("backup", step.account, step.region)
    plan = {"BackupPlanName": step.resource, "Rules": [step.args["rule"]]}
    if step.args.get("plan_id"):
        out = backup.update_backup_plan(BackupPlanId=step.args["plan_id"], BackupPlan=plan)
    else:
        out = backup.create_backup_plan(BackupPlan=plan, BackupPlanTags=dict(MANAGED_TAG))
    state.plan_ids[(step.account, step.region, step.args["tier"])] = out["BackupPlanId"]
    return out["BackupPlanId"]


@applier("selection")
def _apply_selection(session: AwsSession, step: Step, state: ApplyState) -> str:
    tier = step.args["tier"]
    plan_id = state.plan_ids.get((step.account, step.region, tier)) or step.args.get("plan_id")
    if not plan_id:
        found = _find_plan(session, step.account, step.region, plan_name(state.params, tier))
        plan_id = found and found["BackupPlanId"]
    if not plan_id:
        raise KeyError(
            f"backup plan {plan_name(state.params, tier)} does not exist in {step.account}/{step.region}"
        )
    intent = state.intents and state.intents.intend(
        purpose="protect", kind="backup selection", service="backup", account=step.account,
        region=step.region, name=step.resource, source=plan_id,
    )  # fmt: skip
    token = {"CreatorRequestId": intent.token} if intent else {}
    out = session.client("backup", step.account, step.region).create_backup_selection(
        **token,
        BackupPlanId=plan_id,
        BackupSelection={
            "SelectionName": step.resource,
            "IamRoleArn": role_arn(state.params, step.account, "backup"),
            "ListOfTags": [
                {
                    "ConditionType": "STRINGEQUALS",
                    "ConditionKey": state.params.tag_keys.tier,
                    "ConditionValue": tier,
                }
            ],
        },
    )
    if intent:
        state.intents.started(intent, out["SelectionId"])
    return out["SelectionId"]
