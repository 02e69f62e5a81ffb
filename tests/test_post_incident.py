"""Post-incident review on a sandbox of its own: on-demand DynamoDB backup and EBS snapshot
made before an incident window, a backup made after it, PITR covering it, measured restore
tests and audit findings in the ledger; then a papermill run of notebook 08."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from runbook_lib import post_incident as pi
from runbook_lib.context import RunContext
from runbook_lib.errors import ParamsError
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.session import AwsSession
from runbook_sandbox import ENV_URL
from runbook_sandbox.server import running_sandbox

NB = Path(__file__).resolve().parents[1] / "notebooks" / "08_post_incident.ipynb"
A, REGION = "111111111111", "eu-west-1"


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    """The seeded sandbox, with recovery points made before and after the incident start,
    and a ledger holding restore tests and two audits (one before, one after the start)."""
    with running_sandbox("sandbox") as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_URL, url)
        session = AwsSession(load_params("sandbox"), endpoint_url=url)
        ddb = session.client("dynamodb", A, REGION)
        ec2 = session.client("ec2", A, REGION)
        backup = ddb.create_backup(TableName="carts", BackupName="carts-before")["BackupDetails"]
        vols = ec2.describe_volumes()["Volumes"]
        by_name = {t["Value"]: v for v in vols for t in v.get("Tags", []) if t["Key"] == "Name"}
        snap = ec2.create_snapshot(VolumeId=by_name["shop-web-data"]["VolumeId"])
        # a log export before the start whose `to` (2.2 s on) has passed when the inventory
        # reads it: its data ends when it ran, not at `to` nor at the time of reading
        s3 = session.client("s3", A, REGION)
        s3.create_bucket(Bucket="pi-log-exports",
                         CreateBucketConfiguration={"LocationConstraint": REGION})  # fmt: skip
        export_before = datetime.now(UTC).replace(microsecond=0)
        session.client("logs", A, REGION).create_export_task(
            logGroupName="/shop/app", fromTime=0, to=int(time.time() * 1000) + 2200,
            destination="pi-log-exports", destinationPrefix="before-incident",
        )  # fmt: skip
        exported = datetime.now(UTC)
        time.sleep(1.5)
        start = datetime.now(UTC)
        time.sleep(1.2)
        after = ddb.create_backup(TableName="sessions.v2", BackupName="sessions-after")
        ddb.create_backup(TableName="carts", BackupName="carts-after")
        arn = {
            "orders": f"arn:aws:dynamodb:{REGION}:{A}:table/orders",
            "carts": f"arn:aws:dynamodb:{REGION}:{A}:table/carts",
            "sessions": f"arn:aws:dynamodb:{REGION}:{A}:table/sessions.v2",
            "feature": f"arn:aws:dynamodb:{REGION}:222222222222:table/feature-store",
            "web": f"arn:aws:ec2:{REGION}:{A}:volume/{by_name['shop-web-data']['VolumeId']}",
            "cache": f"arn:aws:ec2:{REGION}:{A}:volume/{by_name['shop-build-cache']['VolumeId']}",
            "shop_db": f"arn:aws:rds:{REGION}:{A}:db:shop-db",
        }
        ledger_dir = tmp_path_factory.mktemp("pi-ledger")
        ledger = Ledger(str(ledger_dir))
        t0 = pd.Timestamp(start) - pd.Timedelta(days=2)
        tests = [  # measured restore tests: orders three times, feature-store once
            ("orders", "dynamodb", "gold", 100.0, t0),
            ("orders", "dynamodb", "gold", 300.0, t0 + pd.Timedelta(hours=1)),
            ("orders", "dynamodb", "gold", 200.0, t0 + pd.Timedelta(hours=2)),
            ("feature", "dynamodb", "silver", 500.0, t0),
            ("orders", "dynamodb", "gold", 9999.0, pd.Timestamp(start) + pd.Timedelta(days=9)),
        ]
        ledger.append(
            "restore_tests",
            [
                {"resource_arn": arn[k], "resource_name": k, "service": s, "tier": tier,
                 "rto_seconds": rto, "restore_start": when, "restore_end": when + pd.Timedelta(seconds=rto),
                 "verdict": "PASS"}
                for k, s, tier, rto, when in tests
            ],
            "rt-1",
        )  # fmt: skip

        def finding(key, control, status, as_of):
            return {"control_id": control, "title": control, "practice": "REL09-BP02",
                    "severity": "high", "arn": arn[key], "name": key, "status": status,
                    "reason": f"{control} {status}", "remediation": "protect", "as_of": as_of}  # fmt: skip

        before = pd.Timestamp(start) - pd.Timedelta(hours=3)
        ledger.append("findings", [
            finding("carts", "dynamodb_pitr_enabled", "FAIL", before - pd.Timedelta(days=1)),
        ], "audit-0")  # fmt: skip
        ledger.append("findings", [
            finding("carts", "dynamodb_pitr_enabled", "FAIL", before),
            finding("carts", "restore_tested_recently", "FAIL", before),
            finding("orders", "dynamodb_pitr_enabled", "PASS", before),
        ], "audit-1")  # fmt: skip
        ledger.append("findings", [
            finding("orders", "restore_tested_recently", "FAIL", pd.Timestamp(start) + pd.Timedelta(seconds=1)),
        ], "audit-2")  # fmt: skip
        inv = discover(session, progress=False)
        yield {
            "url": url, "session": session, "start": start, "arn": arn, "ledger_dir": ledger_dir,
            "backup": backup, "snapshot": snap, "after": after, "inv": inv,
            "export_before": export_before, "exported": exported,
        }  # fmt: skip


def ctx_for(e, as_of=None, ledger_dir=None) -> RunContext:
    s = e["session"]
    return RunContext(s.params, s, Ledger(str(ledger_dir or e["ledger_dir"])), "pi-test",
                      as_of or datetime.now(UTC))  # fmt: skip


@pytest.fixture(scope="module")
def rv(estate):
    return pi.review(
        ctx_for(estate), estate["start"].isoformat(), "", inventory=estate["inv"], progress=False
    )


def by_arn(review) -> pd.DataFrame:
    return review.summary.set_index("arn")


def test_backup_and_snapshot_before_the_start_give_the_data_loss_window(estate, rv):
    s, start = by_arn(rv), pd.Timestamp(estate["start"])
    carts = s.loc[estate["arn"]["carts"]]
    created = pd.Timestamp(estate["backup"]["BackupCreationDateTime"])
    assert carts.status == pi.RECOVERABLE  # silver: RPO 24h
    assert carts.recovery_point_arn == estate["backup"]["BackupArn"]  # not the backup made after
    assert carts.data_loss_seconds == pytest.approx((start - created).total_seconds(), abs=0.01)
    assert 1.0 < carts.data_loss_seconds < 60 and bool(carts.rpo_met)
    web = s.loc[estate["arn"]["web"]]
    snap_time = pd.Timestamp(estate["snapshot"]["StartTime"])
    assert web.recovery_point_source == "ebs snapshot" and web.status == pi.RECOVERABLE
    assert web.recovery_point_arn.endswith(estate["snapshot"]["SnapshotId"])
    assert web.data_loss_seconds == pytest.approx((start - snap_time).total_seconds(), abs=0.01)


def test_resources_without_a_point_before_the_start_are_unrecoverable_with_a_reason(estate, rv):
    s = by_arn(rv)
    cache = s.loc[estate["arn"]["cache"]]
    assert cache.status == pi.UNRECOVERABLE and "nothing protects it" in cache.reason
    assert pd.isna(cache.data_loss_seconds) and cache.data_loss.startswith("unrecoverable: ")
    sessions = s.loc[estate["arn"]["sessions"]]
    assert sessions.status == pi.UNRECOVERABLE
    assert "was made after the incident started" in sessions.reason


def test_pitr_covering_the_start_loses_nothing_and_says_what_the_sandbox_assumes(estate, rv):
    orders = by_arn(rv).loc[estate["arn"]["orders"]]
    assert orders.continuous and orders.continuous_covers_start
    assert orders.data_loss_seconds == 0 and orders.status == pi.RECOVERABLE
    assert orders.recovery_point_time == pd.Timestamp(estate["start"])
    assert "moto does not advance LatestRestorableDateTime" in orders.notes
    shop_db = by_arn(rv).loc[estate["arn"]["shop_db"]]
    assert shop_db.continuous_covers_start and "estimated" in shop_db.notes
    assert any("never fires schedules" in n for n in rv.notes)


def test_an_old_point_breaches_a_short_rpo(estate):
    """Two hours later, the EBS snapshot is older than gold's 1h RPO; PITR still covers."""
    later = datetime.now(UTC) + timedelta(hours=2)
    review = pi.review(ctx_for(estate, as_of=later), later.isoformat(), "", inventory=estate["inv"],
                       resources=[estate["arn"]["web"], estate["arn"]["orders"]], progress=False)  # fmt: skip
    s = by_arn(review)
    web = s.loc[estate["arn"]["web"]]
    assert web.status == pi.RPO_BREACHED and not web.rpo_met and web.tier == "gold"
    assert web.data_loss_seconds > 3600 and "over the RPO of 1h" in web.reason
    assert s.loc[estate["arn"]["orders"]].status == pi.RECOVERABLE
    h = review.headline()["value"]
    assert h["recoverable, RPO breached"] == 1 and h["recoverable within RPO"] == 1
    assert h["resources in scope"] == 2


