"""Sandbox state: save a sandbox to a file, load it into a fresh one, find the same estate."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from runbook_lib.cli import main as cli_main
from runbook_lib.errors import SandboxError
from runbook_sandbox import clock, state
from runbook_sandbox.server import running_sandbox

REGION, DR = "us-east-1", "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/backup"


def client(url: str, service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def build(url: str) -> str:
    """A small estate on every kind of state the sandbox keeps: items, objects, a KMS
    key, an SSM parameter, a recovery point with data, a fault; and the clock moved."""
    ddb = client(url, "dynamodb")
    arn = ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    for i in range(20):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"o-{i}"}, "n": {"N": str(i)}})
    s3 = client(url, "s3")
    s3.create_bucket(Bucket="assets")
    s3.put_object(Bucket="assets", Key="a/b.txt", Body=b"hello \xe2\x9c\x93")
    key = client(url, "kms").create_key(Description="data")["KeyMetadata"]["KeyId"]
    client(url, "kms").create_alias(AliasName="alias/data", TargetKeyId=key)
    client(url, "ssm").put_parameter(Name="/seeded", Value="yes", Type="String")
    backup = client(url, "backup")
    backup.create_backup_vault(BackupVaultName="main")
    job = backup.start_backup_job(BackupVaultName="main", ResourceArn=arn, IamRoleArn=ROLE)
    backup.describe_backup_job(BackupJobId=job["BackupJobId"])  # completes it
    from runbook_sandbox.backup_ext import set_fault

    set_fault("RESTORE", "FAILED", message="kept across save", times=5, endpoint_url=url)
    clock.advance("2d", endpoint_url=url)
    return job["RecoveryPointArn"]


def snapshot(url: str) -> dict[str, Any]:
    """What the estate looks like through the API."""
    ddb, s3, backup = client(url, "dynamodb"), client(url, "s3"), client(url, "backup")
    items = ddb.scan(TableName="orders")["Items"]
    return {
        "tables": ddb.list_tables()["TableNames"],
        "items": sorted(i["pk"]["S"] for i in items),
        "object": s3.get_object(Bucket="assets", Key="a/b.txt")["Body"].read(),
        "aliases": sorted(a["AliasName"] for a in client(url, "kms").list_aliases()["Aliases"]),
        "param": client(url, "ssm").get_parameter(Name="/seeded")["Parameter"]["Value"],
        "points": [
            (p["RecoveryPointArn"], p["CreationDate"], p["BackupSizeInBytes"])
            for p in backup.list_recovery_points_by_backup_vault(BackupVaultName="main")[
                "RecoveryPoints"
            ]
        ],
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Iterator[tuple[Path, dict[str, Any], str, dt.datetime]]:
    path = tmp_path_factory.mktemp("saved") / "small.state"
    with running_sandbox(None) as url:
        rp = build(url)
        before = snapshot(url)
        info = state.save(path, endpoint_url=url)
        saved_at = clock.now(endpoint_url=url)
    assert info.size == path.stat().st_size and {"dynamodb", "backup", "kms"} <= set(info.services)
    yield path, before, rp, saved_at


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_sandbox(None) as url:
        yield url


@pytest.fixture
def other(server: str) -> str:
    """A sandbox server emptied by moto's reset (its clock stays where it was)."""
    from runbook_sandbox import reset

    reset(server)
    return server


def test_save_then_load_into_a_fresh_server_gives_the_same_estate(saved):
    path, before, rp, saved_at = saved
    with running_sandbox(None) as url:
        assert client(url, "dynamodb").list_tables()["TableNames"] == []
        state.load(path, endpoint_url=url)
        assert snapshot(url) == before
        # the clock resumes at the saved time (the points are not in the future)
        assert clock.now(endpoint_url=url) >= saved_at
        # the recovery point still holds its data: a restore gets the 20 items back
        backup = client(url, "backup")
        from runbook_sandbox.backup_ext import clear_faults

        faults = backup.start_restore_job(
            RecoveryPointArn=rp, IamRoleArn=ROLE, Metadata={"targetTableName": "faulty"}
        )
        got = backup.describe_restore_job(RestoreJobId=faults["RestoreJobId"])
        assert got["Status"] == "FAILED" and got["StatusMessage"] == "kept across save"
        clear_faults(endpoint_url=url)
        job = backup.start_restore_job(
            RecoveryPointArn=rp, IamRoleArn=ROLE, Metadata={"targetTableName": "orders-copy"}
        )
        assert (
            backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])["Status"] == "COMPLETED"
        )
        assert client(url, "dynamodb").scan(TableName="orders-copy")["Count"] == 20
        # and the loaded sandbox goes on working: new writes, a KMS round trip
        kms = client(url, "kms")
        blob = kms.encrypt(KeyId="alias/data", Plaintext=b"x")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_load_replaces_what_the_server_held(saved, other):
    path, before, _, _ = saved
    client(other, "s3").create_bucket(Bucket="not-in-the-file")
    state.load(path, endpoint_url=other)
    names = [b["Name"] for b in client(other, "s3").list_buckets()["Buckets"]]
    assert names == ["assets"]


