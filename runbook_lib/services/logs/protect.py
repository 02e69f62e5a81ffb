"""Protect for CloudWatch log groups: retention raised to the tier's (never lowered, never
set on never-expiring groups), and an EventBridge Scheduler schedule per group exporting it
to an S3 export bucket per (account, Region), which replicates to the tier's copy Region
(the bucket steps use the S3 appliers of ``services/s3/protect.py``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from runbook_lib.inventory.model import Found, Scope, error_code
from runbook_lib.params import Params, Tier
from runbook_lib.protect import objectives as obj
from runbook_lib.protect import plugin
from runbook_lib.protect.central import MANAGED_TAG, ApplyState, copy_region_for, role_arn
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import CREATE, NONE, PHASES, UPDATE, Step, applier
from runbook_lib.protect.native import AFTER, _step
from runbook_lib.services.s3 import protect as s3p
from runbook_lib.session import AwsSession

EXPORT_RULE_PREFIX = "runbook-log-exports-"
FAR_FUTURE_MS = 4102444800000  # 2100-01-01: "export everything still retained"
# CloudWatch Logs accepts only these retention values (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def log_retention_days(tier: Tier) -> int:
    """The smallest CloudWatch Logs retention value that keeps at least the tier's retention."""
    want = obj.days(tier.retention)
    return next((d for d in LOG_RETENTION_DAYS if d >= want), LOG_RETENTION_DAYS[-1])


def export_bucket(params: Params, account: str, region: str) -> str:
    return params.protect.export_logs_bucket.format(account=account, region=region)


def schedule_name(params: Params, log_group: str) -> str:
    digest = hashlib.blake2b(log_group.encode(), digest_size=5).hexdigest()
    return f"{params.protect.plan_prefix}-logs-export-{digest}"


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


def current(scope: Scope, group: dict, found: Found) -> dict:
    return {"current": {"retention_days": group.get("retentionInDays")}}


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    steps = []
    want = log_retention_days(tier)
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
        if error_code(err) != "ResourceNotFoundException":
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


def export_replication_rule_id(tier: str) -> str:
    return f"{s3p.REPLICATION_RULE_ID}-logs-{tier}"


