"""The sandbox, found by name: the library never imports it.

The sandbox package (moto plus the AWS Backup extension, installed with the ``sandbox``
extra) registers itself under the entry-point group ``runbook_lib.sandbox``, the way
papermill finds its engines. The library asks for it only when the params say
``target.kind: sandbox`` and name no endpoint, or when a command starts a sandbox server.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from runbook_lib.errors import SandboxError

ENV_URL = "RUNBOOK_SANDBOX_URL"  # a running sandbox server every kernel of a run shares
GROUP = "runbook_lib.sandbox"
INSTALL = "pip install 'runbook-lib[sandbox]'"


@cache
def sandbox() -> Any:
    """The sandbox provider: ``ensure_sandbox(params)``, ``running_sandbox(params_file)``,
    ``serve(host, port, params_file)``. SandboxError saying how to install it if absent."""
    found = list(entry_points(group=GROUP))
    if not found:
        raise SandboxError(
            f"target.kind 'sandbox': the sandbox is not installed; run {INSTALL} (it brings "
            "moto), or name a running server in target.endpoint_url"
        )
    try:
        return found[0].load()
    except ImportError as err:
        raise SandboxError(f"the sandbox could not be loaded ({err}); run {INSTALL}") from err