def test_a_server_starts_from_a_saved_state(saved):
    path, before, _, _ = saved
    with running_sandbox(None, state_file=str(path)) as url:
        assert snapshot(url) == before


def test_cli_save_and_load(tmp_path, saved, other, capsys):
    path, before, _, _ = saved
    state.load(path, endpoint_url=other)
    again = tmp_path / "again.state"
    assert cli_main(["sandbox", "save", str(again), "--url", other]) == 0
    assert f"saved {again}" in capsys.readouterr().out
    from runbook_sandbox import reset

    reset(other)
    assert cli_main(["sandbox", "load", str(again), "--url", other]) == 0
    assert snapshot(other) == before


def test_a_file_that_is_not_a_state_is_refused_before_any_change(tmp_path, saved, other):
    path, _, _, _ = saved
    junk = tmp_path / "junk.state"
    junk.write_bytes(b"PK\x03\x04 not a state")
    foreign = tmp_path / "other-moto.state"
    data = path.read_bytes()
    head = pickle.loads(data[len(state.MAGIC) :])
    rest = data[len(state.MAGIC) + len(pickle.dumps(head, protocol=pickle.HIGHEST_PROTOCOL)) :]
    foreign.write_bytes(state.MAGIC + pickle.dumps({**head, "moto": "4.0.0"}, protocol=5) + rest)
    url = other
    client(url, "s3").create_bucket(Bucket="kept")
    with pytest.raises(SandboxError, match="not a sandbox state file"):
        state.load(junk, endpoint_url=url)
    with pytest.raises(SandboxError, match=r"moto 4\.0\.0.*Save it again"):
        state.load(foreign, endpoint_url=url)
    with pytest.raises(SandboxError, match="cannot read state file"):
        state.load(tmp_path / "missing.state", endpoint_url=url)
    assert [b["Name"] for b in client(url, "s3").list_buckets()["Buckets"]] == ["kept"]
    assert cli_main(["sandbox", "load", str(junk), "--url", "http://127.0.0.1:9"]) == 2


# ------------------------------------------------------------ the demo estate


def test_the_seeded_estate_round_trips(shared_sandbox_url, tmp_path):
    """Save the seeded demo estate, load it into a fresh server: the same inventory."""
    from runbook_lib.inventory import discover
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession

    params = load_params("sandbox")
    path = tmp_path / "estate.state"
    saved_at = dt.datetime.fromisoformat(state.save(path, endpoint_url=shared_sandbox_url).saved_at)

    def inventory(url: str, as_of: dt.datetime):
        inv = discover(AwsSession(params, endpoint_url=url), as_of=as_of, progress=False)
        cols = ["account", "region", "service", "arn", "name", "tier", "encrypted", "size_bytes"]
        cols = [c for c in cols if c in inv.resources.columns]
        res = inv.resources[cols].sort_values("arn").reset_index(drop=True)
        pts = inv.recovery_points[["resource_arn", "source", "arn", "created"]]
        return res, pts.sort_values(["resource_arn", "source", "arn"]).reset_index(drop=True)

    as_of = clock.now(endpoint_url=shared_sandbox_url)
    with running_sandbox(None, state_file=str(path)) as url:
        loaded = inventory(url, as_of)
    original = inventory(shared_sandbox_url, as_of)
    assert len(original[0]) >= 20
    assert loaded[0].equals(original[0])
    # moto reports RDS LatestRestorableTime as the time of the describe: those points are
    # "now" in both; every point made before the save is the same point, same time
    old, new = original[1], loaded[1]
    assert old.drop(columns="created").equals(new.drop(columns="created"))
    kept = old.created < saved_at
    assert kept.sum() >= 5 and old[kept].equals(new[kept])