def plan_export_bucket(
    session: AwsSession, params: Params, account: str, region: str, resources: list[DataResource]
) -> list[Step]:
    """Where the (account, Region) has log groups: the export bucket, and per tier of its
    log groups with a copy Region a replication rule (prefix ``logs/<tier>/``) to a DR
    bucket there. Reads: head_bucket, and get_bucket_replication when the bucket exists and
    a tier asks for a copy."""
    tiers = {r.tier for r in resources if r.service == "logs"}
    if not tiers:
        return []
    bucket = export_bucket(params, account, region)
    arn = f"arn:aws:s3:::{bucket}"
    s3 = session.client("s3", account, region)
    try:
        s3.head_bucket(Bucket=bucket)
        exists = True
    except ClientError as err:
        if error_code(err) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    # a bucket made by an apply that stopped half-way (a failed call after CreateBucket, a
    # lost answer) exists without its settings: it is re-planned, never taken as done
    missing = export_bucket_missing(s3, bucket, params) if exists else []
    steps = [
        Step(
            phase=PHASES["bucket"],
            account=account,
            region=region,
            resource=arn,
            setting="log export bucket",
            current=(
                "absent"
                if not exists
                else "exists" + (f"; missing: {', '.join(missing)}" if missing else "")
            ),
            desired="exists (versioned, encrypted, lifecycle to Glacier and expiry)",
            action=CREATE if not exists else (UPDATE if missing else NONE),
            risk="low",
            kind="s3_export_bucket",
            args={"bucket": bucket},
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
            if error_code(err) != "ReplicationConfigurationNotFoundError":
                raise
    res = DataResource(
        account=account,
        region=region,
        service="s3",
        resource_type="s3:bucket",
        arn=arn,
        name=bucket,
        tags={},
        tier=params.default_tier,
        tier_tagged=True,
        encrypted=True,
        kms_key=None,
    )
    planned_buckets: set[str] = set()
    order = list(params.tiers)
    for tier, copy_region in copies.items():
        dest = s3p.replica_bucket(bucket, copy_region)
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
                    {
                        "dest": dest,
                        "dest_region": copy_region,
                        # the same keys as the export bucket: its rules apply
                        "lifecycle_rules": export_rules(params)
                        + [s3p.noncurrent_rule(params.tier(None))],
                    },
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


#: The export bucket's settings as protect makes them: (what, the read, is it in place)
_EXPORT_SETTINGS: tuple[tuple[str, str, Any], ...] = (
    (
        "tags",
        "get_bucket_tagging",
        lambda got, p: MANAGED_TAG.items() <= {t["Key"]: t["Value"] for t in got["TagSet"]}.items(),
    ),
    ("versioning", "get_bucket_versioning", lambda got, p: got.get("Status") == "Enabled"),
    ("encryption", "get_bucket_encryption", lambda got, p: bool(got)),
    (
        "policy for CloudWatch Logs",
        "get_bucket_policy",
        lambda got, p: (
            {"LogsGetAcl", "LogsPut"}
            <= {st.get("Sid") for st in json.loads(got.get("Policy") or "{}").get("Statement", [])}
        ),
    ),
    (
        "lifecycle",
        "get_bucket_lifecycle_configuration",
        lambda got, p: {r["ID"] for r in export_rules(p)} <= {r.get("ID") for r in got["Rules"]},
    ),
)
#: the error codes that mean "that setting is absent" (not a failed read)
_ABSENT = {
    "NoSuchTagSet",
    "NoSuchBucketPolicy",
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
}


def export_bucket_missing(s3: Any, bucket: str, params: Params) -> list[str]:
    """The settings protect gives the export bucket that the bucket lacks (read, one call
    each: tagging, versioning, encryption, policy, lifecycle). A read that fails for another
    reason than "not set" raises: a plan is never made on a guess."""
    missing = []
    for what, read, in_place in _EXPORT_SETTINGS:
        try:
            got = getattr(s3, read)(Bucket=bucket)
        except ClientError as err:
            if error_code(err) not in _ABSENT:
                raise
            got = None
        if got is None or not in_place(got, params):
            missing.append(what)
    return missing


@applier("s3_export_bucket")
def _apply_export_bucket(session: AwsSession, step: Step, state: ApplyState) -> str:
    params, bucket = state.params, step.args["bucket"]
    s3 = session.client("s3", step.account, step.region)
    s3p.create_bucket(s3, bucket, step.region)
    s3.put_bucket_tagging(
        Bucket=bucket,
        Tagging=s3p.tag_set(
            {**MANAGED_TAG, params.tag_keys.tier: params.default_tier, "purpose": "log-export"}
        ),
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration=s3p.encryption(state.key(step.account, step.region)),
    )

    def logs_may(sid: str, action: str, resource: str) -> dict[str, Any]:
        """CloudWatch Logs of this Region may ``action`` on ``resource``, for this account only."""
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{step.region}.amazonaws.com"},
            "Action": action,
            "Resource": resource,
            "Condition": {"StringEquals": {"aws:SourceAccount": step.account}},
        }

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            logs_may("LogsGetAcl", "s3:GetBucketAcl", f"arn:aws:s3:::{bucket}"),
            logs_may("LogsPut", "s3:PutObject", f"arn:aws:s3:::{bucket}/logs/*"),
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3p.merge_lifecycle(s3, bucket, export_rules(params) + [s3p.noncurrent_rule(params.tier(None))])
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
        if error_code(err) != "LimitExceededException":  # one running export per account on AWS
            raise
        first = "first export left to the schedule (another export task is running)"
    return f"{desired['ScheduleExpression']}; {first}"


def export_now(ctx: Any, resources: list[DataResource], approve: bool) -> pd.DataFrame:
    """What the export schedules do, on demand (the sandbox never fires schedules): one
    CloudWatch Logs export task per log group into the export bucket."""
    params, session = ctx.params, ctx.session
    rows = []
    for res in [r for r in resources if r.service == "logs"]:
        bucket = export_bucket(params, res.account, res.region)
        prefix = f"logs/{res.tier}/{res.name.strip('/')}/{ctx.run_id}"
        row = {
            "account": res.account,
            "region": res.region,
            "log_group": res.name,
            "destination": f"s3://{bucket}/{prefix}",
        }
        if not approve:
            rows.append({**row, "status": "NOT_APPROVED"})
            continue
        try:
            task = session.client("logs", res.account, res.region).create_export_task(
                taskName=f"{schedule_name(params, res.name)}-{ctx.run_id}"[:512],
                logGroupName=res.name,
                fromTime=0,
                to=FAR_FUTURE_MS,
                destination=bucket,
                destinationPrefix=prefix,
            )
            rows.append({**row, "status": "STARTED", "task_id": task["taskId"]})
        except Exception as err:
            rows.append({**row, "status": "FAILED", "error": str(err)[:300]})
    return pd.DataFrame(rows)


plugin.register(
    "logs",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("logs", "tag_resource", ref="resourceArn", tags="tags", listed=False),
)
plugin.REGION_PLANNERS["logs_export_bucket"] = plan_export_bucket
plugin.ON_DEMAND["export_logs_now"] = export_now
# the role EventBridge Scheduler assumes to start the export tasks
plugin.ROLE_TRUST["scheduler"] = "scheduler.amazonaws.com"
plugin.role_actions("scheduler", "logs:CreateExportTask", "logs:DescribeExportTasks")
