"""Save the whole sandbox to a file and load it into another sandbox.

moto has no snapshot of its own. Its state is the service backends it keeps per service,
account and Region (``moto.core.base_backend.BackendDict``); the AWS Backup extension
keeps its selections, jobs and recovery points on moto's backup backends (see
``backup_ext/state.py``), so they come along. A save pickles every backend in use (with
``cloudpickle``: some moto objects hold lambdas and the extension's jobs hold closures),
plus the extension's fault switch and the sandbox clock; a load replaces the server's
state with them (what moto's reset clears, the load fills again) and sets the clock to
the saved time when that is later than now, so saved recovery points are never in the
future.

File: one line ``RUNBOOK-SANDBOX-STATE``, a pickled header (format, moto and Python
versions, when, which services), then the pickled state. A file saved with another moto
or Python version is refused before anything is replaced: save it again.

A state file is a pickle: load only files you (or your own tests) saved. The server
answers on loopback by default.

In-process (``endpoint_url=None``) or against a sandbox server through
``GET /moto-api/sandbox/state`` (the bytes) and ``POST /moto-api/sandbox/state`` (load
the bytes in the body).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import pickle
import sys
import threading
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from runbook_lib.errors import SandboxError

__all__ = ["StateInfo", "dumps", "load", "loads", "register", "save"]

MAGIC = b"RUNBOOK-SANDBOX-STATE\n"
FORMAT = 1
_lock = threading.Lock()
#: name -> (save, load): state kept outside moto's backends (e.g. a real engine's data)
_parts: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}


def register(name: str, save: Callable[[], Any], load: Callable[[Any], None]) -> None:
    """Add state kept outside moto's backends to every save and load: ``save()`` returns
    something picklable, ``load(value)`` puts it back (after moto's backends are back)."""
    _parts[name] = (save, load)


@dataclass(frozen=True, kw_only=True)
class StateInfo:
    """What a state file holds (its header)."""

    format: int
    moto: str
    python: str
    saved_at: str  # the sandbox's time when saved (ISO 8601, UTC)
    services: dict[str, int]  # service -> number of (account, Region) backends
    size: int = 0  # bytes


# ----------------------------------------------------------------- public API


def save(path: str | os.PathLike, *, endpoint_url: str | None = None) -> StateInfo:
    """Write the sandbox's whole state to ``path``."""
    data = _fetch(endpoint_url) if endpoint_url else dumps()
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise SandboxError(f"save: folder {target.parent} does not exist (path {path})")
    tmp = target.with_name(target.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(target)  # a reader never sees half a file
    return header(data)


def load(path: str | os.PathLike, *, endpoint_url: str | None = None) -> StateInfo:
    """Replace the sandbox's state with the one saved in ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SandboxError(f"load: cannot read state file {path}: {err.strerror}") from None
    info = header(data)  # refuse a file that is not one, before any change
    if endpoint_url:
        _send(endpoint_url, data)
    else:
        loads(data)
    return info


def header(data: bytes) -> StateInfo:
    """The header of a state file's bytes; SandboxError when they are not one."""
    if not data.startswith(MAGIC):
        raise SandboxError("not a sandbox state file (it must start with RUNBOOK-SANDBOX-STATE)")
    try:
        head = pickle.loads(data[len(MAGIC) :])  # stops after the header's pickle
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise SandboxError(f"sandbox state file header unreadable: {err}") from None
    return StateInfo(**head, size=len(data))


# ------------------------------------------------------------ in the sandbox process


def dumps() -> bytes:
    """The sandbox state of this process, as bytes."""
    import moto
    from moto.core.base_backend import BackendDict

    from runbook_sandbox import clock
    from runbook_sandbox.backup_ext import faults

    with _lock:
        backends: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for bd in list(BackendDict._instances):
            key = (bd.backend.__module__, bd.backend.__qualname__)
            backends[key] = {acc: dict(asb) for acc, asb in list(bd.items()) if len(asb)}
        with faults._lock:
            fault_state = {"faults": list(faults._faults), "settings": dict(faults.settings)}
        parts = {name: save() for name, (save, _) in _parts.items()}
        state = {"backends": backends, "faults": fault_state, "parts": parts}
        buf = io.BytesIO()
        try:
            _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
        except (TypeError, AttributeError, pickle.PicklingError) as err:
            raise SandboxError(f"sandbox state cannot be saved: {err}") from err
        head = {
            "format": FORMAT,
            "moto": moto.__version__,
            "python": _python(),
            "saved_at": clock.now().isoformat(),
            "services": {
                _service(key): sum(len(r) for r in accs.values())
                for key, accs in backends.items()
                if accs
            },
        }
        return MAGIC + pickle.dumps(head, protocol=pickle.HIGHEST_PROTOCOL) + buf.getvalue()


def loads(data: bytes) -> StateInfo:
    """Replace this process's sandbox state with ``data`` (from :func:`dumps`)."""
    import moto
    from moto.core.base_backend import BackendDict

    from runbook_sandbox import clock
    from runbook_sandbox.backup_ext import faults

    info = header(data)
    if info.format != FORMAT or info.moto != moto.__version__ or info.python != _python():
        raise SandboxError(
            f"sandbox state file: saved with format {info.format}, moto {info.moto}, Python "
            f"{info.python}; this sandbox reads format {FORMAT} with moto {moto.__version__}, "
            f"Python {_python()}. Save it again from a sandbox of this version."
        )
    stream = io.BytesIO(data[len(MAGIC) :])
    pickle.load(stream)  # the header
    with _lock:
        state = pickle.load(stream)
        unknown = set(state["parts"]) - set(_parts)
        if unknown:  # checked before anything is replaced
            raise SandboxError(f"sandbox state: no loader here for {sorted(unknown)}")
        BackendDict.reset()  # also clears the fault switch (backup_ext.install hooks it)
        for (module, qualname), accounts in state["backends"].items():
            bd = _backend_dict(module, qualname)
            for account, regions in accounts.items():
                asb = bd[account]
                for region, backend in regions.items():
                    dict.__setitem__(asb, region, backend)
        with faults._lock:
            faults._faults[:] = state["faults"]["faults"]
            faults.settings.clear()
            faults.settings.update(state["faults"]["settings"])
        for name, value in state["parts"].items():
            _parts[name][1](value)
        clock.move_to(dt.datetime.fromisoformat(info.saved_at))
    return info


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _service(key: tuple[str, str]) -> str:
    return _backend_dict(*key).service_name


def _backend_dict(module: str, qualname: str) -> Any:
    """moto's BackendDict for the backend class ``module.qualname`` (the live object that
    moto's code uses, never a copy)."""
    import importlib

    from moto.core.base_backend import BackendDict

    mod = importlib.import_module(module)
    cls = getattr(mod, qualname)
    for name in (module, module.rsplit(".", 1)[0]):
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, BackendDict) and value.backend is cls:
                return value
    raise SandboxError(f"sandbox state: no moto backend registry for {module}.{qualname}")


def _account_backend(module: str, qualname: str, account: str) -> Any:
    return _backend_dict(module, qualname)[account]


def _lock_for(kind: str) -> Any:
    return threading.RLock() if kind == "RLock" else threading.Lock()


def _defaultdict(cls: type, factory: Any, attrs: dict, items: list) -> Any:
    """A defaultdict subclass whose ``__init__`` takes other arguments (moto's SSM
    ``ParameterDict``): built without calling it."""
    out = defaultdict.__new__(cls)
    defaultdict.__init__(out, factory)
    out.__dict__.update(attrs)
    dict.update(out, items)
    return out


def _private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, password=None)


