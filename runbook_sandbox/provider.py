"""What runbook_lib asks of the sandbox, registered under the entry-point group
``runbook_lib.sandbox`` (pyproject.toml): the library finds it by name and never imports
this package itself."""

from runbook_sandbox import ensure_sandbox, is_up, reset
from runbook_sandbox.server import running_sandbox, serve

__all__ = ["ensure_sandbox", "is_up", "reset", "running_sandbox", "serve"]
