"""How a service plugs into the inventory: its ``runbook_lib/services/<package>/inventory.py``
registers a :class:`Service` here when imported (``runbook_lib.services.load("inventory")``).

A service lists its resources with as few calls as the API allows (``list``: paginated,
many resources per call), makes batched per-scope lookups once (``extras``: e.g. every
snapshot in the account/Region), then turns each listed item into a :class:`Found`
(``describe``: the per-resource calls the API leaves no way around).

Tags are read in batches where the Resource Groups Tagging API covers the service: its
:class:`TagSource` names the resource types and the per-resource read used where the batch
is not (runbook_lib/inventory/reads.py says when); a service whose listing carries the tags
(EBS, RDS, EFS) has none and puts them in the row itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runbook_lib.inventory.model import Found, RecoveryPoint, Scope, by_resource


@dataclass(frozen=True, kw_only=True)
class TagSource:
    """Where a service's tags come from when its listing does not carry them."""

    #: the Resource Groups Tagging API's resource types (``service[:type]``) of the
    #: resources: their tags are read in batches (runbook_lib/inventory/reads.py)
    types: tuple[str, ...]
    #: the per-resource read ``(scope, arn, item) -> tags``, where the batch is not used
    read: Callable[[Scope, str, Any], dict[str, str]]
    #: why the sandbox's tagging API does not return these resources ("" = it does): on
    #: the sandbox ``read`` is used instead
    not_on_sandbox: str = ""

    def __post_init__(self) -> None:
        if not self.types or not all(isinstance(t, str) and t for t in self.types):
            raise ValueError(f"TagSource.types: {self.types!r}; allowed: 'service[:type]' names")


@dataclass(frozen=True)
class Service:
    name: str  # the service column: ebs, rds, aurora, ...
    list: Callable[[Scope], list[Any]]
    describe: Callable[[Scope, Any, Any], Found | None]
    extras: Callable[[Scope], Any] = lambda scope: None
    #: where the tags come from when the listing does not carry them; None = ``describe``
    #: puts them in the row (EBS, RDS, EFS)
    tags: TagSource | None = None
    #: control id -> the remediation of that control's FAIL for this service: a protect
    #: step's setting, or a ``manual: ...`` text (docs/inventory.md, Gaps)
    fixes: dict[str, str] = field(default_factory=dict)

    def read(self, scope: Scope, item: Any, extras: Any) -> Found | None:
        """``describe(scope, item, extras)`` with the listed item kept and, for a service
        with a :class:`TagSource`, the row's tags from the run's batch or its ``read``."""
        found = self.describe(scope, item, extras)
        if found is None:
            return None
        found.item = item
        if self.tags is not None:
            arn, reads = found.row["arn"], scope.reads
            tags = reads.tags(scope, self, arn, item) if reads else self.tags.read(scope, arn, item)
            found.row["tags"] = tags
        return found

    @property
    def aws_backup(self) -> bool:
        """AWS Backup can protect this resource type: the service's ServiceSpec says."""
        from runbook_lib import services as registry

        return registry.spec(self.name).aws_backup


SERVICES: dict[str, Service] = {}


def register(service: Service) -> Service:
    SERVICES[service.name] = service
    return service


def recovery_points(
    items: Iterable[Any], point: Callable[[Any], RecoveryPoint | None]
) -> dict[str, list[RecoveryPoint]]:
    """A per-scope ``extras``: the recovery points ``point`` makes of listed items (None for
    an item that is not one), by the resource they restore."""
    return by_resource(p for item in items if (p := point(item)) is not None)
