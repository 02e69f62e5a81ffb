"""Where the notebooks, parameter templates and IAM policies are found.

In a checkout (or an editable install) they are the top-level ``notebooks/``, ``params/``
and ``policies/`` folders. A regular install (``pip install .``) ships a copy inside the
package (``runbook_lib/_data/<name>``, copied at build time by ``setup.py``) and finds it
with :mod:`importlib.resources`, so the runbooks work from any working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

Kind = Literal["notebooks", "params", "policies"]
CHECKOUT = Path(__file__).resolve().parents[1]


def data_dir(kind: Kind) -> Path:
    """The folder holding ``kind``: the checkout's, else the copy inside the package."""
    checkout = CHECKOUT / kind
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("runbook_lib") / "_data" / kind))


def is_shipped(path: Path) -> bool:
    """True for a file inside the installed package's own copy (read-only templates)."""
    shipped = Path(str(resources.files("runbook_lib") / "_data"))
    try:
        path.resolve().relative_to(shipped.resolve())
        return True
    except ValueError:
        return False
