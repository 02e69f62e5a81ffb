"""Hostile and careless parameter files and notebook overrides: every one is refused with
one bounded line per problem, before any AWS call (nothing here opens a session), and
never with a traceback. The fuzz tests draw 600 parameter files and 600 notebook
overrides with hypothesis."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_lib import arguments
from runbook_lib.errors import ParamsError
from runbook_lib.params import load_params, params_dir, validate_params
from runbook_lib.runner import list_notebooks

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = yaml.safe_load((params_dir() / "sandbox.yaml").read_text())


def _refused(path: Path) -> list[str]:
    with pytest.raises(ParamsError) as err:
        load_params(path)
    text = str(err.value)
    assert len(text) < 20_000 and all(len(p) <= 400 for p in err.value.problems)
    return err.value.problems


def _write(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> Path:
    f = tmp_path / name
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    return f


def _with(mutate) -> str:
    d = copy.deepcopy(SANDBOX)
    mutate(d)
    return yaml.safe_dump(d, sort_keys=False)


def test_unquoted_account_id_is_refused_not_reinterpreted(tmp_path):
    text = (
        _with(lambda d: None)
        .replace('"111111111111"', "012345670123")
        .replace("'111111111111'", "012345670123")
    )
    assert "012345670123" in text
    problems = _refused(_write(tmp_path, text))
    assert any("was read as a number" in p and "in quotes" in p for p in problems), problems


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("name: *a8")
    problems = _refused(_write(tmp_path, "\n".join(lines)))
    assert problems[0].startswith("(file): ") and "aliases" in problems[0]


def test_deep_nesting_and_non_utf8_and_huge_file(tmp_path):
    deep = "name: " + "[" * 2000 + "]" * 2000
    assert "nested deeper than" in _refused(_write(tmp_path, deep))[0]
    assert "not UTF-8" in _refused(_write(tmp_path, b"name: caf\xe9\n"))[0]
    big = "name: x\n" + "# padding\n" * 200_000
    assert "bytes; at most" in _refused(_write(tmp_path, big))[0]


def test_duplicate_keys_are_refused(tmp_path):
    text = _with(lambda d: None) + "default_tier: gold\n"
    assert any("given twice" in p for p in _refused(_write(tmp_path, text)))


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda d: d["tiers"]["gold"].update(rpo="99999999999999999999d"), "is too long"),
        (
            lambda d: d.setdefault("protect", {}).update(
                vault_lock={"min_retention": "30d", "max_retention": "7d"}
            ),
            "min_retention 30d is above max_retention 1w",
        ),
        (
            lambda d: d["accounts"][0].update(role_arn="arn:aws:s3:::my-bucket"),
            "is not an IAM role ARN",
        ),
        (
            lambda d: d.setdefault("protect", {}).update(
                break_glass_roles=["arn:aws:iam::111111111111:user/alice"]
            ),
            "is not an IAM role ARN",
        ),
        (lambda d: d["tiers"].update({"  ": d["tiers"]["gold"]}), "tier name"),
        (lambda d: d["tiers"].update({"": d["tiers"]["gold"]}), "tier name"),
        (lambda d: d.update(ledger=""), "ledger"),
        (lambda d: d.update(ledger="   "), "ledger"),
    ],
)
def test_careless_values_are_refused(tmp_path, mutate, expected):
    problems = _refused(_write(tmp_path, _with(mutate)))
    assert any(expected in p for p in problems), problems


def test_cli_prints_a_line_not_a_traceback(tmp_path):
    f = _write(tmp_path, "name: " + "[" * 2000)
    r = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "params", "check", str(f)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr) < 2000


# --------------------------------------------------------------------------- fuzzing

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(d, prefix=()):
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(SANDBOX) if p]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), _values), min_size=1, max_size=3))
def test_fuzzed_params_are_valid_or_refused_with_lines(changes):
    d = copy.deepcopy(SANDBOX)
    for path, value in changes:
        target = d
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        validate_params(d, "fuzz.yaml")
    except ParamsError as err:
        assert err.problems and all("\n" not in p and len(p) <= 400 for p in err.problems)


NOTEBOOKS = {p.stem: arguments.declaration_of(p) for p in list_notebooks(ROOT / "notebooks")}
NAMES = sorted({d.name for decl in NOTEBOOKS.values() for d in decl} | {"servces", "aprove"})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(NOTEBOOKS)),
    st.dictionaries(
        st.sampled_from(NAMES), _values | st.sampled_from(["false", "0", "no"]), max_size=4
    ),
)
def test_fuzzed_notebook_overrides_are_valid_or_refused_with_lines(notebook, values):
    declared = NOTEBOOKS[notebook]
    try:
        args = arguments.validate(declared, values)
    except ParamsError as err:
        assert err.problems and all("\n" not in p and len(p) <= 400 for p in err.problems)
        return
    got = arguments.as_dict(args)
    assert set(values) <= {d.name for d in declared}  # an unknown name is never accepted
    for d in declared:
        kind = arguments.TYPES[d.name][0]
        assert isinstance(got[d.name], kind), (d.name, got[d.name])
    if "approve" in values:
        assert got["approve"] is (str(values["approve"]).strip().lower() == "true")
