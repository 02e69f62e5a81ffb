"""Fault switch: make jobs fail or hang, damage stored recovery points.

Off by default. Every function works in-process (``endpoint_url=None``: the
sandbox runs in this interpreter, under ``mock_aws`` or a ``ThreadedMotoServer``)
or against a running sandbox server in another process (``endpoint_url`` set),
through these routes on the moto server:

* ``POST /moto-api/sandbox/faults``  ``{"job_type", "state", "resource_arn", "message", "times"}``
* ``DELETE /moto-api/sandbox/faults`` (or POST ``/moto-api/sandbox/faults/clear``)
* ``POST /moto-api/sandbox/damage``  ``{"recovery_point_arn", "drop", "alter"}``
* ``POST /moto-api/sandbox/settings`` ``{"job_seconds"}``
* ``POST /moto-api/sandbox/run-backup-plan`` ``{"plan_id", "region", "account_id", "rule_name"}``
  (see ``selections.run_plan_now``)

Bad input raises ``ValueError`` (HTTP 400); an unknown recovery point raises
``LookupError`` (HTTP 404), in-process and through the routes alike.

moto's ``/moto-api/reset`` clears faults and settings too.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

#: End states a fault may force, per job type (from the botocore model's enums).
ALLOWED_STATES = {
    "BACKUP": {"FAILED", "EXPIRED", "ABORTED", "PARTIAL", "RUNNING"},
    "COPY": {"FAILED", "PARTIAL", "RUNNING"},
    "RESTORE": {"FAILED", "ABORTED", "RUNNING"},
}
DEFAULT_SETTINGS = {"job_seconds": 0.0}


@dataclass
class Fault:
    job_type: str
    state: str = "FAILED"
    resource_arn: str | None = None
    message: str | None = None
    times: int | None = 1  # None: every matching job until cleared

    @property
    def status_message(self) -> str:
        return self.message or f"Sandbox fault: {self.job_type.lower()} job forced to {self.state}"


_lock = threading.Lock()
_faults: list[Fault] = []
settings: dict[str, float] = dict(DEFAULT_SETTINGS)


# ----------------------------------------------------------------- public API


def set_fault(
    job_type: str,
    state: str = "FAILED",
    *,
    resource_arn: str | None = None,
    message: str | None = None,
    times: int | None = 1,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Make the next ``times`` jobs of ``job_type`` (BACKUP, COPY, RESTORE), optionally
    only for ``resource_arn``, end in ``state`` (RUNNING: never finish) with ``message``."""
    fault = {
        "job_type": job_type,
        "state": state,
        "resource_arn": resource_arn,
        "message": message,
        "times": times,
    }
    if endpoint_url:
        return _post(endpoint_url, "/moto-api/sandbox/faults", fault)
    return asdict(_add_fault(fault))


def clear_faults(*, endpoint_url: str | None = None) -> None:
    """Remove every fault and reset settings (job duration)."""
    if endpoint_url:
        _post(endpoint_url, "/moto-api/sandbox/faults/clear", {})
        return
    reset()


def damage_recovery_point(
    recovery_point_arn: str,
    drop: int = 0,
    alter: int = 0,
    *,
    endpoint_url: str | None = None,
) -> dict[str, int]:
    """Drop the first ``drop`` and alter the next ``alter`` DynamoDB items / S3 objects
    stored in a recovery point. Returns ``{"dropped": n, "altered": m}``."""
    body = {"recovery_point_arn": recovery_point_arn, "drop": drop, "alter": alter}
    if endpoint_url:
        return _post(endpoint_url, "/moto-api/sandbox/damage", body)
    return _damage(body)


def set_job_seconds(seconds: float, *, endpoint_url: str | None = None) -> dict[str, float]:
    """How long jobs stay RUNNING before they finish (default 0: done at the first read)."""
    if endpoint_url:
        return _post(endpoint_url, "/moto-api/sandbox/settings", {"job_seconds": seconds})
    return _settings({"job_seconds": seconds})


# ------------------------------------------------------------- used by jobs.py


def take_fault(job_type: str, resource_arn: str) -> Fault | None:
    """The fault for a new job, if any (consumes one use)."""
    with _lock:
        for fault in _faults:
            if fault.job_type != job_type:
                continue
            if fault.resource_arn and fault.resource_arn != resource_arn:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    _faults.remove(fault)
            return fault
    return None