def test_expected_restore_time_is_the_median_of_measured_tests(estate, rv):
    s = by_arn(rv)
    orders = s.loc[estate["arn"]["orders"]]
    assert (
        orders.expected_rto_seconds == 200.0 and orders.rto_samples == 3
    )  # the future one ignored
    assert orders.rto_basis.startswith("this resource") and bool(orders.rto_met)
    carts = s.loc[estate["arn"]["carts"]]  # silver dynamodb: measured on feature-store
    assert carts.expected_rto_seconds == 500.0 and "tier silver" in carts.rto_basis
    shop_db = s.loc[estate["arn"]["shop_db"]]
    assert pd.isna(shop_db.expected_rto_seconds) and shop_db.rto_basis.startswith("never measured")
    assert pd.isna(shop_db.rto_met)


def test_known_risks_are_the_fails_of_the_last_audit_before_the_start(estate, rv):
    s = by_arn(rv)
    assert s.loc[estate["arn"]["carts"], "known_fail_controls"] == [
        "dynamodb_pitr_enabled", "restore_tested_recently"
    ]  # fmt: skip
    assert s.loc[estate["arn"]["orders"], "known_fail_controls"] == []  # audit-2 came after
    assert set(rv.known_risks.control_id) == {"dynamodb_pitr_enabled", "restore_tested_recently"}
    assert rv.audit_as_of == pd.Timestamp(estate["start"]) - pd.Timedelta(hours=3)


