""" "Now" is the target's time: after the sandbox clock moves, the runbooks judge by it.

The sandbox server's clock is moved days ahead of this machine's; a runbook started in
another process (a notebook kernel, this test) must measure RPO exposure from the
server's time, read from the ``Date`` header of its answers, or every recovery point the
clock made would lie in that process's future and be left out.

The estate here is the demo estate shaped by other params than the demo's (other
accounts, Regions, tier names and objectives), protected by the protect flow, then
lived through 36 hours of sandbox time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from botocore.config import Config

from runbook_lib import clock as target_clock
from runbook_lib.clock import RESOLUTION, offset_from_date

ACCOUNTS = ("404040404040", "515151515151", "626262626262")
REGIONS = ("us-east-2", "ap-southeast-2")


# ------------------------------------------------------------- the Date header


def test_offset_from_a_date_header():
    sent = dt.datetime(2026, 12, 2, 16, 20, 48, 100_000, tzinfo=dt.UTC)
    received = sent + dt.timedelta(milliseconds=200)
    ahead = offset_from_date("Fri, 04 Dec 2026 04:20:48 GMT", sent, received)
    assert abs(ahead - dt.timedelta(hours=36)) < dt.timedelta(seconds=1)
    behind = offset_from_date("Wed, 02 Dec 2026 16:10:48 GMT", sent, received)
    assert abs(behind + dt.timedelta(minutes=10)) < dt.timedelta(seconds=1)
    # within the header's one-second resolution: the clocks agree as far as it can tell
    assert offset_from_date("Wed, 02 Dec 2026 16:20:48 GMT", sent, received) == dt.timedelta(0)
    assert RESOLUTION >= dt.timedelta(seconds=1)


@pytest.mark.parametrize("bad", ["", "yesterday", "Wed, 99 Foo 2026"])
def test_a_date_header_that_is_no_date_is_a_clear_error(bad):
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="Date header .* is not an HTTP date"):
        offset_from_date(bad, now, now)


@pytest.fixture
def restore_clock() -> Iterator[None]:
    """Whatever a test measures, later tests start from this machine's clock."""
    yield
    target_clock.set_offset(dt.timedelta(0), target_clock.LOCAL)


