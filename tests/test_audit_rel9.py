"""The REL 9 controls a scanner has that the audit added for issue 14: EBS encryption by
default, rotation of the keys that protect backups, S3 immutability (Object Lock, MFA
delete) and lifecycle expirations, native snapshot encryption, CloudWatch Logs retention,
Data Lifecycle Manager policies as EBS protection, and copies in logically air-gapped
vaults. Each is judged on a sandbox estate built here (not the demo's: other accounts,
Regions, tier names and odd resource names), with a resource that passes and one that
fails; answers the sandbox does not give (AWS's other MFADelete values, a server that
reports no vault type) are judged on recorded API answers, through the same code path."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber

from runbook_lib import audit
from runbook_lib.audit.controls import step
from runbook_lib.audit.evidence import (
    AIR_GAPPED,
    RECOVERY_POINT_COLUMNS,
    VAULT_COLUMNS,
    _listed_vaults,
    inventory_evidence,
)
from runbook_lib.audit.model import CONTROLS
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params, validate_params
from runbook_lib.services.ebs import dlm
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process

WORK, VAULTS = "246813579024", "135792468013"  # a workload and a backup account
HERE, THERE = "ap-southeast-2", "ca-central-1"
ALIAS = "alias/Rel9_backup-Key"  # protect.key_alias
PASSWORD = "Sandb0x-Pass_word"


def _params():
    """Tiers named unlike the demo's: ``platinum-x`` asks for immutability and an
    air-gapped copy, ``tin`` asks for neither."""
    data = load_params("sandbox").model_dump(mode="json", exclude={"source"})
    data.update(
        name="rel9-estate",
        accounts=[
            {"id": WORK, "name": "ledger-wl", "kind": "workload"},
            {"id": VAULTS, "name": "vault-keeper", "kind": "backup"},
        ],
        regions=[HERE, THERE],
        default_tier="tin",
        tiers={
            "platinum-x": {"rpo": "3h", "rto": "2h", "retention": "10d",
                           "restore_test_every": "14d", "immutable": True,
                           "air_gapped_copy": "2d"},
            "tin": {"rpo": "7d", "rto": "3d", "retention": "3d", "restore_test_every": "60d"},
        },
    )  # fmt: skip
    data["tag_keys"] = {**data["tag_keys"], "tier": "Data.Class"}
    data["protect"] = {**data["protect"], "key_alias": ALIAS}
    data["protect"].pop("vault_lock", None)
    return validate_params(data)


def _tags(tier: str, **more: str) -> list[dict[str, str]]:
    return [
        {"Key": "Data.Class", "Value": tier},
        *({"Key": k, "Value": v} for k, v in more.items()),
    ]


def _volume(ec2, name: str, encrypted: bool, snapshot: bool, **tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": _tags("tin", Name=name, **tags)}]
    vol = ec2.create_volume(
        Size=2, AvailabilityZone=f"{HERE}b", Encrypted=encrypted, TagSpecifications=spec
    )["VolumeId"]
    if snapshot:
        ec2.create_snapshot(VolumeId=vol)
    return vol


def _db(rds, name: str, encrypted: bool) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro", Engine="postgres",
        AllocatedStorage=20, MasterUsername="admin9", MasterUserPassword=PASSWORD,
        StorageEncrypted=encrypted, Tags=_tags("tin"),
    )  # fmt: skip
    rds.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=f"{name}-snap-1")


def _cluster(rds, name: str, engine: str, encrypted: bool) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier=name, Engine=engine, MasterUsername="admin9",
        MasterUserPassword=PASSWORD, StorageEncrypted=encrypted, Tags=_tags("tin"),
    )  # fmt: skip
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier=name, DBClusterSnapshotIdentifier=f"{name}-snap-1"
    )


def _bucket(s3, name: str, tier: str, *, lock_days: int | None = None, mfa: bool = False,
            lifecycle: list[dict] | None = None) -> None:  # fmt: skip
    kwargs = {"ObjectLockEnabledForBucket": True} if lock_days is not None else {}
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": HERE}, **kwargs)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(tier)})
    versioning = {"Status": "Enabled", **({"MFADelete": "Enabled"} if mfa else {})}
    s3.put_bucket_versioning(
        Bucket=name,
        VersioningConfiguration=versioning,
        **({"MFA": "arn:aws:iam::246813579024:mfa/root-device 123456"} if mfa else {}),
    )
    if lock_days:
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": lock_days}},
            },
        )
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": lifecycle}
        )


def _log_group(logs, name: str, days: int | None) -> None:
    logs.create_log_group(logGroupName=name, tags={"Data.Class": "platinum-x"})
    if days:
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)


def _keys_and_vaults(session) -> dict[str, str]:
    kms = session.client("kms", WORK, HERE)
    turning = kms.create_key(Description="rotates")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=turning)
    still = kms.create_key(Description="never rotates")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=still)  # protect's key, rotation off
    backup = session.client("backup", WORK, HERE)
    backup.create_backup_vault(BackupVaultName="vault.turning-1", EncryptionKeyArn=turning)
    backup.create_backup_vault(BackupVaultName="vault_still-2", EncryptionKeyArn=still)
    aws_managed = f"arn:aws:kms:{HERE}:{WORK}:alias/aws/backup"
    backup.create_backup_vault(BackupVaultName="vault-aws-3", EncryptionKeyArn=aws_managed)
    return {"turning": turning, "still": still, "aws": aws_managed}


def _air_gapped_copies(session) -> None:
    """``rel9.lockbox-ok`` gets a copy in a logically air-gapped vault (in the other Region);
    ``rel9.openbox`` only a backup in an ordinary vault."""
    lag = session.client("backup", WORK, THERE).create_logically_air_gapped_backup_vault(
        BackupVaultName="lag_keep-9", MinRetentionDays=7, MaxRetentionDays=30
    )
    backup = session.client("backup", WORK, HERE)
    role = f"arn:aws:iam::{WORK}:role/rel9-backup"
    for bucket in ("rel9.lockbox-ok", "rel9.openbox"):
        job = backup.start_backup_job(
            BackupVaultName="vault.turning-1", ResourceArn=f"arn:aws:s3:::{bucket}",
            IamRoleArn=role, Lifecycle={"DeleteAfterDays": 12},
        )  # fmt: skip
        assert backup.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
        if bucket == "rel9.lockbox-ok":
            backup.start_copy_job(
                RecoveryPointArn=job["RecoveryPointArn"], SourceBackupVaultName="vault.turning-1",
                DestinationBackupVaultArn=lag["BackupVaultArn"], IamRoleArn=role,
                Lifecycle={"DeleteAfterDays": 12},
            )  # fmt: skip


POLICY_HOURLY = {  # GetLifecyclePolicy's Policy, as AWS answers it (botocore's model)
    "PolicyId": "policy-0a1b2c3d4e5f60718",
    "State": "ENABLED",
    "PolicyDetails": {
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
        "ResourceTypes": ["VOLUME"],
        "TargetTags": [{"Key": "snap-plan", "Value": "every 2h"}],
        "Schedules": [
            {
                "Name": "two-hourly",
                "CreateRule": {"Interval": 2, "IntervalUnit": "HOURS", "Times": ["00:30"]},
                "RetainRule": {"Count": 36},
                "CrossRegionCopyRules": [
                    {
                        "TargetRegion": THERE,
                        "Encrypted": True,
                        "RetainRule": {"Interval": 5, "IntervalUnit": "DAYS"},
                    }
                ],
            },
            {
                "Name": "weekly-cron",
                "CreateRule": {"CronExpression": "cron(15 3 ? * SUN *)"},
                "RetainRule": {"Interval": 2, "IntervalUnit": "MONTHS"},
            },
        ],
    },
}


@pytest.fixture(scope="module")
def estate():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        session = AwsSession(_params(), endpoint_url=url)
        ec2 = session.client("ec2", WORK, HERE)
        ids = {
            "disk #sealed": _volume(ec2, "disk #sealed", True, True),
            "disk #bare": _volume(ec2, "disk #bare", False, True),
            "disk #nosnap": _volume(ec2, "disk #nosnap", True, False),
            "disk: dlm-kept": _volume(ec2, "disk: dlm-kept", True, False, **{"snap-plan": "every 2h"}),
            "disk: dlm-other": _volume(ec2, "disk: dlm-other", True, False, **{"snap-plan": "never"}),
        }  # fmt: skip
        ids["dlm policy"] = _dlm_policy(session, "ENABLED", POLICY_HOURLY["PolicyDetails"])
        never = {**POLICY_HOURLY["PolicyDetails"],
                 "TargetTags": [{"Key": "snap-plan", "Value": "never"}]}  # fmt: skip
        ids["dlm disabled"] = _dlm_policy(session, "DISABLED", never)  # protects nothing
        ec2.enable_ebs_encryption_by_default()  # in HERE only; THERE stays off
        rds = session.client("rds", WORK, HERE)
        _db(rds, "pg-sealed-9", True)
        _db(rds, "pg-bare-9", False)
        _cluster(rds, "aur-sealed-9", "aurora-postgresql", True)
        _cluster(rds, "aur-bare-9", "aurora-postgresql", False)
        _cluster(rds, "nep-sealed-9", "neptune", True)
        _cluster(rds, "nep-bare-9", "neptune", False)
        s3 = session.client("s3", WORK, HERE)
        _bucket(s3, "rel9.lockbox-ok", "platinum-x", lock_days=12, mfa=True)
        _bucket(s3, "rel9.openbox", "platinum-x")
        _bucket(s3, "rel9.shortlock", "platinum-x", lock_days=2)
        _bucket(s3, "rel9.tin-keeps", "tin", lifecycle=[
            {"ID": "old versions 30d", "Status": "Enabled", "Filter": {"Prefix": ""},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
            {"ID": "cold after 1d", "Status": "Enabled", "Filter": {"Prefix": ""},
             "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
        ])  # fmt: skip
        _bucket(s3, "rel9.tin-purges", "tin", lifecycle=[
            {"ID": "tmp/ 1d", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
             "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 2}},
            {"ID": "off rule", "Status": "Disabled", "Filter": {"Prefix": ""},
             "Expiration": {"Days": 1}},
        ])  # fmt: skip
        logs = session.client("logs", WORK, HERE)
        _log_group(logs, "/rel9/keeps#14", 14)
        _log_group(logs, "/rel9/short#1", 1)
        _log_group(logs, "/rel9/forever", None)
        keys = _keys_and_vaults(session)
        _air_gapped_copies(session)
        yield session, ids, keys


def _dlm_policy(session, state: str, details: dict) -> str:
    """A DLM lifecycle policy in the sandbox (WORK, HERE); its id."""
    return session.client("dlm", WORK, HERE).create_lifecycle_policy(
        ExecutionRoleArn=f"arn:aws:iam::{WORK}:role/rel9 dlm-runner",
        Description=f"rel9 {state.lower()} snapshots",
        State=state,
        PolicyDetails=details,
        Tags={"Data.Class": "tin"},
    )["PolicyId"]


@pytest.fixture(scope="module")
def findings(estate, tmp_path_factory):
    """The audit of the estate (the DLM policies are read from the sandbox's DLM API)."""
    session = estate[0]
    inv = discover(session, progress=False)
    ledger = Ledger(str(tmp_path_factory.mktemp("ledger")))
    ctx = RunContext(session.params, session, ledger, "rel9", datetime.now(UTC))
    return audit.evaluate(ctx, inv, progress=False).table()


def _verdict(table, control_id: str, name: str) -> tuple[str, str, str]:
    hit = table[(table.control_id == control_id) & (table.name == name)]
    assert len(hit) == 1, (
        control_id,
        name,
        len(hit),
        sorted(table[table.control_id == control_id].name),
    )
    row = hit.iloc[0]
    return row.status, row.reason, row.remediation


# ------------------------------------------------------------------ EBS default encryption


def test_ebs_encryption_by_default_per_region(findings):
    judged = findings[findings.control_id == "ebs_default_encryption_enabled"]
    by_scope = {
        (r.account, r.region): (r.status, r.reason, r.remediation) for r in judged.itertuples()
    }
    assert set(by_scope) == {(a, r) for a in (WORK, VAULTS) for r in (HERE, THERE)}
    assert by_scope[(WORK, HERE)][:2] == ("PASS", "EbsEncryptionByDefault = true")
    status, reason, fix = by_scope[(WORK, THERE)]
    assert (status, reason) == ("FAIL", "EbsEncryptionByDefault = false")
    assert fix == step("EBS encryption by default")  # the step protect plans per Region
    # the backup account holds no data: protect plans nothing there, a person turns it on
    status, reason, fix = by_scope[(VAULTS, THERE)]
    assert (status, reason) == ("FAIL", "EbsEncryptionByDefault = false")
    assert fix.startswith(f"manual: EnableEbsEncryptionByDefault in {VAULTS}/{THERE}")


# ------------------------------------------------------------------ KMS rotation


def test_rotation_of_the_keys_that_protect_backups(findings, estate):
    keys = estate[2]
    judged = findings[findings.control_id == "backup_key_rotation_enabled"].set_index("arn")
    assert judged.loc[keys["turning"]].status == "PASS"
    assert judged.loc[keys["turning"]].reason == "KeyRotationEnabled = true"
    assert judged.loc[keys["turning"]]["name"] == "vault vault.turning-1"
    still = judged.loc[keys["still"]]
    assert (still.status, still.reason) == ("FAIL", "KeyRotationEnabled = false")
    assert still["name"] == f"protect.key_alias {ALIAS}; vault vault_still-2"
    assert still.remediation == step("key rotation")  # protect's key: protect rotates it
    aws = judged.loc[keys["aws"]]
    assert aws.status == "NOT_APPLICABLE" and "AWS-managed key" in aws.reason
    assert len(judged) == 3  # no key of another scope, no key nothing backs up with


# ------------------------------------------------------------------ S3 immutability


def test_object_lock_where_the_tier_asks(findings):
    assert _verdict(findings, "s3_object_lock_when_immutable", "rel9.lockbox-ok")[:2] == (
        "PASS",
        "Object Lock on, default retention 12 days (GOVERNANCE)",
    )
    st, reason, fix = _verdict(findings, "s3_object_lock_when_immutable", "rel9.openbox")
    assert (st, reason) == ("FAIL", "Object Lock is not enabled (ObjectLockEnabled absent)")
    assert fix.startswith("manual: enable Object Lock on bucket rel9.openbox")
    st, reason, _ = _verdict(findings, "s3_object_lock_when_immutable", "rel9.shortlock")
    assert (st, reason) == (
        "FAIL",
        "Object Lock on, but default retention 2 days (GOVERNANCE) is below 10 days",
    )
    st, reason, _ = _verdict(findings, "s3_object_lock_when_immutable", "rel9.tin-keeps")
    assert st == "NOT_APPLICABLE" and reason.startswith("tier tin does not ask for immutability")


def test_mfa_delete_where_the_tier_asks(findings):
    """The sandbox stores MFADelete (put with an MFA header), so the bucket that has it
    passes and the one without fails; AWS's other answers are judged on rows as the S3
    inventory makes them."""
    from runbook_lib.services.s3.inventory import mfa_delete

    s3_mfa_delete_when_immutable = CONTROLS["s3_mfa_delete_when_immutable"].evaluate

    st, reason, _ = _verdict(findings, "s3_mfa_delete_when_immutable", "rel9.lockbox-ok")
    assert (st, reason) == ("PASS", "MFADelete = Enabled")
    st, reason, fix = _verdict(findings, "s3_mfa_delete_when_immutable", "rel9.openbox")
    assert (st, reason) == ("FAIL", "MFADelete is not Enabled")
    assert fix.startswith("manual: the root user enables MFA delete on bucket rel9.openbox")
    assert _verdict(findings, "s3_mfa_delete_when_immutable", "rel9.tin-purges")[0] == (
        "NOT_APPLICABLE"
    )
    on, off, never = ({"Status": "Enabled", "MFADelete": "Enabled"},
                      {"Status": "Enabled", "MFADelete": "Disabled"}, {"Status": "Enabled"})  # fmt: skip
    rows = [
        _row("s3", f"arn:aws:s3:::b-{n}", "platinum-x", mfa_delete=mfa_delete(v))
        for n, v in (("on", on), ("off", off), ("never", never))
    ]
    got = {r.arn: (r.status, r.reason) for r in s3_mfa_delete_when_immutable(_evidence(rows))}
    assert got["arn:aws:s3:::b-on"] == ("PASS", "MFADelete = Enabled")
    assert (
        got["arn:aws:s3:::b-off"]
        == got["arn:aws:s3:::b-never"]
        == (
            "FAIL",
            "MFADelete is not Enabled",
        )
    )


def test_immutable_is_off_by_default_and_validated():
    assert not any(t.immutable or t.air_gapped_copy for t in load_params("sandbox").tiers.values())
    data = _params().model_dump(mode="json", exclude={"source"})
    data["tiers"]["tin"]["immutable"] = "yes please"
    with pytest.raises(ParamsError, match="immutable"):
        validate_params(data)
    data["tiers"]["tin"]["immutable"] = False
    data["tiers"]["tin"]["air_gapped_copy"] = "soon"
    with pytest.raises(ParamsError, match="air_gapped_copy"):
        validate_params(data)


# ------------------------------------------------------------------ S3 lifecycle


def test_lifecycle_rules_against_the_tier_retention(findings):
    st, reason, _ = _verdict(findings, "s3_lifecycle_keeps_retention", "rel9.tin-keeps")
    assert (st, reason) == ("PASS", "1 expiring rule(s), none before 3 days")
    st, reason, fix = _verdict(findings, "s3_lifecycle_keeps_retention", "rel9.tin-purges")
    assert st == "FAIL"
    assert reason == (
        "rule tmp/ 1d (prefix tmp/) deletes current versions after 1 days and noncurrent "
        "versions after "
        "2 days (retention 3 days)"
    )  # the disabled rule is not judged
    assert fix.startswith("manual: raise the expiration of rule(s) tmp/ 1d")
    st, reason, _ = _verdict(findings, "s3_lifecycle_keeps_retention", "rel9.openbox")
    assert (st, reason) == ("NOT_APPLICABLE", "no lifecycle rule deletes data")


def test_protects_own_noncurrent_rule_is_closed_by_its_plan_step():
    from runbook_lib.services.s3.protect import NONCURRENT_RULE_ID

    s3_lifecycle_keeps_retention = CONTROLS["s3_lifecycle_keeps_retention"].evaluate

    row = _row("s3", "arn:aws:s3:::b-9", "tin")
    row["lifecycle_expirations"] = [{"rule": NONCURRENT_RULE_ID, "noncurrent": 1}]
    (r,) = s3_lifecycle_keeps_retention(_evidence([row]))
    assert r.status == "FAIL" and r.remediation == step("lifecycle: noncurrent versions")


# ------------------------------------------------------------------ native snapshots


@pytest.mark.parametrize("good, bad", [
    ("disk #sealed", "disk #bare"), ("pg-sealed-9", "pg-bare-9"),
    ("aur-sealed-9", "aur-bare-9"), ("nep-sealed-9", "nep-bare-9"),
])  # fmt: skip
def test_native_snapshot_encryption(findings, good, bad):
    st, reason, _ = _verdict(findings, "snapshot_encrypted", good)
    assert st == "PASS" and reason.endswith("snapshot(s), all encrypted"), reason
    st, reason, fix = _verdict(findings, "snapshot_encrypted", bad)
    assert st == "FAIL" and "not encrypted: " in reason, reason
    assert fix.startswith("manual: copy ") and "delete the unencrypted snapshot(s)" in fix
    named = reason.split("not encrypted: ")[1]
    assert named in fix  # the snapshots are named in the fix


def test_snapshot_encryption_without_snapshots(findings):
    assert _verdict(findings, "snapshot_encrypted", "disk #nosnap")[:2] == (
        "NOT_APPLICABLE",
        "no snapshot",
    )


# ------------------------------------------------------------------ CloudWatch Logs


def test_log_retention_against_the_tier(findings):
    assert _verdict(findings, "logs_retention_meets_tier", "/rel9/keeps#14")[:2] == (
        "PASS",
        "events kept 14 days",
    )
    assert _verdict(findings, "logs_retention_meets_tier", "/rel9/forever")[:2] == (
        "PASS",
        "events kept forever",
    )
    st, reason, fix = _verdict(findings, "logs_retention_meets_tier", "/rel9/short#1")
    assert (st, reason) == ("FAIL", "events kept 1 days, less than 10 days")
    assert fix == step("log retention (days)")


# ------------------------------------------------------------------ DLM


def test_dlm_policy_protects_the_volumes_it_targets(findings, estate):
    policy = estate[1]["dlm policy"]
    st, reason, _ = _verdict(findings, "resource_backed_up_or_reproducible", "disk: dlm-kept")
    assert st == "PASS"
    assert f"dlm policy {policy} / schedule two-hourly" in reason
    assert f"dlm policy {policy} / schedule weekly-cron" in reason
    st, reason, _ = _verdict(findings, "backup_frequency_meets_rpo", "disk: dlm-kept")
    assert st == "PASS" and reason.startswith("achievable RPO 2 h"), reason
    st, reason, _ = _verdict(findings, "backup_retention_meets_objective", "disk: dlm-kept")
    assert (st, reason) == ("PASS", "kept 60 days")  # 2 MONTHS (36 x 2 h = 3 days)
    # the tag value differs (only a DISABLED policy targets it): nothing backs it up
    st, reason, _ = _verdict(findings, "resource_backed_up_or_reproducible", "disk: dlm-other")
    assert st == "FAIL" and reason.startswith("nothing backs it up")


def test_dlm_schedules_from_the_policy():
    two, weekly = dlm.schedules(POLICY_HOURLY)
    assert (two.rpo, two.retention_days, two.copy_regions) == (timedelta(hours=2), 3.0, (THERE,))
    assert (weekly.rpo, weekly.retention_days) == (timedelta(days=7), 60.0)
    assert dlm.schedules({**POLICY_HOURLY, "State": "DISABLED"}) == []
    default = {
        "PolicyId": "policy-default-1", "State": "ENABLED", "DefaultPolicy": True,
        "PolicyDetails": {"PolicyLanguage": "SIMPLIFIED", "ResourceType": "VOLUME",
                          "CreateInterval": 1, "RetainInterval": 9,
                          "Exclusions": {"ExcludeTags": [{"Key": "skip", "Value": "me"}],
                                         "ExcludeVolumeTypes": ["sc1"]}},
    }  # fmt: skip
    (d,) = dlm.schedules(default)
    vol = {"VolumeType": "gp3", "Tags": [{"Key": "any", "Value": "thing"}]}
    assert d.targets(vol, {}) and (d.rpo, d.retention_days) == (timedelta(days=1), 9.0)
    assert not d.targets({**vol, "Tags": [{"Key": "skip", "Value": "me"}]}, {})
    assert not d.targets({**vol, "VolumeType": "sc1"}, {})


def test_dlm_instance_policies_target_the_attached_volumes():
    policy = {**POLICY_HOURLY, "PolicyDetails": {**POLICY_HOURLY["PolicyDetails"],
                                                 "ResourceTypes": ["INSTANCE"]}}  # fmt: skip
    sched = dlm.schedules(policy)[0]
    vol = {
        "Attachments": [{"InstanceId": "i-0abc"}],
        "Tags": [{"Key": "snap-plan", "Value": "every 2h"}],
    }
    assert not sched.targets(vol, {"i-0abc": {}})  # the volume's own tag does not count
    assert sched.targets(vol, {"i-0abc": {"snap-plan": "every 2h"}})


def test_dlm_read_follows_the_api_model():
    """``dlm.read`` on a real botocore client whose answers are stubbed (the Stubber checks
    each request and answer against botocore's DLM model): one listing of the enabled
    policies, one read per snapshot policy; other policy types are skipped."""
    client = boto3.client("dlm", region_name=HERE, aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_response(
            "get_lifecycle_policies",
            {"Policies": [
                {"PolicyId": POLICY_HOURLY["PolicyId"], "State": "ENABLED",
                 "PolicyType": "EBS_SNAPSHOT_MANAGEMENT"},
                {"PolicyId": "policy-ami-1", "State": "ENABLED", "PolicyType": "IMAGE_MANAGEMENT"},
            ]},
            {"State": "ENABLED"},
        )  # fmt: skip
        stub.add_response(
            "get_lifecycle_policy",
            {"Policy": POLICY_HOURLY},
            {"PolicyId": POLICY_HOURLY["PolicyId"]},
        )
        got = dlm.read(client)
        stub.assert_no_pending_responses()
    assert [s.name for s in got] == ["two-hourly", "weekly-cron"]


def test_on_the_sandbox_dlm_policies_are_read_as_protection(estate):
    """The inventory reads the sandbox's DLM API as it reads AWS's: the targeted volume is
    protected with its schedule's RPO and copy Region; the volume only a DISABLED policy
    targets, and an untargeted one, are not."""
    t = discover(estate[0], progress=False).table().set_index("name")
    kept = t.loc["disk: dlm-kept"]
    policy = estate[1]["dlm policy"]
    assert kept.protected and kept.rpo_seconds == 2 * 3600
    assert kept.mechanisms == [f"dlm policy {policy} / schedule two-hourly",
                               f"dlm policy {policy} / schedule weekly-cron"]  # fmt: skip
    assert THERE in kept.copy_regions and kept.notes == ""
    assert not t.loc["disk: dlm-other"].protected  # targeted by the disabled policy only
    assert not t.loc["disk #nosnap"].protected and t.loc["disk #nosnap"].mechanisms == []


# ------------------------------------------------------------------ air-gapped vaults


def test_air_gapped_copy_on_the_sandbox(findings):
    """The sandbox's logically air-gapped vault (another Region) holds a copy of one bucket:
    it passes; a bucket backed up only into an ordinary vault, or not at all, fails."""
    st, reason, _ = _verdict(findings, "resource_in_air_gapped_vault", "rel9.lockbox-ok")
    assert st == "PASS", reason
    assert reason.startswith("recovery point in logically air-gapped vault ")
    assert reason.endswith(f"old ({WORK}/{THERE} vault lag_keep-9)")
    # its copy there names no key ARN, and EncryptionKeyType says AWS-owned: judged, not an
    # evaluation error
    st, reason, _ = _verdict(
        findings, "recovery_point_encrypted", "lag_keep-9: arn:aws:s3:::rel9.lockbox-ok"
    )
    assert (st, reason) == ("PASS", "all 1 recovery point(s) encrypted with an AWS-owned key")
    # the air-gapped vault has no access policy: its compliance-mode lock (7 to 30 days, as
    # created) refuses deletion to every principal (tests/test_air_gapped_audit.py)
    st, reason, _ = _verdict(findings, "vault_prevents_manual_deletion", "lag_keep-9")
    assert st == "PASS" and "(min retention 7 days, max 30 days)" in reason
    for bucket in ("rel9.openbox", "rel9.shortlock"):
        st, reason, fix = _verdict(findings, "resource_in_air_gapped_vault", bucket)
        assert (st, reason) == ("FAIL", "no recovery point in a logically air-gapped vault")
        assert fix.startswith("manual: create a logically air-gapped vault")
    st, reason, _ = _verdict(findings, "resource_in_air_gapped_vault", "pg-bare-9")
    assert st == "NOT_APPLICABLE" and reason == "tier tin asks for no logically air-gapped copy"


def _row(service: str, arn: str, tier: str, **kw) -> dict:
    return {
        "account": WORK, "region": HERE, "service": service, "arn": arn, "name": arn.split(":")[-1],
        "tier": tier, "reproducible_from": None, "protected": True, "mechanisms": [], **kw,
    }  # fmt: skip


def _evidence(rows, *, points=(), vaults=(), sandbox=False):
    class _Inv:
        params = _params()
        as_of = datetime(2026, 11, 30, 12, tzinfo=UTC)
        errors = pd.DataFrame()

        def table(self):
            return pd.DataFrame(rows)

    ev = inventory_evidence(_Inv(), sandbox=sandbox)
    pts = pd.DataFrame(list(points), columns=RECOVERY_POINT_COLUMNS)
    pts["created"] = pd.to_datetime(pts["created"], utc=True)
    return replace(
        ev, recovery_points=pts, vaults=pd.DataFrame(list(vaults), columns=VAULT_COLUMNS)
    )


def _point(arn: str, hours_ago: float, vault_type: str | None) -> dict:
    return {
        "account": VAULTS, "region": THERE, "vault": "lag-vault.9", "arn": f"rp-{hours_ago}",
        "resource_arn": arn, "resource_type": "EBS", "status": "COMPLETED",
        "created": datetime(2026, 11, 30, 12, tzinfo=UTC) - timedelta(hours=hours_ago),
        "encrypted": True, "vault_type": vault_type,
    }  # fmt: skip


def test_air_gapped_copy_judged_from_the_vault_type():
    arn = f"arn:aws:ec2:{HERE}:{WORK}:volume/vol-0feed"
    evaluate = CONTROLS["resource_in_air_gapped_vault"].evaluate
    row = _row("ebs", arn, "platinum-x")
    (r,) = evaluate(_evidence([row], points=[_point(arn, 30, AIR_GAPPED)]))
    assert r.status == "PASS" and r.reason.startswith(
        "recovery point in logically air-gapped vault 1.2 d old"
    )
    (r,) = evaluate(_evidence([row], points=[_point(arn, 60, AIR_GAPPED)]))
    assert r.status == "FAIL" and "older than 2 d" in r.reason
    assert r.remediation.startswith("manual: create a logically air-gapped vault")
    # a copy in an ordinary vault is not air-gapped, however recent
    typed = [{"account": VAULTS, "region": THERE, "name": "plain", "vault_type": "BACKUP_VAULT"}]
    (r,) = evaluate(_evidence([row], points=[_point(arn, 1, "BACKUP_VAULT")], vaults=typed))
    assert (r.status, r.reason) == ("FAIL", "no recovery point in a logically air-gapped vault")
    # a sandbox that reports no vault type cannot hold one: said, not failed
    untyped = [{"account": VAULTS, "region": THERE, "name": "plain", "vault_type": None}]
    (r,) = evaluate(_evidence([row], vaults=untyped, sandbox=True))
    assert r.status == "NOT_SUPPORTED_ON_SANDBOX"
    # one vault the server typed is enough to know it reports types: no copy is a FAIL
    (r,) = evaluate(_evidence([row], vaults=untyped + typed, sandbox=True))
    assert (r.status, r.reason) == ("FAIL", "no recovery point in a logically air-gapped vault")
    (r,) = evaluate(_evidence([_row("ebs", arn, "tin")]))
    assert r.status == "NOT_APPLICABLE"


def test_air_gapped_vaults_are_listed_by_type():
    """ListBackupVaults by default and with ByVaultType: an air-gapped vault only the typed
    listing returns is read; one a listing returns without VaultType (a server that ignores
    the filter) is not taken for air-gapped."""
    client = boto3.client(
        "backup", region_name=HERE, aws_access_key_id="x", aws_secret_access_key="y"
    )
    plain = {
        "BackupVaultName": "plain",
        "BackupVaultArn": f"arn:aws:backup:{HERE}:{VAULTS}:backup-vault:plain",
    }
    lag = {"BackupVaultName": "lag.9", "VaultType": AIR_GAPPED,
           "BackupVaultArn": f"arn:aws:backup:{HERE}:{VAULTS}:backup-vault:lag.9"}  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("list_backup_vaults", {"BackupVaultList": [plain]}, {})
        stub.add_response(
            "list_backup_vaults", {"BackupVaultList": [plain, lag]}, {"ByVaultType": AIR_GAPPED}
        )
        got = _listed_vaults(client)
    assert [v["BackupVaultName"] for v in got] == ["plain", "lag.9"]
    with Stubber(client) as stub:
        stub.add_response("list_backup_vaults", {"BackupVaultList": [plain]}, {})
        stub.add_response(
            "list_backup_vaults", {"BackupVaultList": [plain]}, {"ByVaultType": AIR_GAPPED}
        )
        assert [v["BackupVaultName"] for v in _listed_vaults(client)] == ["plain"]


# ------------------------------------------------------------------ catalogue


@pytest.mark.parametrize("control_id, scanner, ids", [
    ("ebs_default_encryption_enabled", "prowler", "ec2_ebs_default_encryption"),
    ("ebs_default_encryption_enabled", "steampipe", "ebs_encryption_by_default_enabled"),
    ("backup_key_rotation_enabled", "prowler", "kms_cmk_rotation_enabled"),
    ("s3_object_lock_when_immutable", "prowler", "s3_bucket_object_lock"),
    ("s3_mfa_delete_when_immutable", "steampipe", "s3_bucket_mfa_delete_enabled"),
    ("s3_lifecycle_keeps_retention", "prowler", "s3_bucket_lifecycle_enabled"),
    ("snapshot_encrypted", "prowler", "ec2_ebs_snapshots_encrypted"),
    ("snapshot_encrypted", "steampipe", "rds_db_snapshot_encrypted_at_rest"),
    ("logs_retention_meets_tier", "prowler",
     "cloudwatch_log_group_retention_policy_specific_days_enabled"),
    ("resource_in_air_gapped_vault", "audit_manager", "RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT"),
])  # fmt: skip
def test_catalogue_shows_the_scanner_ids(control_id, scanner, ids):
    assert ids in audit.controls_table().loc[control_id][scanner].split(", ")


# ------------------------------------------------------------------ settings read per scope


def test_a_setting_that_cannot_be_read_is_said_not_guessed():
    """read_settings calls each registered read once per (account, Region); a read that
    fails is an Unread naming the error, which the controls report (FAIL on AWS,
    NOT_SUPPORTED_ON_SANDBOX where the sandbox lacks the call), never PASS."""
    from botocore.exceptions import ClientError

    from runbook_lib.audit.evidence import SETTING_READS, Unread, read_settings

    calls = []

    def denied(session, ev, account, region):
        calls.append((account, region))
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetX")

    class _Session:
        sandbox = False

    ev = _evidence([])
    saved = dict(SETTING_READS)
    SETTING_READS.clear()
    SETTING_READS["denied"] = denied
    try:
        got = read_settings(_Session(), ev)
    finally:
        SETTING_READS.clear()
        SETTING_READS.update(saved)
    assert sorted(calls) == sorted((a, r) for a in (WORK, VAULTS) for r in (HERE, THERE))
    assert all(isinstance(v, Unread) and "AccessDenied" in v.why for v in got["denied"].values())
    unread = Unread("ClientError: AccessDenied")
    ev = replace(ev, settings={"ebs_encryption_by_default": {(WORK, HERE): unread},
                               "backup_keys": {(WORK, HERE): unread}})  # fmt: skip
    (r,) = CONTROLS["ebs_default_encryption_enabled"].evaluate(ev)
    assert (r.status, r.reason) == ("FAIL", "could not be read: ClientError: AccessDenied")
    (r,) = CONTROLS["backup_key_rotation_enabled"].evaluate(ev)
    assert r.status == "FAIL" and r.arn == f"estate:{WORK}/{HERE}"
    ev = replace(ev, settings={"ebs_encryption_by_default": {(WORK, HERE): Unread("x", True)}})
    (r,) = CONTROLS["ebs_default_encryption_enabled"].evaluate(ev)
    assert r.status == "NOT_SUPPORTED_ON_SANDBOX"


def test_keys_without_automatic_rotation_are_not_applicable():
    fact = {"key": "k", "arn": "arn:aws:kms:ap-southeast-2:246813579024:key/hmac-1",
            "account": WORK, "region": HERE, "used_by": ["vault v.1"], "cmk": True,
            "rotation": None, "period_days": None, "error": "", "spec": "HMAC_256",
            "origin": "AWS_KMS"}  # fmt: skip
    ev = replace(_evidence([]), settings={"backup_keys": {(WORK, HERE): [fact]}})
    (r,) = CONTROLS["backup_key_rotation_enabled"].evaluate(ev)
    assert r.status == "NOT_APPLICABLE" and "key spec HMAC_256" in r.reason
    other = {**fact, "spec": "SYMMETRIC_DEFAULT", "rotation": False}
    ev = replace(ev, settings={"backup_keys": {(WORK, HERE): [other]}})
    (r,) = CONTROLS["backup_key_rotation_enabled"].evaluate(ev)
    assert r.status == "FAIL"
    assert (
        r.remediation
        == f"manual: enable automatic rotation of key {other['arn']} (kms EnableKeyRotation)"
    )