def reset() -> None:
    with _lock:
        _faults.clear()
        settings.clear()
        settings.update(DEFAULT_SETTINGS)


# -------------------------------------------------------------- implementation


def _add_fault(body: dict[str, Any]) -> Fault:
    job_type = str(body.get("job_type", "")).upper()
    state = str(body.get("state") or "FAILED").upper()
    if job_type not in ALLOWED_STATES:
        raise ValueError(
            f"job_type must be one of {sorted(ALLOWED_STATES)}, not {body.get('job_type')!r}"
        )
    if state not in ALLOWED_STATES[job_type]:
        raise ValueError(
            f"state for {job_type} jobs must be one of {sorted(ALLOWED_STATES[job_type])}, "
            f"not {body.get('state')!r}"
        )
    times = body.get("times", 1)
    fault = Fault(job_type, state, body.get("resource_arn"), body.get("message"), times)
    with _lock:
        _faults.append(fault)
    return fault


def _damage(body: dict[str, Any]) -> dict[str, int]:
    from moto.core.exceptions import JsonRESTError

    from . import recovery_points, resources

    drop, alter = int(body.get("drop") or 0), int(body.get("alter") or 0)
    if drop < 0 or alter < 0:
        raise ValueError("drop and alter must be >= 0")
    try:
        rp = recovery_points.find(str(body.get("recovery_point_arn")))
    except JsonRESTError as err:
        raise LookupError(err.message) from None
    dropped, altered = resources.damage(rp.payload, rp.account_id, drop, alter)
    rp.damaged = {"dropped": dropped, "altered": altered}
    return dict(rp.damaged)


def _settings(body: dict[str, Any]) -> dict[str, float]:
    seconds = float(body.get("job_seconds", 0))
    if seconds < 0:
        raise ValueError("job_seconds must be >= 0")
    settings["job_seconds"] = seconds
    return dict(settings)


#: How long a control call may take. The server does the work before it answers: a day of
#: the clock (every scheduled backup, copy and export of the estate) takes seconds on an
#: idle machine and minutes on a loaded one. Giving up early is worse than waiting: the
#: server goes on, and a caller that retried would move the clock twice.
CONTROL_TIMEOUT = 1800.0


def _post(endpoint_url: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        endpoint_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT) as resp:
            text = resp.read().decode() or "null"
    except TimeoutError:
        raise TimeoutError(
            f"sandbox at {endpoint_url}: POST {path} had no answer within {CONTROL_TIMEOUT:g} s; "
            "the server may still be working on it: do not repeat it blindly (GET "
            "/moto-api/sandbox/clock shows whether the sandbox's time moved)"
        ) from None
    except urllib.error.HTTPError as err:
        message = json.loads(err.read().decode() or "{}").get("message", "")
        if err.code == 404:
            raise LookupError(message) from None
        if err.code == 400:
            raise ValueError(message) from None
        raise RuntimeError(f"{path} failed: HTTP {err.code} {message}") from None
    return json.loads(text)


# ------------------------------------------------- moto-api route handlers


def _route(func: Any) -> Any:
    def handler(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        raw = request.data if hasattr(request, "data") else request.body
        json_type = {"Content-Type": "application/json"}
        try:
            body = json.loads(raw or b"{}")
            result = func(body, getattr(request, "method", "POST"))
        except LookupError as err:
            return 404, json_type, json.dumps({"message": str(err.args[0] if err.args else err)})
        except (ValueError, TypeError) as err:
            return 400, json_type, json.dumps({"message": str(err)})
        return 200, json_type, json.dumps(result)

    handler.__name__ = f"sandbox_{func.__name__}"
    return handler


def _faults_route(body: dict[str, Any], method: str) -> Any:
    if method == "DELETE":
        reset()
        return {"status": "ok"}
    if method == "GET":
        with _lock:
            return [asdict(f) for f in _faults]
    return asdict(_add_fault(body))


def _clear_route(body: dict[str, Any], method: str) -> Any:
    reset()
    return {"status": "ok"}


ROUTES = {
    "{0}/moto-api/sandbox/faults$": _route(_faults_route),
    "{0}/moto-api/sandbox/faults/clear$": _route(_clear_route),
    "{0}/moto-api/sandbox/damage$": _route(lambda body, method: _damage(body)),
    "{0}/moto-api/sandbox/settings$": _route(lambda body, method: _settings(body)),
}
