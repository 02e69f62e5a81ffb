"""Native protection settings, where they serve the objective better than AWS Backup or
where AWS Backup does not reach: DynamoDB PITR, RDS/Aurora/Neptune backup retention, EBS
encryption by default, S3 versioning + default KMS encryption + replication + noncurrent
version lifecycle, EFS backup policy, ElastiCache snapshot retention, OpenSearch snapshot
hour, CloudWatch Logs retention and a scheduled export to S3.

Rule everywhere: a setting is changed only when it is weaker than the tier asks for; a
setting stronger than the objective is kept (never lowered).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect.central import MANAGED_TAG, ApplyState, copy_region_for, role_arn
from runbook_lib.protect.estate import DataResource
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
from runbook_lib.session import AwsSession

NATIVE, AFTER = PHASES["native"], PHASES["native_after"]
NONCURRENT_RULE_ID = "runbook-noncurrent-versions"
REPLICATION_RULE_ID = "runbook-dr-copy"
EXPORT_RULE_PREFIX = "runbook-log-exports-"
FAR_FUTURE_MS = 4102444800000  # 2100-01-01: "export everything still retained"

# Writes the sandbox (moto) does not implement, known before trying (see MOTO_NOTES).
SANDBOX_CANNOT = {
    "efs_backup_policy": "moto does not implement efs put_backup_policy (only Backup=True at creation)",
}


def _code(err: Exception) -> str:
    return err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""


def is_managed(res: DataResource) -> bool:
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
    return Step(
        phase,
        res.account,
        res.region,
        res.arn,
        setting,
        current,
        desired,
        action,
        risk,
        kind,
        {"service": res.service, "name": res.name, "id": res.id, "arn": res.arn, **(args or {})},
        note=note,
    )


def _sandbox_gate(session: AwsSession, step: Step) -> Step:
    if session.sandbox and step.kind in SANDBOX_CANNOT and step.action in (CREATE, UPDATE):
        step.note = f"NOT_SUPPORTED_ON_SANDBOX: {SANDBOX_CANNOT[step.kind]}"
        step.action = NOT_SUPPORTED
    return step


# --------------------------------------------------------------------------- names


def replica_bucket(bucket: str, region: str) -> str:
    name = f"{bucket}-dr-{region}"
    if len(name) <= 63:
        return name
    digest = hashlib.blake2b(bucket.encode(), digest_size=4).hexdigest()
    return f"{bucket[: 63 - len(region) - 13]}-{digest}-dr-{region}"


def export_bucket(params: Params, account: str, region: str) -> str:
    return params.protect.export_logs_bucket.format(account=account, region=region)


def schedule_name(params: Params, log_group: str) -> str:
    digest = hashlib.blake2b(log_group.encode(), digest_size=5).hexdigest()
    return f"{params.protect.plan_prefix}-logs-export-{digest}"


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


def export_rules(params: Params) -> list[dict[str, Any]]:
    rules = []
    for name, tier in params.tiers.items():
        keep = obj.days(tier.retention)
        rule: dict[str, Any] = {
            "ID": f"{EXPORT_RULE_PREFIX}{name}",
            "Status": "Enabled",
            "Filter": {"Prefix": f"logs/{name}/"},
            "Expiration": {"Days": keep},
        }
        cold = obj.days(tier.cold_storage_after)
        if cold and cold < keep:
            rule["Transitions"] = [{"Days": cold, "StorageClass": "GLACIER"}]
        rules.append(rule)
    return rules


def _rule_subset(rule: dict) -> dict:
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


# --------------------------------------------------------------------------- planning


def plan_native(session: AwsSession, params: Params, resources: list[DataResource]) -> list[Step]:
    steps: list[Step] = []
    log_scopes = sorted({(r.account, r.region) for r in resources if r.service == "logs"})
    for account, region in sorted(
        {(r.account, r.region) for r in resources}
        | set(session.scopes(params.workload_accounts or params.account_ids))
    ):
        steps.append(_plan_ebs_default(session, account, region))
    for account, region in log_scopes:
        tiers = {
            r.tier
            for r in resources
            if r.service == "logs" and (r.account, r.region) == (account, region)
        }
        steps += _plan_export_bucket(session, params, account, region, tiers)
    for res in resources:
        if res.service == "s3" and is_managed(res):
            continue  # buckets protect made itself are configured when created
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
        if res.encrypted is False and res.service != "s3":  # S3: default encryption below
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
        elif tier.require_cmk and res.service not in ("s3",) and res.cmk is not True:
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
                    "manages the encryption (DynamoDB advanced, EFS, S3)",
                )
            )
        steps += [
            _sandbox_gate(session, s)
            for s in PLANNERS.get(res.service, _none)(session, params, res, tier)
        ]
    return steps


def _none(*_: Any) -> list[Step]:
    return []


def _plan_ebs_default(session: AwsSession, account: str, region: str) -> Step:
    on = session.client("ec2", account, region).get_ebs_encryption_by_default()[
        "EbsEncryptionByDefault"
    ]
    return Step(
        NATIVE,
        account,
        region,
        f"ec2 {account}/{region}",
        "EBS encryption by default",
        on,
        True,
        NONE if on else UPDATE,
        "low",
        "ebs_default",
        {},
    )


def _plan_dynamodb(
    session: AwsSession, params: Params, res: DataResource, tier: Tier
) -> list[Step]:
    if not obj.wants_continuous(tier):
        return []
    want_days = min(obj.PITR_MAX_DAYS, obj.days(tier.retention))
    cur, cur_days = res.current["pitr"], res.current.get("pitr_days")
    if cur and (cur_days or obj.PITR_MAX_DAYS) >= want_days:
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


def _plan_retention(
    session: AwsSession, params: Params, res: DataResource, tier: Tier
) -> list[Step]:
    want = min(obj.RDS_MAX_RETENTION_DAYS, obj.days(tier.retention))
    cur = res.current.get("retention_days") or 0
    note = (
        ""
        if obj.days(tier.retention) <= obj.RDS_MAX_RETENTION_DAYS
        else (
            f"RDS keeps at most {obj.RDS_MAX_RETENTION_DAYS}d of automated backups; the AWS Backup plan keeps the rest"
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


def _plan_efs(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
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


def _plan_elasticache(
    session: AwsSession, params: Params, res: DataResource, tier: Tier
) -> list[Step]:
    want = min(obj.ELASTICACHE_MAX_RETENTION_DAYS, obj.days(tier.retention))
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


def _plan_opensearch(
    session: AwsSession, params: Params, res: DataResource, tier: Tier
) -> list[Step]:
    cur = res.current["snapshot_hour"]
    other = copy_region_for(params, res.region, res.tier)
    manual = (
        [
            _step(
                res,
                "copy to another Region",
                "none",
                f"manual snapshots in an S3 repository in {other}",
                MANUAL,
                "manual",
                note="needs the domain's _snapshot REST API (a registered S3 repository), "
                "which boto3 does not reach; not done by this runbook",
            )
        ]
        if other
        else []
    )
    return manual + [
        _step(
            res,
            "automated snapshot start hour (UTC)",
            cur,
            cur if cur is not None else params.protect.backup_hour_utc,
            NONE if cur is not None else UPDATE,
            "opensearch_snapshot",
            {"hour": params.protect.backup_hour_utc},
            note="automated snapshots are kept 14 days by the service; longer retention needs a manual "
            "snapshot repository in S3 (not configured by this runbook)",
        )
    ]


def _plan_s3(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
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
    cur_view = _rule_subset(current) if current else "absent"
    if cur_view == _rule_subset(desired):
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
            _rule_subset(desired),
            action,
            "s3_lifecycle",
            {"rule": desired},
            note=note,
            phase=AFTER,
            risk=risk,
        )
    )
    return steps


def _plan_logs(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    steps = []
    want = obj.log_retention_days(tier)
    cur = res.current.get("retention_days")
    if cur is None:
        steps.append(
            _step(
                res,
                "log retention (days)",
                "never expire",
                "never expire (kept)",
                NONE,
                "logs_retention",
                note="never-expiring is stronger than the tier; the export below keeps a copy in S3",
            )
        )
    else:
        steps.append(
            _step(
                res,
                "log retention (days)",
                cur,
                want,
                NONE if cur >= want else UPDATE,
                "logs_retention",
                {"days": want},
            )
        )
    name = schedule_name(params, res.name)
    bucket = export_bucket(params, res.account, res.region)
    desired = {
        "ScheduleExpression": obj.schedule_for_rpo(tier.rpo, params.protect.backup_hour_utc),
        "Input": {
            "logGroupName": res.name,
            "from": 0,
            "to": FAR_FUTURE_MS,
            "destination": bucket,
            "destinationPrefix": f"logs/{res.tier}/{res.name.strip('/')}/<aws.scheduler.execution-id>",
            "taskName": f"{name}",
        },
    }
    sched = session.client("scheduler", res.account, res.region)
    try:
        got = sched.get_schedule(Name=name)
        current: Any = {
            "ScheduleExpression": got.get("ScheduleExpression"),
            "Input": json.loads(got.get("Target", {}).get("Input") or "{}"),
        }
    except ClientError as err:
        if _code(err) != "ResourceNotFoundException":
            raise
        current = "absent"
    action = NONE if current == desired else (CREATE if current == "absent" else UPDATE)
    steps.append(
        _step(
            res,
            "scheduled export to S3",
            current if action == NONE or current == "absent" else "differs",
            desired["ScheduleExpression"] + f" -> s3://{bucket}/logs/{res.tier}/",
            action,
            "logs_export_schedule",
            {"schedule": name, "desired": desired},
            note="stored on the sandbox but never fires there (moto runs no schedules); "
            "run runbook_lib.protect.export_logs_now to export on demand"
            if session.sandbox
            else "",
        )
    )
    return steps


PLANNERS = {
    "dynamodb": _plan_dynamodb,
    "rds": _plan_retention,
    "aurora": _plan_retention,
    "neptune": _plan_retention,
    "efs": _plan_efs,
    "elasticache": _plan_elasticache,
    "opensearch": _plan_opensearch,
    "s3": _plan_s3,
    "logs": _plan_logs,
}


def export_replication_rule_id(tier: str) -> str:
    return f"{REPLICATION_RULE_ID}-logs-{tier}"


def _plan_export_bucket(
    session: AwsSession, params: Params, account: str, region: str, tiers: set[str]
) -> list[Step]:
    """The export bucket, and per tier of its log groups with a copy Region a replication
    rule (prefix ``logs/<tier>/``) to a DR bucket there. Reads: head_bucket, and
    get_bucket_replication when the bucket exists and a tier asks for a copy."""
    bucket = export_bucket(params, account, region)
    arn = f"arn:aws:s3:::{bucket}"
    s3 = session.client("s3", account, region)
    try:
        s3.head_bucket(Bucket=bucket)
        exists = True
    except ClientError as err:
        if _code(err) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    steps = [
        Step(
            PHASES["bucket"],
            account,
            region,
            arn,
            "log export bucket",
            "exists" if exists else "absent",
            "exists (versioned, encrypted, lifecycle to Glacier and expiry)",
            NONE if exists else CREATE,
            "low",
            "s3_export_bucket",
            {"bucket": bucket},
        )
    ]
    copies = {t: copy_region_for(params, region, t) for t in sorted(tiers)}
    copies = {t: r for t, r in copies.items() if r}
    if not copies:
        return steps
    rules: dict[str, dict] = {}
    if exists:
        try:
            got = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
            rules = {r.get("ID", ""): r for r in got.get("Rules", [])}
        except ClientError as err:
            if _code(err) != "ReplicationConfigurationNotFoundError":
                raise
    res = DataResource(
        account, region, "s3", "s3:bucket", arn, bucket, {}, params.default_tier, True, True, None
    )
    planned_buckets: set[str] = set()
    order = list(params.tiers)
    for tier, copy_region in copies.items():
        dest = replica_bucket(bucket, copy_region)
        dest_arn = f"arn:aws:s3:::{dest}"
        rule_id = export_replication_rule_id(tier)
        cur_dest = (rules.get(rule_id) or {}).get("Destination", {}).get("Bucket")
        if cur_dest != dest_arn and dest not in planned_buckets:
            planned_buckets.add(dest)
            steps.append(
                _step(
                    res,
                    "log export replica bucket in DR Region",
                    "absent",
                    f"{dest} ({copy_region})",
                    CREATE,
                    "s3_replica_bucket",
                    {"dest": dest, "dest_region": copy_region, "log_export": True},
                    phase=PHASES["bucket"],
                )
            )
        steps.append(
            _step(
                res,
                f"replication of logs/{tier}/ to DR Region",
                cur_dest or "none",
                dest_arn,
                NONE if cur_dest == dest_arn else UPDATE,
                "s3_replication",
                {
                    "dest": dest,
                    "dest_region": copy_region,
                    "rule_id": rule_id,
                    "prefix": f"logs/{tier}/",
                    "priority": 101 + order.index(tier),
                },
                phase=AFTER,
                note="on the sandbox the configuration is stored but objects are never replicated"
                if session.sandbox and cur_dest != dest_arn
                else "",
            )
        )
    return steps


# --------------------------------------------------------------------------- apply


@applier("manual")
@applier("noop")
def _apply_nothing(session: AwsSession, step: Step, state: ApplyState) -> None:
    return None


@applier("ebs_default")
def _apply_ebs_default(session: AwsSession, step: Step, state: ApplyState) -> bool:
    return session.client("ec2", step.account, step.region).enable_ebs_encryption_by_default()[
        "EbsEncryptionByDefault"
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


@applier("rds_retention")
def _apply_rds_retention(session: AwsSession, step: Step, state: ApplyState) -> int:
    rds = session.client("rds", step.account, step.region)
    kwargs: dict[str, Any] = {"BackupRetentionPeriod": step.args["days"], "ApplyImmediately": True}
    if not step.args.get("window"):
        h = state.params.protect.backup_hour_utc
        kwargs["PreferredBackupWindow"] = f"{h:02d}:00-{h:02d}:30"
    if step.args["cluster"]:
        rds.modify_db_cluster(DBClusterIdentifier=step.args["name"], **kwargs)
    else:
        rds.modify_db_instance(DBInstanceIdentifier=step.args["name"], **kwargs)
    return step.args["days"]


@applier("efs_backup_policy")
def _apply_efs(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("efs", step.account, step.region).put_backup_policy(
        FileSystemId=step.args["id"], BackupPolicy={"Status": "ENABLED"}
    )
    return "ENABLED"


@applier("elasticache_retention")
def _apply_elasticache(session: AwsSession, step: Step, state: ApplyState) -> int:
    session.client("elasticache", step.account, step.region).modify_replication_group(
        ReplicationGroupId=step.args["name"],
        SnapshotRetentionLimit=step.args["days"],
        ApplyImmediately=True,
    )
    return step.args["days"]


@applier("elasticache_cluster_retention")
def _apply_elasticache_cluster(session: AwsSession, step: Step, state: ApplyState) -> int:
    session.client("elasticache", step.account, step.region).modify_cache_cluster(
        CacheClusterId=step.args["name"],
        SnapshotRetentionLimit=step.args["days"],
        ApplyImmediately=True,
    )
    return step.args["days"]


@applier("opensearch_snapshot")
def _apply_opensearch(session: AwsSession, step: Step, state: ApplyState) -> int:
    session.client("opensearch", step.account, step.region).update_domain_config(
        DomainName=step.args["name"],
        SnapshotOptions={"AutomatedSnapshotStartHour": step.args["hour"]},
    )
    return step.args["hour"]


@applier("s3_versioning")
def _apply_versioning(session: AwsSession, step: Step, state: ApplyState) -> str:
    session.client("s3", step.account, step.region).put_bucket_versioning(
        Bucket=step.args["name"], VersioningConfiguration={"Status": "Enabled"}
    )
    return "Enabled"


def _encryption(key: str | None) -> dict[str, Any]:
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
        Bucket=step.args["name"], ServerSideEncryptionConfiguration=_encryption(key)
    )
    return f"aws:kms {key}" if key else "AES256"


def _tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as err:
        if _code(err) != "BucketAlreadyOwnedByYou":
            raise


@applier("s3_replica_bucket")
def _apply_replica_bucket(session: AwsSession, step: Step, state: ApplyState) -> str:
    params, dest, region = state.params, step.args["dest"], step.args["dest_region"]
    s3 = session.client("s3", step.account, region)
    _create_bucket(s3, dest, region)
    # a replica is reproducible from its source: no tier tag, so backup selections skip it
    s3.put_bucket_tagging(
        Bucket=dest,
        Tagging=_tag_set(
            {
                **MANAGED_TAG,
                params.tag_keys.reproducible: f"s3://{step.args['name']}",
            }
        ),
    )
    s3.put_bucket_versioning(Bucket=dest, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=dest, ServerSideEncryptionConfiguration=_encryption(state.key(step.account, region))
    )
    if step.args.get("log_export"):  # the same keys as the export bucket: its rules apply
        rules = export_rules(params) + [noncurrent_rule(params.tier(None))]
    else:
        rules = [noncurrent_rule(params.tiers[step.args["tier"]])]
    s3.put_bucket_lifecycle_configuration(Bucket=dest, LifecycleConfiguration={"Rules": rules})
    return dest


@applier("s3_replication")
def _apply_replication(session: AwsSession, step: Step, state: ApplyState) -> str:
    s3 = session.client("s3", step.account, step.region)
    try:
        existing = s3.get_bucket_replication(Bucket=step.args["name"])["ReplicationConfiguration"]
    except ClientError as err:
        if _code(err) != "ReplicationConfigurationNotFoundError":
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


def _merge_lifecycle(s3: Any, bucket: str, ours: list[dict]) -> None:
    try:
        existing = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as err:
        if _code(err) != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    ids = {r["ID"] for r in ours}
    rules = [r for r in existing if r.get("ID") not in ids] + ours
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


@applier("s3_lifecycle")
def _apply_lifecycle(session: AwsSession, step: Step, state: ApplyState) -> dict:
    _merge_lifecycle(
        session.client("s3", step.account, step.region), step.args["name"], [step.args["rule"]]
    )
    return _rule_subset(step.args["rule"])


@applier("s3_export_bucket")
def _apply_export_bucket(session: AwsSession, step: Step, state: ApplyState) -> str:
    params, bucket = state.params, step.args["bucket"]
    s3 = session.client("s3", step.account, step.region)
    _create_bucket(s3, bucket, step.region)
    s3.put_bucket_tagging(
        Bucket=bucket,
        Tagging=_tag_set(
            {**MANAGED_TAG, params.tag_keys.tier: params.default_tier, "purpose": "log-export"}
        ),
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration=_encryption(state.key(step.account, step.region)),
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LogsGetAcl",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{step.region}.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": {"aws:SourceAccount": step.account}},
            },
            {
                "Sid": "LogsPut",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{step.region}.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/logs/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": step.account}},
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    _merge_lifecycle(s3, bucket, export_rules(params) + [noncurrent_rule(params.tier(None))])
    return bucket


@applier("logs_retention")
def _apply_logs_retention(session: AwsSession, step: Step, state: ApplyState) -> int:
    session.client("logs", step.account, step.region).put_retention_policy(
        logGroupName=step.args["name"], retentionInDays=step.args["days"]
    )
    return step.args["days"]


@applier("logs_export_schedule")
def _apply_export_schedule(session: AwsSession, step: Step, state: ApplyState) -> str:
    desired = step.args["desired"]
    kwargs = dict(
        Name=step.args["schedule"],
        ScheduleExpression=desired["ScheduleExpression"],
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:cloudwatchlogs:createExportTask",
            "RoleArn": role_arn(state.params, step.account, "scheduler"),
            "Input": json.dumps(desired["Input"], sort_keys=True),
        },
        Description=f"export {step.args['name']} to S3 (protect runbook)",
    )
    sched = session.client("scheduler", step.account, step.region)
    if step.action == UPDATE:
        sched.update_schedule(**kwargs)
        return desired["ScheduleExpression"]
    sched.create_schedule(**kwargs)
    # the first export now, so a copy exists before the schedule first fires (never, on the sandbox)
    inp = desired["Input"]
    try:
        session.client("logs", step.account, step.region).create_export_task(
            taskName=f"{step.args['schedule']}-first",
            logGroupName=inp["logGroupName"],
            fromTime=0,
            to=FAR_FUTURE_MS,
            destination=inp["destination"],
            destinationPrefix=inp["destinationPrefix"].replace(
                "<aws.scheduler.execution-id>", "first-export"
            ),
        )
        first = "first export started"
    except ClientError as err:
        if _code(err) != "LimitExceededException":  # one running export per account on AWS
            raise
        first = "first export left to the schedule (another export task is running)"
    return f"{desired['ScheduleExpression']}; {first}"


_TAGGERS = {
    "dynamodb": lambda s, st, t: s.client("dynamodb", st.account, st.region).tag_resource(
        ResourceArn=st.args["arn"], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "ebs": lambda s, st, t: s.client("ec2", st.account, st.region).create_tags(
        Resources=[st.args["id"]], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "rds": lambda s, st, t: s.client("rds", st.account, st.region).add_tags_to_resource(
        ResourceName=st.args["arn"], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "efs": lambda s, st, t: s.client("efs", st.account, st.region).tag_resource(
        ResourceId=st.args["id"], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "elasticache": lambda s, st, t: s.client(
        "elasticache", st.account, st.region
    ).add_tags_to_resource(
        ResourceName=st.args["arn"], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "opensearch": lambda s, st, t: s.client("opensearch", st.account, st.region).add_tags(
        ARN=st.args["arn"], TagList=[{"Key": k, "Value": v} for k, v in t.items()]
    ),
    "logs": lambda s, st, t: s.client("logs", st.account, st.region).tag_resource(
        resourceArn=st.args["arn"], tags=t
    ),
}
_TAGGERS["aurora"] = _TAGGERS["neptune"] = _TAGGERS["rds"]


def _tag_s3(session: AwsSession, step: Step, tags: dict[str, str]) -> None:
    s3 = session.client("s3", step.account, step.region)
    try:
        current = {
            t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=step.args["name"])["TagSet"]
        }
    except ClientError as err:
        if _code(err) != "NoSuchTagSet":
            raise
        current = {}
    s3.put_bucket_tagging(Bucket=step.args["name"], Tagging=_tag_set({**current, **tags}))


_TAGGERS["s3"] = _tag_s3


@applier("classify")
def _apply_classify(session: AwsSession, step: Step, state: ApplyState) -> dict:
    _TAGGERS[step.args["service"]](session, step, step.args["tags"])
    return step.args["tags"]
