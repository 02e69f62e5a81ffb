"""Discovery: every (account, Region, service) of the estate, concurrently.

Scopes run on one thread pool (``target.max_workers``); the per-resource calls of a scope
run on a second pool of the same size, so a scope with thousands of log groups does not
hold up the rest and the two pools never wait on each other. A scope that fails becomes
a row of ``errors``; everything else completes. What the run reads once and shares (tags
in batches per account x Region, listings two services make) is a
:class:`~runbook_lib.inventory.reads.Reads`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import Any

from runbook_lib.errors import ParamsError
from runbook_lib.inventory import backup as aws_backup
from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import READ_ERRORS, Found, Scope
from runbook_lib.inventory.plugin import SERVICES, Service
from runbook_lib.inventory.reads import Reads
from runbook_lib.inventory.report import Inventory, build
from runbook_lib.progress import progress as tqdm
from runbook_lib.session import utcnow

log = logging.getLogger("runbook_lib")
ERRORS = READ_ERRORS
#: the job that reads an account x Region's tags in one batch (a failed one leaves an errors
#: row per batched service: their tags were read per resource instead)
TAGGING = "tagging"


def check_services(services: Iterable[str] | str | None) -> list[str]:
    """Service names to inventory ('' or None = all); raises ParamsError on unknown ones."""
    if services in (None, "", []):
        return list(SERVICES)
    if isinstance(services, str):
        services = [s.strip() for s in services.split(",") if s.strip()]
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise ParamsError(
            "services", [f"services: unknown {unknown}; allowed: {', '.join(sorted(SERVICES))}"]
        )
    return list(dict.fromkeys(services))


def discover(
    ctx_or_session: Any,
    *,
    services: Iterable[str] | str | None = None,
    accounts: Iterable[str] | None = None,
    as_of: datetime | None = None,
    max_workers: int | None = None,
    progress: bool = True,
    batch_tags: bool = True,
) -> Inventory:
    """Inventory every data resource the params name, with its protection and gaps
    (``services``, ``accounts``: only these; by default all). ``batch_tags=False`` reads
    every tag per resource (for a role that may not call ``tag:GetResources``)."""
    session = getattr(ctx_or_session, "session", ctx_or_session)
    # no as_of: the run's, else now by the target's clock once measured (runbook_lib.clock)
    as_of = as_of or getattr(ctx_or_session, "as_of", None) or utcnow()
    names = check_services(services)
    params = session.params
    workers = max_workers or params.target.max_workers
    started, calls_before = time.perf_counter(), session.counter.total
    keys = KeyResolver(session)
    reads = Reads(session, [SERVICES[n] for n in names], batch_tags=batch_tags)
    errors: list[dict] = []
    found: list[Found] = []
    backups: list[aws_backup.BackupScope] = []

    with (
        ThreadPoolExecutor(workers, thread_name_prefix="scope") as scopes,
        ThreadPoolExecutor(workers, thread_name_prefix="detail") as details,
    ):
        reachable = _reachable_accounts(session, scopes, errors, accounts)
        jobs: dict[Future, tuple[str, str, str]] = {}
        for account in reachable:
            for region in params.regions if reads.tag_types else ():  # read while services list
                jobs[scopes.submit(reads.load_tags, account, region)] = (account, region, TAGGING)
            for name in names:
                for region in params.regions:
                    scope = Scope(session, account, region, keys, reads)
                    job = scopes.submit(_run_service, SERVICES[name], scope, details, errors)
                    jobs[job] = (account, region, name)
            for region in params.regions:
                scope = Scope(session, account, region, keys, reads)
                jobs[scopes.submit(aws_backup.collect, scope)] = (account, region, "backup")
        bar = tqdm(total=len(jobs), desc="inventory", unit="scope", disable=not progress)
        for fut in as_completed(jobs):
            account, region, name = jobs[fut]
            bar.update()
            try:
                result = fut.result()
            except ERRORS as err:
                errors.append(_error(account, region, name, err))
                log.warning("inventory: %s %s %s failed: %s", account, region, name, err)
                continue
            if name == "backup":
                backups.append(result)
            elif name != TAGGING:
                found.extend(result)
        bar.close()

    for account, region, what, err in keys.failures:  # customer-managed left unknown
        errors.append(_error(account, region, "kms", err, what))
    for account, region, services, err in reads.failures:  # nothing lost: read per resource
        what = "tags: tag:GetResources failed, read per resource instead; none lost"
        errors.extend(_error(account, region, svc, err, what) for svc in services)
    inv = build(session.params, found, backups, errors, as_of)
    inv.sandbox = bool(getattr(session, "sandbox", False))
    inv.calls = session.counter.total - calls_before
    inv.seconds = time.perf_counter() - started
    log.info(
        "inventory: %d resources, %d errors, %d API calls in %.1f s",
        len(inv.resources),
        len(inv.errors),
        inv.calls,
        inv.seconds,
    )
    return inv


def _reachable_accounts(
    session, pool: ThreadPoolExecutor, errors: list[dict], accounts: Iterable[str] | None = None
) -> list[str]:
    """Accounts whose credentials can be had (role assumed); the others become errors."""
    futures = {
        a: pool.submit(session.session_for, a) for a in accounts or session.params.account_ids
    }
    ok = []
    for account, fut in futures.items():
        try:
            fut.result()
            ok.append(account)
        except ERRORS as err:
            log.warning("inventory: account %s unreachable: %s", account, err)
            errors.extend(_error(account, r, "*", err) for r in session.params.regions)
    return ok


def _run_service(
    svc: Service, scope: Scope, details: ThreadPoolExecutor, errors: list
) -> list[Found]:
    items = svc.list(scope)
    extras = svc.extras(scope)
    # a batched lookup that failed without failing the listing: (what, exception) pairs
    for what, err in getattr(extras, "errors", None) or ():
        errors.append(_error(scope.account, scope.region, svc.name, err, what))

    def one(item: Any) -> Found | None:
        try:
            return svc.read(scope, item, extras)
        except ERRORS as err:
            what = _item_name(item)
            errors.append(_error(scope.account, scope.region, svc.name, err, what))
            log.warning(
                "inventory: %s %s in %s/%s failed: %s",
                svc.name,
                what,
                scope.account,
                scope.region,
                err,
            )
            return None

    found = [f for f in details.map(one, items) if f is not None]
    for f in found:  # reads that failed while the resource itself was read
        for what, err in f.errors:
            errors.append(_error(scope.account, scope.region, svc.name, err, what))
    log.debug(
        "inventory: %s %s/%s: %d resources", svc.name, scope.account, scope.region, len(found)
    )
    return found


def _item_name(item: Any) -> str:
    if isinstance(item, str):
        return item
    for key in (
        "Name",
        "VolumeId",
        "DBInstanceIdentifier",
        "DBClusterIdentifier",
        "FileSystemId",
        "logGroupName",
        "ReplicationGroupId",
        "CacheClusterId",
        "DomainName",
    ):
        if isinstance(item, dict) and key in item:
            return str(item[key])
    return "?"


def _error(account: str, region: str, service: str, err: Exception, resource: str = "") -> dict:
    message = str(err).splitlines()[0][:500] if str(err) else type(err).__name__
    return {
        "account": account,
        "region": region,
        "service": service,
        "resource": resource,
        "error": f"{type(err).__name__}: {message}",
    }
