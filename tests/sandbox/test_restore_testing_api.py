"""AWS Backup restore testing in the sandbox extension: plans, selections, the restore
jobs a run starts (on demand and fired by the sandbox clock), PutRestoreValidationResult,
and what DescribeRestoreJob / GetRestoreJobMetadata / ListRestoreJobs then show.

Each API test runs twice (``backup_sandbox``: under ``mock_aws`` and against a
``ThreadedMotoServer``), in a Region and account naming nothing from the demo estate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_sandbox import clock
from runbook_sandbox.backup_ext import run_restore_testing_plan_now
from runbook_sandbox.server import running_sandbox

ACCOUNT = "123456789012"  # moto's default account (the fixtures' credentials)

REGION = "ap-southeast-2"  # the fixture's server answers any Region
ROLE = f"arn:aws:iam::{ACCOUNT}:role/restore-tester"
PICK = {"Algorithm": "LATEST_WITHIN_WINDOW", "IncludeVaults": ["*"], "RecoveryPointTypes": ["SNAPSHOT"]}  # fmt: skip


def _table(ddb: Any, name: str, items: int, tags: dict[str, str]) -> str:
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["TableDescription"]["TableArn"]
    for i in range(items):
        ddb.put_item(TableName=name, Item={"k": {"S": f"{name}#{i}"}, "n": {"N": str(i)}})
    return arn


def _backed_up(backup: Any, arn: str, vault: str = "rt.vault-7_x") -> str:
    if vault not in [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]:
        backup.create_backup_vault(BackupVaultName=vault)
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE)
    done = backup.describe_backup_job(BackupJobId=job["BackupJobId"])
    assert done["State"] == "COMPLETED", done
    return job["RecoveryPointArn"]


def _plan(backup: Any, name: str = "Weekly_DDB_check", **extra: Any) -> dict:
    body = {"RestoreTestingPlanName": name, "ScheduleExpression": "cron(30 2 ? * SUN *)",
            "RecoveryPointSelection": dict(PICK), **extra}  # fmt: skip
    return backup.create_restore_testing_plan(RestoreTestingPlan=body)


def _selection(backup: Any, plan: str, name: str = "tagged_tables", **extra: Any) -> dict:
    body = {
        "RestoreTestingSelectionName": name,
        "ProtectedResourceType": "DynamoDB",
        "IamRoleArn": ROLE,
        "ProtectedResourceArns": ["*"],
        "ProtectedResourceConditions": {"StringEquals": [{"Key": "restore test", "Value": "weekly ✓"}]},
        "ValidationWindowHours": 5,
        **extra,
    }  # fmt: skip
    return backup.create_restore_testing_selection(
        RestoreTestingPlanName=plan, RestoreTestingSelection=body
    )


@pytest.fixture
def estate(backup_sandbox: Any) -> dict[str, Any]:
    ddb = backup_sandbox.client("dynamodb", REGION)
    backup = backup_sandbox.client("backup", REGION)
    covered = _table(ddb, "Payments.2031_eu", 7, {"restore test": "weekly ✓"})
    other = _table(ddb, "scratchpad-x", 3, {"restore test": "never"})
    points = {covered: _backed_up(backup, covered), other: _backed_up(backup, other)}
    return {"ddb": ddb, "backup": backup, "covered": covered, "other": other, "points": points}


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response["Error"]
    return err["Code"], err["Message"]


# ------------------------------------------------------------------ plans, selections


def test_plan_and_selection_round_trip(backup_sandbox: Any) -> None:
    backup = backup_sandbox.client("backup", REGION)
    made = _plan(backup, StartWindowHours=3, ScheduleExpressionTimezone="Australia/Sydney")
    assert made["RestoreTestingPlanArn"].startswith(
        f"arn:aws:backup:{REGION}:{ACCOUNT}:restore-testing-plan:Weekly_DDB_check-"
    )
    got = backup.get_restore_testing_plan(RestoreTestingPlanName="Weekly_DDB_check")
    plan = got["RestoreTestingPlan"]
    assert plan["RecoveryPointSelection"] == PICK
    assert (plan["ScheduleExpression"], plan["StartWindowHours"]) == ("cron(30 2 ? * SUN *)", 3)
    assert plan["ScheduleExpressionTimezone"] == "Australia/Sydney"
    assert "LastExecutionTime" not in plan
    _selection(backup, "Weekly_DDB_check", RestoreMetadataOverrides={"encryptionType": "KMS"})
    sel = backup.get_restore_testing_selection(
        RestoreTestingPlanName="Weekly_DDB_check", RestoreTestingSelectionName="tagged_tables"
    )["RestoreTestingSelection"]
    assert sel["ProtectedResourceConditions"]["StringEquals"][0]["Value"] == "weekly ✓"
    assert (sel["ValidationWindowHours"], sel["IamRoleArn"]) == (5, ROLE)
    listed = backup.list_restore_testing_selections(RestoreTestingPlanName="Weekly_DDB_check")
    assert [s["RestoreTestingSelectionName"] for s in listed["RestoreTestingSelections"]] == [
        "tagged_tables"
    ]
    updated = backup.update_restore_testing_plan(
        RestoreTestingPlanName="Weekly_DDB_check",
        RestoreTestingPlan={"ScheduleExpression": "cron(0 4 * * ? *)"},
    )
    assert updated["UpdateTime"] >= updated["CreationTime"]
    plans = backup.list_restore_testing_plans()["RestoreTestingPlans"]
    assert [(p["RestoreTestingPlanName"], p["ScheduleExpression"]) for p in plans] == [
        ("Weekly_DDB_check", "cron(0 4 * * ? *)")
    ]
    backup.update_restore_testing_selection(
        RestoreTestingPlanName="Weekly_DDB_check",
        RestoreTestingSelectionName="tagged_tables",
        RestoreTestingSelection={"ValidationWindowHours": 0},
    )
    code, _ = _error(backup.delete_restore_testing_plan, RestoreTestingPlanName="Weekly_DDB_check")
    assert code == "InvalidRequestException"  # its selection must go first
    backup.delete_restore_testing_selection(
        RestoreTestingPlanName="Weekly_DDB_check", RestoreTestingSelectionName="tagged_tables"
    )
    backup.delete_restore_testing_plan(RestoreTestingPlanName="Weekly_DDB_check")
    assert backup.list_restore_testing_plans()["RestoreTestingPlans"] == []


def test_creator_request_id_makes_a_retry_harmless(backup_sandbox: Any) -> None:
    backup = backup_sandbox.client("backup", REGION)
    body = {"RestoreTestingPlanName": "Retry_me", "ScheduleExpression": "cron(0 1 * * ? *)",
            "RecoveryPointSelection": PICK}  # fmt: skip
    first = backup.create_restore_testing_plan(RestoreTestingPlan=body, CreatorRequestId="r-1")
    again = backup.create_restore_testing_plan(RestoreTestingPlan=body, CreatorRequestId="r-1")
    assert again["RestoreTestingPlanArn"] == first["RestoreTestingPlanArn"]
    code, message = _error(backup.create_restore_testing_plan, RestoreTestingPlan=body)
    assert code == "AlreadyExistsException" and "Retry_me" in message


BAD_PLANS = [
    ({"RestoreTestingPlanName": "has-hyphen"}, "RestoreTestingPlanName"),
    ({"RestoreTestingPlanName": "x" * 51}, "RestoreTestingPlanName"),
    ({"RecoveryPointSelection": {**PICK, "Algorithm": "OLDEST"}}, "Algorithm"),
    ({"RecoveryPointSelection": {**PICK, "IncludeVaults": []}}, "IncludeVaults"),
    ({"RecoveryPointSelection": {**PICK, "IncludeVaults": ["my-vault"]}}, "vault 'my-vault'"),
    ({"RecoveryPointSelection": {**PICK, "RecoveryPointTypes": ["FULL"]}}, "RecoveryPointTypes"),
    ({"RecoveryPointSelection": {**PICK, "SelectionWindowDays": 0}}, "SelectionWindowDays"),
    ({"RecoveryPointSelection": {**PICK, "SelectionWindowDays": 366}}, "SelectionWindowDays"),
    ({"StartWindowHours": 169}, "StartWindowHours"),
    ({"ScheduleExpression": "every day"}, "ScheduleExpression"),
    ({"ScheduleExpression": "cron(0 5 * * *)"}, "ScheduleExpression"),
    ({"ScheduleExpressionTimezone": "Mars/Olympus"}, "time zone"),
]


@pytest.mark.parametrize(("change", "named"), BAD_PLANS)
def test_bad_plan_is_refused_naming_the_field(
    backup_sandbox: Any, change: dict, named: str
) -> None:
    backup = backup_sandbox.client("backup", REGION)
    body = {"RestoreTestingPlanName": "Good_name", "ScheduleExpression": "cron(0 5 ? * * *)",
            "RecoveryPointSelection": PICK, **change}  # fmt: skip
    code, message = _error(backup.create_restore_testing_plan, RestoreTestingPlan=body)
    assert code == "InvalidParameterValueException" and named in message
    assert backup.list_restore_testing_plans()["RestoreTestingPlans"] == []  # nothing made


BAD_SELECTIONS = [
    ({"RestoreTestingSelectionName": "with space"}, "RestoreTestingSelectionName"),
    ({"ProtectedResourceType": "Lambda"}, "ProtectedResourceType"),
    ({"ProtectedResourceArns": ["*", "arn:aws:dynamodb:x:1:table/t"]}, "not both"),
    ({"ProtectedResourceArns": ["table/t"], "ProtectedResourceConditions": {}}, "not an ARN"),
    (
        {
            "ProtectedResourceArns": [
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t{i}" for i in range(31)
            ],
            "ProtectedResourceConditions": {},
        },
        "at most 30",
    ),  # fmt: skip
    ({"ProtectedResourceArns": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"]}, "go with"),
    (
        {"ProtectedResourceArns": [], "ProtectedResourceConditions": {}},
        "give ProtectedResourceArns",
    ),
    ({"ValidationWindowHours": 169}, "ValidationWindowHours"),
    ({"ProtectedResourceConditions": {"StringEquals": [{"Key": "aws:x", "Value": "y"}]}}, "aws:"),
]


@pytest.mark.parametrize(("change", "named"), BAD_SELECTIONS)
def test_bad_selection_is_refused_naming_the_field(
    backup_sandbox: Any, change: dict, named: str
) -> None:
    backup = backup_sandbox.client("backup", REGION)
    _plan(backup)
    code, message = _error(
        _selection, backup=backup, plan="Weekly_DDB_check", **change
    )  # the helper's defaults, changed
    assert code == "InvalidParameterValueException" and named in message, message
    listed = backup.list_restore_testing_selections(RestoreTestingPlanName="Weekly_DDB_check")
    assert listed["RestoreTestingSelections"] == []


def test_unknown_plan_or_selection_is_not_found(backup_sandbox: Any) -> None:
    backup = backup_sandbox.client("backup", REGION)
    for call, kwargs in (
        (backup.get_restore_testing_plan, {"RestoreTestingPlanName": "Nope"}),
        (backup.delete_restore_testing_plan, {"RestoreTestingPlanName": "Nope"}),
        (backup.list_restore_testing_selections, {"RestoreTestingPlanName": "Nope"}),
    ):
        assert _error(call, **kwargs)[0] == "ResourceNotFoundException"
    _plan(backup)
    code, message = _error(
        backup.get_restore_testing_selection,
        RestoreTestingPlanName="Weekly_DDB_check",
        RestoreTestingSelectionName="missing_one",
    )
    assert code == "ResourceNotFoundException" and "missing_one" in message


# ------------------------------------------------------------------------- runs


def _run(backup_sandbox: Any, plan: str) -> list[str]:
    return run_restore_testing_plan_now(
        plan, region=REGION, account_id=ACCOUNT, endpoint_url=backup_sandbox.endpoint_url
    )


def test_a_run_restores_each_covered_resource_and_the_data_moves(
    backup_sandbox: Any, estate: dict
) -> None:
    backup, ddb = estate["backup"], estate["ddb"]
    plan_arn = _plan(backup)["RestoreTestingPlanArn"]
    _selection(backup, "Weekly_DDB_check")
    ids = _run(backup_sandbox, "Weekly_DDB_check")
    assert len(ids) == 1  # the table tagged "never" is not covered
    job = backup.describe_restore_job(RestoreJobId=ids[0])
    assert job["Status"] == "COMPLETED"
    assert job["CreatedBy"] == {"RestoreTestingPlanArn": plan_arn}
    assert job["SourceResourceArn"] == estate["covered"]
    assert job["RecoveryPointArn"] == estate["points"][estate["covered"]]
    assert "ValidationStatus" not in job and "DeletionStatus" not in job
    name = job["CreatedResourceArn"].rsplit("/", 1)[-1]
    assert name.startswith("awsbackup-restore-test-")
    assert ddb.scan(TableName=name)["Count"] == 7  # the items really moved
    meta = backup.get_restore_job_metadata(RestoreJobId=ids[0])
    assert meta["RestoreJobId"] == ids[0] and meta["Metadata"]["targetTableName"] == name
    assert meta["Metadata"]["deletionProtection"] == "false"
    plan = backup.get_restore_testing_plan(RestoreTestingPlanName="Weekly_DDB_check")
    assert "LastExecutionTime" in plan["RestoreTestingPlan"]
    by_plan = backup.list_restore_jobs(ByRestoreTestingPlanArn=plan_arn)["RestoreJobs"]
    assert [j["RestoreJobId"] for j in by_plan] == ids
    by_resource = backup.list_restore_jobs_by_protected_resource(ResourceArn=estate["covered"])
    assert [j["RestoreJobId"] for j in by_resource["RestoreJobs"]] == ids


def test_overrides_and_arn_selection_and_vault_filters(backup_sandbox: Any, estate: dict) -> None:
    backup = estate["backup"]
    other_vault = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:rt.vault-7_x"
    _plan(backup, "Excludes_vault",
          RecoveryPointSelection={**PICK, "ExcludeVaults": [other_vault]})  # fmt: skip
    _selection(backup, "Excludes_vault", ProtectedResourceArns=[estate["other"]],
               ProtectedResourceConditions={})  # fmt: skip
    assert _run(backup_sandbox, "Excludes_vault") == []  # its only point is in that vault
    _plan(backup, "By_arn")
    _selection(backup, "By_arn", "named", ProtectedResourceArns=[estate["other"]],
               ProtectedResourceConditions={},
               RestoreMetadataOverrides={"TARGETTABLENAME": "rt-override_tbl"})  # fmt: skip
    (job_id,) = _run(backup_sandbox, "By_arn")
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert job["SourceResourceArn"] == estate["other"]
    assert job["CreatedResourceArn"].endswith(":table/rt-override_tbl")  # case-insensitive key
    meta = backup.get_restore_job_metadata(RestoreJobId=job_id)["Metadata"]
    assert [k for k in meta if k.lower() == "targettablename"] == ["targetTableName"]


def test_validation_result_is_shown_and_starts_the_clean_up(
    backup_sandbox: Any, estate: dict
) -> None:
    backup, ddb = estate["backup"], estate["ddb"]
    _plan(backup)
    _selection(backup, "Weekly_DDB_check")
    (job_id,) = _run(backup_sandbox, "Weekly_DDB_check")
    name = backup.describe_restore_job(RestoreJobId=job_id)["CreatedResourceArn"].rsplit("/")[-1]
    backup.put_restore_validation_result(RestoreJobId=job_id, ValidationStatus="VALIDATING")
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert job["ValidationStatus"] == "VALIDATING" and "DeletionStatus" not in job
    assert name in ddb.list_tables()["TableNames"]  # kept while validating
    backup.put_restore_validation_result(
        RestoreJobId=job_id, ValidationStatus="FAILED", ValidationStatusMessage="2 rows differ"
    )
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert (job["ValidationStatus"], job["ValidationStatusMessage"]) == ("FAILED", "2 rows differ")
    assert (
        job["DeletionStatus"] == "SUCCESSFUL"
        and "validation status FAILED" in job["DeletionStatusMessage"]
    )
    assert name not in ddb.list_tables()["TableNames"]
    listed = backup.list_restore_jobs(ByStatus="COMPLETED")["RestoreJobs"]
    assert [(j["ValidationStatus"], j["DeletionStatus"]) for j in listed] == [
        ("FAILED", "SUCCESSFUL")
    ]
    code, message = _error(
        backup.put_restore_validation_result, RestoreJobId=job_id, ValidationStatus="SUCCESSFUL"
    )
    assert code == "InvalidRequestException" and "SUCCESSFUL" in message  # the copy is gone


def test_bad_validation_results_are_refused(backup_sandbox: Any, estate: dict) -> None:
    backup = estate["backup"]
    _plan(backup)
    _selection(backup, "Weekly_DDB_check")
    (job_id,) = _run(backup_sandbox, "Weekly_DDB_check")
    code, message = _error(
        backup.put_restore_validation_result, RestoreJobId=job_id, ValidationStatus="PASSED"
    )
    assert code == "InvalidParameterValueException" and "ValidationStatus" in message
    code, _ = _error(
        backup.put_restore_validation_result, RestoreJobId="NO-SUCH-JOB", ValidationStatus="FAILED"
    )
    assert code == "ResourceNotFoundException"
    plain = backup.start_restore_job(  # an ordinary restore job, not restore testing's
        RecoveryPointArn=estate["points"][estate["other"]],
        IamRoleArn=ROLE,
        Metadata={"targetTableName": "by-hand-restore"},
    )["RestoreJobId"]
    code, message = _error(
        backup.put_restore_validation_result, RestoreJobId=plain, ValidationStatus="SUCCESSFUL"
    )
    assert code == "InvalidRequestException" and "restore testing" in message
    assert "CreatedBy" not in backup.describe_restore_job(RestoreJobId=plain)
    assert backup.get_restore_job_metadata(RestoreJobId=plain)["Metadata"] == {
        "targetTableName": "by-hand-restore"
    }


def test_inferred_metadata_and_run_route_errors(backup_sandbox: Any, estate: dict) -> None:
    backup = estate["backup"]
    got = backup.get_restore_testing_inferred_metadata(
        BackupVaultName="rt.vault-7_x", RecoveryPointArn=estate["points"][estate["covered"]]
    )["InferredMetadata"]
    assert got["targetTableName"].startswith("awsbackup-restore-test-")
    with pytest.raises(LookupError, match="Not_a_plan"):
        _run(backup_sandbox, "Not_a_plan")
    with pytest.raises(ValueError, match="plan_name"):
        run_restore_testing_plan_now(
            "", region=REGION, account_id=ACCOUNT, endpoint_url=backup_sandbox.endpoint_url
        )


# ------------------------------------------------------------------------ the clock


@pytest.fixture(scope="module")
def clock_server() -> Iterator[str]:
    """A sandbox server of its own: the clock moves the time of the process it runs in."""
    with running_sandbox(None) as url:
        yield url


def _client(url: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url,
                        aws_access_key_id="t", aws_secret_access_key="t")  # fmt: skip


def test_the_clock_fires_the_plan_and_closes_the_validation_window(clock_server: str) -> None:
    from runbook_sandbox import reset

    reset(clock_server)
    ddb, backup = _client(clock_server, "dynamodb"), _client(clock_server, "backup")
    arn = _table(ddb, "Clocked.table", 4, {"restore test": "weekly ✓"})
    _backed_up(backup, arn)
    start = clock.now(endpoint_url=clock_server)
    due = (start + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    backup.create_restore_testing_plan(RestoreTestingPlan={
        "RestoreTestingPlanName": "Clocked", "RecoveryPointSelection": PICK,
        "ScheduleExpression": f"cron({due.minute} {due.hour} * * ? *)"})  # fmt: skip
    _selection(backup, "Clocked", ValidationWindowHours=3)
    first = clock.advance("150m", endpoint_url=clock_server)
    (fired,) = first.of_kind("restore_test")
    assert fired.state == "COMPLETED" and fired.resource_arn == arn
    assert abs((fired.at - due).total_seconds()) < 60
    job = backup.list_restore_jobs()["RestoreJobs"][0]
    restored = job["CreatedResourceArn"].rsplit("/", 1)[-1]
    assert fired.result == job["CreatedResourceArn"] and "DeletionStatus" not in job
    assert ddb.scan(TableName=restored)["Count"] == 4
    later = clock.advance("3h", endpoint_url=clock_server)  # the window closes unvalidated
    (closed,) = later.of_kind("restore_test_cleanup")
    assert closed.state == "SUCCESSFUL" and "validation window of 3 h" in closed.detail
    job = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
    assert job["DeletionStatus"] == "SUCCESSFUL" and "ValidationStatus" not in job
    assert restored not in ddb.list_tables()["TableNames"]


def test_plans_and_validated_jobs_survive_a_saved_state(backup_sandbox: Any, estate: dict) -> None:
    from runbook_sandbox import state

    backup = estate["backup"]
    _plan(backup)
    _selection(backup, "Weekly_DDB_check")
    (job_id,) = _run(backup_sandbox, "Weekly_DDB_check")
    backup.put_restore_validation_result(RestoreJobId=job_id, ValidationStatus="SUCCESSFUL")
    saved = state.dumps()  # the sandbox runs in this process in both modes
    backup.delete_restore_testing_selection(
        RestoreTestingPlanName="Weekly_DDB_check", RestoreTestingSelectionName="tagged_tables"
    )
    backup.delete_restore_testing_plan(RestoreTestingPlanName="Weekly_DDB_check")
    state.loads(saved)
    plans = backup.list_restore_testing_plans()["RestoreTestingPlans"]
    assert [p["RestoreTestingPlanName"] for p in plans] == ["Weekly_DDB_check"]
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert (job["ValidationStatus"], job["DeletionStatus"]) == ("SUCCESSFUL", "SUCCESSFUL")
