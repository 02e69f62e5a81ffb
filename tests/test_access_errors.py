"""On AWS, missing or unusable credentials are said before any work, with what to do
(the inventory used to end in an AttributeError)."""

from __future__ import annotations

import pytest

from runbook_lib.context import start
from runbook_lib.errors import AccessError
from runbook_lib.params import validate_params

SSO_CONFIG = """
[profile sso-test]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = ReadOnly
region = eu-west-1

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
"""


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(key, raising=False)
    config = tmp_path / "config"
    config.write_text(SSO_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return tmp_path


def _params(tmp_path, **target):
    return validate_params(
        {
            "name": "aws",
            "target": {"kind": "aws", **target},
            "accounts": [{"id": "123456789012", "name": "one"}],
            "regions": ["eu-west-1"],
            "default_tier": "bronze",
            "tiers": {
                "bronze": {"rpo": "7d", "rto": "2d", "retention": "7d", "restore_test_every": "90d"}
            },
            "ledger": str(tmp_path / "ledger"),
        },
        source=str(tmp_path / "aws.yaml"),
    )


def _start(monkeypatch, params):
    monkeypatch.setattr("runbook_lib.context.load_params", lambda _: params)
    return start("aws", setup_display=False)


def test_no_credentials_says_how_to_provide_them(no_credentials, monkeypatch):
    with pytest.raises(AccessError, match="no AWS credentials found: set target.profile"):
        _start(monkeypatch, _params(no_credentials))


def test_sso_profile_without_sign_in_says_aws_sso_login(no_credentials, monkeypatch):
    with pytest.raises(AccessError, match=r"run `aws sso login --profile sso-test`"):
        _start(monkeypatch, _params(no_credentials, profile="sso-test"))


def test_unknown_profile_lists_the_known_ones(no_credentials, monkeypatch):
    with pytest.raises(AccessError, match=r"target.profile: profile 'nope' .* allowed: sso-test"):
        _start(monkeypatch, _params(no_credentials, profile="nope"))
