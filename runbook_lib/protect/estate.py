"""The data resources protect acts on: the inventory's rows, with the settings it compares.

Protect plans from an :class:`~runbook_lib.inventory.Inventory` (the one ``discover``
returns; discovered here, for the accounts asked, when none is given): there is one listing
of the estate. A :class:`DataResource` is a view over one inventory row (the same column
names: account ... cmk, tier) plus what protect adds: ``current``, the settings it compares
with the objectives, read by the service's protect module (``runbook_lib.services.<package>
.protect``, registered in ``plugin.CURRENT``) from the listed item and the ``Found`` the
inventory kept (``Inventory.found``), where it holds the fact, or by its own calls.
Whether a key is customer-managed is the inventory's judgement (``inventory.keys``), judged
again only where the reader of current settings reads the key itself (S3's bucket default).
Resources that carry the restore-test tag (scratch copies) are left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import COLUMNS, Found, Scope, error_code
from runbook_lib.params import Params
from runbook_lib.protect import plugin
from runbook_lib.services import names
from runbook_lib.session import AwsSession

if TYPE_CHECKING:
    from runbook_lib.inventory import Inventory

log = logging.getLogger("runbook_lib")


@dataclass(kw_only=True)
class DataResource:
    """One data resource as protect and backup_now see it: the inventory row's columns it
    names (:data:`ROW_FIELDS`, same names) plus ``tier_tagged``, ``current`` and ``id``
    (:meth:`of` builds it from the row)."""

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

    @classmethod
    def of(cls, row: dict[str, Any], params: Params, **protect: Any) -> DataResource:
        """The view of inventory ``row``, its tier judged by ``params`` (the inventory's rule,
        ``inventory.classify``); ``protect``: ``current``, ``id`` and any column the reader
        of current settings read itself (``encrypted``, ``kms_key``, ``cmk``)."""
        from runbook_lib.inventory import classify

        tags = row.get("tags") or {}
        values = {k: row.get(k) for k in ROW_FIELDS} | {"tags": tags}
        values["tier"] = classify(tags, params)[0]
        tagged = (tags.get(params.tag_keys.tier) or "").strip() in params.tiers
        return cls(**(values | {"tier_tagged": tagged} | protect))


#: The inventory row's columns a DataResource carries (under the same names).
ROW_FIELDS = tuple(c for c in COLUMNS if c in DataResource.__dataclass_fields__)


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
    session: AwsSession,
    accounts: list[str] | None = None,
    params: Params | None = None,
    *,
    inventory: Inventory | None = None,
) -> tuple[list[DataResource], list[dict]]:
    """Every data resource in the workload accounts (or ``accounts``) with the settings
    protect compares, from ``inventory`` (discovered when not given); returns (resources,
    errors: the inventory's error rows of those accounts)."""
    from runbook_lib.inventory import discover

    params = params or session.params
    accounts = accounts or params.workload_accounts or params.account_ids
    plugin.load()
    # the services protect acts on, in the registry's order (a service without a reader of
    # its current settings is left out until it has one)
    readers = [name for name in names() if name in plugin.CURRENT]
    if inventory is None:
        inventory = discover(session, services=readers, accounts=accounts, progress=False)
    order = {scope: i for i, scope in enumerate(session.scopes(accounts))}
    rank = {name: i for i, name in enumerate(readers)}
    keys = KeyResolver(session)
    test_key = params.tag_keys.restore_test
    out: list[tuple[tuple[int, int], DataResource]] = []
    errors = [
        e
        for e in inventory.errors.to_dict("records")
        if e["account"] in accounts and e["service"] in (*readers, "*", "kms")
    ]
    for found in inventory.found.values():  # the rows as the services described them
        row = found.row
        where = (row["account"], row["region"])
        if row["service"] not in rank or where[0] not in accounts:
            continue
        if test_key in (row.get("tags") or {}):
            continue
        scope = Scope(session, *where, keys)
        try:
            extra = plugin.CURRENT[row["service"]](scope, found.item, found)
        except Exception as err:  # one resource failing must not hide the others
            log.warning("read %s %s: %s", row["service"], row["arn"], err)
            errors.append(_error(row, err))
            continue
        if extra is None:
            continue
        if {"encrypted", "kms_key"} & set(extra):  # the reader read the key itself
            encrypted = extra.get("encrypted", row["encrypted"])
            key = extra.get("kms_key", row["kms_key"])
            extra["cmk"] = False if encrypted is False else keys.is_cmk(key, *where)
        res = DataResource.of(row, params, **extra)
        out.append(((order.get(where, len(order)), rank[res.service]), res))
    out.sort(key=lambda pair: pair[0])  # stable: per scope, per service, as inventoried
    return [res for _, res in out], errors


def _error(row: dict, err: Exception) -> dict:
    """An error row like the inventory's (``inventory.report.ERROR_COLUMNS``)."""
    return {
        "account": row["account"],
        "region": row["region"],
        "service": row["service"],
        "resource": row["name"],
        "error": f"{type(err).__name__}: {str(err)[:300]}",
    }