def test_an_unreachable_target_leaves_the_local_clock_and_says_why(restore_clock, tmp_path):
    from runbook_lib.params import load_params
    from runbook_lib.session import AwsSession, utcnow

    params = load_params("sandbox")
    session = AwsSession(params, endpoint_url="http://127.0.0.1:9")  # nothing listens
    session.config = session.config.merge(
        Config(connect_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
    )
    assert session.sync_clock() == dt.timedelta(0)
    assert "could not be read" in target_clock.source()
    assert abs(utcnow() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=1)


# ------------------------------------------------- end to end on a moved sandbox


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("params")
    doc = {
        "name": "clock-audit",
        "target": {"kind": "sandbox", "seed": 31, "max_workers": 4},
        "accounts": [
            {"id": ACCOUNTS[0], "name": "orders-prod", "kind": "workload"},
            {"id": ACCOUNTS[1], "name": "data lake", "kind": "workload"},
            {"id": ACCOUNTS[2], "name": "vault-acct", "kind": "backup"},
        ],
        "regions": list(REGIONS),
        "default_tier": "tier-c",
        "tiers": {
            "tier-a": {
                "rpo": "12h",
                "rto": "2h",
                "retention": "1d",
                "restore_test_every": "3d",
                "copy_region": REGIONS[1],
                "require_cmk": True,
            },
            "tier-b": {
                "rpo": "24h",
                "rto": "6h",
                "retention": "5d",
                "restore_test_every": "10d",
                "copy_region": REGIONS[1],
            },
            "tier-c": {"rpo": "7d", "rto": "2d", "retention": "7d", "restore_test_every": "60d"},
        },
        "tag_keys": {"tier": "Data.Class", "reproducible": "rebuild-from"},
        "ledger": str(folder / "ledger"),
        "run_archive": str(folder / "runs"),
        "protect": {"vault_name": "clock-vault"},
    }
    path = folder / "clock-audit.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def moved(params_file, tmp_path_factory) -> Iterator[dict]:
    """A sandbox seeded from ``params_file``, protected (approved), then 36 h later."""
    from runbook_lib import protect
    from runbook_lib.context import start
    from runbook_sandbox import ENV_URL, clock
    from runbook_sandbox.server import running_sandbox

    mp = pytest.MonkeyPatch()
    with running_sandbox(str(params_file)) as url:
        mp.setenv(ENV_URL, url)
        ledger = str(tmp_path_factory.mktemp("ledger"))
        ctx = start(str(params_file), ledger_location=ledger, setup_display=False)
        protect.apply(ctx, protect.plan(ctx), approve=True)
        done = clock.advance("36h", endpoint_url=url)
        yield {"url": url, "ledger": ledger, "advance": done, "protected_at": ctx.as_of}
    mp.undo()
    target_clock.set_offset(dt.timedelta(0), target_clock.LOCAL)


def test_a_run_started_after_the_advance_judges_at_the_sandbox_time(moved, params_file):
    from runbook_lib.context import start
    from runbook_sandbox import clock

    ctx = start(str(params_file), ledger_location=moved["ledger"], setup_display=False)
    server = clock.now(endpoint_url=moved["url"])
    assert abs(ctx.as_of - server) < dt.timedelta(seconds=3)
    assert ctx.as_of - dt.datetime.now(dt.UTC) > dt.timedelta(hours=35)
    assert "Date header" in target_clock.source()
    # an explicit as_of is taken as given
    given = start(
        str(params_file),
        ledger_location=moved["ledger"],
        as_of="2026-01-02T03:04:05Z",
        setup_display=False,
    )
    assert given.as_of == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_inventory_and_audit_see_what_the_clock_did(moved, params_file):
    from runbook_lib import audit, inventory
    from runbook_lib.context import start
    from runbook_lib.params import load_params

    params = load_params(params_file)
    done = moved["advance"]
    ctx = start(str(params_file), ledger_location=moved["ledger"], setup_display=False)
    inv = inventory.discover(ctx, progress=False)

    made = {e.result for e in done.of_kind("backup") if e.state == "COMPLETED"}
    assert made, "the protect plans fired no backup in 36 h"
    points = inv.recovery_points
    seen = set(points.arn)
    # every scheduled point still inside its retention is in the inventory
    deleted = {e.result for e in done.of_kind("lifecycle_delete")}
    assert made - deleted <= seen
    # expired points are gone: tier-a keeps a day, and the clock deleted the older ones
    assert deleted and not (deleted & seen)

    # copies landed in another Region's vault, and that vault lists them
    copies = [e for e in done.of_kind("copy") if e.state == "COMPLETED"]
    assert copies
    for e in copies:
        source_point = e.detail.split("copy of ", 1)[1].split(" ", 1)[0]
        assert source_point.split(":")[3] != e.region, e
    landed = set()
    for account in ACCOUNTS:
        for region in REGIONS:
            backup = ctx.session.client("backup", account, region)
            for vault in backup.list_backup_vaults()["BackupVaultList"]:
                got = backup.list_recovery_points_by_backup_vault(
                    BackupVaultName=vault["BackupVaultName"]
                )
                landed |= {p["RecoveryPointArn"] for p in got["RecoveryPoints"]}
    assert {e.result for e in copies} - deleted <= landed

    findings = audit.evaluate(ctx, inv, controls="last_recovery_point_within_rpo", progress=False)
    table = findings.table()
    # every resource the plans backed up within its tier's RPO before as_of passes
    fresh: dict[str, dt.datetime] = {}
    for e in done.of_kind("backup"):
        if e.state == "COMPLETED" and e.result not in deleted:
            fresh[e.resource_arn] = max(e.at, fresh.get(e.resource_arn, e.at))
    rows = inv.table().set_index("arn")
    judged = 0
    for arn, last in fresh.items():
        if arn not in rows.index:
            continue  # a resource outside the inventory's scope (e.g. the log archive)
        tier = rows.loc[arn, "tier"]
        if not rows.loc[arn, "backup_required"] or ctx.as_of - last > params.tiers[tier].rpo:
            continue  # reproducible from a source (no RPO to judge), or fired too long ago
        status = table[table.arn == arn].status.tolist()
        assert status == ["PASS"], (arn, tier, status, table[table.arn == arn].to_dict("records"))
        judged += 1
    assert judged >= 5
