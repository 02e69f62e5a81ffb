"""S3 MFA delete on the sandbox (runbook_sandbox.s3_ext), through boto3 only:
PutBucketVersioning stores ``MFADelete`` only with an ``x-amz-mfa`` header (boto3's ``MFA``),
and GetBucketVersioning returns it.

Every test runs twice: in-process under ``mock_aws`` and against a ThreadedMotoServer.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from runbook_sandbox import s3_ext

REGION = "sa-east-1"
DEVICE = "arn:aws:iam::123456789012:mfa/root-account-mfa-device"
ENABLED = {"Status": "Enabled", "MFADelete": "Enabled"}


@pytest.fixture
def s3(backup_sandbox: Any) -> Any:
    s3_ext.install()
    client = backup_sandbox.client("s3", REGION)
    if backup_sandbox.endpoint_url:
        client = boto3.client(
            "s3", region_name=REGION, endpoint_url=backup_sandbox.endpoint_url,
            config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip
    return client


def _bucket(s3: Any, name: str) -> str:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def _versioning(s3: Any, name: str) -> dict:
    got = s3.get_bucket_versioning(Bucket=name)
    return {k: v for k, v in got.items() if k != "ResponseMetadata"}


def _refused(err: pytest.ExceptionInfo) -> tuple[int, str, str]:
    r = err.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def test_without_the_mfa_header_nothing_changes(s3: Any) -> None:
    name = _bucket(s3, "mfa.no-header-1")
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=ENABLED)
    assert _refused(err) == (
        403,
        "AccessDenied",
        "Mfa Authentication must be used for this request",
    )
    assert _versioning(s3, name) == {}  # versioning was not turned on either


def test_with_the_mfa_header_it_is_stored_and_returned(s3: Any) -> None:
    name = _bucket(s3, "mfa.kept-2")
    assert "MFADelete" not in _versioning(s3, name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=ENABLED, MFA=f"{DEVICE} 004211")
    assert _versioning(s3, name) == {"Status": "Enabled", "MFADelete": "Enabled"}
    # from now on, any change of the versioning state needs the header
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert _refused(err)[:2] == (403, "AccessDenied")
    assert _versioning(s3, name)["Status"] == "Enabled"
    s3.put_bucket_versioning(
        Bucket=name,
        VersioningConfiguration={"Status": "Suspended", "MFADelete": "Disabled"},
        MFA="20899872 301749",  # a hardware device's serial number
    )
    assert _versioning(s3, name) == {"Status": "Suspended", "MFADelete": "Disabled"}
    # once configured, MFADelete stays in the answer; off, the header is no longer needed
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert _versioning(s3, name) == {"Status": "Enabled", "MFADelete": "Disabled"}


def test_versioning_without_mfa_delete_is_unchanged(s3: Any) -> None:
    name = _bucket(s3, "plain-versioned_3")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert _versioning(s3, name) == {"Status": "Enabled"}


@pytest.mark.parametrize("header", ["123456", f"{DEVICE} 12345", f"{DEVICE}  123456x"])
def test_a_malformed_mfa_header_is_refused(s3: Any, header: str) -> None:
    name = _bucket(s3, "mfa.bad-header-4")
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=ENABLED, MFA=header)
    status, code, message = _refused(err)
    assert (status, code) == (403, "AccessDenied") and "6-digit code" in message
    assert _versioning(s3, name) == {}


def test_not_on_a_bucket_with_lifecycle_rules(s3: Any) -> None:
    name = _bucket(s3, "mfa.lifecycle-5")
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                       "Expiration": {"Days": 3}}]
        },
    )  # fmt: skip
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=ENABLED, MFA=f"{DEVICE} 111111"
        )
    status, code, message = _refused(err)
    assert (status, code) == (400, "InvalidBucketState") and "lifecycle configuration" in message
    assert "MFADelete" not in _versioning(s3, name)


def test_saved_and_loaded_with_the_sandbox(backup_sandbox: Any, s3: Any, tmp_path) -> None:
    """MFA delete lives on moto's bucket object, so a saved sandbox state keeps it."""
    from runbook_sandbox import state

    name = _bucket(s3, "mfa.saved-6")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=ENABLED, MFA=f"{DEVICE} 000000")
    state.save(tmp_path / "sandbox.state", endpoint_url=backup_sandbox.endpoint_url)
    s3.delete_bucket(Bucket=name)
    state.load(tmp_path / "sandbox.state", endpoint_url=backup_sandbox.endpoint_url)
    assert _versioning(s3, name) == {"Status": "Enabled", "MFADelete": "Enabled"}


def test_deleting_a_version_needs_the_mfa_header(s3: Any) -> None:
    """With MFA delete on, a version is deleted only with the header (DeleteObject and
    DeleteObjects); a delete that names no version (a delete marker) needs none."""
    name = _bucket(s3, "mfa.versions-7")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=ENABLED, MFA=f"{DEVICE} 246810")
    first = s3.put_object(Bucket=name, Key="ledger/a b.csv", Body=b"v1")["VersionId"]
    second = s3.put_object(Bucket=name, Key="ledger/a b.csv", Body=b"v2")["VersionId"]
    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket=name, Key="ledger/a b.csv", VersionId=first)
    assert _refused(err)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as err:
        s3.delete_objects(
            Bucket=name, Delete={"Objects": [{"Key": "ledger/a b.csv", "VersionId": second}]}
        )
    assert _refused(err)[:2] == (403, "AccessDenied")
    versions = s3.list_object_versions(Bucket=name)["Versions"]
    assert {v["VersionId"] for v in versions} == {first, second}  # nothing was deleted
    s3.delete_object(Bucket=name, Key="ledger/a b.csv")  # a delete marker: no header needed
    s3.delete_object(Bucket=name, Key="ledger/a b.csv", VersionId=first, MFA=f"{DEVICE} 135791")
    s3.delete_objects(
        Bucket=name,
        Delete={"Objects": [{"Key": "ledger/a b.csv", "VersionId": second}]},
        MFA=f"{DEVICE} 975310",
    )
    assert "Versions" not in s3.list_object_versions(Bucket=name)


def test_deleting_versions_without_mfa_delete_is_unchanged(s3: Any) -> None:
    name = _bucket(s3, "plain.versions-8")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=name, Key="k", VersionId=version)
    assert "Versions" not in s3.list_object_versions(Bucket=name)
