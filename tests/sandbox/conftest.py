"""Fixtures: the sandbox with the AWS Backup extension, in-process and as a server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from runbook_sandbox.backup_ext import clear_faults, install

ACCOUNT = "123456789012"
PRIMARY = "us-east-1"
DR = "us-west-2"


@dataclass
class Sandbox:
    mode: str
    endpoint_url: str | None

    def client(self, service: str, region: str = PRIMARY) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint_url)


@pytest.fixture(scope="session")
def backup_env() -> Iterator[None]:
    """Fake credentials, no default AMIs, and the extension installed."""
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(_ENV)
    install()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": PRIMARY,
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


@pytest.fixture(scope="session")
def backup_server(backup_env: None) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["mock_aws", "server"])
def backup_sandbox(request: pytest.FixtureRequest, backup_env: None) -> Iterator[Sandbox]:
    """The sandbox, once in-process under mock_aws and once as a ThreadedMotoServer."""
    if request.param == "mock_aws":
        from moto import mock_aws

        with mock_aws():
            yield Sandbox("mock_aws", None)
        clear_faults()
        return
    endpoint = request.getfixturevalue("backup_server")
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    yield Sandbox("server", endpoint)
    clear_faults(endpoint_url=endpoint)
