"""The sandbox's Amazon Data Lifecycle Manager (runbook_sandbox.dlm_ext), through boto3's
own ``dlm`` client (botocore's model builds every request and parses every answer), once
in-process under mock_aws and once against a ThreadedMotoServer."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_sandbox import dlm_ext

REGION = "eu-north-1"
ACCOUNT = "987654321098"  # not moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/dlm runner_9"


@pytest.fixture(scope="module")
def dlm_server(backup_env: None) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    dlm_ext.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["mock_aws", "server"])
def endpoint(request: pytest.FixtureRequest, backup_env: None) -> Iterator[str | None]:
    dlm_ext.install()  # before mock_aws starts: it registers the URL patterns then
    if request.param == "mock_aws":
        from moto import mock_aws

        with mock_aws():
            yield None
        return
    url = request.getfixturevalue("dlm_server")
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    yield url


def _client(endpoint: str | None, region: str = REGION, account: str = ACCOUNT) -> Any:
    client = boto3.client("dlm", region_name=region, endpoint_url=endpoint)

    def as_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign.dlm.*", as_account)
    return client


@pytest.fixture
def dlm(endpoint: str | None) -> Any:
    return _client(endpoint)


def _details(tag: str = "every 4h", **more: Any) -> dict[str, Any]:
    return {
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
        "ResourceTypes": ["VOLUME"],
        "TargetTags": [{"Key": "snap:plan", "Value": tag}],
        "Schedules": [
            {
                "Name": "four-hourly",
                "CreateRule": {"Interval": 4, "IntervalUnit": "HOURS", "Times": ["02:15"]},
                "RetainRule": {"Count": 12},
                "TagsToAdd": [{"Key": "made-by", "Value": "dlm"}],
                "CrossRegionCopyRules": [
                    {"TargetRegion": "eu-west-1", "Encrypted": True, "CopyTags": True}
                ],
            },
            {
                "Name": "monthly cron",
                "CreateRule": {"CronExpression": "cron(0 4 1 * ? *)"},
                "RetainRule": {"Interval": 1, "IntervalUnit": "YEARS"},
            },
        ],
        **more,
    }


def _create(dlm: Any, details: dict | None = None, state: str = "ENABLED", **kw: Any) -> str:
    if details is not None:
        kw["PolicyDetails"] = details
    return dlm.create_lifecycle_policy(
        ExecutionRoleArn=ROLE, Description="odd_name-9 policy", State=state, **kw
    )["PolicyId"]


def _error(call: Any, **kw: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value.response


# ----------------------------------------------------------------- policies


def test_a_policy_is_stored_as_given_and_read_back(dlm):
    details = _details()
    pid = _create(dlm, details, Tags={"team": "sre / data"})
    policy = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    assert pid.startswith("policy-") and len(pid) == len("policy-") + 17
    assert policy["PolicyDetails"] == details
    assert policy["PolicyArn"] == f"arn:aws:dlm:{REGION}:{ACCOUNT}:policy/{pid}"
    assert (policy["State"], policy["ExecutionRoleArn"], policy["DefaultPolicy"]) == (
        "ENABLED",
        ROLE,
        False,
    )
    assert policy["Tags"] == {"team": "sre / data"}
    assert policy["DateCreated"] == policy["DateModified"]
    (summary,) = dlm.get_lifecycle_policies()["Policies"]
    assert summary == {
        "PolicyId": pid,
        "Description": "odd_name-9 policy",
        "State": "ENABLED",
        "Tags": {"team": "sre / data"},
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
        "DefaultPolicy": False,
    }


def test_the_policy_type_defaults_to_snapshots(dlm):
    details = _details()
    del details["PolicyType"]
    pid = _create(dlm, details)
    got = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]["PolicyDetails"]
    assert got["PolicyType"] == "EBS_SNAPSHOT_MANAGEMENT"


def test_get_lifecycle_policies_filters(dlm):
    vol = _create(dlm, _details("a=b"))  # a tag value holding "=" (split at the first one)
    off = _create(dlm, _details("nightly"), state="DISABLED")
    inst = _create(dlm, {**_details("nightly"), "ResourceTypes": ["INSTANCE"]})
    ami = _create(
        dlm,
        {
            "PolicyType": "IMAGE_MANAGEMENT",
            "ResourceTypes": ["INSTANCE"],
            "TargetTags": [{"Key": "ami", "Value": "weekly"}],
            "Schedules": [
                {
                    "Name": "w",
                    "CreateRule": {"CronExpression": "cron(0 5 ? * MON *)"},
                    "RetainRule": {"Count": 4},
                }
            ],
        },
    )
    dflt = _create(dlm, DefaultPolicy="VOLUME")

    def ids(**kw: Any) -> set[str]:
        return {p["PolicyId"] for p in dlm.get_lifecycle_policies(**kw)["Policies"]}

    assert ids() == {vol, off, inst, ami, dflt}
    assert ids(State="DISABLED") == {off}
    assert ids(State="ENABLED") == {vol, inst, ami, dflt}
    assert ids(ResourceTypes=["VOLUME"]) == {vol, off, dflt}
    assert ids(ResourceTypes=["INSTANCE"]) == {inst, ami}
    assert ids(TargetTags=["snap:plan=a=b"]) == {vol}
    assert ids(TargetTags=["snap:plan=nightly", "ami=weekly"]) == {off, inst, ami}
    assert ids(TargetTags=["snap:plan=never"]) == set()
    assert ids(TagsToAdd=["made-by=dlm"]) == {vol, off, inst}
    assert ids(DefaultPolicyType="VOLUME") == ids(DefaultPolicyType="ALL") == {dflt}
    assert ids(DefaultPolicyType="INSTANCE") == set()
    assert ids(PolicyIds=[vol, ami]) == {vol, ami}
    assert ids(PolicyIds=[vol], State="DISABLED") == set()
    types = {p["PolicyId"]: p["PolicyType"] for p in dlm.get_lifecycle_policies()["Policies"]}
    assert types[ami] == "IMAGE_MANAGEMENT" and types[dflt] == "EBS_SNAPSHOT_MANAGEMENT"


def test_a_filter_tag_must_be_key_equals_value(dlm):
    err = _error(dlm.get_lifecycle_policies, TargetTags=["no-equals-sign"])
    assert err["Error"]["Code"] == "InvalidRequestException"
    assert "TargetTags 'no-equals-sign'" in err["Error"]["Message"]
    assert "key=value" in err["Error"]["Message"]


def test_default_policies(dlm):
    pid = _create(
        dlm,
        DefaultPolicy="VOLUME",
        CreateInterval=2,
        RetainInterval=9,
        Exclusions={"ExcludeVolumeTypes": ["sc1"], "ExcludeTags": [{"Key": "k", "Value": "v"}]},
        CrossRegionCopyTargets=[{"TargetRegion": "eu-west-1"}],
    )
    policy = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    assert policy["DefaultPolicy"] is True
    assert policy["PolicyDetails"] == {
        "PolicyLanguage": "SIMPLIFIED",
        "ResourceType": "VOLUME",
        "CreateInterval": 2,
        "RetainInterval": 9,
        "Exclusions": {"ExcludeVolumeTypes": ["sc1"], "ExcludeTags": [{"Key": "k", "Value": "v"}]},
        "CrossRegionCopyTargets": [{"TargetRegion": "eu-west-1"}],
    }
    # the same settings given in PolicyDetails instead; defaults: every day, kept 7 days
    inst = _create(
        dlm, {"PolicyLanguage": "SIMPLIFIED", "ResourceType": "INSTANCE"}, DefaultPolicy="INSTANCE"
    )
    got = dlm.get_lifecycle_policy(PolicyId=inst)["Policy"]["PolicyDetails"]
    assert (got["CreateInterval"], got["RetainInterval"]) == (1, 7)
    # one default policy per resource type and Region
    err = _error(dlm.create_lifecycle_policy, ExecutionRoleArn=ROLE, Description="again",
                 State="ENABLED", DefaultPolicy="VOLUME")  # fmt: skip
    assert "a default policy for VOLUME already exists" in err["Error"]["Message"]


@pytest.mark.parametrize(
    "kw, names",
    [
        ({"DefaultPolicy": "VOLUME", "CreateInterval": 8}, "CreateInterval 8: allowed 1 to 7"),
        ({"DefaultPolicy": "VOLUME", "RetainInterval": 1}, "RetainInterval 1: allowed 2 to 14"),
        (
            {"DefaultPolicy": "VOLUME", "CreateInterval": 5, "RetainInterval": 5},
            "RetainInterval 5 days must be greater than CreateInterval 5 days",
        ),
        (
            {
                "DefaultPolicy": "VOLUME",
                "CreateInterval": 2,
                "PolicyDetails": {"RetainInterval": 3},
            },
            "in the request body or in PolicyDetails, not both",
        ),
        (
            {"PolicyDetails": _details(), "RetainInterval": 3},
            "['RetainInterval']: only for default",
        ),
        ({}, "PolicyDetails is required for a custom policy"),
    ],
)
def test_default_policy_settings_are_checked(dlm, kw, names):
    err = _error(dlm.create_lifecycle_policy, ExecutionRoleArn=ROLE, Description="d",
                 State="ENABLED", **kw)  # fmt: skip
    assert err["Error"]["Code"] == "InvalidRequestException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert names in err["Error"]["Message"]
    assert dlm.get_lifecycle_policies()["Policies"] == []  # nothing half-made


def _sched(**changes: Any) -> dict[str, Any]:
    sched = {"Name": "s", "CreateRule": {"Interval": 12, "IntervalUnit": "HOURS"},
             "RetainRule": {"Count": 3}}  # fmt: skip
    sched.update(changes)
    return {k: v for k, v in sched.items() if v is not None}


@pytest.mark.parametrize(
    "details, message, extra",
    [
        ({"TargetTags": None}, "PolicyDetails.TargetTags is required", "RequiredParameters"),
        ({"ResourceTypes": None}, "PolicyDetails.ResourceTypes is required", "RequiredParameters"),
        ({"ResourceTypes": ["BUCKET"]}, "ResourceTypes ['BUCKET']: exactly one of", None),
        ({"Schedules": None}, "PolicyDetails.Schedules is required", "RequiredParameters"),
        ({"Schedules": [_sched(Name=f"n{i}") for i in range(5)]}, "5 given, allowed 1 to 4", None),
        ({"Schedules": [_sched(), _sched()]}, "names must differ", None),
        (
            {"Schedules": [_sched(CreateRule={"Interval": 5, "IntervalUnit": "HOURS"})]},
            "Schedules[0].CreateRule.Interval 5: allowed [1, 2, 3, 4, 6, 8, 12, 24]",
            None,
        ),
        (
            {"Schedules": [_sched(CreateRule={"Interval": 6})]},
            "CreateRule.IntervalUnit None: allowed ['HOURS']",
            "RequiredParameters",
        ),
        (
            {
                "Schedules": [
                    _sched(
                        CreateRule={
                            "Interval": 6,
                            "IntervalUnit": "HOURS",
                            "CronExpression": "cron(0 1 * * ? *)",
                        }
                    )
                ]
            },
            "give Interval or CronExpression, not both",
            "MutuallyExclusiveParameters",
        ),  # fmt: skip
        (
            {"Schedules": [_sched(CreateRule={"CronExpression": "cron(0 1 * * ? * 7)"})]},
            "CronExpression 'cron(0 1 * * ? * 7)': must be cron(<6 fields>)",
            None,
        ),
        ({"Schedules": [_sched(CreateRule=None)]}, "Schedules[0].CreateRule is required", None),
        ({"Schedules": [_sched(RetainRule=None)]}, "Schedules[0].RetainRule is required", None),
        (
            {"Schedules": [_sched(RetainRule={"Count": 2, "Interval": 3, "IntervalUnit": "DAYS"})]},
            "give Count or Interval, not both",
            "MutuallyExclusiveParameters",
        ),
        (
            {"Schedules": [_sched(RetainRule={"Interval": 3, "IntervalUnit": "FORTNIGHTS"})]},
            "RetainRule.IntervalUnit 'FORTNIGHTS': allowed ['DAYS', 'WEEKS', 'MONTHS', 'YEARS']",
            None,
        ),
        (
            {"PolicyType": "IMAGE_MANAGEMENT"},
            "ResourceTypes ['VOLUME']: exactly one of ['INSTANCE']",
            None,
        ),
        ({"PolicyType": "EVENT_BASED_POLICY"}, "needs ['EventSource', 'Actions']", None),
        ({"PolicyLanguage": "SIMPLIFIED"}, "SIMPLIFIED is for default policies", None),
    ],
)
def test_custom_policy_details_are_checked(dlm, details, message, extra):
    given = {**_details(), "Schedules": [_sched()], **details}
    given = {k: v for k, v in given.items() if v is not None}
    err = _error(dlm.create_lifecycle_policy, ExecutionRoleArn=ROLE, Description="d",
                 State="ENABLED", PolicyDetails=given)  # fmt: skip
    assert err["Error"]["Code"] == "InvalidRequestException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in err["Error"]["Message"]
    if extra:
        assert err[extra], err
    assert dlm.get_lifecycle_policies()["Policies"] == []


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"ExecutionRoleArn": "arn:aws:iam::1:user/x"}, "ExecutionRoleArn 'arn:aws:iam::1:user/x'"),
        ({"Description": "semi;colon"}, "Description 'semi;colon'"),
    ],
)
def test_role_and_description_are_checked(dlm, kw, message):
    call = {"ExecutionRoleArn": ROLE, "Description": "d", "State": "ENABLED",
            "PolicyDetails": _details(), **kw}  # fmt: skip
    err = _error(dlm.create_lifecycle_policy, **call)
    assert err["Error"]["Code"] == "InvalidRequestException"
    assert message in err["Error"]["Message"]


def test_update_changes_what_it_is_given_and_keeps_the_rest(dlm):
    pid = _create(dlm, _details())
    before = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    dlm.update_lifecycle_policy(PolicyId=pid, State="DISABLED")
    after = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    assert after["State"] == "DISABLED" and after["PolicyDetails"] == before["PolicyDetails"]
    assert after["DateModified"] >= before["DateModified"]
    narrower = _details("weekly")
    dlm.update_lifecycle_policy(PolicyId=pid, PolicyDetails=narrower, Description="now weekly")
    after = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    assert (after["PolicyDetails"], after["Description"]) == (narrower, "now weekly")
    # refused: changing the type, a default-only field on a custom policy, bad details
    for kw, message in [
        ({"PolicyDetails": {**_details(), "PolicyType": "IMAGE_MANAGEMENT",
                            "ResourceTypes": ["INSTANCE"]}}, "policy type cannot be changed"),
        ({"CreateInterval": 2}, "only for default policies; this policy is custom"),
        ({"PolicyDetails": {**_details(), "Schedules": [_sched(RetainRule={"Count": 0})]}},
         "RetainRule.Count 0: allowed 1 to 1000"),
    ]:  # fmt: skip
        err = _error(dlm.update_lifecycle_policy, PolicyId=pid, State="ENABLED", **kw)
        assert err["Error"]["Code"] == "InvalidRequestException"
        assert message in err["Error"]["Message"]
    unchanged = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]
    assert unchanged["State"] == "DISABLED" and unchanged["PolicyDetails"] == narrower


def test_update_of_a_default_policy(dlm):
    pid = _create(dlm, DefaultPolicy="VOLUME", CreateInterval=1, RetainInterval=4)
    dlm.update_lifecycle_policy(PolicyId=pid, RetainInterval=12, CopyTags=True)
    got = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]["PolicyDetails"]
    assert (got["CreateInterval"], got["RetainInterval"], got["CopyTags"]) == (1, 12, True)
    dlm.update_lifecycle_policy(PolicyId=pid, CreateInterval=7)
    # checked against the stored settings: kept 5 days, taken every 7
    err = _error(dlm.update_lifecycle_policy, PolicyId=pid, RetainInterval=5)
    assert (
        "RetainInterval 5 days must be greater than CreateInterval 7 days"
        in (err["Error"]["Message"])
    )
    got = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]["PolicyDetails"]
    assert (got["CreateInterval"], got["RetainInterval"]) == (7, 12)


def test_delete_and_unknown_policies(dlm):
    pid = _create(dlm, _details())
    dlm.delete_lifecycle_policy(PolicyId=pid)
    assert dlm.get_lifecycle_policies()["Policies"] == []
    for call in (dlm.get_lifecycle_policy, dlm.delete_lifecycle_policy):
        err = _error(call, PolicyId=pid)
        assert err["Error"]["Code"] == "ResourceNotFoundException"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert (err["ResourceType"], err["ResourceIds"]) == ("Policy", [pid])
    err = _error(dlm.update_lifecycle_policy, PolicyId=pid, State="ENABLED")
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_tags(dlm):
    pid = _create(dlm, _details(), Tags={"a": "1"})
    arn = dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]["PolicyArn"]
    dlm.tag_resource(ResourceArn=arn, Tags={"b": "2", "c d": "é"})
    dlm.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert dlm.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2", "c d": "é"}
    missing = arn.replace(pid, "policy-00000000000000000")
    err = _error(dlm.list_tags_for_resource, ResourceArn=missing)
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_policies_are_per_account_and_region(endpoint, dlm):
    pid = _create(dlm, _details())
    other_region = _client(endpoint, region="ap-south-1")
    other_account = _client(endpoint, account="111122223333")
    assert other_region.get_lifecycle_policies()["Policies"] == []
    assert other_account.get_lifecycle_policies()["Policies"] == []
    assert _error(other_account.get_lifecycle_policy, PolicyId=pid)["Error"]["Code"] == (
        "ResourceNotFoundException"
    )
    assert [p["PolicyId"] for p in dlm.get_lifecycle_policies()["Policies"]] == [pid]


def test_moto_reset_clears_the_policies(endpoint, dlm):
    _create(dlm, _details())
    if endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    else:
        from moto.core.base_backend import BackendDict

        BackendDict.reset()
    assert dlm.get_lifecycle_policies()["Policies"] == []


def test_policies_travel_with_the_saved_state(endpoint, dlm, tmp_path):
    from runbook_sandbox import state

    pid = _create(dlm, _details())
    path = tmp_path / "sandbox.state"
    info = state.save(path, endpoint_url=endpoint)
    assert info.services.get("dlm", 0) >= 1  # (account, Region) backends in use
    dlm.delete_lifecycle_policy(PolicyId=pid)
    state.load(path, endpoint_url=endpoint)
    assert dlm.get_lifecycle_policy(PolicyId=pid)["Policy"]["PolicyDetails"] == _details()


def test_the_demo_estate_has_one_volume_under_a_dlm_policy(dlm_server):
    """The demo seed gives one EBS volume a DLM policy (read back through the inventory's
    own reader); the other volumes stay without one (their gaps are kept). Against the
    server only: a sandbox session without an endpoint would start and seed its own."""
    import random
    from datetime import timedelta

    from runbook_lib.inventory.model import tag_dict
    from runbook_lib.params import load_params
    from runbook_lib.services.ebs import dlm as ebs_dlm
    from runbook_lib.session import AwsSession
    from runbook_sandbox.seed import OWNER, SEEDERS, demo_estate

    urllib.request.urlopen(urllib.request.Request(f"{dlm_server}/moto-api/reset", method="POST"))
    params = load_params("sandbox")
    session = AwsSession(params, endpoint_url=dlm_server)
    volumes = [d for d in demo_estate(params) if d.service == "ebs"]
    assert len([d for d in volumes if d.facts.get("dlm")]) == 1
    for d in volumes:
        SEEDERS["ebs"](session, d, None, {"owner": OWNER}, random.Random(1))
    targeted = {}
    for account, region in {(d.account, d.region) for d in volumes}:
        schedules = ebs_dlm.read(session.client("dlm", account, region))
        described = session.client("ec2", account, region).describe_volumes()["Volumes"]
        for vol in described:
            hits = [s for s in schedules if s.targets(vol, {})]
            if hits:
                targeted[tag_dict(vol["Tags"])["Name"]] = hits
    ((name, (sched,)),) = targeted.items()
    assert name == next(d.name for d in volumes if d.facts.get("dlm"))
    assert (sched.rpo, sched.retention_days) == (timedelta(hours=12), 14.0)


# ----------------------------------------------------------------- the sandbox clock
# A sandbox server in a separate process (as `runbook sandbox serve` runs one): the clock
# moves the time of the process it runs in, never the test's.


@pytest.fixture(scope="module")
def clock_server(backup_env: None) -> Iterator[str]:
    from runbook_sandbox.server import running_sandbox

    with running_sandbox(None) as url:
        yield url


@pytest.fixture
def clock_url(clock_server: str) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{clock_server}/moto-api/reset", method="POST"))
    return clock_server


def _ec2(endpoint: str | None, region: str = REGION) -> Any:
    client = boto3.client("ec2", region_name=region, endpoint_url=endpoint)

    def as_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = ACCOUNT

    client.meta.events.register("before-sign.ec2.*", as_account)
    return client


def _volume(ec2: Any, volume_type: str = "gp3", **tags: str) -> str:
    kw = {"TagSpecifications": [{"ResourceType": "volume", "Tags": [
        {"Key": k, "Value": v} for k, v in tags.items()]}]} if tags else {}  # fmt: skip
    return ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, VolumeType=volume_type, **kw)[
        "VolumeId"
    ]


def _snaps(ec2: Any, volume_id: str) -> list[dict[str, Any]]:
    got = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume_id]}]
    )["Snapshots"]
    return sorted(got, key=lambda s: s["StartTime"])


def test_a_policy_snapshots_its_volumes_on_the_clock_and_keeps_its_count(clock_url):
    from runbook_sandbox import clock

    endpoint, dlm, ec2 = clock_url, _client(clock_url), _ec2(clock_url)
    kept = _volume(ec2, **{"snap:plan": "every 4h", "Name": "v kept", "team": "ops"})
    other = _volume(ec2, **{"snap:plan": "never"})
    details = _details()
    details["Schedules"] = [
        _sched(Name="four-hourly", CreateRule={"Interval": 4, "IntervalUnit": "HOURS"},
               TagsToAdd=[{"Key": "made-by", "Value": "dlm"}], CopyTags=True)
    ]  # fmt: skip
    pid = _create(dlm, details)
    _create(dlm, details, state="DISABLED")  # runs nothing
    done = clock.advance("13h", endpoint_url=endpoint)  # runs at +4h, +8h, +12h
    made = [e for e in done.events if e.kind == "dlm_snapshot"]
    assert len(made) == 3 and {e.resource_arn.rsplit("/", 1)[-1] for e in made} == {kept}
    assert all(e.source == f"dlm policy {pid} / schedule four-hourly" for e in made)
    snaps = _snaps(ec2, kept)
    assert [s["SnapshotId"] for s in snaps] == [e.result for e in made]
    gaps = {round((b["StartTime"] - a["StartTime"]).total_seconds() / 3600) for a, b in
            zip(snaps, snaps[1:], strict=False)}  # fmt: skip
    assert gaps == {4}
    tags = {t["Key"]: t["Value"] for t in snaps[0]["Tags"]}
    assert tags["aws:dlm:lifecycle-policy-id"] == pid
    assert tags["aws:dlm:lifecycle-schedule-name"] == "four-hourly"
    assert (tags["made-by"], tags["team"], tags["Name"]) == ("dlm", "ops", "v kept")
    assert _snaps(ec2, other) == []
    # two more runs; RetainRule Count 3 keeps the newest three
    done = clock.advance("8h", endpoint_url=endpoint)
    gone = [e.result for e in done.events if e.kind == "dlm_delete"]
    assert gone == [s["SnapshotId"] for s in snaps[:2]]
    assert len(_snaps(ec2, kept)) == 3


def test_a_default_policy_snapshots_every_volume_not_excluded_and_ages_them_out(clock_url):
    from runbook_sandbox import clock

    endpoint, dlm, ec2 = clock_url, _client(clock_url), _ec2(clock_url)
    plain = _volume(ec2)
    skipped_tag = _volume(ec2, keep="out")
    skipped_type = _volume(ec2, volume_type="sc1")
    _create(dlm, DefaultPolicy="VOLUME", CreateInterval=1, RetainInterval=2,
            Exclusions={"ExcludeTags": [{"Key": "keep", "Value": "out"}],
                        "ExcludeVolumeTypes": ["sc1"]})  # fmt: skip
    clock.advance("2d1h", endpoint_url=endpoint)  # runs at +1d and +2d
    first, second = _snaps(ec2, plain)
    assert _snaps(ec2, skipped_tag) == _snaps(ec2, skipped_type) == []
    done = clock.advance("1d", endpoint_url=endpoint)  # +3d: the +1d snapshot is 2 days old
    assert first["SnapshotId"] in [e.result for e in done.events if e.kind == "dlm_delete"]
    left = [s["SnapshotId"] for s in _snaps(ec2, plain)]
    assert left[0] == second["SnapshotId"] and len(left) == 2


def test_interval_runs_keep_to_the_schedule_time():
    """An ``Interval`` schedule with ``Times`` runs at that time of day and every N hours
    from it; the first run is the first such time after the policy exists."""
    import datetime as dt

    from runbook_sandbox.dlm_ext.models import LifecyclePolicy
    from runbook_sandbox.dlm_ext.runs import _next

    policy = LifecyclePolicy(account_id=ACCOUNT, region=REGION, role=ROLE, description="d",
                             state="ENABLED", details=_details(), tags=None, default=False)  # fmt: skip
    policy.created = dt.datetime(2031, 3, 4, 10, 0)  # moto's times are naive UTC
    sched = {"CreateRule": {"Interval": 6, "IntervalUnit": "HOURS", "Times": ["02:15"]}}
    at = dt.datetime(2031, 3, 4, 10, 0, tzinfo=dt.UTC)
    assert _next(policy, sched, at) == at.replace(hour=14, minute=15)  # 02:15, 08:15, 14:15
    assert _next(policy, sched, at.replace(hour=14, minute=15)) == at.replace(hour=20, minute=15)
    cron = {"CreateRule": {"CronExpression": "cron(30 1 ? * SUN *)"}}  # 2031-03-09 is a Sunday
    assert _next(policy, cron, at) == dt.datetime(2031, 3, 9, 1, 30, tzinfo=dt.UTC)
