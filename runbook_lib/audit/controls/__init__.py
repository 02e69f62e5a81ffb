"""The controls, one small function each, grouped by practice (one module per practice).

Importing this package registers every control in :data:`runbook_lib.audit.model.CONTROLS`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from runbook_lib.audit.model import Result
from runbook_lib.package_data import data_dir
from runbook_lib.params import format_duration


def runbook(name: str) -> str:
    """``notebooks/02_protect.ipynb`` for ``protect`` (the runbook an SRE opens to fix it)."""
    found = sorted(data_dir("notebooks").glob(f"*_{name}.ipynb"))
    return f"notebooks/{found[0].name}" if found else f"the {name} runbook"


def result(row: dict[str, Any], status: str, reason: str, **extra: Any) -> Result:
    """A Result about the inventory row ``row``."""
    return Result(
        account=str(row.get("account") or ""),
        region=str(row.get("region") or ""),
        service=str(row.get("service") or ""),
        arn=str(row.get("arn") or ""),
        name=str(row.get("name") or ""),
        tier=str(row.get("tier") or ""),
        status=status,
        reason=reason,
        **extra,
    )


def days(value: float | None) -> str:
    if value is None or value != value:  # NaN
        return "unknown"
    if value == float("inf"):
        return "forever"
    return f"{value:g} days"


def human(seconds: float | None) -> str:
    """12.3 d, 5.2 h, 14 min, 30 s."""
    if seconds is None or seconds != seconds:
        return "unknown"
    s = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}".replace(".0 ", " ")
    return f"{s:.0f} s"


def duration(td) -> str:
    """As written in params files: 7d rather than 1w."""
    secs = int(td.total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}d"
    return format_duration(td)


for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
