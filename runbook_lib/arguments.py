"""Notebook parameters: one typed model per runbook, built from its ``parameters`` cell.

The declaration is the cell papermill reads: one line per parameter, ``name: type = default
# help``. The type and the allowed values of each name come from one table, :data:`TYPES`,
so a parameter means the same thing in every runbook (``arns`` is a list of ARNs wherever
it appears, ``approve`` a boolean). :func:`model_for` turns a declaration into a pydantic
model that forbids unknown names; the runner checks ``-p`` values with it before anything
runs, and a notebook's first step checks them again inside the kernel, because papermill,
nbval, Airflow's PapermillOperator and JupyterLab all reach the notebook without the runner::

    rb = start(globals())   # validates every parameter, then opens the session

Booleans accept only ``True``/``False`` or the text ``true``/``false`` (any case): ``"0"``,
``0``, ``"no"`` are errors, never a yes. Every problem is one line naming the parameter and
what is allowed, raised as a :class:`~runbook_lib.errors.ParamsError` before any AWS call.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from runbook_lib.errors import ParamsError, RunbookError

MAX_TEXT = 2048  # longest text a parameter may hold
MAX_ITEMS = 1000  # longest list a parameter may hold


def _show(value: Any, limit: int = 80) -> str:
    """A bounded, one-line repr for error messages."""
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- value checks
# Each takes the raw value and returns the normalised one, or raises ValueError whose text
# says what is allowed (pydantic puts the parameter name in front).


def check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{_show(value)} is not a boolean; allowed: true or false")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is not text; give a quoted string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"text of {len(value)} characters; at most {MAX_TEXT}")
    return value.strip()


def _int(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e12:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{_show(value)} is not a whole number; allowed: {minimum} or more")
        if not minimum <= value < 10**12:
            raise ValueError(f"{value} is out of range; allowed: {minimum} or more")
        return value

    return check


def _number(minimum: float, *, above: bool = False) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{_show(value)} is not a number")
        if value != value or value in (float("inf"), float("-inf")) or abs(value) > 1e9:
            raise ValueError(f"{_show(value)} is not a usable number")
        if value < minimum or (above and value == minimum):
            raise ValueError(
                f"{value} is out of range; allowed: {'more than' if above else 'at least'} {minimum}"
            )
        return float(value)

    return check


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value.strip() in allowed:
            return value.strip()
        raise ValueError(f"{_show(value)} is not allowed; allowed: {', '.join(allowed)}")

    return check


def _items(value: Any) -> list[Any]:
    """A list, or comma-separated text (the form a command line gives)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise ValueError(f"a list of {len(value)} items; at most {MAX_ITEMS}")
        return list(value)
    raise ValueError(f"{_show(value)} is not a list; give a list or comma-separated text")


def check_time(value: Any) -> str:
    """'' -> ''; ISO 8601 text or a datetime -> ISO 8601 text in UTC (the project's one time
    parser, ``restore.model.parse_time``, decides what is a time)."""
    from runbook_lib.restore.model import parse_time

    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if (
        value is not None
        and not isinstance(value, str | datetime)
        or (isinstance(value, str) and len(value) > 64)
    ):
        raise ValueError(f"{_show(value)} is not a time; use ISO 8601, e.g. 2026-11-24T10:00:00Z")
    dt = _params_error_to_value(parse_time, value, field_name="time")
    return "" if dt is None else dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_duration_text(value: Any) -> str:
    from runbook_lib.params import parse_duration

    text = _text(value)
    if text:
        parse_duration(text)  # ValueError names the allowed form
    return text


RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_run_id(value: Any) -> str:
    """'' (a new id) or 1-100 letters, digits, '_', '-', '.'; no '..' (it names files)."""
    text = _text(value)
    if text and (not RUN_ID_RE.match(text) or ".." in text):
        raise ValueError(
            f"{_show(text)} is not a run id; allowed: 1-100 letters, digits, '_', '-', '.', "
            "starting with a letter or digit, no '..'"
        )
    return text


