"""The data resources protect acts on, with the protection settings it compares.

Which resources exist and their common columns (account, region, service, resource_type,
arn, name, tags, encrypted, kms_key) come from the inventory's service modules
(``runbook_lib.services.<package>.inventory``: the same listing and describe calls as
``inventory.discover``). Protect adds ``current``: the settings it compares with the
objectives. Where the inventory already holds the fact (the listed item, or a
``Protection`` it found) it is reused; the rest is read here, per service (``CURRENT``).

Each service is read the inventory's way (``list``, its per-scope ``extras``, ``describe``)
but only in the workload accounts, only where something is listed, and without the AWS
Backup collection of ``discover``, which protect does not use. Whether a resource's key is
customer-managed is the inventory's judgement (``inventory.keys.KeyResolver``: KMS
DescribeKey, ``alias/aws/*`` keys are AWS-managed, unknown when the key cannot be
described), in ``DataResource.cmk``. Resources that carry the restore-test tag (scratch
copies) are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import Found, Scope, error_code
from runbook_lib.inventory.plugin import SERVICES
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
    # customer-managed key: True, False (AWS-managed or AWS-owned), None (KMS could not tell)
    cmk: bool | None = None


def _protection(found: Found, mechanism: str):
    return next((p for p in found.protections if p.mechanism == mechanism), None)


def _get(client, operation: str, missing: str, **kwargs: Any) -> dict | None:
    """The answer of a Get call, or None when the setting is absent (``missing`` error)."""
    try:
        return getattr(client, operation)(**kwargs)
    except client.exceptions.ClientError as err:
        if error_code(err) != missing:
            raise
        return None


# ---------------------------------------------------------------- current settings per service
# Each takes (scope, listed item, Found) and returns what protect adds to the inventory row:
# ``current`` and, where protect needs them, ``id`` or a more exact ``encrypted``/``kms_key``.
# None leaves the resource out of protect.


def _dynamodb(scope: Scope, name: str, found: Found) -> dict:
    pitr = _protection(found, "dynamodb PITR")  # retention = RecoveryPeriodInDays (or 35)
    return {
        "current": {
            "pitr": pitr is not None,
            "pitr_days": int(pitr.retention_days) if pitr else None,
        }
    }


def _s3(scope: Scope, bucket: dict, found: Found) -> dict:
    # the inventory reads these settings but keeps only what protects; protect needs them whole
    s3 = scope.session.client("s3", scope.account, found.row["region"])
    name = bucket["Name"]
    enc = _get(
        s3, "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", Bucket=name
    )
    default = (
        enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        if enc
        else {}
    )
    repl = _get(s3, "get_bucket_replication", "ReplicationConfigurationNotFoundError", Bucket=name)
    lifecycle = _get(
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


def _ebs(scope: Scope, volume: dict, found: Found) -> dict:
    return {"id": volume["VolumeId"], "current": {}}


def _rds(scope: Scope, db: dict, found: Found) -> dict:
    return {
        "current": {
            "retention_days": db.get("BackupRetentionPeriod", 0),
            "backup_window": db.get("PreferredBackupWindow"),
        }
    }


def _cluster(scope: Scope, cluster: dict, found: Found) -> dict:
    out = _rds(scope, cluster, found)
    out["current"]["engine"] = cluster.get("Engine", "")
    return out


def _efs(scope: Scope, fs: dict, found: Found) -> dict:
    # the inventory keeps only "protected or not"; protect shows the exact status
    got = _get(
        scope.client("efs"),
        "describe_backup_policy",
        "PolicyNotFound",
        FileSystemId=fs["FileSystemId"],
    )
    return {
        "id": fs["FileSystemId"],
        "current": {"backup_policy": got["BackupPolicy"]["Status"] if got else "DISABLED"},
    }


def _elasticache(scope: Scope, item: dict, found: Found) -> dict:
    # replication groups and standalone Redis/Valkey clusters (the inventory lists both;
    # the retention is set with ModifyReplicationGroup or ModifyCacheCluster)
    return {
        "current": {
            "standalone": item.get("_kind") != "replicationgroup",
            "snapshot_retention": item.get("SnapshotRetentionLimit") or 0,
            "snapshot_window": item.get("SnapshotWindow"),
        },
    }


def _opensearch(scope: Scope, domain: dict, found: Found) -> dict:
    hour = (domain.get("SnapshotOptions") or {}).get("AutomatedSnapshotStartHour")
    return {"current": {"snapshot_hour": hour}}


def _logs(scope: Scope, group: dict, found: Found) -> dict:
    return {"current": {"retention_days": group.get("retentionInDays")}}


#: The services protect acts on (inventory service name -> its current settings), in the
#: order resources are listed; a service the inventory adds is left out until it has one.
CURRENT: dict[str, Callable[[Scope, Any, Found], dict | None]] = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "ebs": _ebs,
    "rds": _rds,
    "aurora": _cluster,
    "neptune": _cluster,
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
    accounts = accounts or params.workload_accounts or params.account_ids
    order = {scope: i for i, scope in enumerate(session.scopes(accounts))}
    keys = KeyResolver(session)
    out: list[tuple[tuple[int, int], DataResource]] = []
    errors: list[dict] = []
    for account in accounts:
        for rank, (service, current) in enumerate(CURRENT.items()):
            svc = SERVICES[service]
            # per-account services (S3) are listed once; each item carries its Region
            for region in [params.regions[0]] if svc.per_account else params.regions:
                scope = Scope(session, account, region, keys)
                try:
                    items = svc.list(scope)
                    extras = svc.extras(scope) if items else None
                    for item in items:
                        found = svc.describe(scope, item, extras)
                        if found is None or test_key in (found.row.get("tags") or {}):
                            continue
                        extra = current(scope, item, found)
                        if extra is None:
                            continue
                        res = _resource(found.row, extra, tier_key, params)
                        # the key protect compares (S3: the bucket default read above)
                        res.cmk = (
                            False
                            if res.encrypted is False
                            else keys.is_cmk(res.kms_key, res.account, res.region)
                        )
                        out.append(((order.get((account, res.region), len(order)), rank), res))
                except Exception as err:  # one service failing must not hide the others
                    errors.append(_error(session, account, region, service, err))
    out.sort(key=lambda pair: pair[0])  # stable: per scope, per service, as listed
    return [res for _, res in out], errors


def _resource(row: dict, extra: dict, tier_key: str, params: Params) -> DataResource:
    tags = row.get("tags") or {}
    tagged = tags.get(tier_key) in params.tiers
    values = {k: row[k] for k in ("account", "region", "service", "resource_type", "arn", "name")}
    values.update(encrypted=row.get("encrypted"), kms_key=row.get("kms_key"))
    values.update(extra)
    return DataResource(
        tags=tags,
        tier=tags[tier_key] if tagged else params.default_tier,
        tier_tagged=tagged,
        **values,
    )


def _error(session: AwsSession, account: str, region: str, service: str, err: Exception) -> dict:
    status = "NOT_SUPPORTED_ON_SANDBOX" if session.sandbox and is_not_supported(err) else "ERROR"
    log.warning("read %s in %s/%s: %s", service, account, region, err)
    return {
        "account": account,
        "region": region,
        "service": service,
        "status": status,
        "error": str(err)[:300],
    }
