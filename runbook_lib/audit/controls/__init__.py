"""The controls, one small function each, grouped by practice (one module per practice).

Importing this package registers every control in :data:`runbook_lib.audit.model.CONTROLS`:
the generic ones here, and each service's own (its settings, e.g. DynamoDB PITR) from
``runbook_lib/services/<package>/controls.py`` (``services.load("controls")``), registered
with ``control(..., services=(...))`` so they judge only that service's resources.

Remediation, one rule: a failing finding names the protect plan step that closes it
(:func:`step`: ``notebooks/02_protect.ipynb: plan step "<setting>"``, the ``setting`` of a
step protect really plans for that resource or its scope), or says ``manual: ...`` /
``owner: ...`` when protect plans nothing that closes it. Per service, a control's step
comes from the service's inventory plug-in (``Service.fixes``: control id -> setting or
``manual: ...`` text, formatted with ``tier``, ``region``, ``account``, ``service``);
without one, services AWS Backup covers are closed by the tier's backup selection.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from runbook_lib import services
from runbook_lib.audit.model import CONTROLS, Control, Evaluate, Result, control
from runbook_lib.package_data import data_dir
from runbook_lib.params import format_duration


def runbook(name: str) -> str:
    """``notebooks/02_protect.ipynb`` for ``protect`` (the runbook an SRE opens to fix it)."""
    found = sorted(data_dir("notebooks").glob(f"*_{name}.ipynb"))
    return f"notebooks/{found[0].name}" if found else f"the {name} runbook"


def step(*settings: str) -> str:
    """The remediation naming the protect plan step(s) (their ``setting``) that close a finding."""
    return f"{runbook('protect')}: plan step " + " and ".join(f'"{s}"' for s in settings)


def manual(what: str) -> str:
    """The remediation when protect plans nothing that closes the finding."""
    return f"manual: {what}"


class _Runbooks(dict):
    """``{protect}`` in a declared remediation -> ``notebooks/02_protect.ipynb``."""

    def __missing__(self, name: str) -> str:
        return runbook(name)


#: control id -> the module whose metadata file declares it (checked once all are imported)
_DECLARED: dict[str, str] = {}


def declared_in(module: str) -> Callable[[str], Callable[[Evaluate], Control]]:
    """The ``control`` decorator of the controls module ``module`` (its ``__name__``):
    ``@control("id")`` registers the function with the metadata that ``<module>.json``
    beside the module declares for ``id`` (like a Prowler check's metadata file, read with
    importlib.resources): ``title``, ``practice``, ``severity``, ``scope``, ``parameters``,
    ``sources``, ``services``, ``prowler`` / ``audit_manager`` / ``steampipe`` (the matching
    scanner controls' ids, lists) and ``parity_note``, ``description`` (else the function's docstring)
    and ``remediation``, where ``{protect}`` stands for that runbook (:func:`runbook`), or
    ``step``: the protect plan step that closes a FAIL (:func:`step`)."""
    package, _, leaf = module.rpartition(".")
    path = resources.files(package).joinpath(f"{leaf}.json")
    entries: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    _DECLARED.update(dict.fromkeys(entries, f"{package}/{leaf}.json"))

    def declare(id: str) -> Callable[[Evaluate], Control]:
        if id not in entries:
            raise KeyError(
                f"control {id!r}: no metadata in {package}/{leaf}.json; declare it there"
            )
        meta = dict(entries[id])
        setting = meta.pop("step", None)
        meta["remediation"] = (
            step(setting) if setting else meta["remediation"].format_map(_Runbooks())
        )
        return control(id, **meta)

    return declare


def fix(
    ev: Any, row: dict[str, Any], control_id: str, default: str | None = None, **fmt: str
) -> str:
    """The resource-specific remediation of ``control_id`` for inventory row ``row``: the
    service's own entry in ``Service.fixes``, else ``default`` (a step's setting), else the
    tier's AWS Backup plan steps for a service AWS Backup covers (``backup selection
    (<tier>)`` when no plan selects it yet, ``backup plan (<tier>)`` when one does), else
    ``manual``."""
    from runbook_lib.inventory.plugin import SERVICES

    service, tier = str(row.get("service") or ""), str(row.get("tier") or "")
    svc = SERVICES.get(service)
    text = (svc.fixes if svc else {}).get(control_id) or default
    if text:
        text = text.format(tier=tier, service=service, **fmt)
        return text if text.startswith(("manual:", "owner:")) else step(text)
    if service in ev.aws_backup_services:
        selected = any(str(m).startswith("aws backup plan") for m in row.get("mechanisms") or [])
        return step(f"backup plan ({tier})" if selected else f"backup selection ({tier})")
    return manual(f"protect plans no step for {service} that closes this; decide by hand")


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


def backup_row(*, account: str, region: str, arn: str, name: str, **extra: Any) -> dict[str, Any]:
    """The row (as :func:`result` reads it) of an AWS Backup vault or recovery point."""
    return {
        "account": account,
        "region": region,
        "service": "backup",
        "arn": arn,
        "name": name,
        **extra,
    }


def recovery_point_groups(points) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The recovery points (a ``recovery_points`` frame) of each resource in each vault, with
    the row that judges them together: named ``<vault>: <resource ARN>``, ``arn`` the
    resource's. An hourly plan keeps
    hundreds of points per resource; one finding per point buried the few that fail among
    thousands of identical PASS rows (the failing points are named in the reason)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for p in points.to_dict("records"):
        key = (p["account"], p["region"], p["vault"], p["resource_arn"])
        groups.setdefault(key, []).append(p)
    for (account, region, vault, resource), group in groups.items():
        row = backup_row(account=account, region=region, arn=resource, name=f"{vault}: {resource}")
        yield row, group


def points_named(points: list[dict[str, Any]]) -> str:
    """``n recovery point(s): arn, arn, ...`` (every one: the reason is the evidence)."""
    return f"{len(points)} recovery point(s): " + ", ".join(sorted(p["arn"] for p in points))


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
# a service's own controls (DynamoDB PITR, S3 versioning, ...) live with the service:
# runbook_lib/services/<package>/controls.py, each declaring the services it is about
services.load("controls")
_unused = sorted(set(_DECLARED) - set(CONTROLS))
if _unused:
    raise ValueError(f"controls declared in metadata but never registered: {_unused}")