def test_scope_by_arn_and_tag_and_an_arn_not_in_the_estate(estate):
    ctx = ctx_for(estate)
    ghost = f"arn:aws:dynamodb:{REGION}:{A}:table/ghost"
    review = pi.review(ctx, estate["start"].isoformat(), "", [estate["arn"]["carts"], ghost],
                       inventory=estate["inv"], progress=False)  # fmt: skip
    assert dict(zip(review.summary.arn, review.summary.status, strict=True)) == {
        estate["arn"]["carts"]: pi.RECOVERABLE, ghost: pi.NOT_FOUND,
    }  # fmt: skip
    gold = pi.review(ctx, estate["start"].isoformat(), "", ["backup-tier=gold"],
                     inventory=estate["inv"], progress=False)  # fmt: skip
    assert set(gold.summary.tier) == {"gold"} and estate["arn"]["orders"] in set(gold.summary.arn)


APP_LOGS = f"arn:aws:logs:{REGION}:{A}:log-group:/shop/app"


def test_a_log_export_before_the_start_is_dated_when_it_ran(estate, rv):
    """The issue's case: an export made before the incident is no point 'made after the
    incident started' because its `to` (or the time of reading) lies after the start."""
    app = by_arn(rv).loc[APP_LOGS]
    assert app.status == pi.RECOVERABLE, app.reason  # silver: RPO 24h
    assert app.recovery_point_source == "logs export to s3"
    when = app.recovery_point_time
    assert pd.Timestamp(estate["export_before"]) <= when <= pd.Timestamp(estate["exported"])
    loss = (pd.Timestamp(estate["start"]) - when).total_seconds()
    assert app.data_loss_seconds == pytest.approx(loss, abs=0.01) and loss > 1.0


