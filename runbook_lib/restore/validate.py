"""Validation of a restored copy, strongest check first.

1. **fingerprint**: the content fingerprint recorded when the backup was made, against the
   fingerprint of the restored data (exact: count and an order-independent hash of every
   record; on a difference, the first keys that differ).
2. **canary**: the newest canary record in the restored copy; its time is the measured data
   freshness. A canary the backup recorded but the copy lacks means stale data.
3. **user checks**: minimum count, required keys or key prefixes, expected values, SQL
   queries returning an expected value (databases).
4. **metadata**: engine, size, encryption and key of the copy against the source.

Verdict: FAIL if any check fails; PASS if the fingerprint matched; PASS_WEAK otherwise (the
``evidence`` column names the checks that ran, so a reader sees how strong the proof is).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbook_lib.fingerprint import Fingerprint
from runbook_lib.restore.fp import best_match
from runbook_lib.restore.model import (
    FAIL,
    PASS,
    PASS_WEAK,
    Check,
    RecoveryPoint,
    ResourceRef,
    Restored,
)
from runbook_lib.restore.recorded import Recorded
from runbook_lib.restore.registry import Content, ServiceHandler

CHECK_KEYS = ("min_count", "required_keys", "required_prefixes", "expected_values", "sql")
SQL_KEYS = ("query", "expect")
TAG_SELECTOR = "tag:"  # checks keyed ``tag:KEY=VALUE`` apply to resources with that tag


@dataclass
class Validation:
    verdict: str
    checks: list[Check]
    content: Content | None = None
    newest_canary: datetime | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def detail(self) -> str:
        failed = [f"{c.name}: {c.detail}" for c in self.checks if c.status == FAIL]
        if failed:
            return " | ".join(failed)
        ran = [c for c in self.checks if c.status in (PASS, "INFO")]
        return "; ".join(f"{c.name}: {c.detail}" for c in ran[:3]) or "no check could run"

    @property
    def evidence(self) -> list[str]:
        return [f"{c.name}={c.status}" for c in self.checks]


def checks_for(checks: dict[str, Any] | None, ref: ResourceRef) -> dict[str, Any]:
    """User checks that apply to ``ref``: ``checks`` maps an ARN, a name, a tag
    (``tag:KEY=VALUE``) or a service (or '*') to a dict of CHECK_KEYS; the most specific
    entry wins (ARN, name, tag, service, '*'); ``sql`` entries of several selectors add up."""
    from runbook_lib.errors import ParamsError

    if not checks:
        return {}
    if not isinstance(checks, dict):
        raise ParamsError(
            "checks",
            [
                "checks: expected a mapping of ARN / name / service -> {"
                + ", ".join(CHECK_KEYS)
                + "}"
            ],
        )
    out: dict[str, Any] = {}
    sql: dict[str, dict[str, Any]] = {}
    tagged = sorted(
        s
        for s in checks
        if isinstance(s, str)
        and s.startswith(TAG_SELECTOR)
        and ref.tags.get(s[len(TAG_SELECTOR) :].partition("=")[0])
        == s[len(TAG_SELECTOR) :].partition("=")[2]
    )
    for selector in ("*", ref.service, *tagged, ref.name, ref.arn):
        spec = checks.get(selector)
        if spec is None:
            continue
        if not isinstance(spec, dict) or set(spec) - set(CHECK_KEYS):
            bad = sorted(set(spec) - set(CHECK_KEYS)) if isinstance(spec, dict) else spec
            raise ParamsError(
                "checks",
                [f"checks[{selector!r}]: unknown check(s) {bad}; allowed: {list(CHECK_KEYS)}"],
            )
        if isinstance(selector, str) and selector.startswith(TAG_SELECTOR):
            if "=" not in selector or not selector[len(TAG_SELECTOR) :].partition("=")[0]:
                raise ParamsError(
                    "checks",
                    [f"checks[{selector!r}]: a tag selector is tag:KEY=VALUE, e.g. tag:app=shop"],
                )
        if "sql" in spec:
            sql.update(_sql_spec(selector, spec["sql"]))
        out.update(spec)
    if sql:
        out["sql"] = sql
    return out


def _sql_spec(selector: str, spec: Any) -> dict[str, dict[str, Any]]:
    """The ``sql`` check of ``checks[selector]``: check name -> {"query": SQL text returning
    one value, "expect": the value}; a clear error otherwise."""
    from runbook_lib.errors import ParamsError

    where = f"checks[{selector!r}].sql"
    example = '{"orders": {"query": "SELECT count(*) FROM orders", "expect": 4000}}'
    if not isinstance(spec, dict) or not spec:
        raise ParamsError(
            "checks",
            [f"{where}: expected a mapping of check name -> query and expect, e.g. {example}"],
        )
    problems = []
    for name, q in spec.items():
        if not isinstance(q, dict) or set(q) != set(SQL_KEYS):
            got = sorted(q) if isinstance(q, dict) else type(q).__name__
            problems.append(f"{where}[{name!r}]: expected exactly {list(SQL_KEYS)}, got {got}")
        elif not isinstance(q["query"], str) or not q["query"].strip():
            problems.append(f"{where}[{name!r}].query: a non-empty SQL text")
        elif not (q["expect"] is None or isinstance(q["expect"], str | int | float | bool)):
            problems.append(
                f"{where}[{name!r}].expect: a single value (text, number, true/false or null), "
                f"got {type(q['expect']).__name__}"
            )
    if problems:
        raise ParamsError("checks", problems)
    return {str(n): q for n, q in spec.items()}


def validate(
    session: Any,
    handler: ServiceHandler,
    ref: ResourceRef,
    rp: RecoveryPoint,
    restored: Restored,
    recorded: Recorded | None,
    user_checks: dict[str, Any],
    *,
    source_exists: bool = True,
    workers: int = 8,
) -> Validation:
    started = time.perf_counter()
    checks: list[Check] = []
    content: Content | None = None
    newest: datetime | None = None
    if handler.has_data:
        content = handler.read_content(session, restored, workers=workers)
    if content is not None:
        checks.append(_fingerprint_check(session, handler, ref, rp, content, recorded))
        canary = _canary_check(content, recorded)
        if canary:
            checks.append(canary)
        newest = max(content.canaries) if content.canaries else None
    else:
        checks.append(
            Check(
                "fingerprint",
                "SKIP",
                f"{ref.service} holds no records this runbook can read back (blocks, database engine or cache); "
                "content is not proven, metadata is checked instead",
            )
        )
    checks.extend(_user_checks(session, handler, restored, content, user_checks))
    checks.extend(_metadata_checks(session, handler, ref, rp, restored, source_exists))
    if any(c.status == FAIL for c in checks):
        verdict = FAIL
    elif any(c.status == PASS and c.strength >= 3 for c in checks):
        verdict = PASS
    else:
        verdict = PASS_WEAK
    return Validation(verdict, checks, content, newest, time.perf_counter() - started)


def _fingerprint_check(
    session, handler, ref, rp, content: Content, recorded: Recorded | None
) -> Check:
    expected, what = None, ""
    if recorded and recorded.fingerprint:
        expected, what = recorded.fingerprint, "recorded when the backup was made"
    else:
        ref_fp = handler.reference_fingerprint(session, ref, rp)
        if ref_fp:
            expected, what = ref_fp
    if expected is None:
        return Check(
            "fingerprint",
            "SKIP",
            f"no fingerprint was recorded for this recovery point; read {content.count} records "
            f"({content.detail}), proof rests on weaker checks",
        )
    if not expected.kind:
        expected.kind = content.kind
    variant, found = best_match(expected, content.fingerprints)
    if variant is not None:
        return Check(
            "fingerprint",
            PASS,
            f"{expected.count} records identical to the fingerprint {what} ({variant})",
            strength=3,
        )
    if found is None:
        if _scheme(expected.kind) == _scheme(content.kind):
            return Check(
                "fingerprint",
                "SKIP",
                f"recorded fingerprint is of kind {expected.kind!r} and this version takes "
                f"{content.kind!r}: the schemes differ and cannot be compared; read "
                f"{content.count} records ({content.detail}), proof rests on weaker checks: "
                "take a new backup with backup_now",
            )
        return Check(
            "fingerprint",
            FAIL,
            f"recorded fingerprint is of kind {expected.kind!r}, the copy holds {content.kind!r}",
        )
    if recorded and recorded.after is not None and recorded.fingerprint is expected:
        return _bounded_check(expected, recorded.after, content)
    return Check(
        "fingerprint",
        FAIL,
        f"restored content differs from the fingerprint {what}: {expected.describe_difference(found)}"
        + (f" (read: {content.detail})" if content.detail else ""),
    )


def _scheme(kind: str) -> str:
    """A fingerprint kind without its version suffix: ``redis-keys-2`` -> ``redis-keys``.
    A kind whose scheme changed gets the next suffix, so a record of an earlier version
    is told apart from one of another service."""
    base, _, version = kind.rpartition("-")
    return base if base and version.isdigit() else kind


def _bounded_check(before: Fingerprint, after: Fingerprint, content: Content) -> Check:
    """The source was written while the backup ran: its fingerprints before the backup
    started and after it completed differ. Every key with the same digest in both must be
    identical in the copy, and the copy may hold no key that neither had; keys written
    during the backup may hold either state (or one in between) and are not checked."""
    variant, found = best_match(after, content.fingerprints)
    if variant is not None:
        return Check(
            "fingerprint",
            PASS,
            f"bounded, not exact: the source was written while the backup ran; the copy is "
            f"identical to the fingerprint taken once the backup completed ({after.count} "
            f"records, {variant})",
            strength=3,
        )
    b, a = before.key_digests, after.key_digests
    variants = [f for f in content.fingerprints.values() if f.kind == before.kind]
    if not variants or not b or not a:
        return Check(
            "fingerprint",
            FAIL,
            "the source was written while the backup ran and no per-key digests bound the "
            f"content: the copy ({content.count} records) matches neither fingerprint",
        )
    stable = {k for k in b.keys() | a.keys() if b.get(k) == a.get(k)}
    moved = len(b.keys() | a.keys()) - len(stable)

    def outside(f: dict[str, str]) -> tuple[list[str], list[str]]:
        wrong = sorted(k for k in stable if f.get(k) != b.get(k))
        return wrong, sorted(k for k in f if k not in b and k not in a)

    # the variant (with or without canary records...) closest to the bounds
    wrong, extra = min(
        (outside(f.key_digests) for f in variants), key=lambda we: len(we[0]) + len(we[1])
    )
    if wrong or extra:
        parts = [f"{len(wrong)} differ (first: {', '.join(wrong[:5])})"] if wrong else []
        if extra:
            parts.append(f"{len(extra)} unexpected (first: {', '.join(extra[:5])})")
        return Check(
            "fingerprint",
            FAIL,
            "outside the bounds of the fingerprints taken before and after the backup (the "
            f"source was written while it ran): of the keys unchanged during it, {'; '.join(parts)}",
        )
    return Check(
        "fingerprint",
        PASS,
        f"bounded, not exact: the source was written while the backup ran ({before.count} "
        f"records before, {after.count} after); the {len(stable)} keys unchanged during it are "
        f"identical in the copy, the {moved} written during it are not checked",
        strength=3,
    )


def _canary_check(content: Content, recorded: Recorded | None) -> Check | None:
    newest = max(content.canaries) if content.canaries else None
    want = recorded.canary_time if recorded else None
    if want is not None:
        if newest is None:
            return Check(
                "canary",
                FAIL,
                f"the canary written at {want:%Y-%m-%dT%H:%M:%SZ} before this backup is missing: stale or incomplete data",
                strength=2,
            )
        if newest < want.replace(microsecond=0) and abs((want - newest).total_seconds()) >= 1:
            return Check(
                "canary",
                FAIL,
                f"newest canary in the copy is {newest:%Y-%m-%dT%H:%M:%SZ}, older than the one written before this "
                f"backup ({want:%Y-%m-%dT%H:%M:%SZ}): the restored data is stale",
                strength=2,
            )
        return Check(
            "canary",
            PASS,
            f"canary of {newest:%Y-%m-%dT%H:%M:%SZ} present (data fresh to then)",
            strength=2,
        )
    if newest is not None:
        return Check(
            "canary",
            "INFO",
            f"newest canary {newest:%Y-%m-%dT%H:%M:%SZ} ({len(content.canaries)} found)",
            strength=2,
        )
    return None


def _user_checks(
    session, handler, restored, content: Content | None, spec: dict[str, Any]
) -> list[Check]:
    out: list[Check] = []
    if not spec:
        return out
    if content is None:
        return [
            Check(
                "user checks",
                "SKIP",
                f"{restored.service}: no records to check {sorted(spec)} against",
            )
        ]
    fps = list(content.fingerprints.values())
    keys = set(fps[-1].key_digests) if fps else set()
    if "min_count" in spec:
        want = int(spec["min_count"])
        counted = f"{content.count} records (minimum {want})"
        out.append(_user_check("min_count", content.count < want, counted, counted))
    if spec.get("required_keys"):
        missing = [k for k in spec["required_keys"] if k not in keys]
        failed = f"missing {len(missing)}: {missing[:5]}"
        passed = f"all {len(spec['required_keys'])} present"
        out.append(_user_check("required_keys", bool(missing), failed, passed))
    if spec.get("required_prefixes"):
        absent = [p for p in spec["required_prefixes"] if not any(k.startswith(p) for k in keys)]
        failed = f"no record under {absent}"
        passed = f"records under all of {spec['required_prefixes']}"
        out.append(_user_check("required_prefixes", bool(absent), failed, passed))
    if spec.get("expected_values"):
        wrong = []
        for key, want in spec["expected_values"].items():
            got = handler.record_values(session, restored, key)
            if got is None:
                wrong.append(f"{key}: absent")
            elif isinstance(want, dict):
                diffs = {a: got.get(a) for a, v in want.items() if str(got.get(a)) != str(v)}
                if diffs:
                    wrong.append(f"{key}: {diffs} (expected {want})")
            elif str(want) not in str(got.get("body", "")):
                wrong.append(f"{key}: body lacks {want!r}")
        passed = f"{len(spec['expected_values'])} record(s) as expected"
        out.append(_user_check("expected_values", bool(wrong), "; ".join(wrong[:5]), passed))
    if spec.get("sql"):
        out.extend(_sql_checks(session, handler, restored, spec["sql"]))
    return out


def _sql_checks(session, handler, restored, queries: dict[str, dict[str, Any]]) -> list[Check]:
    """One check per query (``sql:<name>``): FAIL when it fails or returns another value."""
    got = handler.query_values(session, restored, {n: q["query"] for n, q in queries.items()})
    if got is None:
        return [
            Check(
                "sql",
                "SKIP",
                f"{restored.service}: no SQL engine to run {sorted(queries)} against",
            )
        ]
    out = []
    for name, q in queries.items():
        value, want = got.get(name), q["expect"]
        if isinstance(value, Exception):
            first = (str(value).strip().splitlines() or [type(value).__name__])[0]
            out.append(_user_check(f"sql:{name}", True, f"the query failed: {first}", ""))
            continue
        failed = f"returned {value!r}, expected {want!r} ({q['query']})"
        out.append(
            _user_check(f"sql:{name}", not _same(value, want), failed, f"{value!r} as expected")
        )
    return out


def _same(value: Any, want: Any) -> bool:
    """A database value against a params value: numerically when both are numbers, else as
    text (``true`` matches a boolean true; ``null`` matches NULL)."""
    from decimal import Decimal, InvalidOperation

    if want is None or value is None:
        return want is None and value is None
    if isinstance(want, bool) or isinstance(value, bool):
        return (
            str(value).lower() in ("true", "t", "1")
            if want is True
            else (
                str(value).lower() in ("false", "f", "0")
                if want is False
                else str(value) == str(want)
            )
        )
    try:
        return Decimal(str(value)) == Decimal(str(want))
    except InvalidOperation:
        return str(value) == str(want)


def _user_check(name: str, failing: bool, failed: str, passed: str) -> Check:
    """One check from the ``checks`` parameter: FAIL saying ``failed``, or PASS saying
    ``passed``; as strong as a canary."""
    return Check(name, FAIL if failing else PASS, failed if failing else passed, strength=2)


def _metadata_checks(session, handler, ref, rp, restored, source_exists: bool) -> list[Check]:
    out: list[Check] = []
    if not handler.makes_scratch:
        return out
    try:
        got = handler.metadata(session, restored)
    except Exception as err:  # noqa: BLE001  (report, do not crash the test)
        return [
            Check(
                "metadata",
                FAIL,
                f"cannot describe the restored {restored.service} {restored.name}: {err}",
                strength=1,
            )
        ]
    want = handler.source_metadata(session, ref) if source_exists else {}
    if rp.encrypted is not None and "encrypted" in got and rp.encrypted and not got["encrypted"]:
        out.append(
            Check(
                "metadata:encrypted",
                FAIL,
                "the recovery point is encrypted but the restored copy is not",
                strength=1,
            )
        )
    for name, expected in want.items():
        found = got.get(name)
        if expected in (None, "", False) or found == expected:
            if expected not in (None, ""):
                out.append(Check(f"metadata:{name}", PASS, f"{found}", strength=1))
            continue
        if session.sandbox and found in (None, "", False):
            out.append(
                Check(
                    f"metadata:{name}",
                    "SKIP",
                    f"source has {expected!r}, copy has {found!r}: the sandbox (moto) does not carry {name} to a "
                    "restored resource; on AWS this difference would FAIL",
                )
            )
            continue
        out.append(
            Check(
                f"metadata:{name}",
                FAIL,
                f"source has {expected!r}, restored copy has {found!r}",
                strength=1,
            )
        )
    if not want and not out:
        out.append(
            Check(
                "metadata",
                "INFO",
                ", ".join(f"{k}={v}" for k, v in got.items()) or "nothing to compare",
                strength=1,
            )
        )
    return out
