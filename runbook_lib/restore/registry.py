"""Registries: recovery point finders and restorers per (service, source), and one
handler per service for what comes after a restore (wait, read, describe, delete, sweep).

Adding a source is one ``@finder`` and one ``@restorer``; adding a service is one module
in ``runbook_lib/services/<package>/restore.py`` with a ``ServiceHandler`` subclass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.fingerprint import Fingerprint
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, RestoreError

Finder = Callable[..., list[RecoveryPoint]]  # (session, ref) -> recovery points
Restorer = Callable[
    ..., Restored
]  # (session, rp, ref, target_name, tags, restore_time) -> Restored

FINDERS: dict[tuple[str, str], Finder] = {}
RESTORERS: dict[tuple[str, str], Restorer] = {}
HANDLERS: dict[str, ServiceHandler] = {}


def finder(service: str, source: str) -> Callable[[Finder], Finder]:
    def register(fn: Finder) -> Finder:
        FINDERS[(service, source)] = fn
        return fn

    return register


def restorer(service: str, source: str) -> Callable[[Restorer], Restorer]:
    def register(fn: Restorer) -> Restorer:
        RESTORERS[(service, source)] = fn
        return fn

    return register


def handler(cls: type[ServiceHandler]) -> type[ServiceHandler]:
    HANDLERS[cls.service] = cls()
    return cls


def point(ref: ResourceRef, source: str, **fields: Any) -> RecoveryPoint:
    """A recovery point of ``ref`` (its ARN, service, account and Region) that ``source``
    made; ``fields``: its ``id``, ``created`` and whatever else the source tells (a copy
    held elsewhere names its own ``region``)."""
    where = {"account": ref.account, "region": ref.region}
    return RecoveryPoint(
        resource_arn=ref.arn, service=ref.service, source=source, **{**where, **fields}
    )


def native_points(
    ref: ResourceRef,
    source: str,
    items: Iterable[dict[str, Any]],
    *,
    by_aws_backup: Callable[[dict[str, Any]], bool],
    fields: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[RecoveryPoint]:
    """The recovery points ``source`` lists for ``ref`` (``items``, every page), as
    :func:`point` records with ``fields(item)``. Those AWS Backup made are left out: the AWS
    Backup finder finds them, with their vault, so no point is listed twice."""
    return [point(ref, source, **fields(i)) for i in items if not by_aws_backup(i)]


@dataclass
class Content:
    """What a read of restored data found. ``fingerprints`` holds the variants worth
    comparing (with and without canary records; per checksum kind for S3)."""

    kind: str
    count: int  # records, canaries excluded
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    canaries: list[datetime] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""


def canary_content(
    kind: str,
    fingerprint: Callable[..., Fingerprint],
    read: Callable[[], tuple[list[Any], list[datetime], str]],
    labels: tuple[str, str],
) -> Content:
    """The content of a restored copy whose records include canary records: ``read()``
    gives (records, canary times, detail) and is timed; ``fingerprint(records,
    with_canary=...)`` fingerprints them with and without the canaries, under ``labels``
    (with, without). The count is the records' without the canaries."""
    started = time.perf_counter()
    records, canaries, detail = read()
    every = fingerprint(records)
    plain = fingerprint(records, with_canary=False)
    return Content(
        kind,
        plain.count,
        {labels[0]: every, labels[1]: plain},
        canaries,
        time.perf_counter() - started,
        detail,
    )


