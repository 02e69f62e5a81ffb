"""boto3 operations -> IAM actions, and the least-privilege policies in ``policies/``.

Most operations map 1:1 (``dynamodb:UpdateContinuousBackups``); the exceptions are the
ones this project calls: a service whose permissions are named otherwise than its API
(S3 names them after the bucket sub-resource) registers them from its protect module
(``plugin.IAM_EXCEPTIONS``); a few services sign with a different name than their IAM
prefix (``PREFIXES``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbook_lib.package_data import data_dir
from runbook_lib.protect import plugin

POLICIES_DIR = data_dir("policies")

# signing name (as the call counter records it) -> IAM service prefix
PREFIXES = {"tagging": "tag", "monitoring": "cloudwatch"}

# "<iam prefix>:<Operation>" -> the IAM action that authorises it, where the names differ:
# registered by the services' protect modules (e.g. S3: ``s3:ListObjectsV2`` ->
# ``s3:ListBucket``); filled by ``plugin.load()``
EXCEPTIONS = plugin.IAM_EXCEPTIONS

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
    plugin.load()
    prefix, _, op = operation.partition(":")
    key = f"{PREFIXES.get(prefix, prefix)}:{op}"
    return EXCEPTIONS.get(key, key)


def iam_actions(operations: set[str]) -> set[str]:
    return {iam_action(op) for op in operations if op not in CALLER_ONLY}


def is_read_only(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_VERBS)


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


# Write actions a policy grants although the sandbox run does not call them, and why: the
# generic ones here, each service's in its protect module (``plugin.not_called_on_sandbox``).
# The policy test allows exactly these beyond the recorded calls.
NOT_CALLED_ON_SANDBOX = plugin.NOT_CALLED_ON_SANDBOX
plugin.not_called_on_sandbox(
    "protect",
    {
        "backup:UpdateBackupPlan": "moto does not implement it (the plan says NOT_SUPPORTED_ON_SANDBOX)"
    },
)
plugin.not_called_on_sandbox(
    "backup-now",
    {
        "ec2:CreateTags": "not an API call: CreateSnapshot with TagSpecifications needs it (tag on create)"
    },
)


def not_called_on_sandbox(policy: str) -> dict[str, str]:
    """Write actions ``policy`` grants that the sandbox run does not call, and why."""
    plugin.load()
    return dict(NOT_CALLED_ON_SANDBOX.get(policy, {}))
