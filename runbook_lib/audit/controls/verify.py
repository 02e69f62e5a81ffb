"""REL09-BP04: restores are tested periodically, the restored content is proven, and the
measured RTO and RPO meet the tier's objectives. Evidence: the ``restore_tests`` ledger."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pandas as pd

from runbook_lib.audit.controls import declared_in, duration, human, result
from runbook_lib.audit.evidence import Evidence, reproducible
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, NOT_SUPPORTED, PASS, Result

control = declared_in(__name__)  # the controls' metadata: verify.json beside this file
RESTORED = ("PASS", "PASS_WEAK")  # restore_tests statuses of a test that restored and checked out
CLEAN = ("DELETED", "NOTHING_CREATED")
NOT_SUPPORTED_WORDS = ("NOT_SUPPORTED_ON_SANDBOX",)


def _when(t: pd.Timestamp) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _last(tests: pd.DataFrame) -> str:
    r = tests.iloc[-1]
    reason = f": {r.reason}" if isinstance(r.reason, str) and r.reason else ""
    return f"newest test {_when(r.tested_at)} was {r.status}{reason}"


#: statuses that say nothing about the data (the sandbox could not run it, nothing to test)
NO_JUDGEMENT = ("NOT_SUPPORTED_ON_SANDBOX", "SKIPPED")


def content_of(tests: pd.DataFrame) -> pd.Series:
    """The content-validation result of each test: ``content_verdict``; rows recorded
    before that column existed kept it in ``verdict``."""
    content = tests["content_verdict"] if "content_verdict" in tests else None
    verdict = tests["verdict"] if "verdict" in tests else pd.Series(None, index=tests.index)
    return verdict if content is None else content.where(content.notna(), verdict)


def _lineage(tests: pd.DataFrame) -> pd.Series:
    """Which recovery points a test is about: ``local`` or ``dr`` (its copy)."""
    if "copy" not in tests:
        return pd.Series("local", index=tests.index)
    return tests["copy"].where(tests["copy"].notna() & (tests["copy"] != ""), "local")


def _discredited(tests: pd.DataFrame) -> pd.Series:
    """True for a test whose recovery point a later test found damaged (content FAIL)."""
    out = pd.Series(False, index=tests.index)
    if "recovery_point_id" not in tests or not len(tests):
        return out
    content = content_of(tests)
    for i, (rp, when) in enumerate(zip(tests.recovery_point_id, tests.tested_at, strict=True)):
        if not isinstance(rp, str) or not rp:
            continue
        later = (tests.recovery_point_id == rp) & (tests.tested_at > when) & (content == "FAIL")
        out.iloc[i] = bool(later.any())
    return out


def newest_evidence(tests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the newest judged test of each lineage (local, dr), the successful tests that still
    count). The newest evidence decides: a FAIL (or ERROR, nothing found) newer than a PASS
    of the same lineage outweighs it, and a PASS of a recovery point that a later test found
    damaged no longer counts."""
    if not len(tests):
        return tests, tests
    judged = tests[~tests.status.isin(NO_JUDGEMENT)]
    newest = judged.groupby(_lineage(judged), sort=False).tail(1).sort_values("tested_at")
    ok = tests[tests.status.isin(RESTORED) & ~_discredited(tests)]
    return newest, ok


def _against(newest: pd.DataFrame) -> pd.DataFrame:
    """The newest judged tests that did not restore and check out."""
    return newest[~newest.status.isin(RESTORED)] if len(newest) else newest


def _failed(bad: pd.DataFrame) -> str:
    r = bad.iloc[-1]
    reason = f": {r.reason}" if isinstance(r.reason, str) and r.reason else ""
    copy = " (DR copy)" if r.get("copy") == "dr" else ""
    return f"newest test{copy} {r.test_id} {_when(r.tested_at)} was {r.status}{reason}"


def _sandbox_only(tests: pd.DataFrame) -> bool:
    """There are tests and the sandbox could run none of them."""
    return bool(len(tests)) and bool(tests.status.isin(NOT_SUPPORTED_WORDS).all())


