"""Snapshots of real engine servers share a copy while the data has not changed: the engine
says whether it did (PostgreSQL's WAL, MariaDB's binary log). Unchanged -> the previous
snapshot's copy; a change -> a new copy; deleting one of two snapshots that share a copy
keeps the other restorable, and a restore is a server of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from runbook_sandbox.engines import common, mariadb, postgres

with pytest.MonkeyPatch.context() as _mp:  # the suite turns engines off elsewhere: not here
    _mp.setenv(common.SWITCH, "on")
    _PG_MISSING = postgres.missing_reason()
    _MARIADB_MISSING = mariadb.missing_reason()
needs_pg = pytest.mark.skipif(bool(_PG_MISSING), reason=_PG_MISSING or "postgres present")
needs_mariadb = pytest.mark.skipif(
    bool(_MARIADB_MISSING), reason=_MARIADB_MISSING or "mariadb present"
)

ACCOUNT = "210987654321"  # moto's default is 123456789012: not the demo's accounts either
REGION = "ap-southeast-2"
PASSWORD = "Sh4red-copies-pw"


@pytest.fixture
def rds_client(monkeypatch) -> Iterator[object]:
    from runbook_sandbox.engines import rds

    monkeypatch.setenv(common.SWITCH, "on")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    rds.install()
    with mock_aws():
        yield boto3.client("rds", region_name=REGION)


def _copy_of(kind: str, ident: str) -> str:
    from runbook_sandbox.engines import rds

    return rds.SNAPSHOTS[(ACCOUNT, REGION, kind, ident)].data


def _instance(client, ident: str, engine: str) -> dict:
    return client.create_db_instance(
        DBInstanceIdentifier=ident,
        DBInstanceClass="db.t4g.micro",
        Engine=engine,
        AllocatedStorage=20,
        MasterUsername="Owner_x",
        MasterUserPassword=PASSWORD,
        DBName="ledger_db",
    )["DBInstance"]


def _pg(port: int):
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=port, user="Owner_x", password=PASSWORD, dbname="ledger_db",
        autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _my(port: int):
    import pymysql

    return pymysql.connect(
        host="127.0.0.1", port=port, user="Owner_x", password=PASSWORD, database="ledger_db",
        autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _my_run(port: int, sql: str) -> list:
    conn = _my(port)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _snap(client, instance: str, ident: str) -> str:
    client.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=ident)
    return _copy_of("snapshot", ident)


def _restore(client, snapshot: str, ident: str) -> int:
    return client.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=ident, DBSnapshotIdentifier=snapshot
    )["DBInstance"]["Endpoint"]["Port"]


@needs_pg
def test_postgres_unchanged_shares_a_single_insert_makes_a_new_copy(rds_client):
    port = _instance(rds_client, "pay-ledger-01x", "postgres")["Endpoint"]["Port"]
    with _pg(port) as conn:
        conn.execute("CREATE TABLE entries (id int PRIMARY KEY, memo text)")
        conn.execute("INSERT INTO entries SELECT g, 'm' || g FROM generate_series(1, 300) g")
        conn.execute("SELECT count(*) FROM entries").fetchone()  # a read changes nothing
    first = _snap(rds_client, "pay-ledger-01x", "snap-a")
    second = _snap(rds_client, "pay-ledger-01x", "snap-b")
    assert second == first  # nothing written between the two: one copy
    with _pg(port) as conn:
        conn.execute("INSERT INTO entries VALUES (301, 'one more')")
    third = _snap(rds_client, "pay-ledger-01x", "snap-c")
    assert third != first
    with _pg(port) as conn:
        conn.execute("CREATE SEQUENCE tickets")
    fourth = _snap(rds_client, "pay-ledger-01x", "snap-d")
    assert fourth != third
    with _pg(port) as conn:
        conn.execute("SELECT nextval('tickets')")  # a sequence moves without a new row
    assert _snap(rds_client, "pay-ledger-01x", "snap-e") != fourth

    # two snapshots share a copy: deleting one keeps the other restorable
    rds_client.delete_db_snapshot(DBSnapshotIdentifier="snap-a")
    assert os.path.isdir(first)
    restored = _restore(rds_client, "snap-b", "pay-ledger-restored")
    with _pg(restored) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 300
        conn.execute("DELETE FROM entries")  # the restore is its own server
    again = _restore(rds_client, "snap-b", "pay-ledger-restored-2")
    with _pg(again) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 300
    with _pg(port) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 301


@needs_pg
def test_aurora_cluster_snapshot_and_its_copy_share_until_a_write(rds_client):
    cluster = rds_client.create_db_cluster(
        DBClusterIdentifier="ledger-aurora-x",
        Engine="aurora-postgresql",
        MasterUsername="Owner_x",
        MasterUserPassword=PASSWORD,
        DatabaseName="ledger_db",
    )["DBCluster"]
    with _pg(cluster["Port"]) as conn:
        conn.execute("CREATE TABLE t (k text PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES ('a'), ('b')")
    rds_client.create_db_cluster_snapshot(
        DBClusterIdentifier="ledger-aurora-x", DBClusterSnapshotIdentifier="cs-1"
    )
    rds_client.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="cs-1", TargetDBClusterSnapshotIdentifier="cs-1-copy"
    )
    rds_client.create_db_cluster_snapshot(
        DBClusterIdentifier="ledger-aurora-x", DBClusterSnapshotIdentifier="cs-2"
    )
    copies = {_copy_of("cluster-snapshot", s) for s in ("cs-1", "cs-1-copy", "cs-2")}
    assert len(copies) == 1
    with _pg(cluster["Port"]) as conn:
        conn.execute("UPDATE t SET k = 'c' WHERE k = 'b'")
    rds_client.create_db_cluster_snapshot(
        DBClusterIdentifier="ledger-aurora-x", DBClusterSnapshotIdentifier="cs-3"
    )
    assert _copy_of("cluster-snapshot", "cs-3") not in copies
    for ident in ("cs-1", "cs-2"):
        rds_client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=ident)
    port = rds_client.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="ledger-aurora-back", SnapshotIdentifier="cs-1-copy",
        Engine="aurora-postgresql",
    )["DBCluster"]["Port"]  # fmt: skip
    with _pg(port) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT k FROM t")) == ["a", "b"]


@needs_mariadb
def test_mariadb_each_kind_of_write_makes_a_new_copy(rds_client):
    port = _instance(rds_client, "orders-my-sql-9", "mysql")["Endpoint"]["Port"]
    _my_run(port, "CREATE TABLE items (id INT PRIMARY KEY, qty INT)")
    _my_run(port, "INSERT INTO items VALUES (1, 5), (2, 7)")
    last = _snap(rds_client, "orders-my-sql-9", "m-0")
    _my_run(port, "SELECT SUM(qty) FROM items GROUP BY id")  # a read (with a temp table)
    assert _snap(rds_client, "orders-my-sql-9", "m-read") == last
    assert _snap(rds_client, "orders-my-sql-9", "m-read-2") == last
    rds_client.delete_db_snapshot(DBSnapshotIdentifier="m-0")
    rds_client.delete_db_snapshot(DBSnapshotIdentifier="m-read")
    assert os.path.isdir(last)  # m-read-2 still uses it
    rds_client.delete_db_snapshot(DBSnapshotIdentifier="m-read-2")
    assert not os.path.exists(last)  # the last snapshot using it removed the copy
    last = _snap(rds_client, "orders-my-sql-9", "m-base")  # a copy again
    assert os.path.isdir(last)
    writes = {
        "insert": "INSERT INTO items VALUES (3, 1)",
        "update": "UPDATE items SET qty = qty + 1 WHERE id = 1",
        "delete": "DELETE FROM items WHERE id = 2",
        "create-table": "CREATE TABLE notes (n TEXT)",
    }
    for name, sql in writes.items():
        _my_run(port, sql)
        now = _snap(rds_client, "orders-my-sql-9", f"m-{name}")
        assert now != last, f"{name} did not make a new copy"
        last = now
    assert _snap(rds_client, "orders-my-sql-9", "m-again") == last

    rds_client.delete_db_snapshot(DBSnapshotIdentifier="m-create-table")
    restored = _restore(rds_client, "m-again", "orders-mysql-back")
    assert _my_run(restored, "SELECT id, qty FROM items ORDER BY id") == [(1, 6), (3, 1)]
    assert _my_run(restored, "SHOW TABLES") == [("items",), ("notes",)]