def test_named_arns_and_a_tag_filter_are_a_union_and_each_named_arn_gets_a_row(estate):
    """ARNs next to backup-tier=gold add to it: the silver and untagged resources named are
    reviewed, every gold one too, and each ARN the inventory lacks is a NOT_FOUND row."""
    inv, arn = estate["inv"], estate["arn"]
    ghost = f"arn:aws:dynamodb:{REGION}:{A}:table/ghost"
    foreign = f"arn:aws:dynamodb:{REGION}:444444444444:table/orders"
    elsewhere = f"arn:aws:dynamodb:ap-south-1:{A}:table/orders"
    named = [arn["carts"], arn["cache"], arn["sessions"], APP_LOGS + ":*", ghost, foreign,
             elsewhere]  # fmt: skip
    review = pi.review(ctx_for(estate), estate["start"].isoformat(), "",
                       named + ["backup-tier=gold"], inventory=inv, progress=False)  # fmt: skip
    t = inv.table()
    gold = set(t[t.tags.map(lambda g: g.get("backup-tier") == "gold")].arn)
    found = {arn["carts"], arn["cache"], arn["sessions"], APP_LOGS}
    s = by_arn(review)
    assert set(s.index) == gold | found | {ghost, foreign, elsewhere}
    assert gold and not gold & found  # the named ones are not gold: the old AND dropped them
    assert set(s.loc[[ghost, foreign, elsewhere]].status) == {pi.NOT_FOUND}
    assert (s.drop(index=[ghost, foreign, elsewhere]).status != pi.NOT_FOUND).all()
    assert s.loc[ghost].reason == (
        f"no such resource in the inventory of account {A}, Region {REGION} (read completely)"
    )
    assert s.loc[ghost, ["account", "region", "service"]].tolist() == [A, REGION, "dynamodb"]
    assert "account 444444444444 is not in the estate the params name" in s.loc[foreign].reason
    assert "Region ap-south-1 is not in the params' regions" in s.loc[elsewhere].reason
    assert review.headline()["value"]["not found in the estate"] == 3
    assert "tag backup-tier=gold" in review.scope.describe()


def test_an_unread_scope_or_resource_is_said_not_hidden(estate):
    """An ARN in a scope the inventory could not read may exist: its NOT_FOUND row says so;
    an inventory error naming a resource in scope (an undated export) is in its notes."""
    import copy

    inv = copy.copy(estate["inv"])
    inv.errors = pd.DataFrame([
        {"account": A, "region": REGION, "service": "dynamodb", "resource": "",
         "error": "ClientError: AccessDenied (ListTables)"},
        {"account": A, "region": REGION, "service": "logs", "resource": "/shop/app: export task t-1",
         "error": "ExportUndated: when its data ends cannot be told"},
    ])  # fmt: skip
    ghost = f"arn:aws:dynamodb:{REGION}:{A}:table/ghost"
    review = pi.review(ctx_for(estate), estate["start"].isoformat(), "", [ghost, APP_LOGS],
                       inventory=inv, progress=False)  # fmt: skip
    s = by_arn(review)
    assert s.loc[ghost].status == pi.NOT_FOUND
    assert (
        "could not read dynamodb" in s.loc[ghost].reason and "AccessDenied" in s.loc[ghost].reason
    )
    assert "it may exist" in s.loc[ghost].reason
    assert (
        "inventory could not read /shop/app: export task t-1: ExportUndated"
        in s.loc[APP_LOGS].notes
    )


def test_a_backup_is_on_the_timeline_when_it_started(estate, tmp_path):
    """A backup holds the data of when it started: a backup begun before the incident and
    completed during it is placed at its start, spanning to its completion."""
    start = pd.Timestamp(estate["start"])
    created, completed = start - pd.Timedelta(minutes=10), start + pd.Timedelta(minutes=5)
    ctx = ctx_for(estate, ledger_dir=tmp_path)
    ctx.ledger.append("backups", [
        {"resource_arn": estate["arn"]["carts"], "resource_name": "carts", "service": "dynamodb",
         "method": "dynamodb-backup", "created": created, "completed": completed,
         "status": "COMPLETED"},
    ], "bk-1")  # fmt: skip
    review = pi.review(ctx, estate["start"].isoformat(), "", [estate["arn"]["carts"]],
                       inventory=estate["inv"], progress=False)  # fmt: skip
    ev = review.timeline[review.timeline.kind == "backup"]
    assert len(ev) == 1
    assert (ev.start.iloc[0], ev.end.iloc[0]) == (created, completed)
    assert bool(ev.during_incident.iloc[0])


