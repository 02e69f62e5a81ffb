"""The sandbox clock: advancing time fires what AWS would have fired in that time.

The tests talk to a sandbox server in a separate process (the clock moves the time of the
process it runs in, never the test's), emptied before each test. Its clock only ever goes
forward, so every test measures from the time it starts at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from runbook_lib.cli import main as cli_main
from runbook_sandbox import clock
from runbook_sandbox.clock import ClockError, next_run, parse_duration
from runbook_sandbox.server import running_sandbox

ACCOUNT = "123456789012"
PRIMARY, DR = "us-east-1", "us-west-2"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_sandbox(None) as url:
        yield url


@pytest.fixture
def url(server: str) -> str:
    from runbook_sandbox import reset

    reset(server)
    return server


def client(url: str, service: str, region: str = PRIMARY) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def table(url: str, name: str, *, tier: str = "gold", items: int = 5) -> str:
    ddb = client(url, "dynamodb")
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "tier", "Value": tier}],
    )["TableDescription"]["TableArn"]
    for i in range(items):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"item-{i}"}})
    return arn


def plan(url: str, vault: str, schedule: str, *, tier: str = "gold", **rule: Any) -> str:
    backup = client(url, "backup")
    if vault not in {v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]}:
        backup.create_backup_vault(BackupVaultName=vault)
    body = {"RuleName": "r", "TargetBackupVaultName": vault, "ScheduleExpression": schedule}
    plan_id = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": f"plan-{vault}", "Rules": [{**body, **rule}]}
    )["BackupPlanId"]
    backup.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={
            "SelectionName": "by-tier",
            "IamRoleArn": ROLE,
            "ListOfTags": [
                {"ConditionType": "STRINGEQUALS", "ConditionKey": "tier", "ConditionValue": tier}
            ],
        },
    )
    return plan_id


def points(url: str, vault: str, region: str = PRIMARY) -> list[dict]:
    got = client(url, "backup", region).list_recovery_points_by_backup_vault(BackupVaultName=vault)
    return got["RecoveryPoints"]


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("36h", dt.timedelta(hours=36)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("1w", dt.timedelta(weeks=1)),
        (" 2D ", dt.timedelta(days=2)),
    ],
)
def test_durations_read(text, want):
    assert parse_duration(text) == want


@pytest.mark.parametrize("bad", ["0h", "0", "-5h", "", "36", "soon", "1y", "3h-1h", "400d", 36])
def test_bad_duration_is_a_clear_error_before_anything_moves(bad):
    with pytest.raises(ClockError, match=r"duration .* (is not|must be) a positive duration"):
        clock.advance(bad, endpoint_url="http://127.0.0.1:9")  # nothing listens: never called


def test_the_server_refuses_a_bad_duration_too(url):
    before = clock.now(endpoint_url=url)
    with pytest.raises(ClockError, match="duration '-1h'"):
        clock._call(url, "/moto-api/sandbox/clock/advance", {"duration": "-1h"})
    assert clock.now(endpoint_url=url) - before < dt.timedelta(minutes=5)


def test_cli_names_the_argument_and_what_is_allowed(url, capsys):
    assert cli_main(["sandbox", "advance", "0h", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "duration '0h'" in err and "36h, 2d" in err


# ------------------------------------------------------------------ schedules


def test_next_run_reads_aws_cron_rate_and_at():
    t0 = dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.UTC)  # a Wednesday
    assert next_run("cron(0 5 ? * * *)", t0, anchor=t0) == t0.replace(day=3, hour=5, minute=0)
    # AWS day 2 is Monday
    assert next_run("cron(0 8 ? * 2 *)", t0, anchor=t0).date() == dt.date(2026, 12, 7)
    assert next_run("cron(0 5 ? * * 2027)", t0, anchor=t0).year == 2027
    anchor = t0 - dt.timedelta(hours=13)
    assert next_run("rate(12 hours)", t0, anchor=anchor) == anchor + dt.timedelta(hours=24)
    paris = next_run("cron(0 5 ? * * *)", t0, anchor=t0, timezone="Europe/Paris")
    assert paris == t0.replace(day=3, hour=4, minute=0)
    assert next_run("at(2026-12-01T00:00:00)", t0, anchor=t0) is None
    with pytest.raises(ValueError, match="cron"):
        next_run("cron(0 5 * *)", t0, anchor=t0)


def test_cron_rule_fires_at_its_times_with_copies_in_the_copy_region(url):
    arn = table(url, "orders")
    client(url, "backup", DR).create_backup_vault(BackupVaultName="dr")
    dr_arn = f"arn:aws:backup:{DR}:{ACCOUNT}:backup-vault:dr"
    plan(url, "main", "cron(0 * ? * * *)", CopyActions=[{"DestinationBackupVaultArn": dr_arn}])
    assert points(url, "main") == []

    done = clock.advance("3h", endpoint_url=url)

    backups = done.of_kind("backup")
    assert len(backups) == 3  # hourly, on the hour, in a 3-hour interval
    assert {e.resource_arn for e in backups} == {arn}
    assert all(e.state == "COMPLETED" and e.at.minute == 0 for e in backups)
    assert done.end - done.start >= dt.timedelta(hours=3)
    made = points(url, "main")
    assert {p["RecoveryPointArn"] for p in made} == {e.result for e in backups}
    assert sorted(p["CreationDate"].astimezone(dt.UTC).hour for p in made) == sorted(
        e.at.hour for e in backups
    )
    copies = done.of_kind("copy")
    assert len(copies) == 3 and {e.region for e in copies} == {DR}
    assert {p["RecoveryPointArn"] for p in points(url, "dr", DR)} == {e.result for e in copies}
    # the data really moved: a restore of a scheduled point holds the table's items
    backup = client(url, "backup")
    job = backup.start_restore_job(
        RecoveryPointArn=made[0]["RecoveryPointArn"],
        IamRoleArn=ROLE,
        Metadata={"targetTableName": "orders-restored"},
    )
    assert backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])["Status"] == "COMPLETED"
    assert client(url, "dynamodb").scan(TableName="orders-restored")["Count"] == 5


def test_a_refused_copy_fails_the_copy_job_and_leaves_the_backup_restorable(url):
    """A copy action to another account (the sandbox cannot share snapshots across
    accounts) is a FAILED copy job; the scheduled backup itself stays whole."""
    ec2 = client(url, "ec2")
    vol = ec2.create_volume(
        AvailabilityZone=f"{PRIMARY}a",
        Size=3,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "tier", "Value": "gold"}]}],
    )["VolumeId"]
    elsewhere = f"arn:aws:backup:{DR}:210987654321:backup-vault:central"
    plan(url, "main", "cron(0 * ? * * *)", CopyActions=[{"DestinationBackupVaultArn": elsewhere}])

    done = clock.advance("2h", endpoint_url=url)

    backups = done.of_kind("backup")
    assert len(backups) == 2 and {e.state for e in backups} == {"COMPLETED"}
    copies = done.of_kind("copy")
    assert len(copies) == 2 and {e.state for e in copies} == {"FAILED"}
    assert all("Cross-account" in e.detail for e in copies)
    backup = client(url, "backup")
    listed = backup.list_copy_jobs()["CopyJobs"]
    assert {j["State"] for j in listed} == {"FAILED"} and len(listed) == 2
    newest = max(points(url, "main"), key=lambda p: p["CreationDate"])
    job = backup.start_restore_job(
        RecoveryPointArn=newest["RecoveryPointArn"], IamRoleArn=ROLE, Metadata={}
    )
    restored = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
    assert restored["Status"] == "COMPLETED", restored.get("StatusMessage")
    assert restored["CreatedResourceArn"].split("/")[-1] != vol


def test_rate_rule_fires_every_interval_from_the_plan(url):
    table(url, "events", tier="silver")
    plan(url, "rated", "rate(12 hours)", tier="silver")
    done = clock.advance("37h", endpoint_url=url)
    fired = [e.at for e in done.of_kind("backup")]
    assert len(fired) == 3
    gaps = [b - a for a, b in zip(fired, fired[1:], strict=False)]
    assert all(abs(gap - dt.timedelta(hours=12)) < dt.timedelta(seconds=5) for gap in gaps)
    assert len(points(url, "rated")) == 3


def test_lifecycle_deletes_expired_points_except_under_a_vault_lock(url):
    table(url, "orders")
    plan(url, "short", "cron(0 6 ? * * *)", Lifecycle={"DeleteAfterDays": 1})
    plan(url, "locked", "cron(0 6 ? * * *)", Lifecycle={"DeleteAfterDays": 1})
    first = clock.advance("1d", endpoint_url=url)  # one point in each vault
    assert len(points(url, "short")) == len(points(url, "locked")) == 1
    client(url, "backup").put_backup_vault_lock_configuration(
        BackupVaultName="locked", MinRetentionDays=3
    )
    held_arn = points(url, "locked")[0]["RecoveryPointArn"]

    done = clock.advance("2d", endpoint_url=url)

    deleted = {e.result for e in done.of_kind("lifecycle_delete")}
    assert {e.result for e in first.of_kind("backup")} & deleted  # the unlocked one went
    assert held_arn not in deleted
    assert [e.result for e in done.of_kind("lifecycle_held")] == [held_arn]
    assert held_arn in {p["RecoveryPointArn"] for p in points(url, "locked")}
    assert len(points(url, "short")) == 1  # only the newest is less than a day old
    # the locked vault's rule now asks for less than the lock's minimum: AWS fails the job
    refused = [e for e in done.of_kind("backup") if e.state == "FAILED"]
    assert len(refused) == 2 and all("MinRetentionDays 3" in e.detail for e in refused)
    later = clock.advance("2d", endpoint_url=url)  # past the lock's 3-day minimum
    assert held_arn in {e.result for e in later.of_kind("lifecycle_delete")}


def test_an_unreadable_schedule_is_reported_not_fired(url):
    table(url, "orders")
    plan(url, "odd", "cron(0 5 * *)")
    done = clock.advance("2d", endpoint_url=url)
    assert done.of_kind("backup") == []
    [err] = done.of_kind("schedule_error")
    assert err.state == "FAILED" and "cron(0 5 * *)" in err.detail


def test_lifecycle_moves_to_cold_storage(url):
    table(url, "orders")
    plan(
        url,
        "tiered",
        "cron(0 6 ? * * *)",
        Lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 91},
    )
    first = clock.advance("1d", endpoint_url=url)
    [arn] = [e.result for e in first.of_kind("backup")]

    def storage_class() -> str:
        got = client(url, "backup").describe_recovery_point(
            BackupVaultName="tiered", RecoveryPointArn=arn
        )
        return got["StorageClass"]

    assert storage_class() == "WARM"
    done = clock.advance("1d", endpoint_url=url)
    assert arn in {e.result for e in done.of_kind("lifecycle_cold")}
    assert storage_class() == "COLD"


def test_pitr_window_moves(url):
    table(url, "orders")
    ddb = client(url, "dynamodb")
    ddb.update_continuous_backups(
        TableName="orders",
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 2,
        },
    )
    done = clock.advance("3d", endpoint_url=url)
    desc = ddb.describe_continuous_backups(TableName="orders")["ContinuousBackupsDescription"]
    window = desc["PointInTimeRecoveryDescription"]
    latest = window["LatestRestorableDateTime"].astimezone(dt.UTC)
    earliest = window["EarliestRestorableDateTime"].astimezone(dt.UTC)
    assert latest > done.start + dt.timedelta(days=2, hours=23)
    assert (
        dt.timedelta(days=2) - dt.timedelta(minutes=6) <= latest - earliest <= dt.timedelta(days=2)
    )
    assert len(done.of_kind("pitr_window")) == 1


def test_rds_automated_snapshots_are_taken_and_pruned(url):
    rds = client(url, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="shop-db",
        DBInstanceClass="db.t3.micro",
        Engine="oracle-ee",  # moto's metadata only: no real engine behind it
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        BackupRetentionPeriod=2,
        PreferredBackupWindow="03:00-03:30",
    )
    done = clock.advance("4d", endpoint_url=url)
    taken = done.of_kind("rds_automated_snapshot")
    assert len(taken) == 4 and all(e.at.hour == 3 and e.at.minute == 0 for e in taken)
    assert done.of_kind("rds_snapshot_pruned")
    snaps = rds.describe_db_snapshots(DBInstanceIdentifier="shop-db", SnapshotType="automated")
    ages = [done.end - s["SnapshotCreateTime"].astimezone(dt.UTC) for s in snaps["DBSnapshots"]]
    assert ages and max(ages) <= dt.timedelta(days=3)  # retention 2 days, taken daily


def test_scheduled_log_export_runs(url):
    logs, s3 = client(url, "logs"), client(url, "s3")
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="web")
    now_ms = int(clock.now(endpoint_url=url).timestamp() * 1000)
    logs.put_log_events(
        logGroupName="/app",
        logStreamName="web",
        logEvents=[{"timestamp": now_ms, "message": "hello"}],
    )
    s3.create_bucket(Bucket="exports")
    client(url, "scheduler").create_schedule(
        Name="export-app",
        ScheduleExpression="cron(0 4 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:cloudwatchlogs:createExportTask",
            "RoleArn": ROLE,
            "Input": (
                '{"logGroupName": "/app", "from": 0, "to": 4102444800000, '
                '"destination": "exports", '
                '"destinationPrefix": "logs/<aws.scheduler.execution-id>"}'
            ),
        },
    )
    done = clock.advance("2d", endpoint_url=url)
    runs = done.of_kind("logs_export")
    assert len(runs) == 2 and all(e.state == "COMPLETED" for e in runs)
    tasks = logs.describe_export_tasks()["exportTasks"]
    assert {t["taskId"] for t in tasks} == {e.result for e in runs}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="exports", Prefix="logs/")["Contents"]]
    assert len({k.split("/")[1] for k in keys}) == 2  # one execution id per run


def test_cli_advance_prints_the_events(url, capsys):
    table(url, "orders")
    plan(url, "main", "cron(0 * ? * * *)")
    assert cli_main(["sandbox", "advance", "2h", "--url", url]) == 0
    out = capsys.readouterr().out
    assert out.count(" backup ") == 2
    assert out.splitlines()[-1].endswith(": 2 events")


# --------------------------------------------- the demo estate: inventory and audit


@pytest.fixture(scope="module")
def estate(shared_sandbox_url, tmp_path_factory) -> Iterator[str]:
    """A sandbox of its own holding the seeded demo estate (loaded from the shared
    sandbox's saved state: no seeding)."""
    from runbook_sandbox import state

    path = tmp_path_factory.mktemp("state") / "estate.state"
    state.save(path, endpoint_url=shared_sandbox_url)
    with running_sandbox(None, state_file=str(path)) as url:
        yield url


def test_after_advance_inventory_and_audit_see_the_scheduled_points(estate, tmp_path):
    from runbook_lib import audit
    from runbook_lib.context import RunContext
    from runbook_lib.inventory import discover
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params
    from runbook_lib.protect.objectives import schedule_for_rpo
    from runbook_lib.session import AwsSession

    params = load_params("sandbox")
    session = AwsSession(params, endpoint_url=estate)
    account, region = params.account_ids[0], params.regions[0]
    tier = "silver"
    copy_region = params.tiers[tier].copy_region
    backup = session.client("backup", account, region)
    backup.create_backup_vault(BackupVaultName="scheduled")
    session.client("backup", account, copy_region).create_backup_vault(BackupVaultName="dr")
    plan_id = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "silver-daily",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "scheduled",
                    "ScheduleExpression": schedule_for_rpo(params.tiers[tier].rpo),
                    "Lifecycle": {"DeleteAfterDays": 35},
                    "CopyActions": [
                        {
                            "DestinationBackupVaultArn": (
                                f"arn:aws:backup:{copy_region}:{account}:backup-vault:dr"
                            )
                        }
                    ],
                }
            ],
        }
    )["BackupPlanId"]
    carts = f"arn:aws:dynamodb:{region}:{account}:table/carts"
    backup.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={"SelectionName": "carts", "IamRoleArn": ROLE, "Resources": [carts]},
    )

    def rpo_status(inv) -> str:
        ctx = RunContext(params, session, Ledger(str(tmp_path / "ledger")), "t", inv.as_of)
        t = audit.evaluate(ctx, inv, controls="last_recovery_point_within_rpo", progress=False)
        t = t.table()
        return t[t.name == "carts"].status.iloc[0]

    scope = {"services": ["dynamodb"], "accounts": [account], "progress": False}
    before = discover(session, as_of=clock.now(endpoint_url=estate), **scope)
    assert rpo_status(before) == "FAIL"  # the plan has not fired yet

    done = clock.advance("36h", endpoint_url=estate)

    fired = [e for e in done.of_kind("backup") if e.resource_arn == carts]
    assert len(fired) in (1, 2) and all(e.state == "COMPLETED" for e in fired)
    after = discover(session, as_of=clock.now(endpoint_url=estate), **scope)

    def points_of(inv) -> set[str]:
        pts = inv.recovery_points
        return set(pts[pts.resource_arn == carts].arn)

    new = points_of(after) - points_of(before)
    assert {e.result for e in fired} <= new
    assert rpo_status(after) == "PASS"
    copies = session.client("backup", account, copy_region).list_recovery_points_by_resource(
        ResourceArn=carts
    )["RecoveryPoints"]
    assert {c["RecoveryPointArn"] for c in copies} == {
        e.result for e in done.of_kind("copy") if e.resource_arn == carts
    }
    assert copies
