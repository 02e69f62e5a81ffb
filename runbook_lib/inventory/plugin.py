"""How a service plugs into the inventory: its ``runbook_lib/services/<package>/inventory.py``
registers a :class:`Service` here when imported (``runbook_lib.services.load("inventory")``).

A service lists its resources with as few calls as the API allows (``list``: paginated,
many resources per call), makes batched per-scope lookups once (``extras``: e.g. every
snapshot in the account/Region), then turns each listed item into a :class:`Found`
(``describe``: the per-resource calls the API leaves no way around).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbook_lib.inventory.model import Found, Scope


@dataclass(frozen=True)
class Service:
    name: str  # the service column: ebs, rds, aurora, ...
    list: Callable[[Scope], list[Any]]
    describe: Callable[[Scope, Any, Any], Found | None]
    extras: Callable[[Scope], Any] = lambda scope: None
    per_account: bool = False  # listed once per account (S3); items carry their Region
    #: control id -> the remediation of that control's FAIL for this service: a protect
    #: step's setting, or a ``manual: ...`` text (docs/inventory.md, Gaps)
    fixes: dict[str, str] = field(default_factory=dict)

    @property
    def aws_backup(self) -> bool:
        """AWS Backup can protect this resource type: the service's ServiceSpec says."""
        from runbook_lib import services as registry

        return registry.spec(self.name).aws_backup


SERVICES: dict[str, Service] = {}


def register(service: Service) -> Service:
    SERVICES[service.name] = service
    return service


def item_region(item: Any, scope: Scope) -> str:
    """Region of a listed item (per-account services put it in ``item['_region']``)."""
    return item.get("_region", scope.region) if isinstance(item, dict) else scope.region
