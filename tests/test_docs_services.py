"""docs/services.md stays true to the code: every path, module, registry, class and decorator
it names in backticks exists, call spans name only keywords the callee accepts, and every
capability and every ServiceSpec / ArnShape / NameRule field is described."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from runbook_lib import services as registry
from runbook_lib.params import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "services.md"
PLACEHOLDERS = ("<package>", "<pkg>")
SUFFIXES = (".py", ".json", ".md", ".yaml", ".ipynb")
SOURCE_DIRS = ("runbook_lib", "runbook_sandbox")
#: where a path the page names starts; a bare file name (``protect.json``) is looked for in them
TOP_DIRS = (*SOURCE_DIRS, "policies", "docs", "tests", "params", "notebooks", "bench")
#: a Python name, optionally qualified, optionally followed by a call or a subscript
CHAIN = re.compile(r"^(@?)([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(.*)$", re.DOTALL)


def _page_text() -> str:
    """The page without its fenced code blocks (examples, not names to check)."""
    return re.sub(r"^```.*?^```", "", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)


def _spans() -> list[str]:
    """Every inline code span, its line breaks and indents made single spaces."""
    spans = re.findall(r"`([^`]+)`", _page_text())
    return list(dict.fromkeys(" ".join(s.split()) for s in spans))


def _packages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(registry.__path__) if m.ispkg)


def _is_path(span: str) -> bool:
    if " " in span:
        return False
    if "/" in span:
        return span.split("/", 1)[0] in TOP_DIRS
    return span.endswith(SUFFIXES) and re.fullmatch(r"[\w.-]+", span) is not None


def _expand(path: str) -> list[str]:
    """``path`` with ``<package>`` replaced by every service package."""
    for ph in PLACEHOLDERS:
        if ph in path:
            return [path.replace(ph, pkg) for pkg in _packages()]
    return [path]


def _existing(path: str) -> list[Path]:
    """The files or folders ``path`` (as the page writes it) names."""
    out = []
    for candidate in _expand(path):
        if "<" in candidate:  # another placeholder: its folder must exist
            folder = PROJECT_ROOT / candidate.split("<", 1)[0]
            out += [folder] if folder.is_dir() else []
        elif "/" not in candidate:
            out += [p for d in TOP_DIRS for p in (PROJECT_ROOT / d).rglob(candidate)][:1]
        else:
            out.append(PROJECT_ROOT / candidate)
    return [p for p in out if p.exists()]


def _module_name(path: Path) -> str | None:
    rel = path.relative_to(PROJECT_ROOT)
    if rel.parts[0] not in SOURCE_DIRS or rel.suffix != ".py":
        return None
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_DEFINED = object()  # a name a file defines (its attributes are not looked into)


def _top_level_names(path: Path) -> SimpleNamespace:
    """The names a file defines at top level, without importing it (test modules)."""
    names: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = _DEFINED
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: _DEFINED for t in targets if isinstance(t, ast.Name)})
    return SimpleNamespace(**names)


def _import_prefix(dotted: str) -> tuple[ModuleType, list[str]] | None:
    """The longest importable module prefix of ``dotted`` and the attribute names after it."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:i])), parts[i:]
        except ModuleNotFoundError:
            continue
    return None


def _getattr(obj: Any, name: str) -> Any:
    """``obj.name``, where a dataclass field without a default counts as an attribute."""
    if hasattr(obj, name):
        return getattr(obj, name)
    if dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}:
        return dataclasses.MISSING
    raise AttributeError(name)


def _resolve_qualified(dotted: str) -> Any:
    found = _import_prefix(dotted)
    if found is None:
        raise AttributeError(dotted)
    obj, rest = found
    for name in rest:
        obj = _getattr(obj, name)
    return obj


def _namespaces() -> list[Any]:
    """The modules the page names (as paths or dotted names), and builtins: where an
    unqualified name is looked up."""
    spaces: dict[str, Any] = {"builtins": builtins}
    for span in _spans():
        if _is_path(span):
            for path in _existing(span):
                if path.is_file() and path.suffix == ".py":
                    name = _module_name(path)
                    if name:
                        spaces[name] = importlib.import_module(name)
                    else:
                        spaces[str(path)] = _top_level_names(path)
            continue
        m = CHAIN.match(span)
        if m and m.group(2).startswith(SOURCE_DIRS):
            found = _import_prefix(m.group(2))
            if found:
                spaces[found[0].__name__] = found[0]
    return list(spaces.values())


