"""Backup vault access policies and the part of IAM evaluation the sandbox does.

What is evaluated: ``Deny`` statements only. A Deny applies when its Action
(or NotAction) matches the operation (``*`` wildcards, case-insensitive) and its
Principal is ``"*"``, ``{"AWS": "*"}``, or names the caller's account (an account
id, or any ARN in that account). **Conditions are not evaluated: a Deny with a
Condition applies as if the condition were true** (the same simplification moto
makes for S3 bucket policies). ``Allow`` statements are never needed: the caller
is allowed by default, as moto allows every call.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.backup.models import Vault

from .errors import AccessDeniedException, InvalidParameterValueException, ResourceNotFoundException
from .state import ext_state, get_vault


def put(account_id: str, region: str, vault_name: str, document: str | None) -> None:
    get_vault(account_id, region, vault_name)
    try:
        parsed = json.loads(document or "")
    except ValueError:
        raise InvalidParameterValueException("Policy is not valid JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("Statement"), (list, dict)):
        raise InvalidParameterValueException("Policy must be a JSON object with a Statement")
    ext_state(account_id, region).access_policies[vault_name] = document or ""


def get(account_id: str, region: str, vault_name: str) -> tuple[Vault, str]:
    vault = get_vault(account_id, region, vault_name)
    doc = ext_state(account_id, region).access_policies.get(vault_name)
    if doc is None:
        raise ResourceNotFoundException(f"Backup vault {vault_name} has no access policy")
    return vault, doc


def delete(account_id: str, region: str, vault_name: str) -> None:
    get_vault(account_id, region, vault_name)
    ext_state(account_id, region).access_policies.pop(vault_name, None)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    def hit(patterns: Any) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))

    if "Action" in statement:
        return hit(statement["Action"])
    if "NotAction" in statement:
        return not hit(statement["NotAction"])
    return False


def _principal_matches(principal: Any, account_id: str) -> bool:
    if principal == "*":
        return True
    values = principal.get("AWS", []) if isinstance(principal, dict) else principal
    for value in _as_list(values):
        value = str(value)
        if value == "*" or value == account_id or f":{account_id}:" in value:
            return True
    return False


def denies(document: str, action: str, account_id: str) -> bool:
    statements = _as_list(json.loads(document).get("Statement", []))
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        if _action_matches(st, action) and _principal_matches(st.get("Principal", "*"), account_id):
            return True
    return False


def access_denied(account_id: str, action: str, vault: Vault) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: arn:aws:iam::{account_id}:root is not authorized to perform: {action} "
        f"on resource: {vault.backup_vault_arn} with an explicit deny in a resource-based policy"
    )
