"""Logically air-gapped vaults in the sandbox's AWS Backup extension, through boto3 only:
CreateLogicallyAirGappedBackupVault, VaultType / VaultState in DescribeBackupVault and
ListBackupVaults (ByVaultType), and copies into an air-gapped vault (StartCopyJob and a
plan rule's copy action) kept within the vault's retention range.

Every test runs twice: in-process under ``mock_aws`` and against a ThreadedMotoServer.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from runbook_sandbox.backup_ext import run_plan_now

Sandbox = Any  # conftest.Sandbox
ACCOUNT = "123456789012"
SRC, GAP = "eu-west-3", "ap-south-1"  # the workload's Region, the air-gapped vault's
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lag-copier_7"
LAG = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"


def _error(err: pytest.ExceptionInfo) -> tuple[str, str]:
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def _lag(sb: Sandbox, name: str = "gap_Vault-1", **kw: Any) -> dict:
    kw = {"MinRetentionDays": 7, "MaxRetentionDays": 45, **kw}
    return sb.client("backup", GAP).create_logically_air_gapped_backup_vault(
        BackupVaultName=name, **kw
    )


def _table(sb: Sandbox, name: str, n: int) -> str:
    ddb = sb.client("dynamodb", SRC)
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "keep in", "Value": "gap vault"}],
    )["TableDescription"]["TableArn"]
    for i in range(n):
        ddb.put_item(TableName=name, Item={"id": {"S": f"row #{i}"}})
    return arn


def _backed_up(sb: Sandbox, table: str) -> str:
    """A completed recovery point of ``table`` in the ordinary vault ``src.vault-9``."""
    bk = sb.client("backup", SRC)
    bk.create_backup_vault(BackupVaultName="src.vault-9")
    job = bk.start_backup_job(
        BackupVaultName="src.vault-9", ResourceArn=_table(sb, table, 4), IamRoleArn=ROLE
    )
    assert bk.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    return job["RecoveryPointArn"]


def test_create_and_describe(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    made = _lag(sb, BackupVaultTags={"team": "dr:9"}, CreatorRequestId="req-1")
    assert made["VaultState"] == "CREATING"
    assert made["BackupVaultArn"] == f"arn:aws:backup:{GAP}:{ACCOUNT}:backup-vault:gap_Vault-1"
    bk = sb.client("backup", GAP)
    got = bk.describe_backup_vault(BackupVaultName="gap_Vault-1")
    assert (got["VaultType"], got["VaultState"]) == (LAG, "AVAILABLE")
    assert (got["Locked"], got["MinRetentionDays"], got["MaxRetentionDays"]) == (True, 7, 45)
    assert got["EncryptionKeyType"] == "AWS_OWNED_KMS_KEY" and "EncryptionKeyArn" not in got
    assert got["NumberOfRecoveryPoints"] == 0 and got["CreatorRequestId"] == "req-1"
    assert bk.list_tags(ResourceArn=made["BackupVaultArn"])["Tags"] == {"team": "dr:9"}
    # the lock is in compliance mode from the start: it can be neither changed nor removed
    with pytest.raises(ClientError) as err:
        bk.put_backup_vault_lock_configuration(BackupVaultName="gap_Vault-1", MinRetentionDays=1)
    assert _error(err)[0] == "InvalidRequestException"
    with pytest.raises(ClientError) as err:
        bk.delete_backup_vault_lock_configuration(BackupVaultName="gap_Vault-1")
    assert _error(err)[0] == "InvalidRequestException"


def test_customer_managed_key(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    key = sb.client("kms", GAP).create_key(Description="gap key")["KeyMetadata"]["Arn"]
    _lag(sb, "gap-cmk", EncryptionKeyArn=key)
    got = sb.client("backup", GAP).describe_backup_vault(BackupVaultName="gap-cmk")
    assert (got["EncryptionKeyType"], got["EncryptionKeyArn"]) == ("CUSTOMER_MANAGED_KMS_KEY", key)


@pytest.mark.parametrize(
    "name, kw, code, says",
    [
        ("gap-low", {"MinRetentionDays": 6}, "InvalidParameterValueException", "MinRetentionDays 6"),
        ("gap-high", {"MaxRetentionDays": 36501}, "InvalidParameterValueException",
         "MaxRetentionDays 36501"),
        ("gap-crossed", {"MinRetentionDays": 50, "MaxRetentionDays": 40},
         "InvalidParameterValueException", "MinRetentionDays 50 cannot be greater"),
        ("gap.dotted", {}, "InvalidParameterValueException", "BackupVaultName 'gap.dotted'"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(backup_sandbox: Sandbox, name, kw, code, says) -> None:
    with pytest.raises(ClientError) as err:
        _lag(backup_sandbox, name, **kw)
    got_code, message = _error(err)
    assert got_code == code and says in message, message
    with pytest.raises(ClientError):  # nothing was made
        backup_sandbox.client("backup", GAP).describe_backup_vault(BackupVaultName=name)


def test_name_shared_with_an_ordinary_vault(backup_sandbox: Sandbox) -> None:
    backup_sandbox.client("backup", GAP).create_backup_vault(BackupVaultName="same-name")
    with pytest.raises(ClientError) as err:
        _lag(backup_sandbox, "same-name")
    assert _error(err)[0] == "AlreadyExistsException"


def test_list_by_vault_type(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup", GAP)
    bk.create_backup_vault(BackupVaultName="plain_2")
    _lag(sb, "gap-3")

    def listed(**kw: Any) -> dict[str, tuple[str, str]]:
        pages = bk.get_paginator("list_backup_vaults").paginate(**kw)
        return {
            v["BackupVaultName"]: (v["VaultType"], v["VaultState"])
            for page in pages
            for v in page["BackupVaultList"]
        }

    assert listed() == {"plain_2": ("BACKUP_VAULT", "AVAILABLE"), "gap-3": (LAG, "AVAILABLE")}
    assert listed(ByVaultType=LAG) == {"gap-3": (LAG, "AVAILABLE")}
    assert listed(ByVaultType="BACKUP_VAULT") == {"plain_2": ("BACKUP_VAULT", "AVAILABLE")}
    assert listed(ByShared=True) == {}
    assert list(listed(PaginationConfig={"PageSize": 1})) == ["plain_2", "gap-3"]
    assert bk.describe_backup_vault(BackupVaultName="plain_2")["VaultType"] == "BACKUP_VAULT"
    with pytest.raises(ClientError) as err:
        bk.list_backup_vaults(ByVaultType="COLD_VAULT")
    assert _error(err)[0] == "InvalidParameterValueException" and "ByVaultType" in _error(err)[1]


def test_copy_into_the_air_gapped_vault(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    vault_arn = _lag(sb)["BackupVaultArn"]
    rp = _backed_up(sb, "ledger rows")
    bk_src, bk_gap = sb.client("backup", SRC), sb.client("backup", GAP)
    job = bk_src.start_copy_job(
        RecoveryPointArn=rp, SourceBackupVaultName="src.vault-9",
        DestinationBackupVaultArn=vault_arn, IamRoleArn=ROLE, Lifecycle={"DeleteAfterDays": 20},
    )  # fmt: skip
    copy = bk_src.describe_copy_job(CopyJobId=job["CopyJobId"])["CopyJob"]
    assert copy["State"] == "COMPLETED", copy
    (point,) = bk_gap.list_recovery_points_by_backup_vault(BackupVaultName="gap_Vault-1")[
        "RecoveryPoints"
    ]
    assert point["RecoveryPointArn"] == copy["DestinationRecoveryPointArn"]
    assert (point["VaultType"], point["EncryptionKeyType"]) == (LAG, "AWS_OWNED_KMS_KEY")
    assert point["IsEncrypted"] is True and point["SourceBackupVaultArn"].endswith("src.vault-9")
    assert point["Lifecycle"] == {"DeleteAfterDays": 20}
    assert (
        bk_gap.describe_backup_vault(BackupVaultName="gap_Vault-1")["NumberOfRecoveryPoints"] == 1
    )
    # the source's recovery point stays in an ordinary vault
    src_point = bk_src.describe_recovery_point(BackupVaultName="src.vault-9", RecoveryPointArn=rp)
    assert src_point["VaultType"] == "BACKUP_VAULT"
    # the copy holds the data: a restore from the air-gapped vault brings the rows back
    restore = bk_gap.start_restore_job(
        RecoveryPointArn=point["RecoveryPointArn"], IamRoleArn=ROLE,
        Metadata={"targetTableName": "ledger rows back"},
    )  # fmt: skip
    assert (
        bk_gap.describe_restore_job(RestoreJobId=restore["RestoreJobId"])["Status"] == "COMPLETED"
    )
    assert sb.client("dynamodb", GAP).scan(TableName="ledger rows back")["Count"] == 4


@pytest.mark.parametrize("lifecycle, says", [
    (None, "Lifecycle.DeleteAfterDays is required"),
    ({"DeleteAfterDays": 46}, "DeleteAfterDays 46 is outside the retention range"),
    ({"DeleteAfterDays": 6}, "DeleteAfterDays 6"),
])  # fmt: skip
def test_copy_outside_the_retention_range_is_refused(backup_sandbox, lifecycle, says) -> None:
    sb = backup_sandbox
    vault_arn = _lag(sb)["BackupVaultArn"]
    rp = _backed_up(sb, "tbl-range")
    args = {"Lifecycle": lifecycle} if lifecycle else {}
    with pytest.raises(ClientError) as err:
        sb.client("backup", SRC).start_copy_job(
            RecoveryPointArn=rp, SourceBackupVaultName="src.vault-9",
            DestinationBackupVaultArn=vault_arn, IamRoleArn=ROLE, **args,
        )  # fmt: skip
    code, message = _error(err)
    assert code == "InvalidParameterValueException" and says in message, message
    listed = sb.client("backup", GAP).list_recovery_points_by_backup_vault(
        BackupVaultName="gap_Vault-1"
    )
    assert listed["RecoveryPoints"] == []


def test_plan_copy_actions_into_the_air_gapped_vault(backup_sandbox: Sandbox) -> None:
    """A plan rule with two copy actions: one within the vault's range completes, one
    beyond its maximum fails with the reason, as AWS lists a failed copy job."""
    sb = backup_sandbox
    vault_arn = _lag(sb)["BackupVaultArn"]
    table = _table(sb, "plan-rows", 2)
    bk = sb.client("backup", SRC)
    bk.create_backup_vault(BackupVaultName="src.vault-9")
    plan_id = bk.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "gap plan",
            "Rules": [{
                "RuleName": "nightly", "TargetBackupVaultName": "src.vault-9",
                "Lifecycle": {"DeleteAfterDays": 9},
                "CopyActions": [
                    {"DestinationBackupVaultArn": vault_arn, "Lifecycle": {"DeleteAfterDays": 30}},
                    {"DestinationBackupVaultArn": vault_arn, "Lifecycle": {"DeleteAfterDays": 400}},
                ],
            }],
        }
    )["BackupPlanId"]  # fmt: skip
    bk.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={"SelectionName": "one", "IamRoleArn": ROLE, "Resources": [table]},
    )
    (job_id,) = run_plan_now(plan_id, region=SRC, endpoint_url=sb.endpoint_url)
    assert bk.describe_backup_job(BackupJobId=job_id)["State"] == "COMPLETED"
    jobs = bk.list_copy_jobs(ByDestinationVaultArn=vault_arn)["CopyJobs"]
    assert sorted(j["State"] for j in jobs) == ["COMPLETED", "FAILED"]
    failed = next(j for j in jobs if j["State"] == "FAILED")
    assert "DeleteAfterDays 400 is outside the retention range" in failed["StatusMessage"]
    points = sb.client("backup", GAP).list_recovery_points_by_backup_vault(
        BackupVaultName="gap_Vault-1"
    )["RecoveryPoints"]
    assert [p["Lifecycle"]["DeleteAfterDays"] for p in points] == [30]
