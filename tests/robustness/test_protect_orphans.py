"""Protect leaves nothing it cannot find again: a KMS key whose alias was never made (the
CreateKey response lost, CreateAlias failing) is adopted by the next plan, never doubled; a
backup selection's create carries a CreatorRequestId from the write-ahead record, and
duplicate selections of protect's name are found by the plan and removed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from faults import Fault, forget_clients, injecting

from runbook_lib import intents
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.protect import ProtectApplyError, apply, central, plan
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process


@pytest.fixture
def session():
    """An empty sandbox of its own: protect's central steps (keys, vaults, plans) only."""
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        yield AwsSession(load_params("sandbox"), endpoint_url=url)


def _ctx(session: AwsSession, tmp_path, run_id: str) -> RunContext:
    return RunContext(session.params, session, Ledger(str(tmp_path / "ledger")), run_id,
                      datetime.now(UTC))  # fmt: skip


def _keys_for_alias(session: AwsSession, account: str, region: str) -> list[str]:
    kms = session.client("kms", account, region)
    out = []
    for k in kms.list_keys()["Keys"]:
        tags = kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags", [])
        if any(t["TagKey"] == central.KEY_FOR_ALIAS_TAG for t in tags):
            out.append(k["KeyArn"])
    return out


@pytest.mark.parametrize(
    "fault",
    [
        Fault(service="kms", operation="CreateKey", kind="lost", times=1),
        Fault(service="kms", operation="CreateAlias", kind="expired", times=1),
    ],
    ids=["CreateKey-response-lost", "CreateAlias-fails"],
)
def test_a_key_made_without_its_alias_is_adopted_not_doubled(session, tmp_path, fault):
    ctx = _ctx(session, tmp_path, "keys-1")
    first = plan(ctx)
    with injecting(fault) as inj:
        forget_clients(session)
        with pytest.raises(ProtectApplyError):
            apply(ctx, first, approve=True)
    forget_clients(session)
    assert inj.total == 1
    scopes = [(s.account, s.region) for s in first.steps if s.kind == "key"]
    orphaned = [s for s in scopes if _keys_for_alias(session, *s)
                and not central.find_key(session, session.params, *s)]  # fmt: skip
    assert len(orphaned) == 1, orphaned  # the fault left one key without its alias
    [(account, region)] = orphaned
    [orphan] = _keys_for_alias(session, account, region)
    # the write-ahead record holds the intent (and, unless the response was lost, the key)
    wal = intents.read(ctx.ledger, purpose="protect")
    mine = wal[(wal.kind == "kms key") & (wal.account == account) & (wal.region == region)]
    assert len(mine) == 1 and mine.iloc[0]["name"] == session.params.protect.key_alias
    assert mine.iloc[0]["ref"] in ("", orphan)

    again = plan(_ctx(session, tmp_path, "keys-2"))
    [step] = [s for s in again.steps if s.kind.startswith("key") and s.kind != "key_rotation"
              and (s.account, s.region) == (account, region)]  # fmt: skip
    assert (step.kind, step.action, step.args["key"]) == ("key_adopt", "update", orphan)
    apply(_ctx(session, tmp_path, "keys-2"), again, approve=True)
    for scope in scopes:  # one key per scope, each with the alias
        assert len(_keys_for_alias(session, *scope)) == 1, scope
        assert central.find_key(session, session.params, *scope)
    assert plan(_ctx(session, tmp_path, "keys-3")).changes == []


def test_selections_carry_a_token_and_duplicates_are_removed(session, tmp_path):
    ctx = _ctx(session, tmp_path, "sel-1")
    with injecting(Fault(service="backup", operation="CreateBackupSelection", kind="lost",
                         times=1)) as inj:  # fmt: skip
        forget_clients(session)
        with pytest.raises(ProtectApplyError):
            apply(ctx, plan(ctx), approve=True)
    forget_clients(session)
    assert inj.total == 1
    wal = intents.read(ctx.ledger, purpose="protect")
    sel = wal[wal.kind == "backup selection"].iloc[0]
    backup = session.client("backup", sel["account"], sel["region"])
    plan_id = sel["source"]
    [made] = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert made["CreatorRequestId"] == sel["token"]  # the create carried the intent's token
    # a retry with the same token makes nothing new (as AWS documents for CreatorRequestId)
    body = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=made["SelectionId"])
    retry = backup.create_backup_selection(BackupPlanId=plan_id, CreatorRequestId=sel["token"],
                                           BackupSelection=body["BackupSelection"])  # fmt: skip
    assert retry["SelectionId"] == made["SelectionId"]
    # what an older apply without tokens left: a second selection of the same name
    backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body["BackupSelection"])
    again = plan(_ctx(session, tmp_path, "sel-2"))
    [dedupe] = [s for s in again.steps if s.kind == "selection_dedupe"]
    assert dedupe.action == "update" and len(dedupe.args["remove"]) == 1
    apply(_ctx(session, tmp_path, "sel-2"), again, approve=True)
    left = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert [s["SelectionId"] for s in left] == [made["SelectionId"]]
    assert not [s for s in plan(_ctx(session, tmp_path, "sel-4")).steps
                if s.kind == "selection_dedupe"]  # fmt: skip


CHILD = """
import sys
from datetime import UTC, datetime
from runbook_lib.context import RunContext
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.protect import apply, plan
from runbook_lib.session import AwsSession

url, ledger = sys.argv[1:3]
params = load_params("sandbox")
ctx = RunContext(params, AwsSession(params, endpoint_url=url), Ledger(ledger), "killed",
                 datetime.now(UTC))
apply(ctx, plan(ctx), approve=True)
"""


def test_a_protect_apply_killed_midway_converges_without_duplicates(session, tmp_path):
    """kill -9 while protect applies (after some steps were recorded): the next plan and
    apply finish the work; one key per scope, one selection per plan, nothing left to do."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ledger = tmp_path / "ledger"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, session.endpoint_url, str(ledger)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            done = ledger / "protect_actions"
            if done.is_dir() and len(list(done.rglob("*.parquet"))) >= 12:
                break  # a dozen steps applied: keys made, vaults under way
            time.sleep(0.05)
        assert child.poll() is None, "the apply finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    forget_clients(session)
    ctx = _ctx(session, tmp_path, "after-kill")
    apply(ctx, plan(ctx), approve=True)
    assert plan(_ctx(session, tmp_path, "check")).changes == []
    scopes = {(s.account, s.region) for s in plan(_ctx(session, tmp_path, "c2")).steps
              if s.kind in ("key", "key_adopt")}  # fmt: skip
    assert scopes
    for scope in scopes:
        assert len(_keys_for_alias(session, *scope)) == 1, scope
    for account, region in scopes:
        backup = session.client("backup", account, region)
        for p in backup.list_backup_plans()["BackupPlansList"]:
            names = [s["SelectionName"] for s in backup.list_backup_selections(
                BackupPlanId=p["BackupPlanId"])["BackupSelectionsList"]]  # fmt: skip
            assert len(names) == len(set(names)), (account, region, names)
