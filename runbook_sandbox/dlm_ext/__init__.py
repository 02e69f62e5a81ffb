"""Amazon Data Lifecycle Manager (DLM) for the sandbox: moto (5.2.5) has no ``dlm`` backend.

Lifecycle policies are created, listed (with GetLifecyclePolicies' filters), read, updated,
deleted and tagged per account and Region, following botocore's ``dlm`` model (rest-json),
with AWS's ``InvalidRequestException`` / ``ResourceNotFoundException``. The sandbox clock
runs the snapshot policies that target volumes (``runs.py``); nothing else a policy says
(instance targets, AMIs, events, copies, sharing, archiving) is acted on.

How it plugs into moto (checked with moto 5.2.5): moto finds a service's backend by
matching the request URL against ``moto.backend_index.backend_url_patterns`` (in-process,
``mock_aws``), or, in the server, by turning the SigV4 credential scope's service
(``dlm``) into the host ``dlm.<region>.amazonaws.com`` and matching that against the same
list. Either way it then imports ``moto.<service>`` and reads ``<service>_backends``. So
:func:`install` adds the URL pattern and makes ``moto.dlm`` name this package's
``models`` module (whose ``dlm_backends`` is a moto ``BackendDict``, so moto's reset and
the sandbox's state save/load treat it like any other service).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading

__all__ = ["install"]

SERVICE = "dlm"
URL_PATTERN = re.compile(r"https?://dlm\.(.+)\.amazonaws\.com")
_lock = threading.Lock()


def install() -> None:
    """Teach moto the DLM API (safe to call twice; a DLM backend of moto's own wins).

    Call it before ``mock_aws()`` starts (it registers the URL patterns it mocks then);
    the server picks it up on the first DLM request.
    """
    with _lock:
        name = f"moto.{SERVICE}"
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            return  # moto has its own
        import moto.backend_index as backend_index

        from . import models

        sys.modules.setdefault(name, models)
        if not any(service == SERVICE for service, _ in backend_index.backend_url_patterns):
            backend_index.backend_url_patterns.append((SERVICE, URL_PATTERN))
