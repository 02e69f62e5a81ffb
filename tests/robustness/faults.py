"""Faults injected at the session layer, the way AWS and the network produce them.

Every client an :class:`~runbook_lib.session.AwsSession` builds while :func:`injecting` is
active gets botocore event hooks that, for the chosen service and operation, answer a call
with one of:

- ``throttle``: HTTP 400 with the protocol's throttling error (botocore retries it);
- ``5xx``: HTTP 503 with the protocol's ServiceUnavailable error (botocore retries it);
- ``timeout``: a read time-out before the request reaches the server (botocore retries it);
- ``lost``: the request reaches the server and does its work, and the response is lost on
  the way back (a connection closed after the call: the caller never learns the result);
- ``expired``: HTTP 400 ExpiredTokenException (credentials expired mid-run; not retried).

``times`` calls fail (after ``skip`` calls that pass); retried attempts count as calls, so
``times=1`` with a retryable kind is absorbed by botocore's retries, while a large
``times`` exhausts them. What was injected is counted in :class:`Injector.injected`; every
call an instrumented client made, faulted or not, in :class:`Injector.seen` (by botocore
service id, the name a :class:`Fault` takes: ``efs`` and ``neptune`` where the session's
counter says ``elasticfilesystem`` and ``rds``), so ``injecting()`` with no fault records
which (service, operation) pairs a flow calls.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from runbook_lib.session import AwsSession

KINDS = ("throttle", "5xx", "timeout", "lost", "expired")


@dataclass(kw_only=True)
class Fault:
    service: str  # botocore service id, hyphenated lower case: "backup", "dynamodb", "kms"
    operation: str  # API operation name: "StartRestoreJob"; "*" for every operation
    kind: str  # one of KINDS
    times: int = 1_000_000  # how many calls fail
    skip: int = 0  # how many matching calls pass first


class _Raw:
    """What botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    if protocol in ("json", "rest-json"):
        body = f'{{"__type": "{code}", "message": "{message}"}}'
        return body.encode(), {
            "x-amzn-ErrorType": code,
            "content-type": "application/x-amz-json-1.1",
        }
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>fault</RequestID></Response>"
        )
        return body.encode(), {"content-type": "text/xml"}
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return body.encode(), {"content-type": "text/xml"}
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"  # rest-xml (S3)
    return body.encode(), {"content-type": "application/xml"}


_CODES = {  # kind -> (HTTP status, error code)
    "throttle": (400, "ThrottlingException"),
    "5xx": (503, "ServiceUnavailable"),
    "expired": (400, "ExpiredTokenException"),
}
_S3_CODES = {"throttle": (503, "SlowDown")}


@dataclass
class Injector:
    faults: list[Fault]
    injected: Counter = field(default_factory=Counter)  # (service, operation, kind) -> n
    calls: Counter = field(default_factory=Counter)  # (service, operation) -> matching calls
    seen: Counter = field(default_factory=Counter)  # (service id, operation) -> API calls
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _take(self, service: str, operation: str, kinds: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.kind not in kinds or f.service != service:
                    continue
                if f.operation not in ("*", operation):
                    continue
                key = (id(f), operation)
                self.calls[key] += 1
                n = self.calls[key]
                if f.skip < n <= f.skip + f.times:
                    self.injected[(service, operation, f.kind)] += 1
                    return f
        return None

    def instrument(self, client: Any) -> None:
        model = client.meta.service_model
        service = model.service_id.hyphenize()
        protocol = model.protocol

        def before_send(request: Any = None, event_name: str = "", **_: Any) -> Any:
            operation = event_name.rsplit(".", 1)[-1]
            fault = self._take(service, operation, ("throttle", "5xx", "expired", "timeout"))
            if fault is None:
                return None
            if fault.kind == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            status, code = (_S3_CODES if protocol == "rest-xml" else {}).get(
                fault.kind, _CODES[fault.kind]
            )
            body, headers = _error_body(protocol, code, f"injected {fault.kind}")
            return AWSResponse(request.url, status, headers, _Raw(body))

        def after_call(event_name: str = "", http_response: Any = None, **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            if http_response is not None and http_response.status_code >= 300:
                return  # an error response: nothing was done, nothing to lose
            if self._take(service, operation, ("lost",)) is not None:
                raise ConnectionClosedError(endpoint_url=getattr(http_response, "url", ""))

        def seen(model: Any = None, **_: Any) -> None:
            with self._lock:
                self.seen[(service, model.name)] += 1

        client.meta.events.register("before-call", seen)
        client.meta.events.register("before-send", before_send)
        client.meta.events.register("after-call", after_call)

    def arm(self, *faults: Fault) -> Injector:
        """Inject ``faults`` from now on, in place of the earlier ones, with every count
        started again: clients built once (inside :func:`injecting`) serve a whole matrix,
        ``arm()`` with no fault runs clean and records what is called."""
        with self._lock:
            self.faults[:] = list(faults)
            self.injected.clear()
            self.calls.clear()
            self.seen.clear()
        return self

    @property
    def total(self) -> int:
        return sum(self.injected.values())


@contextlib.contextmanager
def injecting(*faults: Fault) -> Iterator[Injector]:
    """Inject ``faults`` into every client built while active (clients already cached by a
    session keep theirs: build the session inside, or call ``forget_clients``)."""
    injector = Injector(list(faults))
    original = AwsSession._instrument

    def instrument(self: AwsSession, client: Any, service: str) -> None:
        original(self, client, service)
        injector.instrument(client)

    AwsSession._instrument = instrument  # type: ignore[method-assign]
    try:
        yield injector
    finally:
        AwsSession._instrument = original  # type: ignore[method-assign]


def forget_clients(session: AwsSession) -> None:
    """Drop a session's cached clients (and assumed-role sessions, which a sandbox reset
    forgets) so the next calls build (and instrument) new ones."""
    with session._lock:
        session._clients.clear()
        session._sessions.clear()
