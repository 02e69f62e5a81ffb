"""The parameters of a post-incident review, validated before any AWS call.

- ``incident_start`` / ``incident_end``: ISO 8601 times (UTC when no offset). Empty start:
  24 hours before the end; empty end: ``as_of``.
- ``resources``: ARNs of data resources, and/or tag filters ``key=value`` (``tag:key=value``
  also accepted): a resource is in scope if its ARN is named OR it matches every tag
  filter; empty: every data resource of the estate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runbook_lib import services as registry
from runbook_lib.errors import ParamsError

DEFAULT_LENGTH = timedelta(hours=24)
TIME_HELP = "use ISO 8601, e.g. 2026-11-24T10:00:00Z (UTC when no offset is given)"

_ARN_RE = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")
_TAG_RE = re.compile(r"^(?:tag:)?([^=\s][^=]{0,127})=(.*)$")


@dataclass(frozen=True)
class IncidentWindow:
    start: datetime
    end: datetime
    as_of: datetime
    defaulted: bool = False  # True when the start was not given (24 hours before the end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class ResourceFilter:
    """Which data resources are in scope: those named by ARN plus those matching every tag
    filter (a union), or all."""

    arns: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def everything(self) -> bool:
        return not self.arns and not self.tags

    def describe(self) -> str:
        if self.everything:
            return "every data resource of the estate"
        parts = [f"{len(self.arns)} ARN(s)"] if self.arns else []
        parts += [f"tag {k}={v}" for k, v in self.tags.items()]
        return ", ".join(parts)


def _parse_time(value: Any, name: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ParamsError(name, [f"{name}: {value!r} is not a time; {TIME_HELP}"]) from None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_window(incident_start: Any, incident_end: Any, as_of: datetime) -> IncidentWindow:
    """The incident window, or one ``ParamsError`` naming the field that is wrong."""
    as_of = as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    start = _parse_time(incident_start, "incident_start")
    end = _parse_time(incident_end, "incident_end")
    end = end or as_of
    defaulted = start is None
    start = start or end - DEFAULT_LENGTH
    if start > as_of:
        raise ParamsError(
            "incident_start",
            [
                f"incident_start: {start:%Y-%m-%dT%H:%M:%SZ} is after as_of "
                f"{as_of:%Y-%m-%dT%H:%M:%SZ}; the review looks back from as_of"
            ],
        )
    if end < start:
        raise ParamsError(
            "incident_end",
            [
                f"incident_end: {end:%Y-%m-%dT%H:%M:%SZ} is before incident_start "
                f"{start:%Y-%m-%dT%H:%M:%SZ}; the end must be at or after the start"
            ],
        )
    return IncidentWindow(start, end, as_of, defaulted)


def parse_resources(resources: Any) -> ResourceFilter:
    """ARNs and ``key=value`` tag filters (a list, or one comma-separated string)."""
    if resources is None or resources == "":
        return ResourceFilter()
    if isinstance(resources, str):
        items = [x.strip() for x in resources.split(",") if x.strip()]
    elif isinstance(resources, list | tuple | set):
        items = list(resources)
    else:
        raise ParamsError(
            "resources",
            [f"resources: {type(resources).__name__} given; use a list of ARNs or key=value tags"],
        )
    arns: list[str] = []
    tags: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            problems.append(f"resources: {item!r} is neither an ARN nor a key=value tag filter")
            continue
        item = item.strip()
        if item.startswith("arn:"):
            # the wildcard form some APIs return (a log group's `arn`); ArnShape.name drops it too
            item = item.removesuffix(":*")
            problem = _arn_problem(item)
            if problem:
                problems.append(f"resources: {problem}")
            elif item not in arns:
                arns.append(item)
            continue
        m = _TAG_RE.match(item)
        if not m or m.group(1).lower().startswith("aws:"):
            problems.append(
                f"resources: {item!r} is neither an ARN nor a key=value tag filter "
                "(e.g. backup-tier=gold)"
            )
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if key in tags and tags[key] != value:
            problems.append(f"resources: tag {key!r} given twice ({tags[key]!r}, {value!r})")
        tags[key] = value
    if problems:
        raise ParamsError("resources", problems)
    return ResourceFilter(tuple(arns), tags)


def _example_arn() -> str:
    """A well-formed data-resource ARN of the first registered regional service."""
    shape = next(a for s in registry.specs().values() for a in s.arns if a.regional)
    return f"arn:aws:{shape.service}:eu-west-1:123456789012:{shape.prefix}orders"


def _arn_problem(arn: str) -> str | None:
    allowed = ", ".join(
        f"{s} ({'|'.join(p for p in pre if p) or 'bucket'})"
        for s, pre in registry.data_arn_prefixes().items()
    )
    m = _ARN_RE.match(arn)
    if not m:
        return (
            f"{arn!r} is not an ARN; use arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, "
            f"e.g. {_example_arn()}"
        )
    service, region, account, resource = m.groups()
    data_arns = registry.data_arn_prefixes()
    if service not in data_arns:
        return f"{arn!r}: {service!r} is not a data resource service; allowed: {allowed}"
    if service in registry.global_arn_services():
        return (
            None
            if not region and not account and "/" not in resource
            else (
                f"{arn!r}: a {service} ARN is arn:aws:{service}:::NAME (no Region, account or path)"
            )
        )
    if not region or not account:
        return f"{arn!r}: the ARN must name a Region and a 12-digit account"
    if not resource.startswith(data_arns[service]):
        return f"{arn!r}: {resource!r} is not a data resource of {service}; allowed: {allowed}"
    return None
