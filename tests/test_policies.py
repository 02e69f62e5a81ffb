"""The least-privilege policies in policies/ cover exactly what the code calls.

The calls are recorded with the session's counter while inventory, protect (plan, apply,
and an apply of stronger objectives that takes the update paths) and backup_now (AWS
Backup and native paths) run on a fresh sandbox; boto3 operation names are mapped to IAM
actions with runbook_lib.protect.iam (a short list of documented exceptions).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from runbook_lib import backup_now, protect
from runbook_lib.context import RunContext
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params, validate_params
from runbook_lib.protect.iam import (
    NOT_CALLED_ON_SANDBOX,
    allows,
    iam_actions,
    is_read_only,
    load_policy,
    policy_actions,
)
from runbook_lib.sandbox import reset, start_server
from runbook_lib.sandbox.seed import seed_demo_estate
from runbook_lib.session import AwsSession


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    logging.getLogger("werkzeug").disabled = True
    server, url = start_server()
    reset(url)  # moto's state is per process: start from an empty estate
    try:
        session = AwsSession(load_params("sandbox"), endpoint_url=url)
        seed_demo_estate(session)
        ledger = Ledger(str(tmp_path_factory.mktemp("ledger")))
        ctx = RunContext(session.params, session, ledger, "policy-run", datetime.now(UTC))
        out: dict[str, set[str]] = {}

        session.counter.reset()
        discover(session, progress=False)
        out["inventory-audit-readonly"] = iam_actions(session.counter.operations())

        session.counter.reset()
        backup_now.run(ctx)
        backup_now.run(ctx, approve=True)
        for tier in ("silver", "bronze"):
            backup_now.run(
                ctx,
                tag_filter=f"backup-tier={tier}",
                approve=True,
                method="native",
                fingerprint=False,
            )
        out["backup-now"] = iam_actions(session.counter.operations())

        session.counter.reset()
        protect.apply(ctx, protect.plan(ctx), approve=True)
        data = session.params.model_dump(mode="json", exclude={"source"})
        for tier in data["tiers"].values():  # stronger objectives: the update paths
            tier["retention"] = f"{int(tier['retention'][:-1]) * 3}{tier['retention'][-1]}"
            tier["rpo"] = "1h"
        stronger = RunContext(validate_params(data), session, ledger, "policy-run-2", ctx.as_of)
        protect.apply(stronger, protect.plan(stronger), approve=True)
        out["protect"] = iam_actions(session.counter.operations())
        yield out
    finally:
        reset(url)
    server.stop()


@pytest.mark.parametrize("name", ["inventory-audit-readonly", "protect", "backup-now"])
def test_every_call_is_allowed(recorded, name):
    granted = policy_actions(load_policy(name))
    missing = sorted(a for a in recorded[name] if not allows(granted, a))
    assert not missing, f"{name}.json lacks {missing}"


@pytest.mark.parametrize("name", ["protect", "backup-now"])
def test_no_write_action_beyond_what_is_called(recorded, name):
    extras = NOT_CALLED_ON_SANDBOX[name]
    granted = policy_actions(load_policy(name)) - {"iam:PassRole"}
    unused = sorted(
        a for a in granted if not is_read_only(a) and a not in recorded[name] and a not in extras
    )
    assert not unused, f"{name}.json grants write actions the code does not call: {unused}"
    assert "backup:DeleteRecoveryPoint" not in granted and not any(a.endswith("*") for a in granted)


def test_readonly_policy_only_reads(recorded):
    granted = policy_actions(load_policy("inventory-audit-readonly"))
    assert granted and all(is_read_only(a) for a in granted), sorted(
        a for a in granted if not is_read_only(a)
    )


def test_pass_role_only_to_the_services_and_roles_named():
    for name in ("protect", "backup-now", "restore-test"):
        for st in load_policy(name)["Statement"]:
            if "iam:PassRole" in st["Action"]:
                assert st["Action"] == "iam:PassRole" and "iam:PassedToService" in str(
                    st["Condition"]
                )
                assert "*" not in str(st["Resource"]).split("role/")[-1]


def test_restore_test_writes_only_restore_test_resources():
    for st in load_policy("restore-test")["Statement"]:
        acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        writes = [a for a in acts if not is_read_only(a) and a != "iam:PassRole"]
        if writes:
            cond = str(st.get("Condition", {}))
            assert (
                "aws:ResourceTag/restore-test" in cond or "aws:RequestTag/restore-test" in cond
            ), st["Sid"]
        if any(a.split(":")[1].startswith("Delete") for a in acts):
            assert "aws:ResourceTag/restore-test" in str(st["Condition"]), st["Sid"]
