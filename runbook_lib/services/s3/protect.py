"""Protect for S3 buckets: versioning, default encryption (with the protect CMK where the
tier requires one), replication to a DR bucket in the tier's copy Region, and a lifecycle
rule for noncurrent versions. The helpers (replica names, lifecycle rules, bucket
creation) serve the log export buckets too (``services/logs/protect.py``)."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.inventory.model import Found, Scope, error_code, tag_list
from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.central import MANAGED_TAG, ApplyState, copy_region_for, role_arn
from runbook_lib.protect.estate import DataResource, get_or_none
from runbook_lib.protect.model import CREATE, MANUAL, NONE, PHASES, REFUSED, UPDATE, Step, applier
from runbook_lib.protect.native import AFTER, _step, key_judgement
from runbook_lib.session import AwsSession

NONCURRENT_RULE_ID = "runbook-noncurrent-versions"
REPLICATION_RULE_ID = "runbook-dr-copy"

# ------------------------------------------------------------------ names and rules


def replica_bucket(bucket: str, region: str) -> str:
    name = f"{bucket}-dr-{region}"
    if len(name) <= 63:
        return name
    digest = hashlib.blake2b(bucket.encode(), digest_size=4).hexdigest()
    return f"{bucket[: 63 - len(region) - 13]}-{digest}-dr-{region}"


def noncurrent_rule(tier: Tier) -> dict[str, Any]:
    keep = obj.days(tier.retention)
    rule: dict[str, Any] = {
        "ID": NONCURRENT_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": keep},
    }
    cold = obj.days(tier.cold_storage_after)
    if cold and cold < keep:
        rule["NoncurrentVersionTransitions"] = [{"NoncurrentDays": cold, "StorageClass": "GLACIER"}]
    return rule


def rule_subset(rule: dict) -> dict:
    keys = (
        "ID",
        "Status",
        "NoncurrentVersionExpiration",
        "NoncurrentVersionTransitions",
        "Expiration",
        "Transitions",
    )
    out = {k: rule[k] for k in keys if rule.get(k)}
    for k in ("NoncurrentVersionExpiration",):
        if k in out:
            out[k] = {"NoncurrentDays": out[k].get("NoncurrentDays")}
    return out


# ------------------------------------------------------------------ current and plan


def current(scope: Scope, bucket: dict, found: Found) -> dict:
    # the inventory reads these settings but keeps only what protects; protect needs them whole
    s3 = scope.session.client("s3", scope.account, found.row["region"])
    name = bucket["Name"]
    enc = get_or_none(
        s3, "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", Bucket=name
    )
    default = (
        enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        if enc
        else {}
    )
    repl = get_or_none(
        s3, "get_bucket_replication", "ReplicationConfigurationNotFoundError", Bucket=name
    )
    lifecycle = get_or_none(
        s3, "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", Bucket=name
    )
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status") or "Never enabled"
    return {
        "encrypted": bool(default),
        "kms_key": default.get("KMSMasterKeyID"),
        "current": {
            "versioning": versioning,
            "sse": default.get("SSEAlgorithm"),
            "replication": repl["ReplicationConfiguration"] if repl else None,
            "lifecycle_rules": (lifecycle or {}).get("Rules", []),
        },
    }


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    c = res.current
    steps = []
    versioning = c["versioning"]
    steps.append(
        _step(
            res,
            "versioning",
            versioning,
            "Enabled",
            NONE if versioning == "Enabled" else UPDATE,
            "s3_versioning",
        )
    )
    if tier.require_cmk:
        kms = c["sse"] == "aws:kms"
        ok = kms and res.cmk is True
        # a key KMS cannot describe may be someone's CMK: a person decides, protect does not
        # replace it; an AWS-managed key is replaced by the protect CMK
        unknown = kms and res.kms_key and res.cmk is None
        steps.append(
            _step(
                res,
                "default encryption",
                f"{c['sse']} {res.kms_key or ''}".strip() if c["sse"] else "none",
                "aws:kms with the protect CMK" if not ok else "aws:kms (CMK)",
                NONE if ok else MANUAL if unknown else UPDATE,
                "manual" if unknown else "s3_encryption",
                {"kms": True},
                note="" if ok or not kms else key_judgement(res),
            )
        )
    else:
        steps.append(
            _step(
                res,
                "default encryption",
                c["sse"] or "none",
                c["sse"] or "AES256",
                NONE if c["sse"] else UPDATE,
                "s3_encryption",
                {"kms": False},
            )
        )
    # replication to the DR Region
    repl_rules = (c.get("replication") or {}).get("Rules", [])
    ours = next((r for r in repl_rules if r.get("ID") == REPLICATION_RULE_ID), None)
    copy_region = copy_region_for(params, res.region, res.tier)
    if copy_region:
        dest = replica_bucket(res.name, copy_region)
        dest_arn = f"arn:aws:s3:::{dest}"
        cur_dest = ours and ours.get("Destination", {}).get("Bucket")
        if cur_dest != dest_arn:
            steps.append(
                _step(
                    res,
                    "replica bucket in DR Region",
                    "absent",
                    f"{dest} ({copy_region})",
                    CREATE,
                    "s3_replica_bucket",
                    {"dest": dest, "dest_region": copy_region, "tier": res.tier},
                    phase=PHASES["bucket"],
                )
            )
        steps.append(
            _step(
                res,
                "replication to DR Region",
                cur_dest or "none",
                dest_arn,
                NONE if cur_dest == dest_arn else UPDATE,
                "s3_replication",
                {"dest": dest, "dest_region": copy_region},
                phase=AFTER,
                note="on the sandbox the configuration is stored but objects are never replicated"
                if session.sandbox and cur_dest != dest_arn
                else "",
            )
        )
    elif ours:
        action = REFUSED if not params.protect.allow_weakening else NONE
        steps.append(
            _step(
                res,
                "replication to DR Region",
                ours.get("Destination", {}).get("Bucket"),
                "none (tier has no copy_region)",
                action,
                "noop",
                note="would remove a copy; kept (protect never deletes replication)"
                if action == NONE
                else "would weaken: removes a copy to another Region",
            )
        )
    # noncurrent versions lifecycle
    desired = noncurrent_rule(tier)
    current = next(
        (r for r in c.get("lifecycle_rules", []) if r.get("ID") == NONCURRENT_RULE_ID), None
    )
    cur_view = rule_subset(current) if current else "absent"
    if cur_view == rule_subset(desired):
        action, note, risk = NONE, "", "low"
    else:
        action, note, risk = (UPDATE if current else CREATE), "", "low"
        if current:
            cur_keep = (current.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
            if cur_keep and cur_keep > desired["NoncurrentVersionExpiration"]["NoncurrentDays"]:
                if params.protect.allow_weakening:
                    risk = "weakens"
                else:
                    action = REFUSED
                    note = (
                        f"would weaken: noncurrent versions kept {cur_keep}d -> "
                        f"{desired['NoncurrentVersionExpiration']['NoncurrentDays']}d"
                    )
    steps.append(
        _step(
            res,
            "lifecycle: noncurrent versions",
            cur_view,
            rule_subset(desired),
            action,
            "s3_lifecycle",
            {"rule": desired},
            note=note,
            phase=AFTER,
            risk=risk,
        )
    )
    return steps


# ------------------------------------------------------------------ apply


@applier("s3_versioning")
def _apply_versioning(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("s3", step.account, step.region).put_bucket_versioning(
        Bucket=step.args["name"], VersioningConfiguration={"Status": "Enabled"}
    )
    return "Enabled"


def encryption(key: str | None) -> dict[str, Any]:
    if key:
        default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        return {
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        }
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


@applier("s3_encryption")
def _apply_encryption(session: AwsSession, step: Step, state: ApplyState) -> str:
    key = state.key(step.account, step.region) if step.args["kms"] else None
    session.client("s3", step.account, step.region).put_bucket_encryption(
        Bucket=step.args["name"], ServerSideEncryptionConfiguration=encryption(key)
    )
    return f"aws:kms {key}" if key else "AES256"


def tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": tag_list(tags)}


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as err:
        if error_code(err) != "BucketAlreadyOwnedByYou":
            raise


@applier("s3_replica_bucket")
def _apply_replica_bucket(session: AwsSession, step: Step, state: ApplyState) -> str:
    params, dest, region = state.params, step.args["dest"], step.args["dest_region"]
    s3 = session.client("s3", step.account, region)
    create_bucket(s3, dest, region)
    # a replica is reproducible from its source: no tier tag, so backup selections skip it
    s3.put_bucket_tagging(
        Bucket=dest,
        Tagging=tag_set(
            {
                **MANAGED_TAG,
                params.tag_keys.reproducible: f"s3://{step.args['name']}",
            }
        ),
    )
    s3.put_bucket_versioning(Bucket=dest, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=dest, ServerSideEncryptionConfiguration=encryption(state.key(step.account, region))
    )
    # the planner may name the rules (a log export bucket's replica keeps its bucket's rules)
    rules = step.args.get("lifecycle_rules") or [noncurrent_rule(params.tiers[step.args["tier"]])]
    s3.put_bucket_lifecycle_configuration(Bucket=dest, LifecycleConfiguration={"Rules": rules})
    return dest


@applier("s3_replication")
def _apply_replication(session: AwsSession, step: Step, state: ApplyState) -> str:
    s3 = session.client("s3", step.account, step.region)
    try:
        existing = s3.get_bucket_replication(Bucket=step.args["name"])["ReplicationConfiguration"]
    except ClientError as err:
        if error_code(err) != "ReplicationConfigurationNotFoundError":
            raise
        existing = {"Rules": []}
    dest_arn = f"arn:aws:s3:::{step.args['dest']}"
    rule_id = step.args.get("rule_id", REPLICATION_RULE_ID)
    rule = {
        "ID": rule_id,
        "Priority": step.args.get("priority", 100),
        "Status": "Enabled",
        "Filter": {"Prefix": step.args.get("prefix", "")},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
        "Destination": {
            "Bucket": dest_arn,
            "EncryptionConfiguration": {
                "ReplicaKmsKeyID": state.key(step.account, step.args["dest_region"])
            },
        },
    }
    rules = [r for r in existing.get("Rules", []) if r.get("ID") != rule_id] + [rule]
    s3.put_bucket_replication(
        Bucket=step.args["name"],
        ReplicationConfiguration={
            "Role": role_arn(state.params, step.account, "replication"),
            "Rules": rules,
        },
    )
    return dest_arn


def merge_lifecycle(s3: Any, bucket: str, ours: list[dict]) -> None:
    try:
        existing = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as err:
        if error_code(err) != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    ids = {r["ID"] for r in ours}
    rules = [r for r in existing if r.get("ID") not in ids] + ours
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


@applier("s3_lifecycle")
def _apply_lifecycle(session: AwsSession, step: Step, state: ApplyState) -> dict:
    merge_lifecycle(
        session.client("s3", step.account, step.region), step.args["name"], [step.args["rule"]]
    )
    return rule_subset(step.args["rule"])


def tag(session: AwsSession, step: Step, tags: dict[str, str]) -> None:
    s3 = session.client("s3", step.account, step.region)
    try:
        current = {
            t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=step.args["name"])["TagSet"]
        }
    except ClientError as err:
        if error_code(err) != "NoSuchTagSet":
            raise
        current = {}
    s3.put_bucket_tagging(Bucket=step.args["name"], Tagging=tag_set({**current, **tags}))


plugin.register(
    "s3", current=current, planner=plan, tagger=tag, own_encryption=True, vault_encrypted="S3"
)
# AWS Backup for S3 (its managed policy AWSBackupServiceRolePolicyForS3Backup): versions,
# tags, and the EventBridge rule and metrics it uses for continuous backups
plugin.role_actions(
    "backup",
    "s3:GetBucketVersioning",
    "s3:GetBucketTagging",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetBucketLocation",
    "s3:GetBucketNotification",
    "s3:PutBucketNotification",
    "events:DescribeRule",
    "events:PutRule",
    "events:PutTargets",
    "events:DeleteRule",
    "events:RemoveTargets",
    "cloudwatch:GetMetricData",
)
# the role S3 replication assumes (the DR copy of data and log export buckets)
plugin.ROLE_TRUST["replication"] = "s3.amazonaws.com"
plugin.role_actions(
    "replication",
    "s3:GetReplicationConfiguration",
    "s3:ListBucket",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
)
# S3 names its permissions after the bucket sub-resource, not the API
plugin.IAM_EXCEPTIONS.update(
    {
        "s3:ListBuckets": "s3:ListAllMyBuckets",
        "s3:HeadBucket": "s3:ListBucket",
        "s3:ListObjects": "s3:ListBucket",
        "s3:ListObjectsV2": "s3:ListBucket",
        "s3:ListObjectVersions": "s3:ListBucketVersions",
        "s3:HeadObject": "s3:GetObject",
        "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
        "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
        "s3:GetBucketReplication": "s3:GetReplicationConfiguration",
        "s3:PutBucketReplication": "s3:PutReplicationConfiguration",
        "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
        "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
        "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
        "s3:GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketNotificationConfiguration": "s3:GetBucketNotification",
        "s3:DeleteObjects": "s3:DeleteObject",
    }
)