def _resolve(dotted: str, spaces: list[Any]) -> Any:
    if dotted.startswith(SOURCE_DIRS):
        return _resolve_qualified(dotted)
    first, *rest = dotted.split(".")
    starts = [getattr(ns, first) for ns in spaces if hasattr(ns, first)]
    starts += [
        ns for ns in spaces if isinstance(ns, ModuleType) and ns.__name__.split(".")[-1] == first
    ]
    for obj in starts:
        try:
            for name in rest:
                obj = _getattr(obj, name)
        except AttributeError:
            continue
        return obj
    raise AttributeError(dotted)


def _string_literal_in_code(name: str) -> bool:
    """``name`` is a value the code uses (a status, an API field), quoted in the source."""
    pattern = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(
        pattern.search(p.read_text(encoding="utf-8"))
        for d in SOURCE_DIRS
        for p in (PROJECT_ROOT / d).rglob("*.py")
    )


def _call_keywords(rest: str) -> list[str]:
    """The ``name=`` keywords of the call ``rest`` starts with (not of calls nested in it)."""
    if not rest.startswith("("):
        return []
    out, depth = [], 0
    for i, ch in enumerate(rest):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if depth == 0:
            break
        if depth == 1 and ch == "=" and rest[i + 1 : i + 2] != "=":
            m = re.search(r"(\w+)\s*$", rest[:i])
            if m:
                out.append(m.group(1))
    return out


def _checked_names() -> list[tuple[str, str]]:
    """(span, the name in it to resolve) for every span that names code: decorators,
    dotted names, classes and constants. Bare lowercase words are prose (parameters,
    capabilities, field names) and are not looked up."""
    out = []
    for span in _spans():
        if _is_path(span):
            continue
        m = CHAIN.match(span)
        if not m:
            continue
        at, dotted, rest = m.groups()
        if rest and rest[0] not in "([":
            continue  # e.g. "aws-backup", "elasticfilesystem:Backup", a signature
        if at or "." in dotted or dotted[0].isupper():
            out.append((span, dotted))
    return out


PATHS = [s for s in _spans() if _is_path(s)]
NAMES = _checked_names()


def test_the_page_names_paths_and_code():
    assert len(PATHS) > 20 and len(NAMES) > 50, (len(PATHS), len(NAMES))


@pytest.mark.parametrize("path", PATHS)
def test_every_path_exists(path):
    assert _existing(path), f"docs/services.md names {path!r}, which does not exist"


@pytest.fixture(scope="module")
def spaces():
    for capability in registry.CAPABILITIES:
        registry.load(capability)
    return _namespaces()


@pytest.mark.parametrize(("span", "dotted"), NAMES, ids=[s for s, _ in NAMES])
def test_every_module_registry_and_decorator_exists(spaces, span, dotted):
    try:
        obj = _resolve(dotted, spaces)
    except AttributeError:
        assert not span.startswith("@") and "." not in dotted and _string_literal_in_code(dotted), (
            f"docs/services.md names `{span}`: {dotted!r} is not in the modules the page names"
        )
        return
    keywords = _call_keywords(span[span.index(dotted) + len(dotted) :])
    if keywords and callable(obj):
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            return
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(keywords) - set(params))
            assert not unknown, f"`{span}`: {dotted} takes no {unknown}"


def _mentioned(word: str) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", span) for span in _spans())


@pytest.mark.parametrize("capability", registry.CAPABILITIES)
def test_every_capability_has_its_row(capability):
    text = _page_text()
    assert f"| `{capability}` | `runbook_lib/services/<package>/{capability}.py` |" in text, (
        f"docs/services.md: no row for capability {capability!r} in the package table"
    )


FIELDS = [
    (cls.__name__, f.name)
    for cls in (registry.ServiceSpec, registry.ArnShape, registry.NameRule)
    for f in dataclasses.fields(cls)
]


@pytest.mark.parametrize(("cls", "field"), FIELDS, ids=[f"{c}.{f}" for c, f in FIELDS])
def test_every_spec_field_is_described(cls, field):
    assert _mentioned(field), f"docs/services.md does not describe {cls}.{field}"


def test_every_service_spec_field_has_a_table_row():
    text = _page_text()
    for f in dataclasses.fields(registry.ServiceSpec):
        assert re.search(rf"^\| `{f.name}` \|", text, re.M), f"no row for ServiceSpec.{f.name}"
