"""S3 buckets: listed per Region (ListBuckets' BucketRegion filter, answered at that Region's
endpoint), tags in batches (tagging API); encryption, versioning (and MFA delete), Object
Lock, replication and lifecycle per bucket (S3 has no batch read of them)."""

from __future__ import annotations

import logging
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib.inventory.model import (
    NEVER,
    Found,
    Protection,
    Scope,
    error_code,
    tag_dict,
)
from runbook_lib.inventory.plugin import Service, TagSource, register

log = logging.getLogger("runbook_lib")
MISSING = {
    "NoSuchTagSet",
    "ReplicationConfigurationNotFoundError",
    "NoSuchLifecycleConfiguration",
    "ObjectLockConfigurationNotFoundError",
}
REPLICATION_RPO = timedelta(minutes=15)  # S3 Replication Time Control's objective


def _list(scope: Scope) -> list[dict]:
    pages = scope.client("s3").get_paginator("list_buckets").paginate(BucketRegion=scope.region)
    return [b for page in pages for b in page.get("Buckets", [])]


def _tags(scope: Scope, arn: str, bucket: dict) -> dict[str, str]:
    """One bucket's tags (where the tagging API's batch is not used)."""
    return tag_dict(_get(scope.client("s3"), "get_bucket_tagging", bucket["Name"]).get("TagSet"))


def _get(s3, operation: str, bucket: str) -> dict:
    try:
        return getattr(s3, operation)(Bucket=bucket)
    except s3.exceptions.ClientError as err:
        if error_code(err) in MISSING:
            return {}
        raise


def default_encryption(s3, bucket: str) -> dict:
    """``encrypted`` and ``kms_key`` as the bucket's default encryption reports them (one
    get_bucket_encryption call); ``cmk`` is then judged from the key like every service's
    (``Scope.row`` -> ``KeyResolver.is_cmk``).

    - ``AES256`` (SSE-S3): encrypted, no key (S3-owned, not customer-managed);
    - ``aws:kms`` / ``aws:kms:dsse``: encrypted with ``KMSMasterKeyID`` as given (an id, ARN
      or alias); without one, the AWS-managed ``aws/s3`` key (not customer-managed);
    - no configuration (``ServerSideEncryptionConfigurationNotFoundError``): S3's default,
      SSE-S3 (AWS applies and reports it for every bucket since January 2023; moto stores
      none until one is put);
    - any other failure (AccessDenied, throttled after retries, ...): unknown (``encrypted``,
      ``kms_key`` and ``cmk`` None), never assumed; the reason is logged."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"].get(
            "Rules", []
        )
    except (ClientError, BotoCoreError) as err:
        if error_code(err) == "ServerSideEncryptionConfigurationNotFoundError":
            return {"encrypted": True, "kms_key": None}
        log.warning(
            "inventory: s3 %s: default encryption unknown, get_bucket_encryption failed: %s",
            bucket,
            err,
        )
        return {"encrypted": None, "kms_key": None, "cmk": None, "error": err}
    default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm") or ""
    if algorithm == "AES256":
        return {"encrypted": True, "kms_key": None}
    if algorithm.startswith("aws:kms"):  # aws:kms, aws:kms:dsse
        return {"encrypted": True, "kms_key": default.get("KMSMasterKeyID")}
    log.warning("inventory: s3 %s: default encryption unknown: rules %s", bucket, rules)
    return {"encrypted": None, "kms_key": None, "cmk": None}


def mfa_delete(versioning: dict) -> bool:
    """MFA delete from GetBucketVersioning: AWS returns ``MFADelete`` only once a bucket was
    configured with it, so absent means off."""
    return versioning.get("MFADelete") == "Enabled"


def object_lock(config: dict | None) -> dict:
    """A bucket's Object Lock as the audit judges it: ``enabled``, and the default
    retention's ``mode`` and ``days`` (None when objects get none by default)."""
    config = config or {}
    default = ((config.get("Rule") or {}).get("DefaultRetention")) or {}
    days = default.get("Days") or (default["Years"] * 365 if default.get("Years") else None)
    return {
        "enabled": config.get("ObjectLockEnabled") == "Enabled",
        "mode": default.get("Mode"),
        "days": days,
    }


