"""Helpers that code one judgement for several callers: the timed read of a restored copy
with canary records, the RDS row keys and driver arguments, the RDS API's names for a kind
of resource, scratch names, and the report columns declared as a table. No sandbox: hand-built
records, and botocore's own RDS service model for the API names."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from types import SimpleNamespace

import botocore.session
import pandas as pd
import pytest

from runbook_lib import exports
from runbook_lib.fingerprint import Fingerprint
from runbook_lib.restore.naming import is_scratch_name, new_test_id, scratch_name
from runbook_lib.restore.registry import canary_content
from runbook_lib.services.rds import data
from runbook_lib.services.rds.names import CLUSTER, INSTANCE, kind_of


def _tables() -> list[data.Table]:
    """Two user tables (one with a dotted, spaced name) and the canary table."""
    orders = data.Table(schema="Kasse 7", name="ord.ers", count=3, hash64=0xFEED, keys=["id"])
    for i, digest in ((1, "aa"), (20, "bb"), (300, "cc")):
        orders.add_row([i], digest)
    notes = data.Table(schema="Kasse 7", name="notes", count=2, hash64=7)
    canary = data.Table(schema="runbook_restore", name=data.CANARY_TABLE, count=1, hash64=9)
    return [orders, notes, canary]


def test_canary_content_fingerprints_with_and_without_canaries_and_times_the_read():
    tables = _tables()
    when = [datetime(2031, 2, 3, 4, 5, tzinfo=UTC)]
    calls = []

    def read():
        calls.append(1)
        return tables, when, "3 tables"

    content = canary_content(data.KIND, data.fingerprint, read, ("with", "without"))
    assert calls == [1]
    assert content.kind == data.KIND
    assert content.count == 5  # the canary table's row is not counted
    assert content.fingerprints["with"] == data.fingerprint(tables)
    assert content.fingerprints["without"] == data.fingerprint(tables, with_canary=False)
    assert content.fingerprints["with"].count == 6
    assert content.fingerprints["with"].digest != content.fingerprints["without"].digest
    assert content.canaries == when and content.detail == "3 tables"
    assert content.seconds >= 0


def test_canary_content_lets_a_failed_read_raise():
    def read():
        raise data.NotReachable("no route")

    with pytest.raises(data.NotReachable):
        canary_content(data.KIND, data.fingerprint, read, ("a", "b"))


def test_row_keys_round_trip_between_the_dialects_and_row_values():
    orders = _tables()[0]
    assert list(orders.rows) == [
        "Kasse 7.ord.ers|id=1",
        "Kasse 7.ord.ers|id=20",
        "Kasse 7.ord.ers|id=300",
    ]
    two = data.Table(schema="s", name="t", count=1, hash64=1, keys=["a", "b"])
    two.add_row(["x=y", None], "dd")
    (key,) = two.rows
    assert data.parse_row_key(key) == ("s", "t", {"a": "x=y", "b": "None"})
    assert data.parse_row_key("Kasse 7.ord.ers|id=20") == ("Kasse 7", "ord.ers", {"id": "20"})
    assert data.parse_row_key("s.t") == ("s", "t", {})  # no key: row_values reads nothing
    with pytest.raises(ValueError):  # a value per key column, never silently fewer
        two.add_row(["only one"], "ee")


@pytest.mark.parametrize("keyword", ["dbname", "database"])
def test_driver_args_name_the_database_under_the_drivers_keyword(keyword):
    login = data.Login(
        host="10.9.8.7", port=3307, user="Ops_Admin", dbname="ledger db", password="s3cr3t!"
    )
    args = login.driver_args(4, keyword)
    assert args == {
        "host": "10.9.8.7",
        "port": 3307,
        "user": "Ops_Admin",
        "password": "s3cr3t!",
        keyword: "ledger db",
        "connect_timeout": 4,
    }
    assert "s3cr3t!" not in repr(login)


def test_rds_kinds_use_the_names_of_the_rds_api():
    """Every operation, result key and field a Kind derives from its words is in botocore's
    RDS service model (the inventory, restore and login would read nothing under a misspelt
    name)."""
    model = botocore.session.get_session().get_service_model("rds")
    ops = {botocore.xform_name(name): name for name in model.operation_names}
    for kind in (INSTANCE, CLUSTER):
        op, key = kind.list
        listing = model.operation_model(ops[op])
        assert kind.ident in listing.input_shape.members
        listed = listing.output_shape.members[key].member.members
        assert {kind.ident, kind.arn, kind.created, kind.status} <= set(listed)
        op, key = kind.snapshots
        snaps = model.operation_model(ops[op]).output_shape.members[key].member.members
        assert {kind.ident, kind.snapshot_arn, "SnapshotCreateTime", "KmsKeyId"} <= set(snaps)
        attrs = ops[botocore.xform_name(f"Describe{kind.snapshot}Attributes")]
        result = model.operation_model(attrs).output_shape.members
        assert f"{kind.snapshot}AttributesResult" in result
        modify = model.operation_model(ops[kind.modify]).input_shape.members
        assert {kind.ident, "MasterUserPassword", "ApplyImmediately"} <= set(modify)
        create = model.operation_model(ops[kind.create_snapshot])
        assert {kind.snapshot_id, kind.ident} <= set(create.input_shape.members)
        made = create.output_shape.members[kind.snapshot].members
        assert {kind.snapshot_arn, kind.snapshot_encrypted, "Status", "KmsKeyId"} <= set(made)
        assert kind.snapshot_id in model.operation_model(ops[kind.snapshots[0]]).input_shape.members
        assert kind.resource_type == f"rds:{kind.arn_part}"
    assert INSTANCE.sized and INSTANCE.members and not (CLUSTER.sized or CLUSTER.members)
    assert kind_of("rds:cluster") is CLUSTER
    assert kind_of("rds:db") is INSTANCE and kind_of("") is INSTANCE


class _Client:
    """Answers one Describe call the way botocore does, and records it."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, operation):
        def call(**kwargs):
            self.calls.append((operation, kwargs))
            key = "DBInstances" if operation == "describe_db_instances" else "DBClusters"
            return {key: [{"Engine": "aurora-mysql", **kwargs}]}

        return call