_LOCK_TYPES = {type(threading.Lock()): "Lock", type(threading.RLock()): "RLock"}


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus: locks are made afresh, moto's registries are referred to by
    name (never copied), and cryptography keys travel as DER."""

    def reducer_override(self, obj: Any) -> Any:
        from moto.core.base_backend import AccountSpecificBackend, BackendDict

        kind = _LOCK_TYPES.get(type(obj))
        if kind:
            return _lock_for, (kind,)
        if isinstance(obj, defaultdict) and type(obj) is not defaultdict:
            return _defaultdict, (type(obj), obj.default_factory, vars(obj), list(obj.items()))
        if isinstance(obj, BackendDict):
            return _backend_dict, (obj.backend.__module__, obj.backend.__qualname__)
        if isinstance(obj, AccountSpecificBackend):
            cls = obj.backend
            return _account_backend, (cls.__module__, cls.__qualname__, obj.account_id)
        if type(obj).__module__.startswith("cryptography") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization as ser

            der = obj.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
            return _private_key, (der,)
        return super().reducer_override(obj)


# ------------------------------------------------------------------ over HTTP

ROUTE_PATH = "/moto-api/sandbox/state"


def _fetch(endpoint_url: str) -> bytes:
    try:
        with urllib.request.urlopen(endpoint_url.rstrip("/") + ROUTE_PATH, timeout=300) as r:
            return r.read()
    except urllib.error.HTTPError as err:
        raise SandboxError(f"sandbox at {endpoint_url}: save failed: {_message(err)}") from None
    except urllib.error.URLError as err:
        raise SandboxError(f"sandbox at {endpoint_url}: not reachable ({err.reason})") from None


def _send(endpoint_url: str, data: bytes) -> None:
    req = urllib.request.Request(
        endpoint_url.rstrip("/") + ROUTE_PATH,
        data=data,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        urllib.request.urlopen(req, timeout=300).close()
    except urllib.error.HTTPError as err:
        raise SandboxError(f"sandbox at {endpoint_url}: load failed: {_message(err)}") from None
    except urllib.error.URLError as err:
        raise SandboxError(f"sandbox at {endpoint_url}: not reachable ({err.reason})") from None


def _message(err: urllib.error.HTTPError) -> str:
    try:
        return json.loads(err.read().decode() or "{}").get("message") or f"HTTP {err.code}"
    except ValueError:
        return f"HTTP {err.code}"


def _route(request: Any, full_url: str, headers: Any) -> tuple[int, dict, Any]:
    json_type = {"Content-Type": "application/json"}
    try:
        if getattr(request, "method", "GET") == "GET":
            return 200, {"Content-Type": "application/octet-stream"}, dumps()
        raw = request.data if hasattr(request, "data") else request.body
        return 200, json_type, json.dumps(asdict(loads(raw)))
    except SandboxError as err:
        return 400, json_type, json.dumps({"message": str(err)})


ROUTES = {"{0}" + ROUTE_PATH + "$": _route}
