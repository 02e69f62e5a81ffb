"""The data resources protect acts on, with the protection settings it compares.

Which resources exist and their common columns (account, region, service, resource_type,
arn, name, tags, encrypted, kms_key) come from the inventory's service modules
(``runbook_lib.services.<package>.inventory``: the same listing and describe calls as
``inventory.discover``). Protect adds ``current``: the settings it compares with the
objectives. Where the inventory already holds the fact (the listed item, or a
``Protection`` it found) it is reused; the rest is read by the service's protect module
(``runbook_lib.services.<package>.protect``, registered in ``plugin.CURRENT``).

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
from dataclasses import dataclass, field
from typing import Any

from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import Found, Scope, error_code
from runbook_lib.inventory.plugin import SERVICES
from runbook_lib.params import Params
from runbook_lib.protect import plugin
from runbook_lib.services import names
from runbook_lib.session import AwsSession, is_not_supported

log = logging.getLogger("runbook_lib")


@dataclass(kw_only=True)
class DataResource:
    account: str
    region: str
    service: str  # the inventory's service name (runbook_lib.services.names())
    resource_type: str
    arn: str
    name: str
    tags: dict[str, str]
    tier: str  # the effective tier (default_tier when untagged)
    tier_tagged: bool
    encrypted: bool | None
    kms_key: str | None
    current: dict[str, Any] = field(default_factory=dict)
    id: str = ""  # the service's own id when it differs from the name (a volume id)
    # customer-managed key: True, False (AWS-managed or AWS-owned), None (KMS could not tell)
    cmk: bool | None = None


def protection(found: Found, mechanism: str):
    """The inventory's ``Protection`` of ``found`` by ``mechanism``, or None."""
    return next((p for p in found.protections if p.mechanism == mechanism), None)


def get_or_none(client, operation: str, missing: str, **kwargs: Any) -> dict | None:
    """The answer of a Get call, or None when the setting is absent (``missing`` error)."""
    try:
        return getattr(client, operation)(**kwargs)
    except client.exceptions.ClientError as err:
        if error_code(err) != missing:
            raise
        return None


def read_resources(
    session: AwsSession, accounts: list[str] | None = None, params: Params | None = None
) -> tuple[list[DataResource], list[dict]]:
    """Every data resource in the workload accounts; returns (resources, errors)."""
    params = params or session.params
    tier_key, test_key = params.tag_keys.tier, params.tag_keys.restore_test
    accounts = accounts or params.workload_accounts or params.account_ids
    order = {scope: i for i, scope in enumerate(session.scopes(accounts))}
    keys = KeyResolver(session)
    plugin.load()
    # the services protect acts on, in the registry's order (a service without a reader of
    # its current settings is left out until it has one)
    readers = [(name, plugin.CURRENT[name]) for name in names() if name in plugin.CURRENT]
    out: list[tuple[tuple[int, int], DataResource]] = []
    errors: list[dict] = []
    for account in accounts:
        for rank, (service, current) in enumerate(readers):
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