@pytest.mark.parametrize(
    ("start", "end", "resources", "field", "words"),
    [
        ("yesterday", "", None, "incident_start", "not a time"),
        ("2026-01-01T10:00:00Z", "2026-13-01", None, "incident_end", "not a time"),
        ("2026-01-02T10:00:00Z", "2026-01-01T10:00:00Z", None, "incident_end", "before incident_start"),
        ("2999-01-01T00:00:00Z", "", None, "incident_start", "after as_of"),
        ("", "", ["arn:aws:dynamodb:eu-west-1:table/orders"], "resources", "not an ARN"),
        ("", "", ["arn:aws:iam::111111111111:role/x"], "resources", "not a data resource service"),
        ("", "", ["arn:aws:ec2:eu-west-1:111111111111:instance/i-1"], "resources", "not a data resource of ec2"),
        ("", "", ["orders"], "resources", "neither an ARN nor a key=value"),
    ],
)  # fmt: skip
def test_bad_parameters_are_rejected_before_any_aws_call(
    estate, start, end, resources, field, words
):
    ctx = ctx_for(estate)
    calls = ctx.session.counter.total
    with pytest.raises(ParamsError) as err:
        pi.review(ctx, start, end, resources, progress=False)
    assert err.value.source == field and words in str(err.value)
    assert ctx.session.counter.total == calls


def test_record_timeline_and_figure(estate, rv, tmp_path):
    ctx = ctx_for(estate, ledger_dir=tmp_path)
    assert pi.record(ctx, rv)
    rows = ctx.ledger.read("post_incident")
    assert (
        len(rows) == len(rv.summary)
        and (rows.incident_start == pd.Timestamp(estate["start"])).all()
    )
    carts = rows.set_index("arn").loc[estate["arn"]["carts"]]
    assert json.loads(carts.known_fail_controls) == [
        "dynamodb_pitr_enabled",
        "restore_tested_recently",
    ]
    t = rv.timeline
    orders_tests = t[(t.arn == estate["arn"]["orders"]) & (t.kind == "restore test")]
    assert len(orders_tests) == 3  # the one after as_of is outside the timeline
    chosen = t[(t.kind == "point chosen") & (t.arn == estate["arn"]["carts"])]
    assert chosen.start.iloc[0] == pd.Timestamp(estate["backup"]["BackupCreationDateTime"])
    fig = rv.figure()
    names = {tr.name for tr in fig.data}
    assert {"recovery point", "restore test", "point chosen"} <= names
    assert fig.layout.shapes[0].x0 is not None  # the shaded incident window


def test_notebook_records_the_review(estate, tmp_path):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for table in ("restore_tests", "findings"):
        rows = Ledger(str(estate["ledger_dir"])).read(table).drop(columns=["run_id", "recorded_at"])
        Ledger(str(ledger)).append(table, rows, "copied")
    arns = [estate["arn"][k] for k in ("carts", "web", "cache", "orders")]
    pm.execute_notebook(
        str(NB), str(tmp_path / NB.name), kernel_name="python3", progress_bar=False,
        parameters={"ledger_location": str(ledger), "run_id": "pi-nb",
                    "incident_start": estate["start"].isoformat(), "resources": arns},
    )  # fmt: skip
    rows = pd.read_parquet(ledger / "post_incident").set_index("arn")
    assert set(rows.index) == set(arns) and set(rows.run_id) == {"pi-nb"}
    assert rows.loc[estate["arn"]["cache"], "status"] == pi.UNRECOVERABLE
    assert rows.loc[estate["arn"]["orders"], "data_loss_seconds"] == 0
    created = pd.Timestamp(estate["backup"]["BackupCreationDateTime"])
    loss = (pd.Timestamp(estate["start"]) - created).total_seconds()
    assert rows.loc[estate["arn"]["carts"], "data_loss_seconds"] == pytest.approx(loss, abs=0.01)
    assert rows.loc[estate["arn"]["orders"], "expected_rto_seconds"] == 200.0


