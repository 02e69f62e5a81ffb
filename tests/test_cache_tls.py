"""In-transit encryption: a cache whose DescribeReplicationGroups / DescribeCacheClusters
answer says ``TransitEncryptionEnabled`` is reached over TLS (redis-py ``ssl=True``, the
certificate checked), proven against a redis-server that speaks only TLS, with a certificate
made here (the sandbox's own servers speak plain TCP)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import time

import pytest

from runbook_lib.services.elasticache import data
from runbook_sandbox.engines import common
from runbook_sandbox.engines import redis as redis_engine

with pytest.MonkeyPatch.context() as _mp:
    _mp.setenv(common.SWITCH, "on")
    _MISSING = redis_engine.missing_reason()


class Session:
    def __init__(self, sandbox: bool) -> None:
        self.sandbox = sandbox


GROUP = {
    "ReplicationGroupId": "tls-cache-x",
    "Engine": "valkey",
    "TransitEncryptionEnabled": True,
    "NodeGroups": [{"PrimaryEndpoint": {"Address": "127.0.0.1", "Port": 6380}}],
}
NODE = {
    "CacheClusterId": "solo-tls",
    "Engine": "redis",
    "TransitEncryptionEnabled": True,
    "CacheNodes": [{"Endpoint": {"Address": "master.solo.cache.amazonaws.com", "Port": 6379}}],
}


def test_logins_use_tls_where_the_api_says_transit_encryption_is_on():
    aws = Session(False)
    assert data.scratch_login(aws, GROUP, None).ssl
    assert data.source_login(aws, "210987654321", "ap-south-2", NODE, {}, "db-secret").ssl
    assert not data.scratch_login(aws, {**GROUP, "TransitEncryptionEnabled": False}, None).ssl
    # the sandbox's servers speak plain TCP whatever the API says
    assert not data.scratch_login(Session(True), GROUP, None).ssl


def _certificate(folder) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cache test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.mark.skipif(bool(_MISSING), reason=_MISSING or "redis present")
def test_a_tls_only_server_is_read_over_tls_and_refuses_plain_tcp(tmp_path, monkeypatch):
    cert, key = _certificate(tmp_path)
    port = common.free_port()
    argv = [
        redis_engine.binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
        "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this test's CA
        login = data.scratch_login(Session(False), {**GROUP, "NodeGroups": [
            {"PrimaryEndpoint": {"Address": "127.0.0.1", "Port": port}}]}, None)  # fmt: skip
        assert login.ssl
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace")
                if "tls" in out.lower() and ("not" in out.lower() or "unknown" in out.lower()):
                    pytest.skip(f"this redis-server has no TLS: {out.strip()[-200:]}")
                raise AssertionError(f"redis-server exited: {out[-500:]}")
            try:
                with data.connect(login, timeout=2) as cache:
                    cache.client.set("k \N{SNOWMAN}", "v")
                    cache.client.hset("h", mapping={"a": "1"})
                    keys = data.read(cache)
                    assert len(keys) == 2 and keys.path == "per-key"
                    summed = data.read(cache, key_limit=0)
                    assert data.fingerprint(summed, key_limit=0).matches(data.fingerprint(keys))
                break
            except data.NotReachable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        plain = data.Login(host="127.0.0.1", port=port, ssl=False)
        with pytest.raises(data.NotReachable):  # the TLS port does not speak plain TCP
            with data.connect(plain, timeout=2):
                pass
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
        with pytest.raises(data.NotReachable, match="certificate|SSL|ssl"):  # an untrusted cert
            with data.connect(login, timeout=2):
                pass
    finally:
        proc.terminate()
        proc.wait(timeout=10)