class ServiceHandler:
    """What every service knows about its own resources. Defaults fit services whose
    restore has no data plane to read (metadata only)."""

    service = ""
    has_data = False  # True where a restored copy holds readable records
    makes_scratch = True  # False where a "restore" only reads an existing copy (log exports)
    wait_seconds = 1800.0
    #: The error codes with which this service says "no such resource". Only these mean a
    #: scratch resource is gone: a throttled, denied or failed call says nothing about it.
    not_found: tuple[str, ...] = ()
    #: True where the service names a resource by an id it assigns at creation, the last part
    #: of its ARN (a volume or file system id), and the name is only a Name tag: a scratch
    #: copy whose handle was lost is found by its tags only, never by its name.
    assigns_id = False
    #: Minutes a restore test takes when no past test says otherwise (selection budget).
    test_minutes: float = 15
    #: The service the incident runbook demonstrates with when no source is named.
    example_source = False
    #: AWS Backup's ``ResourceType`` for ``start_restore_job`` ("" where AWS Backup does not
    #: restore this service; ``ServiceSpec.aws_backup`` says whether it does).
    backup_resource_type = ""
    #: (field, value): a restored copy is ready when ``describe`` answers ``value`` in
    #: ``field``; ("", "") = ready as soon as the restore call returns.
    ready_when: tuple[str, str] = ("", "")

    def resource_id(self, arn: str | None) -> str | None:
        """The id the service assigned to the resource at ``arn`` (``assigns_id``), else None."""
        return arn.rsplit("/", 1)[-1] if self.assigns_id and arn else None

    def backup_restore_metadata(self, target: str) -> dict[str, str]:
        """AWS Backup restore metadata that makes a new resource named ``target`` (merged
        over the recovery point's own restore metadata)."""
        return {}

    def covers(self, rp: RecoveryPoint, when: datetime) -> bool:
        """True if the continuous recovery point ``rp`` restores to ``when``: from
        ``details['earliest']`` (when known) to ``created`` (the latest restorable time)."""
        earliest = rp.details.get("earliest")
        return (earliest is None or earliest <= when) and (rp.created is None or when <= rp.created)

    def plan_notes(self, session: Any, rp: RecoveryPoint) -> list[str]:
        """Remarks for an incident plan restoring from ``rp`` (e.g. what the sandbox ignores)."""
        return []

    def record_values(self, session: Any, restored: Restored, key: str) -> dict[str, Any] | None:
        """Plain values of the record ``key`` of a restored copy (the ``expected_values``
        user check), or None when it is absent or the service holds no records."""
        return None

    def query_values(
        self, session: Any, restored: Restored, queries: dict[str, str]
    ) -> dict[str, Any] | None:
        """name -> the first column of the first row each query returns on the restored copy
        (an exception where the query failed), for the ``sql`` user check; None where the
        service has no SQL engine to ask."""
        return None

    def is_not_found(self, err: BaseException) -> bool:
        """True if ``err`` is this service saying the resource does not exist."""
        return (
            isinstance(err, ClientError)
            and err.response.get("Error", {}).get("Code") in self.not_found
        )

    def found(self, call: Callable[[], Any]) -> bool:
        """Run ``call`` (a describe of one resource): True if it answers, False if the
        service says the resource does not exist (``not_found``). Any other error is raised:
        an existence check that could not be made must never read as "deleted"."""
        try:
            call()
        except Exception as err:
            if self.is_not_found(err):
                return False
            raise
        return True

    def find_ref(self, session: Any, arn: str, account: str, region: str, name: str) -> ResourceRef:
        """The resource at ``arn``; its ``service`` may differ from this handler's where the
        ARN alone does not say which service it is (the handler asks)."""
        rid = self.resource_id(arn)
        return ResourceRef(arn, self.service, account, region, name or rid, resource_id=rid)

    def is_ready(self, session: Any, restored: Restored) -> bool:
        field_name, value = self.ready_when
        return not field_name or (self.describe(session, restored) or {}).get(field_name) == value

    def wait(self, session: Any, restored: Restored, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.wait_seconds)
        delay = 0.2
        while not self.is_ready(session, restored):
            if time.monotonic() > deadline:
                raise RestoreError(
                    f"{self.service} {restored.name}: not ready after {timeout or self.wait_seconds:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 15.0)

    def read_content(self, session: Any, restored: Restored, *, workers: int = 8) -> Content | None:
        return None

    def reference_fingerprint(
        self, session: Any, ref: ResourceRef, rp: RecoveryPoint
    ) -> tuple[Fingerprint, str] | None:
        """A fingerprint to compare with when none was recorded at backup time, and what it is."""
        return None

    def describe(self, session: Any, where: ResourceRef | Restored) -> dict[str, Any] | None:
        """The service's description of the resource ``where`` names (the source or a
        restored copy), or None where the handler describes nothing."""
        return None

    def metadata_of(self, description: dict[str, Any]) -> dict[str, Any]:
        """What the metadata check compares (engine, size, encryption, key...), read from
        ``describe``'s answer."""
        return {}

    def source_metadata(self, session: Any, ref: ResourceRef) -> dict[str, Any]:
        description = self.describe(session, ref)
        return {} if description is None else self.metadata_of(description)

    def metadata(self, session: Any, restored: Restored) -> dict[str, Any]:
        description = self.describe(session, restored)
        return {} if description is None else self.metadata_of(description)

    def tag(self, session: Any, restored: Restored, tags: dict[str, str]) -> None:
        """Tag a resource that could not be tagged at creation (AWS Backup restores)."""

    def delete(self, session: Any, restored: Restored) -> None:
        raise NotImplementedError

    def exists(self, session: Any, restored: Restored) -> bool:
        """False only when the service answers ``not_found`` (to ``describe``); other errors
        are raised."""
        return self.found(lambda: self.describe(session, restored))

    def list_tagged(self, session: Any, account: str, region: str, tag_key: str) -> list[Restored]:
        """Resources of this service carrying ``tag_key`` (their tags in ``details['tags']``)."""
        return []

    def tagged(
        self,
        account: str,
        region: str,
        name: str,
        arn: str | None,
        tags: dict[str, str],
        resource_id: str | None = None,
    ) -> Restored:
        """One resource ``list_tagged`` found: where it is, its name, ARN (and id) and tags."""
        return Restored(
            self.service, account, region, name, arn, resource_id, details={"tags": tags}
        )

    def handover(self, session: Any, ref: ResourceRef, restored: Restored) -> list[dict[str, str]]:
        """Steps an SRE must take after an incident restore, specific to this service."""
        return []


def loaded() -> dict[str, ServiceHandler]:
    """Every service's handler, by service (importing every service's restore module)."""
    from runbook_lib.services import load

    load("restore")
    return HANDLERS


def sources() -> tuple[str, ...]:
    """Every recovery point source a finder is registered for (``RecoveryPoint.source``)."""
    loaded()
    return tuple(sorted({source for _, source in FINDERS}))


def get_handler(service: str) -> ServiceHandler:
    try:
        return loaded()[service]
    except KeyError:
        raise RestoreError(
            f"no restore handler for service {service!r}; known: {sorted(HANDLERS)}"
        ) from None
