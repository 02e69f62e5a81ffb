"""Is a KMS key customer-managed? One describe_key per key, one list_aliases per scope.

The one rule of the project (inventory, audit and protect all use it): a key behind an
``alias/aws/*`` alias is AWS-managed whatever describe_key says (the sandbox reports
``KeyManager=CUSTOMER`` for ``alias/aws/ebs``); otherwise ``KeyManager`` decides
(:func:`judge_key`). A key that cannot be described is unknown (None), never assumed
customer-managed. Results are cached per key ARN for the life of the resolver and shared by
threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("runbook_lib")


class Once:
    """A thread-safe memo: ``get(key, fn)`` runs ``fn`` once per key, others wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}

    def get(self, key: Any, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = fn()
            with self._lock:
                self._values[key] = value
            return value


def judge_key(meta: dict | None, aws_managed_ids: Collection[str] = ()) -> bool | None:
    """Customer-managed, from a DescribeKey ``KeyMetadata``: True for ``KeyManager=CUSTOMER``,
    False for ``AWS`` or a key an ``alias/aws/*`` alias points at (``aws_managed_ids``), None
    when there is no answer or it says neither."""
    if not meta:
        return None
    if meta.get("KeyId") in aws_managed_ids:
        return False
    return {"CUSTOMER": True, "AWS": False}.get(meta.get("KeyManager") or "")


class KeyResolver:
    def __init__(self, session) -> None:
        self.session = session
        self._keys = Once()
        self._aws_managed = Once()
        # reads that failed: (account, Region, key or 'aliases', error); the inventory
        # turns each into an errors row (a verdict left unknown is never a complete run)
        self.failures: list[tuple[str, str, str, Exception]] = []
        self._failures_lock = threading.Lock()

    def _failed(self, account: str, region: str, what: str, err: Exception) -> None:
        with self._failures_lock:
            self.failures.append((account, region, what, err))

    def is_cmk(self, key: str | None, account: str, region: str) -> bool | None:
        """True customer-managed, False AWS-managed or AWS-owned (no key named), None unknown."""
        if not key:
            return False
        if key.startswith("alias/aws/") or ":alias/aws/" in key:
            return False
        key_account, key_region = account, region
        if key.startswith("arn:"):
            parts = key.split(":")
            key_region, key_account = parts[3] or region, parts[4] or account
        return self._keys.get(key, lambda: self._resolve(key, key_account, key_region))

    def _resolve(self, key: str, account: str, region: str) -> bool | None:
        in_estate = account in self.session.params.account_ids
        client = self.session.client("kms", account if in_estate else None, region)
        try:
            meta = client.describe_key(KeyId=key)["KeyMetadata"]
        except (ClientError, BotoCoreError) as err:
            log.info("kms: cannot describe key %s (%s); customer-managed unknown", key, err)
            self._failed(account, region, key, err)
            return None
        if meta.get("KeyManager") == "AWS":
            return False  # no alias listing needed
        return judge_key(meta, self._aws_managed_ids(client, account, region))

    def _aws_managed_ids(self, client, account: str, region: str) -> frozenset[str]:
        def load() -> frozenset[str]:
            ids = set()
            try:
                for page in client.get_paginator("list_aliases").paginate():
                    for a in page.get("Aliases", []):
                        if a["AliasName"].startswith("alias/aws/") and a.get("TargetKeyId"):
                            ids.add(a["TargetKeyId"])
            except (ClientError, BotoCoreError) as err:
                log.info("kms: cannot list aliases in %s/%s (%s)", account, region, err)
                self._failed(account, region, "aliases", err)
            return frozenset(ids)

        return self._aws_managed.get((account, region), load)