def test_a_recorded_incident_restore_is_on_the_timeline(estate, tmp_path):
    from runbook_lib import restore

    carts = estate["arn"]["carts"]
    rb = ctx_for(estate, ledger_dir=tmp_path)
    plan = restore.plan_incident_restore(
        rb, carts, "carts-pi-restored", recovery_point=estate["backup"]["BackupArn"]
    )
    restore.apply_incident_restore(rb, plan, approve=True)
    recorded = rb.ledger.read("incident_restores").iloc[0]
    review = pi.review(ctx_for(estate, ledger_dir=tmp_path), estate["start"].isoformat(), "",
                       [carts], inventory=estate["inv"], progress=False)  # fmt: skip
    t = review.timeline
    ev = t[t.kind == "incident restore"]
    assert len(ev) == 1
    e = ev.iloc[0]
    assert (e.arn, e.resource, e.status) == (carts, "carts", "COMPLETED")
    assert (e.start, e.end) == (recorded.restore_start, recorded.restore_end)
    assert e.source == "ledger: incident_restores" and bool(e.during_incident)
    assert "target_name=carts-pi-restored" in e.detail
    assert f"recovery_point_id={estate['backup']['BackupArn']}" in e.detail
    assert not any("incident restores" in n for n in review.notes)
    assert "incident restore" in {tr.name for tr in review.figure().data}


def test_each_resource_s_points_from_its_own_rpo(tmp_path):
    """Recovery points go back the resource's own RPO (at least a day), or to its chosen
    point when older; the ledger's events go back the largest RPO in scope. An event of
    one instant has no end, and the figure's hover names no ARN (the table holds them)."""
    from types import SimpleNamespace

    from runbook_lib.post_incident.timeline import build_timeline, figure

    start = pd.Timestamp("2031-03-04 05:06:07", tz="UTC")
    acct, region = "987654321098", "sa-east-1"
    hourly = f"arn:aws:dynamodb:{region}:{acct}:table/pedidos ñ.v2"
    weekly = f"arn:aws:ec2:{region}:{acct}:volume/vol-0abc"
    stale = f"arn:aws:rds:{region}:{acct}:db:old-one"
    summary = pd.DataFrame(
        {
            "arn": [hourly, weekly, stale],
            "name": ["pedidos ñ.v2", "disk #1", "old-one"],
            "account": [acct] * 3,
            "rpo_objective_seconds": [3600.0, 7 * 86400.0, 3600.0],
            "recovery_point_time": [pd.NaT, pd.NaT, start - pd.Timedelta(days=4)],
            "recovery_point_source": [None, None, "rds automated"],
            "status": ["RECOVERABLE"] * 3,
        }
    )
    review = SimpleNamespace(
        summary=summary,
        window=SimpleNamespace(
            start=start, end=start + pd.Timedelta(hours=1), as_of=start + pd.Timedelta(hours=2)
        ),  # fmt: skip
    )
    hours = range(0, 24 * 10, 6)
    points = pd.DataFrame(
        [
            {"resource_arn": arn, "created": start - pd.Timedelta(hours=h), "source": "aws backup (v)",
             "arn": f"arn:aws:backup:{region}:{acct}:recovery-point:{arn[-6:]}-{h}"}
            for arn in (hourly, weekly, stale) for h in hours
        ]
    )  # fmt: skip
    ledger = Ledger(str(tmp_path))
    ledger.append("restore_tests", [
        {"resource_arn": hourly, "restore_start": start - pd.Timedelta(days=6),
         "restore_end": start - pd.Timedelta(days=6, minutes=-3), "verdict": "PASS"},
    ], "rt-old")  # fmt: skip
    t = build_timeline(ledger, review, points)
    rp = t[t.kind == "recovery point"]
    oldest = rp.groupby("arn").start.min()
    assert oldest[hourly] == start - pd.Timedelta(hours=24)  # a day: the floor
    assert oldest[weekly] == start - pd.Timedelta(days=7)
    assert oldest[stale] == start - pd.Timedelta(days=4)  # its chosen point
    # the ledger's restore test 6 days back is kept: the largest RPO is a week
    assert len(t[(t.kind == "restore test") & (t.arn == hourly)]) == 1
    assert rp.end.isna().all() and t[t.kind == "restore test"].end.notna().all()
    fig = figure(SimpleNamespace(**vars(review), timeline=t, headline_text=lambda: "x"))
    hover = json.dumps([tr.customdata.tolist() for tr in fig.data if tr.customdata is not None])
    assert "recovery-point" not in hover and f"[{region}]" in hover
    marked = [v for tr in fig.data if tr.mode == "markers" for v in tr.x]
    assert len(marked) == len(t) and all(len(v) == 19 for v in marked)  # to the second
