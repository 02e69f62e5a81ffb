"""One rule per judgement: after an approved protect apply, what the audit still fails and
names a protect step for is a step the re-plan cannot do (``manual`` or ``not_supported``,
with its reason). A FAIL whose step the re-plan calls done (``none``) or does not plan at
all would mean the audit and protect judge the same setting by different rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from runbook_lib import audit
from runbook_lib.context import RunContext
from runbook_lib.inventory import discover
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.protect import apply, plan
from runbook_lib.session import AwsSession

STEP = re.compile(r'plan step "([^"]+)"')


def protected(fresh_sandbox, tmp_path):
    session = AwsSession(load_params("sandbox"), endpoint_url=fresh_sandbox)
    ctx = RunContext(
        session.params, session, Ledger(str(tmp_path / "ledger")), "one-rule", datetime.now(UTC)
    )
    done = apply(ctx, plan(ctx), approve=True)
    assert "FAILED" not in set(done.status)
    inv = discover(ctx, progress=False)
    findings = audit.evaluate(ctx, inv, progress=False).table()
    replan = plan(ctx).frame(only_open=False)
    return inv, findings, replan


def test_every_remaining_fail_that_names_a_protect_step_is_manual_or_not_supported(
    fresh_sandbox, tmp_path
):
    inv, findings, replan = protected(fresh_sandbox, tmp_path)
    fails = findings[findings.status == audit.FAIL]
    named = [(f, STEP.findall(f.remediation)) for f in fails.itertuples()]
    named = [(f, settings) for f, settings in named if settings]
    assert named, "no remaining FAIL names a protect step: nothing was checked"
    wrong = []
    for f, settings in named:
        for setting in settings:
            steps = replan[replan.setting == setting]
            mine = steps[steps.resource == f.arn]
            if mine.empty:  # a scope's step: backup selection, export bucket replication
                mine = steps[(steps.account == f.account) & (steps.region == f.region)]
            if mine.empty:
                wrong.append((f.control_id, f.name, setting, "not in the re-plan"))
                continue
            for s in mine.itertuples():
                if s.action not in ("manual", "not_supported") or not s.note:
                    wrong.append((f.control_id, f.name, setting, s.action, s.note))
    assert not wrong, wrong
    # and the inventory's gaps are still exactly the audit's FAILs of the gap controls
    ids = {c.id for c in audit.gap_controls()}
    fails = findings[(findings.status == audit.FAIL) & findings.control_id.isin(ids)]
    want = sorted(map(tuple, fails[["arn", "control_id", "reason", "remediation"]].values))
    got = sorted(map(tuple, inv.gaps()[["arn", "gap", "missing", "closed_by"]].values))
    assert got == want