def _in_window(ev: Evidence, row: dict) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(every test of the resource, those inside its tier's restore_test_every, the window text)."""
    tests = ev.tests_for(row["arn"])
    since, every = ev.window(row.get("tier"))
    return tests, tests[tests.tested_at >= since] if len(tests) else tests, every


def _per_testable_row(
    judge: Callable[..., Iterator[Result]],
) -> Callable[[Evidence], Iterator[Result]]:
    """Turns ``judge(ev, row, tests, recent, every)`` (see :func:`_in_window`) into a
    control over every inventory row; a row reproducible from a source is NOT_APPLICABLE
    (restore-test the source)."""

    @functools.wraps(judge)
    def evaluate(ev: Evidence) -> Iterator[Result]:
        for row in ev.rows():
            source = reproducible(row)
            if source:
                reason = f"reproducible from {source}: restore-test the source"
                yield result(row, NOT_APPLICABLE, reason)
            else:
                yield from judge(ev, row, *_in_window(ev, row))

    return evaluate


@control("restore_tested_recently")
@_per_testable_row
def restore_tested_recently(
    ev: Evidence, row: dict, tests: pd.DataFrame, recent: pd.DataFrame, every: str
) -> Iterator[Result]:
    """A backup that was never restored is a hope, not a backup."""
    exp = f"restore_test_every={every}"
    newest, ok = newest_evidence(recent)
    bad = _against(newest)
    if len(bad):
        passed = recent[recent.status.isin(RESTORED)]
        outweighed = passed[passed.tested_at <= bad.tested_at.iloc[-1]]
        tail = (
            f"; it outweighs the older {outweighed.status.iloc[-1]} of test "
            f"{outweighed.test_id.iloc[-1]} ({_when(outweighed.tested_at.iloc[-1])})"
            if len(outweighed)
            else ""
        )
        yield result(row, FAIL, f"{_failed(bad)}{tail}", expected=exp)
    elif len(ok):
        r = ok.iloc[-1]
        yield result(
            row,
            PASS,
            f"restored and checked {_when(r.tested_at)} ({r.status}, test {r.test_id})",
            expected=exp,
        )
    elif _sandbox_only(recent):
        yield result(
            row,
            NOT_SUPPORTED,
            f"every test in the last {every} was not supported by the sandbox: {_last(recent)}",
            expected=exp,
        )
    elif len(recent):
        yield result(
            row,
            FAIL,
            f"{len(recent)} test(s) in the last {every}, none restored and checked out; {_last(recent)}",
            expected=exp,
        )
    elif len(tests):
        _newest, passed = newest_evidence(tests)
        last = (
            f"last successful test {_when(passed.tested_at.iloc[-1])}"
            if len(passed)
            else "never tested successfully"
        )
        yield result(row, FAIL, f"no restore test in the last {every}: {last}", expected=exp)
    else:
        yield result(
            row, FAIL, "never restore-tested (no row in the restore_tests ledger)", expected=exp
        )


@control("restore_content_validated")
@_per_testable_row
def restore_content_validated(
    ev: Evidence, row: dict, _tests: pd.DataFrame, recent: pd.DataFrame, every: str
) -> Iterator[Result]:
    """'The restore job finished' proves little: the restored data must equal what was
    backed up (verdict PASS); PASS_WEAK means only weaker checks ran (counts, metadata)."""
    exp = f"content_verdict PASS within {every}"
    newest, ok = newest_evidence(recent)
    bad = _against(newest)
    if len(bad):
        yield result(
            row,
            FAIL,
            f"{_failed(bad)}: no older success outweighs it",
            expected=exp,
        )
        return
    if not len(ok):
        if _sandbox_only(recent):
            yield result(
                row,
                NOT_SUPPORTED,
                f"the sandbox could not restore it: {_last(recent)}",
                expected=exp,
            )
        else:
            yield result(row, FAIL, f"no successful restore test in the last {every}", expected=exp)
        return
    r = ok.iloc[-1]
    content = content_of(ok).iloc[-1]
    verdict = content if isinstance(content, str) and content else r.status
    if verdict == "PASS":
        yield result(
            row,
            PASS,
            f"content proven by the backup-time fingerprint (test {r.test_id}, {_when(r.tested_at)})",
            expected=exp,
        )
    else:
        yield result(
            row,
            FAIL,
            f"newest successful test ({r.test_id}) is {verdict}: restored, but content not proven against a backup-time fingerprint",
            expected=exp,
        )


def _objective(kind: str) -> Callable[[Evidence], Iterator[Result]]:
    @_per_testable_row
    def evaluate(
        ev: Evidence, row: dict, _tests: pd.DataFrame, recent: pd.DataFrame, every: str
    ) -> Iterator[Result]:
        col = f"{kind}_seconds"
        target = getattr(ev.tier(row.get("tier")), kind)
        exp = f"{kind}={duration(target)}"
        measured = recent[recent[col].notna()] if len(recent) else recent
        if not len(measured):
            if _sandbox_only(recent):
                yield result(
                    row,
                    NOT_SUPPORTED,
                    f"the sandbox could not restore it, so no {kind.upper()} was measured",
                    expected=exp,
                )
            else:
                yield result(
                    row,
                    FAIL,
                    f"no restore test in the last {every} measured the {kind.upper()}",
                    expected=exp,
                )
            return
        r = measured.iloc[-1]
        value = float(r[col])
        what = "restore + validation took" if kind == "rto" else "restored data was"
        tail = "" if kind == "rto" else " old"
        if value <= target.total_seconds():
            yield result(
                row,
                PASS,
                f"{what} {human(value)}{tail} (test {r.test_id}), within {human(target.total_seconds())}",
                expected=exp,
            )
        else:
            yield result(
                row,
                FAIL,
                f"{what} {human(value)}{tail} (test {r.test_id}), over {human(target.total_seconds())}",
                expected=exp,
            )

    return evaluate


control("restore_rto_met")(_objective("rto"))
control("restore_rpo_met")(_objective("rpo"))


@control("restore_test_cleaned_up")
@_per_testable_row
def restore_test_cleaned_up(
    ev: Evidence, row: dict, _tests: pd.DataFrame, recent: pd.DataFrame, every: str
) -> Iterator[Result]:
    """Scratch copies of production data left running cost money and widen exposure."""
    if not len(recent):
        yield result(row, NOT_APPLICABLE, f"no restore test in the last {every}")
        return
    dirty = recent[~recent.cleanup_status.fillna("").isin(CLEAN)]
    if len(dirty):
        ids = ", ".join(f"{t} ({c})" for t, c in dirty[["test_id", "cleanup_status"]].values)
        yield result(
            row,
            FAIL,
            f"scratch resource(s) not confirmed deleted: {ids}",
            expected="cleaned up",
        )
    else:
        yield result(
            row,
            PASS,
            f"{len(recent)} test(s) in the last {every}, all cleaned up",
            expected="cleaned up",
        )
