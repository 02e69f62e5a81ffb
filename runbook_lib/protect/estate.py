"""Read the data resources protect acts on (read-only describe calls).

A small reader per service returning :class:`DataResource` rows with the same columns the
inventory uses (account, region, service, resource_type, arn, name, tags, tier, encrypted,
kms_key) plus ``current``: the protection settings protect compares with the objectives.
Resources that carry the restore-test tag (scratch copies) are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.params import Params
from runbook_lib.session import AwsSession, is_not_supported

log = logging.getLogger("runbook_lib")


@dataclass
class DataResource:
    account: str
    region: str
    service: str  # dynamodb, s3, ebs, rds, aurora, neptune, efs, elasticache, opensearch, logs
    resource_type: str
    arn: str
    name: str
    tags: dict[str, str]
    tier: str  # the effective tier (default_tier when untagged)
    tier_tagged: bool
    encrypted: bool | None
    kms_key: str | None
    current: dict[str, Any] = field(default_factory=dict)
    id: str = ""  # the service's own id when it differs from the name (EBS volume, EFS)


def _code(err: Exception) -> str:
    return err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""


def _tags(pairs: list[dict[str, str]] | None, k: str = "Key", v: str = "Value") -> dict[str, str]:
    return {p[k]: p[v] for p in pairs or []}


def _dynamodb(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    ddb = session.client("dynamodb", account, region)
    for page in ddb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            t = ddb.describe_table(TableName=name)["Table"]
            sse = t.get("SSEDescription") or {}
            tags = _tags(ddb.list_tags_of_resource(ResourceArn=t["TableArn"]).get("Tags"))
            cb = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
            pitr = cb.get("PointInTimeRecoveryDescription") or {}
            yield dict(
                service="dynamodb",
                resource_type="dynamodb:table",
                arn=t["TableArn"],
                name=name,
                tags=tags,
                encrypted=True,
                kms_key=sse.get("KMSMasterKeyArn"),
                current={
                    "pitr": pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
                    "pitr_days": pitr.get("RecoveryPeriodInDays"),
                    "key_names": [k["AttributeName"] for k in t["KeySchema"]],
                },
            )


def _s3(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    s3 = session.client("s3", account, region)
    for b in s3.list_buckets().get("Buckets", []):
        name = b["Name"]
        loc = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        if loc != region:
            continue
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except ClientError as err:
            if _code(err) != "NoSuchTagSet":
                raise
            tags = {}
        try:
            rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"][
                "Rules"
            ][0]
            enc = rule["ApplyServerSideEncryptionByDefault"]
        except ClientError as err:
            if _code(err) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            enc = {}
        try:
            repl = s3.get_bucket_replication(Bucket=name)["ReplicationConfiguration"]
        except ClientError as err:
            if _code(err) != "ReplicationConfigurationNotFoundError":
                raise
            repl = None
        try:
            lc_rules = s3.get_bucket_lifecycle_configuration(Bucket=name).get("Rules", [])
        except ClientError as err:
            if _code(err) != "NoSuchLifecycleConfiguration":
                raise
            lc_rules = []
        versioning = s3.get_bucket_versioning(Bucket=name).get("Status") or "Never enabled"
        yield dict(
            service="s3",
            resource_type="s3:bucket",
            arn=f"arn:aws:s3:::{name}",
            name=name,
            tags=tags,
            encrypted=bool(enc),
            kms_key=enc.get("KMSMasterKeyID"),
            current={
                "versioning": versioning,
                "sse": enc.get("SSEAlgorithm"),
                "replication": repl,
                "lifecycle_rules": lc_rules,
            },
        )


def _ebs(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    ec2 = session.client("ec2", account, region)
    for page in ec2.get_paginator("describe_volumes").paginate():
        for v in page["Volumes"]:
            tags = _tags(v.get("Tags"))
            yield dict(
                service="ebs",
                resource_type="ec2:volume",
                id=v["VolumeId"],
                arn=f"arn:aws:ec2:{region}:{account}:volume/{v['VolumeId']}",
                name=tags.get("Name", v["VolumeId"]),
                tags=tags,
                encrypted=bool(v.get("Encrypted")),
                kms_key=v.get("KmsKeyId"),
                current={},
            )


def _rds(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    rds = session.client("rds", account, region)
    for page in rds.get_paginator("describe_db_instances").paginate():
        for d in page["DBInstances"]:
            if d.get("DBClusterIdentifier"):
                continue  # cluster members: the cluster holds the backup settings
            yield dict(
                service="rds",
                resource_type="rds:db",
                arn=d["DBInstanceArn"],
                name=d["DBInstanceIdentifier"],
                tags=_tags(d.get("TagList")),
                encrypted=bool(d.get("StorageEncrypted")),
                kms_key=d.get("KmsKeyId"),
                current={
                    "retention_days": d.get("BackupRetentionPeriod", 0),
                    "backup_window": d.get("PreferredBackupWindow"),
                },
            )
    for page in rds.get_paginator("describe_db_clusters").paginate():
        for c in page["DBClusters"]:
            engine = c.get("Engine", "")
            service = "neptune" if engine.startswith("neptune") else "aurora"
            yield dict(
                service=service,
                resource_type="rds:cluster",
                arn=c["DBClusterArn"],
                name=c["DBClusterIdentifier"],
                tags=_tags(c.get("TagList")),
                encrypted=bool(c.get("StorageEncrypted")),
                kms_key=c.get("KmsKeyId"),
                current={
                    "retention_days": c.get("BackupRetentionPeriod", 0),
                    "backup_window": c.get("PreferredBackupWindow"),
                    "engine": engine,
                },
            )


def _efs(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    efs = session.client("efs", account, region)
    for page in efs.get_paginator("describe_file_systems").paginate():
        for f in page["FileSystems"]:
            try:
                status = efs.describe_backup_policy(FileSystemId=f["FileSystemId"])["BackupPolicy"][
                    "Status"
                ]
            except ClientError as err:
                if _code(err) != "PolicyNotFound":
                    raise
                status = "DISABLED"
            tags = _tags(f.get("Tags"))
            yield dict(
                service="efs",
                resource_type="elasticfilesystem:file-system",
                id=f["FileSystemId"],
                arn=f["FileSystemArn"],
                name=f.get("Name") or tags.get("Name") or f["FileSystemId"],
                tags=tags,
                encrypted=bool(f.get("Encrypted")),
                kms_key=f.get("KmsKeyId"),
                current={"backup_policy": status},
            )


def _elasticache(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    ec = session.client("elasticache", account, region)
    for page in ec.get_paginator("describe_replication_groups").paginate():
        for g in page["ReplicationGroups"]:
            tags = _tags(ec.list_tags_for_resource(ResourceName=g["ARN"]).get("TagList"))
            yield dict(
                service="elasticache",
                resource_type="elasticache:replicationgroup",
                arn=g["ARN"],
                name=g["ReplicationGroupId"],
                tags=tags,
                encrypted=bool(g.get("AtRestEncryptionEnabled")),
                kms_key=g.get("KmsKeyId"),
                current={
                    "snapshot_retention": g.get("SnapshotRetentionLimit") or 0,
                    "snapshot_window": g.get("SnapshotWindow"),
                },
            )


def _opensearch(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    osc = session.client("opensearch", account, region)
    for d in osc.list_domain_names().get("DomainNames", []):
        st = osc.describe_domain(DomainName=d["DomainName"])["DomainStatus"]
        tags = _tags(osc.list_tags(ARN=st["ARN"]).get("TagList"))
        enc = st.get("EncryptionAtRestOptions") or {}
        yield dict(
            service="opensearch",
            resource_type="es:domain",
            arn=st["ARN"],
            name=st["DomainName"],
            tags=tags,
            encrypted=bool(enc.get("Enabled")),
            kms_key=enc.get("KmsKeyId"),
            current={
                "snapshot_hour": (st.get("SnapshotOptions") or {}).get("AutomatedSnapshotStartHour")
            },
        )


def _logs(session: AwsSession, account: str, region: str) -> Iterator[dict]:
    logs = session.client("logs", account, region)
    for page in logs.get_paginator("describe_log_groups").paginate():
        for g in page["logGroups"]:
            arn = g["arn"].removesuffix(":*")
            tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            yield dict(
                service="logs",
                resource_type="logs:log-group",
                arn=arn,
                name=g["logGroupName"],
                tags=tags,
                encrypted=True,
                kms_key=g.get("kmsKeyId"),
                current={"retention_days": g.get("retentionInDays")},
            )


READERS: dict[str, Callable[[AwsSession, str, str], Iterator[dict]]] = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "ebs": _ebs,
    "rds": _rds,  # also Aurora and Neptune clusters
    "efs": _efs,
    "elasticache": _elasticache,
    "opensearch": _opensearch,
    "logs": _logs,
}


def read_resources(
    session: AwsSession, accounts: list[str] | None = None, params: Params | None = None
) -> tuple[list[DataResource], list[dict]]:
    """Every data resource in the workload accounts; returns (resources, errors)."""
    params = params or session.params
    tier_key, test_key = params.tag_keys.tier, params.tag_keys.restore_test
    out: list[DataResource] = []
    errors: list[dict] = []
    for account, region in session.scopes(
        accounts or params.workload_accounts or params.account_ids
    ):
        for service, reader in READERS.items():
            try:
                for row in reader(session, account, region):
                    tags = row["tags"]
                    if test_key in tags:
                        continue
                    tagged = tags.get(tier_key) in params.tiers
                    out.append(
                        DataResource(
                            account=account,
                            region=region,
                            tier=tags[tier_key] if tagged else params.default_tier,
                            tier_tagged=tagged,
                            **row,
                        )
                    )
            except Exception as err:  # one service failing must not hide the others
                status = (
                    "NOT_SUPPORTED_ON_SANDBOX"
                    if session.sandbox and is_not_supported(err)
                    else "ERROR"
                )
                log.warning("read %s in %s/%s: %s", service, account, region, err)
                errors.append(
                    {
                        "account": account,
                        "region": region,
                        "service": service,
                        "status": status,
                        "error": str(err)[:300],
                    }
                )
    return out, errors