@pytest.mark.parametrize("kind", [INSTANCE, CLUSTER], ids=lambda k: k.word)
def test_describe_one_asks_for_one_resource_by_its_identifier(kind):
    client = _Client()
    desc = kind.describe_one(client, "Billing.db-7")
    assert client.calls == [(kind.list[0], {kind.ident: "Billing.db-7"})]
    assert desc[kind.ident] == "Billing.db-7"


def test_scratch_names_are_recognised_and_other_names_are_not():
    test_id = new_test_id(datetime(2031, 7, 1, 23, 59, 1, tzinfo=UTC))
    for service, source in (("rds", "Billing-DB-2"), ("elasticache", "sessions.cache")):
        assert is_scratch_name(scratch_name(service, source, test_id))
    for name in ("billing-db", "rtx-billing", "RT-billing", "prod-rt-billing", ""):
        assert not is_scratch_name(name)


def test_report_columns_from_a_table_keep_names_meanings_and_values():
    def doubled(df, _):
        return df["n"] * 2

    cols = exports._columns(
        ("Name", "`name` of the row", "name"), "gone", ("Twice", "`n` doubled", doubled)
    )
    assert [(c.name, c.meaning) for c in cols] == [
        ("Name", "`name` of the row"),
        ("gone", exports.NOT_RECORDED),
        ("Twice", "`n` doubled"),
    ]
    report = exports.Report("ODD_REPORT", "findings", cols)
    rows = pd.DataFrame({"name": ["é ü", "x"], "n": [3, 4]})
    out = exports.shape(report, rows, exports.RunInfo(run_id="r-9"))
    assert out.to_dict("list") == {"Name": ["é ü", "x"], "gone": [None, None], "Twice": [6, 8]}
    empty = exports.shape(report, rows.drop(columns="name"), exports.RunInfo(run_id="r-9"))
    assert empty["Name"].tolist() == [None, None]  # a ledger column the rows lack: empty


STATUSES = ("PASS", "FAIL", "NOT_APPLICABLE", "NOT_SUPPORTED_ON_SANDBOX", "ERROR")


def test_control_status_follows_the_finding_words_worst_first():
    """controlComplianceStatus as documented: NON_COMPLIANT if any FAIL; else
    INSUFFICIENT_DATA if any ERROR or NOT_SUPPORTED_ON_SANDBOX; else COMPLIANT if any PASS;
    else NOT_APPLICABLE; and the counts beside it, for every set of statuses."""
    rows, want = [], {}
    sets = [s for k in range(1, 6) for s in itertools.combinations(STATUSES, k)]
    for i, statuses in enumerate(sets):
        cid = f"ctl_{i:02d}"
        for s in statuses:
            rows.append(
                {"account": "042424242424", "region": "ap-southeast-4", "control_id": cid,
                 "status": s, "tier": "bronze", "expected": "", "practice": "REL09-BP03"}
            )  # fmt: skip
        if "FAIL" in statuses:
            want[cid] = "NON_COMPLIANT"
        elif {"ERROR", "NOT_SUPPORTED_ON_SANDBOX"} & set(statuses):
            want[cid] = "INSUFFICIENT_DATA"
        elif "PASS" in statuses:
            want[cid] = "COMPLIANT"
        else:
            want[cid] = "NOT_APPLICABLE"
    per = exports._per_control(pd.DataFrame(rows)).set_index("control_id")
    assert per["_status"].to_dict() == want
    for i, statuses in enumerate(sets):
        row = per.loc[f"ctl_{i:02d}"]
        unknown = len({"ERROR", "NOT_SUPPORTED_ON_SANDBOX"} & set(statuses))
        assert (row["_pass"], row["_fail"], row["_unknown"]) == (
            int("PASS" in statuses),
            int("FAIL" in statuses),
            unknown,
        )


