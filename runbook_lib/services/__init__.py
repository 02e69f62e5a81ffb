"""One home per AWS service: everything the product knows about a service is in its package.

``runbook_lib/services/<package>/`` holds, for one AWS service (or a family sharing one API,
as RDS, Aurora and Neptune do):

- ``__init__.py``: ``SPECS``, one :class:`ServiceSpec` per inventory ``service`` value: ARN
  shapes, name rules, how backup_now and restore tests reach it, and what it cannot do
  (``unsupported``: capability -> reason);
- one module per capability, each plugging into its flow's registry when imported:
  ``inventory`` (list, current settings, protections, recovery points), ``restore``
  (recovery point finders, restorers, the handler that waits, reads, deletes, sweeps and
  hands over), ``protect`` (plan and apply steps), ``backup_now`` (start an on-demand
  backup), ``continuous`` (the window a continuous backup can restore into), ``controls``
  (the audit controls that judge the service's own settings).

The generic flows (inventory, protect, backup_now, restore, sweep, audit, post_incident)
name no service: they ask this registry. ``load(capability)`` imports every package's
module for that capability; ``tests/test_service_registry.py`` checks that each service
either provides each capability or declares why not (docs/services.md: adding a service).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType, ModuleType

#: What a service can provide; each is a module name inside a service package.
CAPABILITIES = ("inventory", "protect", "backup_now", "restore", "continuous", "controls")


@dataclass(frozen=True, kw_only=True)
class ArnShape:
    """The ARN of one kind of data resource: ``arn:<partition>:<service>:...:<prefix><name>``."""

    service: str  # the ARN's service field: ec2, rds, elasticfilesystem, es, ...
    prefix: str  # the resource part before the name: "volume/", "db:", "" (S3)
    restorable: bool = True  # False: listed by the inventory, not a restore-test source
    #: False where the ARN names no Region or account and the name has no "/" (S3 buckets)
    regional: bool = True

    def name(self, resource: str) -> str | None:
        """The resource's name or id in ``resource`` (the ARN's last field), or None."""
        if not resource.startswith(self.prefix):
            return None
        rest = resource[len(self.prefix) :]
        if self.prefix.endswith("/") or not self.prefix:
            rest = rest.split("/")[0]
        return rest.removesuffix(":*") or None


@dataclass(frozen=True, kw_only=True)
class NameRule:
    """What a service accepts as a resource name (or Name tag)."""

    max_length: int
    bad: str  # regex of one character the service refuses in a name
    help: str  # the rule in words, for error messages
    lower: bool = False  # lowercase only
    letter_first: bool = False
    valid: str = ""  # regex a whole name must match (incident restore targets); "" = unchecked
    leading: str = ""  # a character every name starts with ("/" for log groups)


#: A resource named only by its ``Name`` tag (EBS volumes, EFS file systems): any 1-128
#: characters are valid; scratch names keep to letters, digits and ``_.:/ -``.
NAME_TAG = NameRule(
    max_length=128,
    bad=r"[^a-zA-Z0-9_.:/ -]",
    valid=r"^.{1,128}$",
    help="1-128 characters (the Name tag)",
)


def identifier_rule(max_length: int, *, any_case: bool = False) -> NameRule:
    """The identifier rule RDS, Aurora, Neptune and ElastiCache share: 1 to ``max_length``
    letters, digits and '-', a letter first, no '--' and no trailing '-'; scratch names are
    lowercase. ``any_case``: uppercase letters are accepted too (the service folds them)."""
    letters = "a-zA-Z" if any_case else "a-z"
    return NameRule(
        max_length=max_length,
        bad=r"[^a-z0-9-]",
        lower=True,
        letter_first=True,
        valid=rf"^[{letters}](?!.*--)[{letters}0-9-]{{0,{max_length - 1}}}(?<!-)$",
        help=f"1-{max_length} {'letters' if any_case else 'lowercase letters'}, digits, '-'; "
        "a letter first; no '--' or trailing '-'",
    )


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """What the product knows about one service before calling it."""

    name: str  # the inventory's ``service`` column
    title: str  # a data resource in words, e.g. "EBS volume"
    arns: tuple[ArnShape, ...]
    names: NameRule
    #: the package under runbook_lib/services/ that implements it: set by :func:`specs` to
    #: the package whose ``SPECS`` declares it
    package: str = ""
    #: AWS Backup can protect, back up on demand and restore this resource type
    aws_backup: bool = False
    #: backup_now's native method (the service's own on-demand backup), if any
    native_backup: str = ""
    #: what backup_now fingerprints at backup time (fingerprint kind), if anything
    fingerprint: str = ""
    #: recovery point sources that restore to any time in a window (PITR, versions)
    continuous_sources: tuple[str, ...] = ()
    #: why automated recovery points cannot be listed by an AWS API ("" = they can)
    unlistable_points: str = ""
    #: capability -> why this service does not provide it (checked by the conformance test)
    unsupported: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _packages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


_SPECS: dict[str, ServiceSpec] = {}


def specs() -> dict[str, ServiceSpec]:
    """Every registered service by its inventory name, in a stable order."""
    if not _SPECS:
        for package in _packages():
            module = importlib.import_module(f"{__name__}.{package}")
            for spec in getattr(module, "SPECS", ()):
                _SPECS[spec.name] = replace(spec, package=package)
    return _SPECS


def spec(service: str) -> ServiceSpec:
    try:
        return specs()[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(specs())}") from None


def names() -> tuple[str, ...]:
    return tuple(specs())


_LOADED: dict[str, dict[str, ModuleType]] = {}


def load(capability: str) -> dict[str, ModuleType]:
    """Import every service package's ``capability`` module (registering its plug-ins);
    returns them by package name. Packages without that module are skipped: the
    conformance test holds them to their ``unsupported`` declarations."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    if capability not in _LOADED:
        # recorded before the imports: a module that, while imported, loads its own
        # capability again (a service's controls import the audit, whose controls package
        # loads "controls") gets the modules found so far instead of importing in a cycle
        found: dict[str, ModuleType] = {}
        _LOADED[capability] = found
        try:
            for package in _packages():
                name = f"{__name__}.{package}.{capability}"
                if importlib.util.find_spec(name) is not None:
                    found[package] = importlib.import_module(name)
        except BaseException:
            del _LOADED[capability]
            raise
    return _LOADED[capability]


