"""Parameter files: the shipped ones load; bad ones give one clear line per problem."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from runbook_lib.errors import ParamsError
from runbook_lib.params import (
    format_duration,
    load_params,
    params_dir,
    parse_duration,
    validate_params,
)


def sandbox_dict() -> dict:
    return yaml.safe_load((params_dir() / "sandbox.yaml").read_text())


@pytest.mark.parametrize("name", ["sandbox", "example-production"])
def test_shipped_params_load(name):
    p = load_params(name)
    assert p.name == name
    assert p.default_tier in p.tiers
    assert all(t.rpo <= t.retention for t in p.tiers.values())


def test_sandbox_params_shape():
    p = load_params("sandbox")
    assert p.target.kind == "sandbox"
    assert p.backup_account == "333333333333"
    assert p.workload_accounts == ["111111111111", "222222222222"]
    assert p.tiers["gold"].rpo == timedelta(hours=1)
    assert p.resolve_path(p.ledger).endswith("runs/ledger")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("35d", timedelta(days=35)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_duration_round_trip(text, expected):
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["15 minutes", "4", "h", "-1h", "0m", "1.5h", 15, None])
def test_duration_rejects(bad):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


def _problems(data: dict) -> list[str]:
    with pytest.raises(ParamsError) as info:
        validate_params(data, "bad.yaml")
    return info.value.problems


def test_many_problems_reported_at_once_with_field_paths():
    d = sandbox_dict()
    d["regions"] = ["eu-west-1", "eu-westt-1"]
    d["tiers"]["gold"]["rpo"] = "an hour"
    d["accounts"][1]["id"] = "2222"
    d["target"]["kind"] = "gcp"
    d["tiers"]["silver"]["retnetion"] = "14d"
    problems = _problems(d)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert "regions[1]: 'eu-westt-1' is not an AWS Region name" in text
    assert "tiers.gold.rpo: 'an hour' is not a duration; use a whole number and a unit" in text
    assert "accounts[1].id: '2222' is not an AWS account id; use 12 digits" in text
    assert "target.kind: Input should be 'sandbox' or 'aws'" in text
    assert "tiers.silver.retnetion: unknown field 'retnetion'; allowed here:" in text
    assert "retention" in text.split("retnetion")[-1]


def test_cross_field_problems():
    d = sandbox_dict()
    d["default_tier"] = "platinum"
    d["tiers"]["gold"]["copy_account"] = "999999999999"
    d["accounts"].append(dict(d["accounts"][0]))
    text = "\n".join(_problems(d))
    assert "default_tier: 'platinum' is not a tier; allowed: ['bronze', 'gold', 'silver']" in text
    assert "tiers.gold.copy_account: '999999999999' is not one of accounts[].id" in text
    assert "accounts: account ids listed twice: ['111111111111']" in text


def test_missing_required_and_bad_arn():
    d = sandbox_dict()
    del d["regions"]
    d["accounts"][0]["role_arn"] = "role/backup"
    text = "\n".join(_problems(d))
    assert "regions: required field is missing" in text
    assert "accounts[0].role_arn: 'role/backup' is not an IAM role ARN" in text


def test_aws_target_needs_a_role_for_many_accounts():
    d = sandbox_dict()
    d["target"] = {"kind": "aws", "profile": "x"}
    assert any(p.startswith("target.role_name: required") for p in _problems(d))


def test_unknown_params_name_lists_the_available_ones():
    with pytest.raises(ParamsError, match="one of .*sandbox"):
        load_params("no-such-estate")


def test_invalid_yaml_names_the_line(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: x\nregions: [eu-west-1\n")
    with pytest.raises(ParamsError, match=r"not valid YAML at line \d+"):
        load_params(f)


def test_cli_check_prints_problems_without_traceback(tmp_path):
    d = sandbox_dict()
    d["tiers"]["gold"]["rto"] = "soon"
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    r = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "params", "check", str(f)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "tiers.gold.rto: 'soon' is not a duration" in r.stderr
    assert "Traceback" not in r.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "params", "check", "sandbox"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout
