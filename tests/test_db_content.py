"""The content of restored databases, proven on the sandbox with a real PostgreSQL server
behind RDS (postgres) and Aurora (aurora-postgresql): backup-time fingerprint and canary,
restore to a scratch copy with a fresh password, PASS on content; a scratch copy edited
behind the runbook's back FAILs naming the table and keys; no password in any output;
no scratch database left, also after a FAIL."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from runbook_sandbox.engines import common, mariadb, postgres

with pytest.MonkeyPatch.context() as _mp:  # the suite turns engines off elsewhere: not here
    _mp.setenv(common.SWITCH, "on")
    _MISSING = postgres.missing_reason() or mariadb.missing_reason()
needs_engines = pytest.mark.skipif(bool(_MISSING), reason=_MISSING or "engines present")


@pytest.fixture(autouse=True, scope="module")
def _engines_here():
    """This module's own processes (in-process engines) run them too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(common.SWITCH, "on")
        yield


import runbook_lib.backup_now as backup_now  # noqa: E402
import runbook_lib.restore as R  # noqa: E402
from runbook_lib.protect.iam import allows, iam_actions, load_policy, policy_actions  # noqa: E402
from runbook_lib.services.rds import data  # noqa: E402
from runbook_lib.services.rds.restore import RDS, Aurora  # noqa: E402
from runbook_lib.session import utcnow  # noqa: E402

#: the demo's databases (RDS PostgreSQL, Aurora PostgreSQL, RDS MySQL) -> the schema of
#: their demo tables
SCHEMAS = {"shop-db": "public", "catalog-aurora": "public", "shop-reporting": "reporting"}
SOURCES = tuple(SCHEMAS)


@pytest.fixture(scope="module")
def sandbox(engine_sandbox):
    return engine_sandbox  # real engines behind RDS: content is proven, not only metadata


@pytest.fixture(scope="module")
def ctx(engine_ctx):
    return engine_ctx


@pytest.fixture(scope="module")
def estate(ctx):
    return R.discover_resources(ctx)


@pytest.fixture(scope="module")
def backed_up(ctx, estate):
    arns = [estate[estate["name"] == n]["arn"].iloc[0] for n in SOURCES]
    rows = backup_now.run(ctx, arns=arns, approve=True)
    assert set(rows["status"]) == {"COMPLETED"}, rows[["resource_name", "status_message"]]
    return arns, rows


def _source_login(ctx, name: str) -> data.Login:
    rds = ctx.session.client("rds", "111111111111", "eu-west-1")
    try:
        desc = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        desc = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return data.source_login(ctx.session, "111111111111", "eu-west-1", desc, "db-secret")


def _no_scratch_left(ctx) -> None:
    left = R.find_scratch(ctx, as_of=utcnow() + timedelta(days=400))
    left = left[left["service"].isin(["rds", "aurora"])] if not left.empty else left
    assert left.empty, left
    rds = ctx.session.client("rds", "111111111111", "eu-west-1")
    names = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    names += [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    assert not [n for n in names if n.startswith("rt-")], names


@needs_engines
def test_backup_records_an_in_database_fingerprint_and_a_canary(ctx, backed_up):
    _, rows = backed_up
    for row in rows.to_dict("records"):
        schema = SCHEMAS[row["resource_name"]]
        assert row["fingerprint_kind"] == data.KIND
        # 1,500 customers + 4,000 orders + 500 audit events + the canary row(s)
        assert row["fingerprint_count"] >= 6001, row
        assert f".{data.CANARY_TABLE}|id=__restore_canary__#" in str(row["canary_key"]), row
        sidecar = json.loads(Path(row["fingerprint_location"]).read_text())
        assert sidecar["key_digests"][f"{schema}.orders"].startswith("4000:")
        assert f"{schema}.orders|id=17" in sidecar["key_digests"]


SCRATCH_PASSWORDS: list[str] = []


@needs_engines
def test_restore_proves_content_with_measured_rpo_and_cleans_up(
    ctx, estate, backed_up, monkeypatch
):
    arns, _ = backed_up
    made = data.new_password

    def remembered() -> str:  # the scratch passwords, to look for them in the outputs
        SCRATCH_PASSWORDS.append(made())
        return SCRATCH_PASSWORDS[-1]

    monkeypatch.setattr(data, "new_password", remembered)
    sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
    ctx.session.counter.reset()
    tests = R.restore_test(ctx, sel).set_index("resource_name")
    # the shipped restore-test policy allows every call a content-validated restore makes
    # (the scratch password: ModifyDBInstance / ModifyDBCluster, which engine-less runs skip)
    granted = policy_actions(load_policy("restore-test"))
    called = iam_actions(ctx.session.counter.operations())
    assert {"rds:ModifyDBInstance", "rds:ModifyDBCluster"} <= called
    assert not sorted(a for a in called if not allows(granted, a))
    assert len(SCRATCH_PASSWORDS) >= len(SOURCES)
    for name in SOURCES:
        row = tests.loc[name]
        assert row["status"] == R.PASS, row["reason"]
        assert "fingerprint=PASS" in row["evidence"] and "canary=PASS" in row["evidence"], row
        assert row["records_found"] >= 6000
        assert pd.notna(row["canary_time"]) and row["canary_freshness_seconds"] >= 0, row
        assert row["cleanup_status"] == "DELETED", row
    _no_scratch_left(ctx)


@needs_engines
def test_scratch_copy_edited_behind_the_runbook_fails_naming_table_and_keys(
    ctx, estate, backed_up, monkeypatch
):
    """Rows changed, deleted and added in the scratch copy between restore and validation."""
    arns, _ = backed_up

    def tamper(original):
        def read_content(self, session, restored, *, workers=8):
            self._reachable(session, restored)
            client = self._client(session, restored.account, restored.region)
            engine = self.describe(session, restored)["Engine"]
            schema = "public" if data.family(engine) == "postgres" else "reporting"
            with data.connect(data.scratch_login(client, self.kind, restored.name)) as db:
                db.run(
                    [
                        f"UPDATE {schema}.orders SET amount = amount + 1 WHERE id = 42",
                        f"DELETE FROM {schema}.orders WHERE id = 3999",
                        f"INSERT INTO {schema}.audit_events VALUES (now(), 'not in the backup')",
                    ]
                )
            return original(self, session, restored, workers=workers)

        return read_content

    monkeypatch.setattr(RDS, "read_content", tamper(RDS.read_content))
    monkeypatch.setattr(Aurora, "read_content", tamper(Aurora.read_content))
    sel = R.select_resources(ctx, estate, mode="arns", arns=arns)
    tests = R.restore_test(ctx, sel, record=False).set_index("resource_name")
    for name in SOURCES:
        row = tests.loc[name]
        assert row["status"] == R.FAIL, row["reason"]
        reason, schema = row["reason"], SCHEMAS[name]
        assert f"{schema}.orders|id=42" in reason, reason
        assert f"{schema}.orders|id=3999" in reason, reason
        assert f"{schema}.audit_events" in reason, reason  # no primary key: the table is named
        assert row["cleanup_status"] == "DELETED", row
    _no_scratch_left(ctx)


@needs_engines
def test_no_password_in_any_output(ctx, backed_up, tmp_path):
    """Neither the sources' passwords (from their secrets) nor the scratch copies' fresh
    ones appear in any file of the ledger (tables and fingerprint sidecars)."""
    # the scratch passwords are those the restore test above made (when it ran before)
    passwords = [_source_login(ctx, n).password for n in SOURCES] + SCRATCH_PASSWORDS
    base = Path(ctx.ledger.location)
    files = [p for p in base.rglob("*") if p.is_file()]
    assert files
    for path in files:
        blob = path.read_bytes()
        for pw in passwords:
            assert pw.encode() not in blob, path
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).to_json(date_format="iso")
            assert not any(pw in text for pw in passwords), path


def test_unreachable_endpoint_is_a_clear_verdict_not_a_hang():
    login = data.Login(
        host="127.0.0.1", port=common.free_port(), user="u", dbname="d", password="pw-x1"
    )
    with pytest.raises(data.NotReachable, match="NOT_REACHABLE") as err:
        with data.connect(login, timeout=2):
            pass
    assert "pw-x1" not in str(err.value)


@needs_engines
def test_backup_taken_while_the_source_is_written_gives_the_bounded_verdict(ctx, estate):
    """Rows inserted and updated all through backup_now: the fingerprints before and after
    the backup differ, and the restore is checked within those bounds (PASS, said to be
    bounded), not failed for the rows written during the backup."""
    arn = estate[estate["name"] == "shop-db"]["arn"].iloc[0]
    stop = threading.Event()
    written = []

    def writer() -> None:
        with data.connect(_source_login(ctx, "shop-db")) as db:
            conn = db.conn
            conn.autocommit = True
            n = 0
            while not stop.is_set():
                n += 1
                conn.execute(
                    "INSERT INTO orders VALUES (%s, 1, 1.00, 'new', now())", (1_000_000 + n,)
                )
                conn.execute("UPDATE orders SET status = 'paid' WHERE id = %s", (100 + n % 50,))
                written.append(n)
                time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        rows = backup_now.run(ctx, arns=[arn], approve=True)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert written, "the writer wrote nothing"
    row = rows.iloc[0]
    assert row["status"] == "COMPLETED", row["status_message"]
    assert "Written to while the backup ran" in row["status_message"]
    assert "after" in json.loads(Path(row["fingerprint_location"]).read_text())
    sel = R.select_resources(ctx, estate, mode="arns", arns=[arn])
    test = R.restore_test(ctx, sel).iloc[0]
    assert test["recovery_point_id"] == row["recovery_point_arn"], test
    assert test["status"] == R.PASS, test["reason"]
    fingerprint = next(c for c in test["checks"] if c["check"] == "fingerprint")
    assert fingerprint["detail"].startswith("bounded, not exact"), fingerprint
    assert test["cleanup_status"] == "DELETED"
    _no_scratch_left(ctx)