def module(service: str, capability: str) -> ModuleType | None:
    """The module implementing ``capability`` for ``service``, if its package has one."""
    return load(capability).get(spec(service).package)


def _per_arn_service(value: Callable[[ServiceSpec, ArnShape], str]) -> dict[str, tuple[str, ...]]:
    """ARN service field -> ``value(spec, shape)`` of every ARN shape carrying it, each once,
    in registry order."""
    out: dict[str, dict[str, None]] = {}
    for s in specs().values():
        for shape in s.arns:
            out.setdefault(shape.service, {})[value(s, shape)] = None
    return {arn_service: tuple(values) for arn_service, values in out.items()}


def arn_services() -> dict[str, tuple[str, ...]]:
    """ARN service field -> the inventory services whose data resources carry it."""
    return _per_arn_service(lambda s, shape: s.name)


def data_arn_prefixes() -> dict[str, tuple[str, ...]]:
    """ARN service field -> resource prefixes of the data resources the inventory lists."""
    return _per_arn_service(lambda s, shape: shape.prefix)


def global_arn_services() -> set[str]:
    """ARN service fields whose data-resource ARNs name no Region or account (S3)."""
    return {a.service for s in specs().values() for a in s.arns if not a.regional}


def restorable_from_arn(arn_service: str, resource: str) -> tuple[str, str] | None:
    """(service, name) of the first registered service whose restorable ARN shape matches."""
    for s in specs().values():
        for shape in s.arns:
            if shape.restorable and shape.service == arn_service:
                name = shape.name(resource)
                if name:
                    return s.name, name
    return None


def restorable_titles() -> str:
    """The restorable data resources in words, for error messages."""
    return ", ".join(
        dict.fromkeys(s.title for s in specs().values() if any(a.restorable for a in s.arns))
    )


def scratch_safe(rule: NameRule, text: str) -> str:
    """``text`` with the characters ``rule`` refuses replaced by '-'."""
    text = text.lower() if rule.lower else text
    return re.sub(rule.bad, "-", text)
