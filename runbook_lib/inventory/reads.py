"""What one inventory run reads once and shares between its services and threads.

- **Tags in batches.** A service with a :class:`~runbook_lib.inventory.plugin.TagSource`
  (the Resource Groups Tagging API's ``service[:type]`` names of its resources, and a
  per-resource read) gets its tags from one paginated ``tag:GetResources`` per account x
  Region, asked for the types of every such service of the run at once, read the first time
  any resource of that account and Region needs it and never again. Where the batch is not
  used, the TagSource's ``read`` reads them one resource at a time: on the sandbox when it
  declares why moto's tagging API does not return them (``not_on_sandbox``), when the caller
  turns the batch off, and when ``GetResources`` fails (AccessDenied, throttled after
  retries): then nothing is lost, and :attr:`Reads.failures` holds one entry per account x
  Region that discovery reports as an ``errors`` row.
- **Shared listings.** :meth:`Reads.once` runs a read once per run and key (Aurora and
  Neptune list the same RDS clusters and cluster snapshots), so two services never read
  the same thing twice.

A resource the tagging API does not return has no tags: GetResources returns every tagged
(or once tagged) resource of the types asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from runbook_lib.inventory.keys import Once
from runbook_lib.inventory.model import READ_ERRORS, paginate, tag_dict

if TYPE_CHECKING:
    from runbook_lib.inventory.model import Scope
    from runbook_lib.inventory.plugin import Service

log = logging.getLogger("runbook_lib")
TAGGING_API = "resourcegroupstaggingapi"
PAGE_SIZE = 100  # GetResources' largest ResourcesPerPage


class Reads:
    """The run's shared reads (one per :func:`~runbook_lib.inventory.discover` call)."""

    def __init__(self, session: Any, services: Iterable[Service] = (), *, batch_tags: bool = True):
        self.session = session
        sandbox = bool(getattr(session, "sandbox", False))
        #: service name -> the tagging API types read in batches for it in this run
        self.tag_types: dict[str, tuple[str, ...]] = {
            s.name: s.tags.types
            for s in services
            if batch_tags and s.tags and not (sandbox and s.tags.not_on_sandbox)
        }
        #: (account, Region, the services whose tags were then read per resource, error)
        self.failures: list[tuple[str, str, list[str], Exception]] = []
        self._once = Once()

    def once(self, key: Hashable, read: Callable[[], Any]) -> Any:
        """``read()`` the first time ``key`` is asked for in this run, its result after
        (threads asking meanwhile wait for it); a read that fails is tried again by the
        next asker."""
        return self._once.get(key, read)

    def batched(self, service: str) -> bool:
        return service in self.tag_types

    def load_tags(self, account: str, region: str) -> dict[str, dict[str, str]] | None:
        """ARN -> tags of the batched services' resources in one account and Region (read
        once), or None when GetResources failed there (a :attr:`failures` entry says so)."""
        if not self.tag_types:
            return None
        return self.once(("tags", account, region), lambda: self._read_tags(account, region))

    def tags(self, scope: Scope, service: Service, arn: str, item: Any) -> dict[str, str]:
        """The tags of one resource: from the account x Region's batch when its service is
        read that way, else (and when the batch failed) by its TagSource's ``read``."""
        book = self.load_tags(scope.account, scope.region) if self.batched(service.name) else None
        if book is not None:
            return dict(book.get(arn, {}))
        return service.tags.read(scope, arn, item)

    def _read_tags(self, account: str, region: str) -> dict[str, dict[str, str]] | None:
        types = sorted({t for ts in self.tag_types.values() for t in ts})
        client = self.session.client(TAGGING_API, account, region)
        try:
            mappings = paginate(
                client,
                "get_resources",
                "ResourceTagMappingList",
                ResourceTypeFilters=types,
                ResourcesPerPage=PAGE_SIZE,
            )
            # a log group's ARN is listed with or without its ":*" suffix: keep one form
            return {m["ResourceARN"].removesuffix(":*"): tag_dict(m.get("Tags")) for m in mappings}
        except READ_ERRORS as err:
            services = list(self.tag_types)
            log.warning(
                "inventory: tag:GetResources in %s/%s failed (tags of %s read per resource "
                "instead): %s",
                account,
                region,
                services,
                err,
            )
            self.failures.append((account, region, services, err))
            return None
