"""What runbook_lib asks of the sandbox, registered under the entry-point group
``runbook_lib.sandbox`` (pyproject.toml): the library finds it by name and never imports
this package itself."""

from runbook_sandbox import ensure_sandbox, is_up, reset
from runbook_sandbox.clock import advance
from runbook_sandbox.server import running_sandbox, serve
from runbook_sandbox.state import load as load_state
from runbook_sandbox.state import save as save_state

__all__ = [
    "advance",
    "ensure_sandbox",
    "is_up",
    "load_state",
    "reset",
    "running_sandbox",
    "save_state",
    "serve",
]