def expirations(rules: list[dict]) -> list[dict]:
    """The enabled lifecycle rules that delete data: ``rule`` (its ID), ``prefix`` (the
    objects it applies to, "" for all; tag filters are not told), ``current`` (days
    after which current versions expire, or ``date``) and ``noncurrent`` (days after which
    noncurrent versions are deleted); rules that only transition are left out."""
    out = []
    for r in rules:
        if r.get("Status") != "Enabled":
            continue
        exp = r.get("Expiration") or {}
        nc = (r.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
        current, date = exp.get("Days"), exp.get("Date")
        if current or date or nc:
            out.append(
                {
                    "rule": r.get("ID") or "(no ID)",
                    "prefix": (r.get("Filter") or {}).get("Prefix") or r.get("Prefix") or "",
                    "current": current,
                    "date": str(date) if date else None,
                    "noncurrent": nc,
                }
            )
    return out


def bucket_region(s3, bucket: str) -> str:
    loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc)


def _describe(scope: Scope, bucket: dict, _extras) -> Found:
    name, region = bucket["Name"], scope.region
    s3 = scope.client("s3")
    encryption = default_encryption(s3, name)
    unread = encryption.pop("error", None)
    row = scope.row(
        "s3",
        "s3:bucket",
        f"arn:aws:s3:::{name}",
        name,
        size_bytes=None,  # only CloudWatch's daily BucketSizeBytes metric knows
        created=bucket.get("CreationDate"),
        **encryption,
    )
    protections = []
    lifecycle = _get(s3, "get_bucket_lifecycle_configuration", name).get("Rules", [])
    live = [r for r in lifecycle if r.get("Status") == "Enabled"]
    noncurrent = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in live
        if (r.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
    ]
    if live:
        protections.append(
            Protection(
                mechanism="s3 lifecycle",
                detail=f"{len(live)} rule(s); noncurrent versions expire after "
                + (f"{min(noncurrent)} days" if noncurrent else "never"),
            )
        )
    versioning = _get(s3, "get_bucket_versioning", name)
    # settings the audit judges: MFA delete, Object Lock, lifecycle expirations
    row["mfa_delete"] = mfa_delete(versioning)
    row["object_lock"] = object_lock(
        _get(s3, "get_object_lock_configuration", name).get("ObjectLockConfiguration")
    )
    row["lifecycle_expirations"] = expirations(lifecycle)
    if versioning.get("Status") == "Enabled":
        protections.append(
            Protection(
                mechanism="s3 versioning",
                rpo=timedelta(0),  # every overwrite and delete keeps the previous version
                retention_days=float(min(noncurrent)) if noncurrent else NEVER,
                detail="protects against overwrite and delete, not against loss of the bucket",
            )
        )
    errors = [(f"{name} (default encryption)", unread)] if unread is not None else []
    replication = _get(s3, "get_bucket_replication", name).get("ReplicationConfiguration", {})
    for rule in replication.get("Rules", []):
        if rule.get("Status") != "Enabled":
            continue
        dest = rule["Destination"]["Bucket"].split(":::")[-1]
        try:
            dest_region = bucket_region(s3, dest)
        except s3.exceptions.ClientError as err:  # the copy's Region unknown: said, not guessed
            dest_region = ""
            if error_code(err) != "NoSuchBucket":  # a rule to a bucket that is gone copies nothing
                errors.append((f"{name} (Region of replica bucket {dest})", err))
        dest_account = rule["Destination"].get("Account", scope.account)
        protections.append(
            Protection(
                mechanism=f"s3 replication to {dest}",
                rpo=REPLICATION_RPO,
                retention_days=None,
                copy_regions=(dest_region,) if dest_region and dest_region != region else (),
                copy_accounts=(dest_account,) if dest_account != scope.account else (),
            )
        )
    return Found(row=row, protections=protections, errors=errors)


TAGS = TagSource(types=("s3",), read=_tags)  # buckets: the tagging API's "s3", by ARN
FIXES = {
    "resource_backed_up_or_reproducible": "versioning",
    "backup_frequency_meets_rpo": "versioning",
    "backup_retention_meets_objective": "lifecycle: noncurrent versions",
    "resource_encrypted_at_rest": "default encryption",
    "resource_cmk_when_required": "default encryption",
    "cross_region_copy": "replication to DR Region",
}
register(Service("s3", list=_list, describe=_describe, tags=TAGS, fixes=FIXES))