def _nonempty_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("empty; give a name in params/ or a path to a .yaml file")
    return text


def _services(value: Any) -> list[str]:
    from runbook_lib.inventory import SERVICES

    items = _items(value)
    bad = [s for s in items if not isinstance(s, str) or s not in SERVICES]
    if bad:
        raise ValueError(
            f"unknown {_show(bad)}; allowed: {', '.join(sorted(SERVICES))} (a list, or comma-separated)"
        )
    return list(dict.fromkeys(items))


def _arns(value: Any) -> list[str]:
    from runbook_lib.restore.model import service_of_arn

    items = _items(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{_show(item)} is not an ARN")
        _params_error_to_value(service_of_arn, item, field_name="arns")
    return list(dict.fromkeys(items))


def _source_arn(value: Any) -> str:
    from runbook_lib.restore.model import service_of_arn

    text = _text(value)
    if text:
        _params_error_to_value(service_of_arn, text, field_name="source_arn")
    return text


def _tag_filter(value: Any) -> str:
    from runbook_lib.backup_now import parse_tag_filter

    if isinstance(value, dict):
        value = ",".join(f"{k}={v}" for k, v in value.items())
    text = _text(value)
    _params_error_to_value(parse_tag_filter, text)
    return text


def _resources(value: Any) -> list[str]:
    from runbook_lib.post_incident.window import parse_resources

    items = _items(value)
    _params_error_to_value(parse_resources, items)
    return [str(x).strip() for x in items]


def _controls(value: Any) -> list[str]:
    from runbook_lib.audit.report import select_controls

    items = _items(value)
    if any(not isinstance(x, str) for x in items):
        raise ValueError(f"{_show(items)} is not a list of control ids or practices")
    _params_error_to_value(select_controls, items)
    return items


def _checks(value: Any) -> dict[str, Any]:
    from runbook_lib.restore.validate import CHECK_KEYS

    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(
                f"{_show(value)} is not a mapping; give a dict (or JSON text) of "
                "ARN / name / service / '*' -> {" + ", ".join(CHECK_KEYS) + "}"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{_show(value)} is not a mapping of ARN / name / service / '*' -> checks")
    for selector, spec in value.items():
        if not isinstance(spec, dict):
            raise ValueError(f"[{_show(selector)}]: {_show(spec)} is not a mapping of checks")
        bad = sorted(str(k) for k in set(spec) - set(CHECK_KEYS))
        if bad:
            raise ValueError(
                f"[{_show(selector)}]: unknown check(s) {bad}; allowed: {list(CHECK_KEYS)}"
            )
        if "min_count" in spec:
            _int(0)(spec["min_count"])
        for key in ("required_keys", "required_prefixes"):
            if key in spec and not (
                isinstance(spec[key], list) and all(isinstance(x, str) for x in spec[key])
            ):
                raise ValueError(f"[{_show(selector)}].{key}: give a list of text")
        if "expected_values" in spec and not isinstance(spec["expected_values"], dict):
            raise ValueError(f"[{_show(selector)}].expected_values: give a mapping of key -> value")
    return value


_ID_RE = re.compile(r"^[A-Za-z0-9:/_.@+=,-]{1,1024}$")


def _recovery_point(value: Any) -> str:
    text = _text(value)
    if text and not _ID_RE.match(text):
        raise ValueError(f"{_show(text)} is not a recovery point id or ARN")
    return text


def _params_error_to_value(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a library check; its ParamsError becomes the ValueError pydantic expects."""
    try:
        return fn(*args, **kwargs)
    except ParamsError as err:
        raise ValueError("; ".join(p.split(": ", 1)[-1] for p in err.problems)[:400]) from None


# --------------------------------------------------------------------------- the table

# name -> (the type written in the parameters cell, the check of a value)
TYPES: dict[str, tuple[type, Callable[[Any], Any]]] = {
    **dict.fromkeys(
        ("record_to_ledger", "approve", "approve_irreversible", "write_canary", "dry_run",
         "sweep_expired"),
        (bool, check_bool),
    ),
    **dict.fromkeys(
        ("as_of", "restore_time", "incident_start", "incident_end"), (str, check_time)
    ),
    **dict.fromkeys(("window", "since"), (str, check_duration_text)),
    **dict.fromkeys(("ledger_location", "target_name"), (str, _text)),  # target_name: below
    "params_file": (str, _nonempty_text),
    "run_id": (str, check_run_id),
    "services": (list, _services),
    "arns": (list, _arns),
    "tag_filter": (str, _tag_filter),
    "method": (str, _choice("auto", "native")),
    "timeout_seconds": (float, _number(0, above=True)),
    "mode": (str, _choice("due", "sample", "arns")),
    "sample_size": (int, _int(1)),
    "seed": (int, _int(0)),
    "max_tests": (int, _int(0)),
    "max_minutes": (float, _number(0)),
    "checks": (dict, _checks),
    "copy": (str, _choice("local", "dr", "both")),
    "restore_via": (str, _choice("runbook", "restore_testing")),
    "source_arn": (str, _source_arn),
    "recovery_point": (str, _recovery_point),
    "controls": (list, _controls),
    "resources": (list, _resources),
}  # fmt: skip


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Declared:
    """One line of a parameters cell."""

    name: str
    annotation: str
    default: Any
    help: str


def parse_declaration(source: str) -> list[Declared]:
    """The parameters a cell declares, in order. Raises RunbookError when the cell is not a
    declaration (every statement ``name: type = literal``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise RunbookError(f"parameters cell: not Python ({err.msg}, line {err.lineno})") from None
    lines = source.splitlines()
    out: list[Declared] = []
    for node in tree.body:
        if not (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            raise RunbookError(
                f"parameters cell, line {node.lineno}: not a declaration; write "
                "`name: type = default  # help`"
            )
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise RunbookError(
                f"parameters cell, line {node.lineno}: the default of {node.target.id} is not a literal"
            ) from None
        line = lines[node.lineno - 1]
        help_text = (
            line.split("#", 1)[1].strip() if "#" in line[node.value.end_col_offset :] else ""
        )
        out.append(Declared(node.target.id, ast.unparse(node.annotation), default, help_text))
    return out


def parameters_cell(notebook: str | Path) -> str:
    """The source of the notebook's cell tagged ``parameters``."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    raise RunbookError(f"{Path(notebook).name}: no cell tagged 'parameters'")


def declaration_of(notebook: str | Path) -> list[Declared]:
    return parse_declaration(parameters_cell(notebook))


def model_for(declared: list[Declared], title: str = "Parameters") -> type[BaseModel]:
    """A pydantic model of the declared parameters: typed by :data:`TYPES`, defaults from
    the cell, descriptions from the help comments, unknown names forbidden."""
    fields: dict[str, Any] = {}
    for d in declared:
        if d.name not in TYPES:
            raise RunbookError(
                f"parameter {d.name!r} has no declared type; add it to runbook_lib.arguments.TYPES"
            )
        pytype, check = TYPES[d.name]
        if d.annotation != pytype.__name__:
            raise RunbookError(
                f"parameter {d.name!r} is declared as {d.annotation}; it is {pytype.__name__} in every runbook"
            )
        # a name BaseModel already uses (copy) is stored as name_ under its own alias
        attr = f"{d.name}_" if hasattr(BaseModel, d.name) else d.name
        fields[attr] = (
            Annotated[Any, BeforeValidator(check)],
            Field(default=d.default, description=d.help, alias=d.name),
        )
    model = create_model(
        title,
        __config__=ConfigDict(extra="forbid", frozen=True, validate_default=True),
        **fields,
    )
    return model


def as_dict(args: BaseModel) -> dict[str, Any]:
    """The validated parameters under the names the notebook declares."""
    return args.model_dump(by_alias=True)


def _cross_checks(values: dict[str, Any]) -> list[str]:
    """Checks that need two parameters."""
    problems = []
    if values.get("mode") == "arns" and not values.get("arns"):
        problems.append("arns: mode 'arns' needs at least one ARN")
    name, source = values.get("target_name"), values.get("source_arn")
    if name and not source and "source_arn" in values:
        problems.append("target_name: given without source_arn; name the resource to restore")
    if name and source:
        from runbook_lib.restore.incident import target_name_problem
        from runbook_lib.restore.model import service_of_arn

        service, _ = service_of_arn(source, field_name="source_arn")
        problem = target_name_problem(service, name)
        if problem:
            problems.append(problem)
    start, end = values.get("incident_start"), values.get("incident_end")
    if start and end and start >= end:
        problems.append(f"incident_start: {start} is not before incident_end {end}")
    return problems


def validate(
    declared: list[Declared], values: Mapping[str, Any], *, source: str = "notebook parameters"
) -> BaseModel:
    """Validate ``values`` against the declaration; one ParamsError listing every problem."""
    model = model_for(declared)
    allowed = ", ".join(d.name for d in declared)
    try:
        args = model.model_validate(dict(values))
    except ValidationError as err:
        problems = []
        for e in err.errors():
            name = ".".join(str(p) for p in e["loc"]) or "(parameters)"
            if e["type"] == "extra_forbidden":
                problems.append(f"{name}: unknown parameter; allowed: {allowed}")
            else:
                problems.append(f"{name}: {e['msg'].removeprefix('Value error, ')}"[:400])
        raise ParamsError(source, problems) from None
    problems = _cross_checks(as_dict(args))
    if problems:
        raise ParamsError(source, problems)
    return args


def validate_notebook(notebook: str | Path, values: Mapping[str, Any]) -> BaseModel:
    """Check values meant for a notebook file (the runner and the scheduler, before a run)."""
    return validate(declaration_of(notebook), values, source=Path(notebook).name)


# --------------------------------------------------------------------------- in the kernel


def _assigned_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]


def from_namespace(ns: dict[str, Any]) -> BaseModel:
    """Validate a running notebook's parameters and replace each variable by its validated
    value. The declaration is the parameters cell as the kernel ran it (IPython's ``In``,
    or, where cells run without history as under nbval, the namespace's annotations);
    names papermill injected (its ``# Parameters`` cell) that the cell does not declare are
    errors, where papermill would only warn."""
    history = [s for s in ns.get("In", []) if isinstance(s, str) and s.strip()]
    declared: list[Declared] | None = None
    injected: list[str] = []
    for src in history:
        if src.lstrip().startswith("# Parameters"):
            injected += _assigned_names(src)
        else:
            try:  # the parameters cell: every statement `name: type = literal`
                declared = parse_declaration(src) or declared
            except RunbookError:
                pass
    if declared is None:  # nbval runs cells without history: the annotations are the declaration
        annotations = ns.get("__annotations__") or {}
        declared = [
            Declared(name, getattr(kind, "__name__", str(kind)), ns.get(name), "")
            for name, kind in annotations.items()
            if name in TYPES
        ] or None
    if declared is None:
        raise RunbookError(
            "start(globals()): no parameters cell was run in this kernel; run the notebook's "
            "first cell (tagged 'parameters') first"
        )
    names = {d.name for d in declared}
    values = {d.name: ns[d.name] for d in declared if d.name in ns}
    values.update({n: ns[n] for n in injected if n not in names and n in ns})
    args = validate(declared, values)
    ns.update(as_dict(args))
    return args


def approval(value: Any, name: str = "approve") -> bool:
    """The library's own guard on an approval flag: True or False (or the text true/false);
    anything else is an error, never a yes."""
    try:
        return check_bool(value)
    except ValueError as err:
        raise ParamsError(name, [f"{name}: {err}"]) from None