def test_only_real_servers_are_read_on_the_sandbox():
    """Without an engine behind it (binaries missing), a sandbox RDS endpoint is moto's
    made-up name: metadata only, never a connection attempt. On AWS every supported engine
    is read; unsupported engines never are."""

    class Session:
        def __init__(self, sandbox: bool) -> None:
            self.sandbox = sandbox

    made_up = {
        "Engine": "postgres",
        "Endpoint": {"Address": "db.x.eu-west-1.rds.amazonaws.com", "Port": 5432},
    }
    local = {"Engine": "aurora-mysql", "Endpoint": "127.0.0.1", "Port": 3306}
    assert not data.readable(Session(True), made_up)
    assert data.readable(Session(False), made_up)
    assert data.readable(Session(True), local)
    assert not data.readable(Session(False), {**made_up, "Engine": "neptune"})
    assert data.family("mariadb") == "mysql" and data.family("aurora-postgresql") == "postgres"


@needs_engines
@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_sandbox_servers_follow_the_rds_api(engine):
    """In one process: the endpoint answers with the master login, a snapshot is a copy
    taken at that moment, a restore starts from it, a password change applies, and deleting
    instances and snapshots stops every server and removes its files."""
    import os

    import boto3
    from moto import mock_aws

    from runbook_sandbox import prepare_moto_environment
    from runbook_sandbox.engines import rds as engines

    prepare_moto_environment()
    with mock_aws():
        rds = boto3.client("rds", region_name="eu-west-1")
        common_args = dict(DBInstanceClass="db.t3.micro", MasterUsername="app", AllocatedStorage=20)
        db = rds.create_db_instance(
            DBInstanceIdentifier="src",
            Engine=engine,
            MasterUserPassword="first-pass-1",
            **common_args,
        )["DBInstance"]
        assert db["Endpoint"]["Address"] == "127.0.0.1"
        login = data.Login(
            host="127.0.0.1",
            port=db["Endpoint"]["Port"],
            user="app",
            password="first-pass-1",
            dbname="postgres" if engine == "postgres" else None,
            family=data.family(engine),
        )
        table = "t" if engine == "postgres" else "runbook_restore.t"
        prelude = [] if engine == "postgres" else ["CREATE DATABASE runbook_restore"]
        with data.connect(login) as conn:
            conn.run(
                [
                    *prelude,
                    f"CREATE TABLE {table} (id int PRIMARY KEY)",
                    f"INSERT INTO {table} VALUES (1), (2)",
                ]
            )
        rds.create_db_snapshot(DBSnapshotIdentifier="snap", DBInstanceIdentifier="src")
        with data.connect(login) as conn:
            conn.run([f"DELETE FROM {table}"])  # after the snapshot: not in the restore
        new = rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier="copy", DBSnapshotIdentifier="snap"
        )["DBInstance"]
        rds.modify_db_instance(
            DBInstanceIdentifier="copy", MasterUserPassword="second-pass-2", ApplyImmediately=True
        )
        copy = data.Login(
            **{**login.__dict__, "port": new["Endpoint"]["Port"], "password": "second-pass-2"}
        )
        with data.connect(copy) as conn:
            tables = {t.label: t.count for t in conn.read_tables()}
        assert tables[f"{'public' if engine == 'postgres' else 'runbook_restore'}.t"] == 2
        folders = [s.data for s in engines.SERVERS.values()] + [
            s.data for s in engines.SNAPSHOTS.values() if s.data
        ]
        procs = [s.proc for s in engines.SERVERS.values()]
        for ident in ("src", "copy"):
            rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
        rds.delete_db_snapshot(DBSnapshotIdentifier="snap")
        assert not engines.SERVERS and not engines.SNAPSHOTS
        assert all(p.poll() is not None for p in procs)
        assert not [f for f in folders if os.path.exists(f)]
