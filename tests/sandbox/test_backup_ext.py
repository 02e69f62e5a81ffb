"""AWS Backup extension of the sandbox, exercised through boto3 only.

Every test runs twice: in-process under ``mock_aws`` and against a ThreadedMotoServer.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runbook_sandbox.backup_ext import (
    damage_recovery_point,
    run_plan_now,
    set_fault,
    set_job_seconds,
)

ACCOUNT, PRIMARY, DR = "123456789012", "us-east-1", "us-west-2"
Sandbox = Any  # conftest.Sandbox: .mode, .endpoint_url, .client(service, region)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"


# ------------------------------------------------------------------ helpers


def make_vault(sb: Sandbox, region: str, name: str) -> tuple[str, str]:
    """A vault encrypted with a new customer-managed key; returns (vault ARN, key ARN)."""
    key = sb.client("kms", region).create_key(Description=f"{name} key")["KeyMetadata"]["Arn"]
    arn = sb.client("backup", region).create_backup_vault(
        BackupVaultName=name, EncryptionKeyArn=key
    )["BackupVaultArn"]
    return arn, key


def make_table(sb: Sandbox, name: str, n: int, region: str = PRIMARY) -> str:
    ddb = sb.client("dynamodb", region)
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "backup-tier", "Value": "gold"}],
    )["TableDescription"]["TableArn"]
    for i in range(n):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"item-{i}"}, "v": {"N": str(i)}})
    return arn


def scan(sb: Sandbox, name: str, region: str = PRIMARY) -> dict[str, dict[str, Any]]:
    items = sb.client("dynamodb", region).scan(TableName=name)["Items"]
    return {item["pk"]["S"]: item for item in items}


def make_bucket(sb: Sandbox, name: str, objects: dict[str, bytes]) -> str:
    s3 = sb.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": "backup-tier", "Value": "gold"}]}
    )
    for key, body in objects.items():
        s3.put_object(Bucket=name, Key=key, Body=body, Metadata={"origin": key})
    return f"arn:aws:s3:::{name}"


def bucket_contents(sb: Sandbox, name: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    s3 = sb.client("s3")
    out = {}
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        got = s3.get_object(Bucket=name, Key=obj["Key"])
        out[obj["Key"]] = (got["Body"].read(), got["Metadata"])
    return out


def backup(sb: Sandbox, vault: str, arn: str, region: str = PRIMARY, **kw: Any) -> dict[str, Any]:
    c = sb.client("backup", region)
    job_id = c.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE, **kw)[
        "BackupJobId"
    ]
    return c.describe_backup_job(BackupJobId=job_id)


def restore(sb: Sandbox, rp_arn: str, metadata: dict[str, str], region: str = PRIMARY) -> dict:
    c = sb.client("backup", region)
    job_id = c.start_restore_job(RecoveryPointArn=rp_arn, Metadata=metadata, IamRoleArn=ROLE)[
        "RestoreJobId"
    ]
    return c.describe_restore_job(RestoreJobId=job_id)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


# ------------------------------------------------------------ end to end


def test_backup_copy_to_dr_and_restore_gives_data_at_backup_time(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk, bk_dr = sb.client("backup"), sb.client("backup", DR)
    vault_arn, key = make_vault(sb, PRIMARY, "primary")
    dr_vault_arn, dr_key = make_vault(sb, DR, "dr")
    table_arn = make_table(sb, "orders", 5)
    bucket_arn = make_bucket(sb, "orders-docs", {"a.txt": b"alpha", "b/c.json": b'{"c": 1}'})
    before = scan(sb, "orders")

    plan_id = bk.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "gold",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "primary",
                    "Lifecycle": {"DeleteAfterDays": 35},
                    "CopyActions": [{"DestinationBackupVaultArn": dr_vault_arn}],
                }
            ],
        }
    )["BackupPlanId"]
    sel = bk.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={
            "SelectionName": "gold-tier",
            "IamRoleArn": ROLE,
            "ListOfTags": [
                {
                    "ConditionType": "STRINGEQUALS",
                    "ConditionKey": "backup-tier",
                    "ConditionValue": "gold",
                }
            ],
        },
    )
    got = bk.get_backup_selection(BackupPlanId=plan_id, SelectionId=sel["SelectionId"])
    assert got["BackupSelection"]["ListOfTags"][0]["ConditionValue"] == "gold"
    listed = bk.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert [s["SelectionName"] for s in listed] == ["gold-tier"]

    job = backup(sb, "primary", table_arn, Lifecycle={"DeleteAfterDays": 35})
    s3_job = backup(sb, "primary", bucket_arn)
    assert (job["State"], s3_job["State"]) == ("COMPLETED", "COMPLETED")
    assert job["PercentDone"] == "100.0" and job["CompletionDate"] >= job["CreationDate"]
    assert job["ResourceType"] == "DynamoDB" and s3_job["ResourceType"] == "S3"
    assert s3_job["BackupSizeInBytes"] == len(b"alpha") + len(b'{"c": 1}')

    # data written after the backup must not come back
    sb.client("dynamodb").put_item(TableName="orders", Item={"pk": {"S": "late"}, "v": {"N": "9"}})
    sb.client("s3").put_object(Bucket="orders-docs", Key="late.txt", Body=b"late")

    points = bk.list_recovery_points_by_backup_vault(BackupVaultName="primary")["RecoveryPoints"]
    assert sorted(p["ResourceType"] for p in points) == ["DynamoDB", "S3"]
    rp = bk.describe_recovery_point(
        BackupVaultName="primary", RecoveryPointArn=job["RecoveryPointArn"]
    )
    assert rp["ResourceArn"] == table_arn and rp["Status"] == "COMPLETED"
    assert rp["EncryptionKeyArn"] == key and rp["IsEncrypted"] is True
    assert rp["BackupVaultArn"] == vault_arn and rp["Lifecycle"] == {"DeleteAfterDays": 35}
    assert (rp["CalculatedLifecycle"]["DeleteAt"] - rp["CreationDate"]).days == 35
    assert rp["RecoveryPointArn"].startswith(f"arn:aws:backup:{PRIMARY}:{ACCOUNT}:recovery-point:")
    assert bk.describe_backup_vault(BackupVaultName="primary")["NumberOfRecoveryPoints"] == 2

    copies = {}
    for src in (job, s3_job):
        copy_id = bk.start_copy_job(
            RecoveryPointArn=src["RecoveryPointArn"],
            SourceBackupVaultName="primary",
            DestinationBackupVaultArn=dr_vault_arn,
            IamRoleArn=ROLE,
        )["CopyJobId"]
        copy = bk.describe_copy_job(CopyJobId=copy_id)["CopyJob"]
        assert copy["State"] == "COMPLETED"
        assert copy["SourceRecoveryPointArn"] == src["RecoveryPointArn"]
        assert copy["DestinationBackupVaultArn"] == dr_vault_arn
        copies[src["ResourceType"]] = copy["DestinationRecoveryPointArn"]
    assert len(bk.list_copy_jobs(ByDestinationVaultArn=dr_vault_arn)["CopyJobs"]) == 2

    dr_rp = bk_dr.describe_recovery_point(BackupVaultName="dr", RecoveryPointArn=copies["DynamoDB"])
    assert dr_rp["EncryptionKeyArn"] == dr_key and dr_rp["SourceBackupVaultArn"] == vault_arn
    assert dr_rp["RecoveryPointArn"].startswith(f"arn:aws:backup:{DR}:")

    done = restore(sb, copies["DynamoDB"], {"targetTableName": "orders-restored"}, DR)
    assert done["Status"] == "COMPLETED"
    assert done["CreatedResourceArn"] == f"arn:aws:dynamodb:{DR}:{ACCOUNT}:table/orders-restored"
    assert scan(sb, "orders-restored", DR) == before
    assert "late" in scan(sb, "orders")  # the source is untouched

    s3_done = restore(
        sb, copies["S3"], {"DestinationBucketName": "orders-docs-restored", "NewBucket": "true"}, DR
    )
    assert s3_done["Status"] == "COMPLETED"
    assert bucket_contents(sb, "orders-docs-restored") == {
        "a.txt": (b"alpha", {"origin": "a.txt"}),
        "b/c.json": (b'{"c": 1}', {"origin": "b/c.json"}),
    }
    assert (
        sb.client("s3").get_bucket_location(Bucket="orders-docs-restored")["LocationConstraint"]
        == DR
    )
    restores = bk_dr.list_restore_jobs(ByStatus="COMPLETED")["RestoreJobs"]
    assert {r["CreatedResourceArn"] for r in restores} == {
        done["CreatedResourceArn"],
        "arn:aws:s3:::orders-docs-restored",
    }


def test_run_plan_now_backs_up_selected_resources_and_copies(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "primary")
    dr_vault_arn, dr_key = make_vault(sb, DR, "dr")
    gold = make_table(sb, "gold-table", 2)
    sb.client("dynamodb").create_table(
        TableName="untagged",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    plan = bk.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "gold",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "primary",
                    "Lifecycle": {"DeleteAfterDays": 14},
                    "CopyActions": [
                        {
                            "DestinationBackupVaultArn": dr_vault_arn,
                            "Lifecycle": {"DeleteAfterDays": 30},
                        }
                    ],
                }
            ],
        }
    )
    bk.create_backup_selection(
        BackupPlanId=plan["BackupPlanId"],
        BackupSelection={
            "SelectionName": "by-condition",
            "IamRoleArn": ROLE,
            "Resources": ["arn:aws:dynamodb:*:*:table/*"],
            "Conditions": {
                "StringEquals": [
                    {"ConditionKey": "aws:ResourceTag/backup-tier", "ConditionValue": "gold"}
                ]
            },
        },
    )
    job_ids = run_plan_now(plan["BackupPlanId"], region=PRIMARY, endpoint_url=sb.endpoint_url)
    assert len(job_ids) == 1
    job = bk.describe_backup_job(BackupJobId=job_ids[0])
    rule_id = bk.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["Rules"][0][
        "RuleId"
    ]
    assert job["ResourceArn"] == gold and job["State"] == "COMPLETED"
    assert job["CreatedBy"]["BackupPlanId"] == plan["BackupPlanId"]
    assert job["CreatedBy"]["BackupRuleId"] == rule_id
    assert job["RecoveryPointLifecycle"] == {"DeleteAfterDays": 14}
    by_plan = bk.list_recovery_points_by_backup_vault(
        BackupVaultName="primary", ByBackupPlanId=plan["BackupPlanId"]
    )["RecoveryPoints"]
    assert [p["ResourceArn"] for p in by_plan] == [gold]
    copies = bk.list_copy_jobs()["CopyJobs"]
    assert [c["State"] for c in copies] == ["COMPLETED"]
    dr_points = sb.client("backup", DR).list_recovery_points_by_backup_vault(BackupVaultName="dr")[
        "RecoveryPoints"
    ]
    assert [(p["EncryptionKeyArn"], p["Lifecycle"]) for p in dr_points] == [
        (dr_key, {"DeleteAfterDays": 30})
    ]
    protected = bk.list_protected_resources()["Results"]
    assert [(r["ResourceArn"], r["ResourceType"]) for r in protected] == [(gold, "DynamoDB")]
    by_res = bk.list_recovery_points_by_resource(ResourceArn=gold)["RecoveryPoints"]
    assert [p["BackupVaultName"] for p in by_res] == ["primary"]


# --------------------------------------------------------------- protection


def test_vault_lock_refuses_early_deletion(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "locked")
    bk.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=7)
    rp_arn = backup(sb, "locked", make_table(sb, "t", 1), Lifecycle={"DeleteAfterDays": 30})[
        "RecoveryPointArn"
    ]
    with pytest.raises(ClientError) as exc:
        bk.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp_arn)
    assert error_code(exc) == "InvalidRequestException"
    assert "MinRetentionDays=7" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # lifecycle shorter than the lock allows
        backup(
            sb,
            "locked",
            "arn:aws:dynamodb:us-east-1:123456789012:table/t",
            Lifecycle={"DeleteAfterDays": 3},
        )
    assert error_code(exc) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        bk.delete_backup_vault(BackupVaultName="locked")
    assert error_code(exc) == "InvalidRequestException"
    assert (
        bk.describe_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp_arn)["Status"]
        == "COMPLETED"
    )


def test_access_policy_deny_refuses_deletion(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "guarded")
    table = make_table(sb, "t", 1)
    kept, freed = (backup(sb, "guarded", table)["RecoveryPointArn"] for _ in range(2))
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                    "Resource": "*",
                }
            ],
        }
    )
    bk.put_backup_vault_access_policy(BackupVaultName="guarded", Policy=doc)
    got = bk.get_backup_vault_access_policy(BackupVaultName="guarded")
    assert json.loads(got["Policy"]) == json.loads(doc) and got["BackupVaultName"] == "guarded"
    with pytest.raises(ClientError) as exc:
        bk.delete_recovery_point(BackupVaultName="guarded", RecoveryPointArn=kept)
    assert error_code(exc) == "AccessDeniedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as exc:
        bk.update_recovery_point_lifecycle(
            BackupVaultName="guarded", RecoveryPointArn=kept, Lifecycle={"DeleteAfterDays": 1}
        )
    assert error_code(exc) == "AccessDeniedException"

    bk.delete_backup_vault_access_policy(BackupVaultName="guarded")
    with pytest.raises(ClientError) as exc:
        bk.get_backup_vault_access_policy(BackupVaultName="guarded")
    assert error_code(exc) == "ResourceNotFoundException"
    bk.delete_recovery_point(BackupVaultName="guarded", RecoveryPointArn=freed)
    left = bk.list_recovery_points_by_backup_vault(BackupVaultName="guarded")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in left] == [kept]
    assert bk.describe_backup_vault(BackupVaultName="guarded")["NumberOfRecoveryPoints"] == 1
    with pytest.raises(ClientError) as exc:
        bk.put_backup_vault_access_policy(BackupVaultName="guarded", Policy="not json")
    assert error_code(exc) == "InvalidParameterValueException"


# -------------------------------------------------------------------- faults


def test_injected_failed_backup_job(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    make_vault(sb, PRIMARY, "v")
    table = make_table(sb, "t", 2)
    set_fault(
        "BACKUP",
        "FAILED",
        resource_arn=table,
        message="Insufficient privileges",
        endpoint_url=sb.endpoint_url,
    )
    failed = backup(sb, "v", table)
    assert failed["State"] == "FAILED" and failed["StatusMessage"] == "Insufficient privileges"
    assert "RecoveryPointArn" not in failed
    bk = sb.client("backup")
    assert bk.list_recovery_points_by_backup_vault(BackupVaultName="v")["RecoveryPoints"] == []
    assert [j["BackupJobId"] for j in bk.list_backup_jobs(ByState="FAILED")["BackupJobs"]] == [
        failed["BackupJobId"]
    ]
    assert backup(sb, "v", table)["State"] == "COMPLETED"  # the fault was used once


def test_injected_expired_and_stuck_jobs(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    make_vault(sb, PRIMARY, "v")
    table = make_table(sb, "t", 1)
    set_fault("BACKUP", "EXPIRED", endpoint_url=sb.endpoint_url)
    expired = backup(sb, "v", table)
    assert expired["State"] == "EXPIRED" and "EXPIRED" in expired["StatusMessage"]
    rp_arn = backup(sb, "v", table)["RecoveryPointArn"]
    set_fault("RESTORE", "RUNNING", message="still restoring", endpoint_url=sb.endpoint_url)
    stuck = restore(sb, rp_arn, {"targetTableName": "t2"})
    assert (stuck["Status"], stuck["StatusMessage"]) == ("RUNNING", "still restoring")
    assert "CompletionDate" not in stuck
    assert sb.client("dynamodb").list_tables()["TableNames"] == ["t"]
    with pytest.raises(ValueError, match="state for COPY jobs must be one of"):
        set_fault("COPY", "EXPIRED", endpoint_url=sb.endpoint_url)
    with pytest.raises(LookupError, match="recovery-point:nope"):
        damage_recovery_point(
            f"arn:aws:backup:{PRIMARY}:{ACCOUNT}:recovery-point:nope",
            drop=1,
            endpoint_url=sb.endpoint_url,
        )


def test_damaged_recovery_point_restores_damaged_data(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    make_vault(sb, PRIMARY, "v")
    table = make_table(sb, "t", 5)
    bucket = make_bucket(sb, "docs", {"1": b"one", "2": b"two", "3": b"three"})
    rp = backup(sb, "v", table)["RecoveryPointArn"]
    s3_rp = backup(sb, "v", bucket)["RecoveryPointArn"]
    assert damage_recovery_point(rp, drop=2, alter=1, endpoint_url=sb.endpoint_url) == {
        "dropped": 2,
        "altered": 1,
    }
    damage_recovery_point(s3_rp, drop=1, alter=1, endpoint_url=sb.endpoint_url)
    restore(sb, rp, {"targetTableName": "t-restored"})
    restored = scan(sb, "t-restored")
    assert sorted(restored) == ["item-2", "item-3", "item-4"]
    assert restored["item-2"]["sandbox-damaged"] == {"S": "altered"}
    assert len(scan(sb, "t")) == 5  # the source is untouched
    restore(sb, s3_rp, {"DestinationBucketName": "docs-restored", "NewBucket": "true"})
    assert bucket_contents(sb, "docs-restored") == {
        "2": (b"two\nsandbox-damaged", {"origin": "2"}),
        "3": (b"three", {"origin": "3"}),
    }


def test_jobs_run_for_the_configured_time(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "v")
    table = make_table(sb, "t", 1)
    set_job_seconds(0.4, endpoint_url=sb.endpoint_url)
    job_id = bk.start_backup_job(BackupVaultName="v", ResourceArn=table, IamRoleArn=ROLE)[
        "BackupJobId"
    ]
    first = bk.describe_backup_job(BackupJobId=job_id)
    assert first["State"] == "RUNNING" and float(first["PercentDone"]) < 100
    assert bk.list_recovery_points_by_backup_vault(BackupVaultName="v")["RecoveryPoints"] == []
    time.sleep(0.45)
    last = bk.describe_backup_job(BackupJobId=job_id)
    assert last["State"] == "COMPLETED" and last["CompletionDate"] > first["CreationDate"]
    with pytest.raises(ClientError) as exc:
        bk.stop_backup_job(BackupJobId=job_id)
    assert error_code(exc) == "InvalidRequestException"
    job_id = bk.start_backup_job(BackupVaultName="v", ResourceArn=table, IamRoleArn=ROLE)[
        "BackupJobId"
    ]
    bk.stop_backup_job(BackupJobId=job_id)
    assert bk.describe_backup_job(BackupJobId=job_id)["State"] == "ABORTED"


# ------------------------------------------------------------------- errors


def test_errors_name_the_missing_thing(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "v")
    table = make_table(sb, "t", 1)
    cases = [
        (
            lambda: bk.start_backup_job(BackupVaultName="nope", ResourceArn=table, IamRoleArn=ROLE),
            "ResourceNotFoundException",
            "nope",
        ),
        (lambda: bk.describe_backup_job(BackupJobId="JOB-1"), "ResourceNotFoundException", "JOB-1"),
        (lambda: bk.describe_copy_job(CopyJobId="JOB-2"), "ResourceNotFoundException", "JOB-2"),
        (
            lambda: bk.describe_restore_job(RestoreJobId="JOB-3"),
            "ResourceNotFoundException",
            "JOB-3",
        ),
        (
            lambda: bk.describe_recovery_point(
                BackupVaultName="v",
                RecoveryPointArn=f"arn:aws:backup:{PRIMARY}:{ACCOUNT}:recovery-point:x",
            ),
            "ResourceNotFoundException",
            "recovery-point:x",
        ),
        (
            lambda: bk.get_backup_selection(BackupPlanId="p", SelectionId="s"),
            "ResourceNotFoundException",
            "p",
        ),
        (
            lambda: bk.start_backup_job(
                BackupVaultName="v", ResourceArn="not-an-arn", IamRoleArn=ROLE
            ),
            "InvalidParameterValueException",
            "not-an-arn",
        ),
        (
            lambda: bk.start_backup_job(
                BackupVaultName="v",
                ResourceArn=f"arn:aws:sqs:{PRIMARY}:{ACCOUNT}:q",
                IamRoleArn=ROLE,
            ),
            "InvalidParameterValueException",
            "not supported",
        ),
    ]
    for call, code, text in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == code
        assert text in exc.value.response["Error"]["Message"]

    rp = backup(sb, "v", table)["RecoveryPointArn"]
    for metadata in ({}, {"targetTableName": "t"}):
        with pytest.raises(ClientError) as exc:
            bk.start_restore_job(RecoveryPointArn=rp, Metadata=metadata, IamRoleArn=ROLE)
        assert error_code(exc) == "InvalidParameterValueException"
    missing = backup(sb, "v", f"arn:aws:dynamodb:{PRIMARY}:{ACCOUNT}:table/gone")
    assert missing["State"] == "FAILED" and "gone" in missing["StatusMessage"]
    meta = bk.get_recovery_point_restore_metadata(BackupVaultName="v", RecoveryPointArn=rp)
    assert (
        meta["ResourceType"] == "DynamoDB" and meta["RestoreMetadata"]["originalTableName"] == "t"
    )


def test_accounts_are_separate(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    import boto3

    creds = sb.client("sts").assume_role(
        RoleArn="arn:aws:iam::222222222222:role/backup", RoleSessionName="backup-test"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=PRIMARY,
    )
    other_bk = session.client("backup", endpoint_url=sb.endpoint_url)
    other_ddb = session.client("dynamodb", endpoint_url=sb.endpoint_url)
    other_bk.create_backup_vault(BackupVaultName="v")
    arn = other_ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    job_id = other_bk.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)[
        "BackupJobId"
    ]
    job = other_bk.describe_backup_job(BackupJobId=job_id)
    assert job["AccountId"] == "222222222222" and job["State"] == "COMPLETED"
    assert ":222222222222:recovery-point:" in job["RecoveryPointArn"]
    bk = sb.client("backup")
    assert bk.list_backup_jobs()["BackupJobs"] == []
    with pytest.raises(ClientError) as exc:
        bk.describe_backup_job(BackupJobId=job_id)
    assert error_code(exc) == "ResourceNotFoundException"


# ------------------------------------------------- metadata-only resources


def test_ebs_rds_aurora_neptune_efs_restores_keep_metadata(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    _, key = make_vault(sb, PRIMARY, "v")
    ec2, rds, efs = sb.client("ec2"), sb.client("rds"), sb.client("efs")
    vol = ec2.create_volume(
        AvailabilityZone="us-east-1b", Size=20, VolumeType="gp3", Encrypted=True, KmsKeyId=key
    )
    db = rds.create_db_instance(
        DBInstanceIdentifier="pg",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=50,
        MasterUsername="admin",
        MasterUserPassword="password1",
        StorageEncrypted=True,
        KmsKeyId=key,
    )["DBInstance"]
    aurora = rds.create_db_cluster(
        DBClusterIdentifier="aur",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="password1",
        StorageEncrypted=True,
        KmsKeyId=key,
    )["DBCluster"]
    neptune = sb.client("neptune").create_db_cluster(
        DBClusterIdentifier="graph", Engine="neptune", StorageEncrypted=True, KmsKeyId=key
    )["DBCluster"]
    fs = efs.create_file_system(
        CreationToken="fs1", PerformanceMode="maxIO", Encrypted=True, KmsKeyId=key
    )

    cases = {
        "EBS": (f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:volume/{vol['VolumeId']}", {}),
        "RDS": (db["DBInstanceArn"], {"DBInstanceIdentifier": "pg-restored"}),
        "Aurora": (aurora["DBClusterArn"], {"DBClusterIdentifier": "aur-restored"}),
        "Neptune": (neptune["DBClusterArn"], {"DBClusterIdentifier": "graph-restored"}),
        "EFS": (fs["FileSystemArn"], {"CreationToken": "fs-restored"}),
    }
    created = {}
    for kind, (arn, metadata) in cases.items():
        job = backup(sb, "v", arn)
        assert (job["ResourceType"], job["State"]) == (kind, "COMPLETED")
        done = restore(sb, job["RecoveryPointArn"], metadata)
        assert done["Status"] == "COMPLETED", done.get("StatusMessage")
        created[kind] = done["CreatedResourceArn"]

    new_vol = ec2.describe_volumes(VolumeIds=[created["EBS"].split("/")[-1]])["Volumes"][0]
    assert (new_vol["Size"], new_vol["VolumeType"], new_vol["Encrypted"], new_vol["KmsKeyId"]) == (
        20,
        "gp3",
        True,
        key,
    )
    assert new_vol["AvailabilityZone"] == "us-east-1b" and new_vol["SnapshotId"].startswith("snap-")
    new_db = rds.describe_db_instances(DBInstanceIdentifier="pg-restored")["DBInstances"][0]
    assert (
        new_db["Engine"],
        new_db["AllocatedStorage"],
        new_db["StorageEncrypted"],
        new_db["KmsKeyId"],
    ) == ("postgres", 50, True, db["KmsKeyId"])
    assert created["RDS"] == new_db["DBInstanceArn"]
    new_aur = rds.describe_db_clusters(DBClusterIdentifier="aur-restored")["DBClusters"][0]
    assert (new_aur["Engine"], new_aur["StorageEncrypted"], new_aur["KmsKeyId"]) == (
        "aurora-postgresql",
        True,
        aurora["KmsKeyId"],
    )
    new_graph = sb.client("neptune").describe_db_clusters(DBClusterIdentifier="graph-restored")[
        "DBClusters"
    ][0]
    assert (new_graph["Engine"], new_graph["StorageEncrypted"]) == ("neptune", True)
    new_fs = efs.describe_file_systems(CreationToken="fs-restored")["FileSystems"][0]
    assert (new_fs["PerformanceMode"], new_fs["Encrypted"], new_fs["KmsKeyId"]) == (
        "maxIO",
        True,
        key,
    )
    assert created["EFS"] == new_fs["FileSystemArn"]
    # the sources are still there, unchanged
    assert ec2.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]["Size"] == 20
    assert len(efs.describe_file_systems()["FileSystems"]) == 2


def test_ebs_copy_to_dr_uses_the_dr_key(backup_sandbox: Sandbox) -> None:
    sb = backup_sandbox
    make_vault(sb, PRIMARY, "v")
    dr_vault_arn, dr_key = make_vault(sb, DR, "dr")
    vol = sb.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=8)
    job = backup(sb, "v", f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:volume/{vol['VolumeId']}")
    bk = sb.client("backup")
    copy_id = bk.start_copy_job(
        RecoveryPointArn=job["RecoveryPointArn"],
        SourceBackupVaultName="v",
        DestinationBackupVaultArn=dr_vault_arn,
        IamRoleArn=ROLE,
    )["CopyJobId"]
    dest = bk.describe_copy_job(CopyJobId=copy_id)["CopyJob"]["DestinationRecoveryPointArn"]
    done = restore(sb, dest, {}, DR)
    new_vol = sb.client("ec2", DR).describe_volumes(
        VolumeIds=[done["CreatedResourceArn"].split("/")[-1]]
    )["Volumes"][0]
    assert (new_vol["Size"], new_vol["Encrypted"], new_vol["KmsKeyId"]) == (8, True, dr_key)
    assert new_vol["AvailabilityZone"] == f"{DR}a"


# ------------------------------------------------------------------- reset


def test_moto_reset_clears_extension_state_and_faults(backup_server: str) -> None:
    import urllib.request

    import boto3

    bk = boto3.client("backup", region_name=PRIMARY, endpoint_url=backup_server)
    ddb = boto3.client("dynamodb", region_name=PRIMARY, endpoint_url=backup_server)
    urllib.request.urlopen(urllib.request.Request(f"{backup_server}/moto-api/reset", method="POST"))
    bk.create_backup_vault(BackupVaultName="v")
    arn = ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    job_id = bk.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)[
        "BackupJobId"
    ]
    set_fault("BACKUP", "FAILED", times=None, endpoint_url=backup_server)

    urllib.request.urlopen(urllib.request.Request(f"{backup_server}/moto-api/reset", method="POST"))

    with pytest.raises(ClientError) as exc:
        bk.describe_backup_job(BackupJobId=job_id)
    assert error_code(exc) == "ResourceNotFoundException"
    bk.create_backup_vault(BackupVaultName="v")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    job_id = bk.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)[
        "BackupJobId"
    ]
    assert bk.describe_backup_job(BackupJobId=job_id)["State"] == "COMPLETED"  # fault cleared


def test_server_in_another_process_after_install(backup_env: None, tmp_path: Any) -> None:
    """A moto server process that called install() first serves the extension and the
    fault routes to clients in this process."""
    import subprocess
    import sys

    import boto3

    script = (
        "from runbook_sandbox.backup_ext import install\n"
        "install()\n"
        "from moto.server import ThreadedMotoServer\n"
        "import threading\n"
        "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
        "s.start()\n"
        "h, p = s.get_host_and_port()\n"
        "print(f'http://{h}:{p}', flush=True)\n"
        "threading.Event().wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        endpoint = proc.stdout.readline().strip()  # type: ignore[union-attr]
        bk = boto3.client("backup", region_name=PRIMARY, endpoint_url=endpoint)
        s3 = boto3.client("s3", region_name=PRIMARY, endpoint_url=endpoint)
        bk.create_backup_vault(BackupVaultName="v")
        s3.create_bucket(Bucket="src-bucket")
        s3.put_object(Bucket="src-bucket", Key="k", Body=b"v")
        set_fault("RESTORE", "FAILED", message="disk full", endpoint_url=endpoint)
        job_id = bk.start_backup_job(
            BackupVaultName="v", ResourceArn="arn:aws:s3:::src-bucket", IamRoleArn=ROLE
        )["BackupJobId"]
        rp = bk.describe_backup_job(BackupJobId=job_id)["RecoveryPointArn"]
        restore_id = bk.start_restore_job(
            RecoveryPointArn=rp, Metadata={"DestinationBucketName": "dst-bucket"}, IamRoleArn=ROLE
        )["RestoreJobId"]
        failed = bk.describe_restore_job(RestoreJobId=restore_id)
        assert (failed["Status"], failed["StatusMessage"]) == ("FAILED", "disk full")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["src-bucket"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------ idempotency


def test_retries_with_the_same_token_create_nothing_new(backup_sandbox: Sandbox) -> None:
    """As on AWS: StartBackupJob and StartRestoreJob with a repeated IdempotencyToken and
    CreateBackupSelection with a repeated CreatorRequestId return the first result (a lost
    response retried)."""
    sb = backup_sandbox
    bk = sb.client("backup")
    make_vault(sb, PRIMARY, "idem")
    table_arn = make_table(sb, "idem-orders", 2)
    plan_id = bk.create_backup_plan(
        BackupPlan={"BackupPlanName": "idem", "Rules": [
            {"RuleName": "daily", "TargetBackupVaultName": "idem"}]}
    )["BackupPlanId"]  # fmt: skip
    body = {"SelectionName": "idem-tier", "IamRoleArn": ROLE, "Resources": [table_arn]}
    first = bk.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body,
                                       CreatorRequestId="req-1")  # fmt: skip
    again = bk.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body,
                                       CreatorRequestId="req-1")  # fmt: skip
    other = bk.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body,
                                       CreatorRequestId="req-2")  # fmt: skip
    assert again["SelectionId"] == first["SelectionId"] != other["SelectionId"]
    listed = bk.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert len(listed) == 2

    starts = [
        bk.start_backup_job(BackupVaultName="idem", ResourceArn=table_arn, IamRoleArn=ROLE,
                            IdempotencyToken=token)["BackupJobId"]
        for token in ("b-1", "b-1", "b-2")
    ]  # fmt: skip
    assert starts[0] == starts[1] != starts[2]
    rp = backup(sb, "idem", table_arn)["RecoveryPointArn"]
    jobs = [
        bk.start_restore_job(RecoveryPointArn=rp, IamRoleArn=ROLE, IdempotencyToken=token,
                             Metadata={"targetTableName": f"idem-copy-{token}"})["RestoreJobId"]
        for token in ("t-1", "t-1", "t-2")
    ]  # fmt: skip
    assert jobs[0] == jobs[1] != jobs[2]
    listed_jobs = bk.list_restore_jobs()["RestoreJobs"]
    assert sorted(j["RestoreJobId"] for j in listed_jobs) == sorted({jobs[0], jobs[2]})