def test_on_demand_rds_snapshots_record_their_encryption_for_both_kinds():
    """backup_now's manual snapshot of a DB instance and of a DB cluster: the snapshot's own
    encryption field (Encrypted / StorageEncrypted) is what the backup records."""
    import boto3
    from moto import mock_aws

    from runbook_lib.services.rds import backup_now

    region = "ap-southeast-4"
    with mock_aws():
        rds = boto3.client("rds", region_name=region)
        rds.create_db_instance(
            DBInstanceIdentifier="Ledger-Primary-01", DBInstanceClass="db.t3.micro",
            Engine="postgres", MasterUsername="ops", MasterUserPassword="x" * 12,
            AllocatedStorage=20, StorageEncrypted=True,
        )  # fmt: skip
        rds.create_db_instance(
            DBInstanceIdentifier="scratch-plain", DBInstanceClass="db.t3.micro",
            Engine="mysql", MasterUsername="ops", MasterUserPassword="x" * 12,
            AllocatedStorage=20,
        )  # fmt: skip
        rds.create_db_cluster(
            DBClusterIdentifier="orders-aurora-x", Engine="aurora-postgresql",
            MasterUsername="ops", MasterUserPassword="x" * 12, StorageEncrypted=True,
        )  # fmt: skip
        session = SimpleNamespace(
            client=lambda service, account, r: boto3.client(service, region_name=r)
        )
        seen = {}
        for resource_type, name in (
            ("rds:db", "Ledger-Primary-01"),
            ("rds:db", "scratch-plain"),
            ("rds:cluster", "orders-aurora-x"),
        ):
            res = SimpleNamespace(
                account="042424242424", region=region, name=name, resource_type=resource_type
            )
            started = backup_now.start(session, res, run_id="run-7", ident="q9")
            status, facts = started.poll()
            seen[name] = (started.native_id.lower(), status, facts["encrypted"])
    assert seen == {
        "Ledger-Primary-01": (
            "arn:aws:rds:ap-southeast-4:123456789012:snapshot:ledger-primary-01-q9",
            "COMPLETED",
            True,
        ),
        "scratch-plain": (
            "arn:aws:rds:ap-southeast-4:123456789012:snapshot:scratch-plain-q9",
            "COMPLETED",
            False,
        ),
        "orders-aurora-x": (
            "arn:aws:rds:ap-southeast-4:123456789012:cluster-snapshot:orders-aurora-x-q9",
            "COMPLETED",
            True,
        ),
    }


# -- a fingerprint recorded under an earlier scheme of the same kind ------------------------


def _fp(kind: str, keys: dict[str, bytes]) -> Fingerprint:
    fp = Fingerprint(kind)
    for key, value in keys.items():
        fp.add(key, value)
    return fp


@pytest.mark.parametrize("after", [False, True], ids=["one read", "written while it ran"])
def test_an_earlier_fingerprint_scheme_is_not_comparable_rather_than_a_fail(after):
    """A ledger entry of ``redis-keys`` (the scheme before ``redis-keys-2``) says the two
    cannot be compared and to take a new backup: a SKIP, not a FAIL about the data. A kind
    of another scheme (another service's) still FAILs."""
    from runbook_lib.restore.recorded import Recorded
    from runbook_lib.restore.registry import Content
    from runbook_lib.restore.validate import _fingerprint_check

    keys = {"a": b"1", "b": b"2"}
    copy = Content("redis-keys-2", 2, {"all keys": _fp("redis-keys-2", keys)}, detail="2 keys")
    old = _fp("redis-keys", keys)
    recorded = Recorded(old, None, {}, after=_fp("redis-keys", {"a": b"1"}) if after else None)
    check = _fingerprint_check(None, None, None, None, copy, recorded)
    assert check.status == "SKIP", check
    assert "'redis-keys'" in check.detail and "'redis-keys-2'" in check.detail
    assert "backup_now" in check.detail

    other = Recorded(_fp("dynamodb-items", keys), None, {})
    check = _fingerprint_check(None, None, None, None, copy, other)
    assert check.status == "FAIL" and "'dynamodb-items'" in check.detail, check

    same = Recorded(_fp("redis-keys-2", keys), None, {})
    assert _fingerprint_check(None, None, None, None, copy, same).status == "PASS"

    changed = Recorded(_fp("redis-keys-2", {"a": b"1", "b": b"3"}), None, {})
    check = _fingerprint_check(None, None, None, None, copy, changed)
    assert check.status == "FAIL" and "1 changed (first: b)" in check.detail, check
    assert check.detail.endswith("(read: 2 keys)"), check  # the read says which path ran
