"""boto3 operations -> IAM actions, and the least-privilege policies in ``policies/``.

Most operations map 1:1 (``dynamodb:UpdateContinuousBackups``); the exceptions below are
the ones this project calls (S3 names its permissions after the bucket sub-resource, not
the API; a few services sign with a different name than their IAM prefix).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbook_lib.package_data import data_dir

POLICIES_DIR = data_dir("policies")

# signing name (as the call counter records it) -> IAM service prefix
PREFIXES = {"tagging": "tag", "monitoring": "cloudwatch"}

# "<iam prefix>:<Operation>" -> the IAM action that authorises it
EXCEPTIONS = {
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

# Called by the starting identity to reach each account, not by the runbook role itself.
CALLER_ONLY = {"sts:AssumeRole", "sts:GetCallerIdentity"}

# Actions that change nothing: a policy may list them without the code calling them.
READ_VERBS = (
    "Describe",
    "Get",
    "List",
    "Head",
    "Scan",
    "Query",
    "BatchGet",
    "Search",
    "Lookup",
    "Filter",
)


def iam_action(operation: str) -> str:
    """``'s3:ListObjectsV2'`` (counter form) -> ``'s3:ListBucket'``."""
    prefix, _, op = operation.partition(":")
    key = f"{PREFIXES.get(prefix, prefix)}:{op}"
    return EXCEPTIONS.get(key, key)


def iam_actions(operations: set[str]) -> set[str]:
    return {iam_action(op) for op in operations if op not in CALLER_ONLY}


def is_read_only(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return verb.startswith(READ_VERBS) or action in {
        "s3:ListBucket",
        "s3:ListAllMyBuckets",
        "s3:ListBucketVersions",
    }


def load_policy(name: str) -> dict[str, Any]:
    return json.loads((POLICIES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def policy_actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in policy["Statement"]:
        if st.get("Effect") == "Allow":
            acts = st["Action"]
            out.update([acts] if isinstance(acts, str) else acts)
    return out


def allows(policy_actions_: set[str], action: str) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(action.lower(), a.lower()) for a in policy_actions_)


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def write_policy(path: Path | str, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")


# Write actions a policy grants although the sandbox run does not call them, and why.
# The policy test allows exactly these beyond the recorded calls.
NOT_CALLED_ON_SANDBOX = {
    "protect": {
        "elasticfilesystem:PutBackupPolicy": "moto does not implement it (the plan says NOT_SUPPORTED_ON_SANDBOX)",
        "backup:UpdateBackupPlan": "moto does not implement it (the plan says NOT_SUPPORTED_ON_SANDBOX)",
        "elasticache:ModifyCacheCluster": "no standalone cache cluster in the demo estate "
        "(tests/test_protect.py applies it to one)",
        "es:UpdateDomainConfig": "only when a domain has no automated snapshot hour (none in the demo estate)",
        "es:AddTags": "classification of an untagged OpenSearch domain (none in the demo estate)",
        "rds:AddTagsToResource": "classification of an untagged database (none in the demo estate)",
    },
    "backup-now": {
        "ec2:CreateTags": "not an API call: CreateSnapshot with TagSpecifications needs it (tag on create)",
    },
}
