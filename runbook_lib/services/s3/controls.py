"""S3's own audit controls: bucket versioning (REL09-BP03); Object Lock and MFA delete on
the buckets of tiers that ask for immutability (REL09-BP02); lifecycle rules that would
delete data before the tier's retention (REL09-BP03)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd

from runbook_lib.audit.controls import days, declared_in, duration, manual, result, step
from runbook_lib.audit.controls.automate import native_setting
from runbook_lib.audit.evidence import Evidence, reproducible
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, PASS, Result
from runbook_lib.services.s3.protect import NONCURRENT_RULE_ID

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file

control("s3_versioning_enabled")(native_setting("s3 versioning"))


def _immutable_asked(ev: Evidence, row: dict) -> str | None:
    """None when the bucket's tier asks for immutability, else the NOT_APPLICABLE reason."""
    if ev.tier(row.get("tier")).immutable:
        return None
    return f"tier {row.get('tier')} does not ask for immutability (immutable: false)"


@control("s3_object_lock_when_immutable")
def s3_object_lock_when_immutable(ev: Evidence) -> Iterator[Result]:
    """Object Lock (WORM) keeps every object version from being deleted or overwritten
    until its retention ends, even by the root user in compliance mode: ransomware or a
    stolen credential cannot destroy the data. Its default retention must reach the
    tier's retention, or objects written without their own retention are not locked."""
    for row in ev.rows():
        lock = row.get("object_lock")
        if not isinstance(lock, dict):
            continue  # not read for this resource
        tier = ev.tier(row.get("tier"))
        want = tier.retention.total_seconds() / 86400
        expected = f"Object Lock on, default retention >= {duration(tier.retention)}"
        why_not = _immutable_asked(ev, row)
        name = row.get("name")
        if why_not:
            yield result(row, NOT_APPLICABLE, why_not, expected="immutable: not asked")
        elif not lock.get("enabled"):
            yield result(
                row,
                FAIL,
                "Object Lock is not enabled (ObjectLockEnabled absent)",
                expected=expected,
                remediation=manual(
                    f"enable Object Lock on bucket {name} (versioning on, then "
                    "PutObjectLockConfiguration ObjectLockEnabled=Enabled with a default "
                    f"retention of at least {days(want)}; COMPLIANCE mode cannot be undone)"
                ),
            )
        elif not lock.get("days") or float(lock["days"]) < want:
            have = f"{lock['days']} days ({lock.get('mode')})" if lock.get("days") else "none"
            yield result(
                row,
                FAIL,
                f"Object Lock on, but default retention {have} is below {days(want)}",
                expected=expected,
                remediation=manual(
                    f"set bucket {name}'s default retention to at least {days(want)} "
                    "(PutObjectLockConfiguration Rule.DefaultRetention)"
                ),
            )
        else:
            yield result(
                row,
                PASS,
                f"Object Lock on, default retention {lock['days']} days ({lock.get('mode')})",
                expected=expected,
            )


@control("s3_mfa_delete_when_immutable")
def s3_mfa_delete_when_immutable(ev: Evidence) -> Iterator[Result]:
    """With MFA delete on, deleting an object version or turning versioning off needs the
    bucket owner's MFA code as well as credentials."""
    for row in ev.rows():
        mfa = row.get("mfa_delete")
        if mfa is None or mfa != mfa:
            continue  # not read for this resource
        why_not = _immutable_asked(ev, row)
        if why_not:
            yield result(row, NOT_APPLICABLE, why_not, expected="immutable: not asked")
        elif mfa is True:
            yield result(row, PASS, "MFADelete = Enabled", expected="MFADelete = Enabled")
        else:
            yield result(
                row,
                FAIL,
                "MFADelete is not Enabled",
                expected="MFADelete = Enabled",
                remediation=manual(
                    f"the root user enables MFA delete on bucket {row.get('name')} "
                    "(PutBucketVersioning MFADelete=Enabled with its MFA device: only root can)"
                ),
            )


def _too_early(rule: dict, want: float, as_of: datetime) -> list[str]:
    """What ``rule`` deletes before ``want`` days, in words (empty when nothing)."""
    early = []
    if rule.get("current") and float(rule["current"]) < want:
        early.append(f"current versions after {rule['current']} days")
    if rule.get("date"):
        left = (pd.Timestamp(rule["date"]) - pd.Timestamp(as_of)).total_seconds() / 86400
        if left < want:
            early.append(f"current versions on {rule['date'][:10]}")
    if rule.get("noncurrent") and float(rule["noncurrent"]) < want:
        early.append(f"noncurrent versions after {rule['noncurrent']} days")
    return early


@control("s3_lifecycle_keeps_retention")
def s3_lifecycle_keeps_retention(ev: Evidence) -> Iterator[Result]:
    """A lifecycle rule that expires objects, or deletes noncurrent versions, sooner than
    the tier's retention deletes the very history a restore needs."""
    for row in ev.rows():
        rules = row.get("lifecycle_expirations")
        if not isinstance(rules, list):
            continue  # not read for this resource
        tier = ev.tier(row.get("tier"))
        want = tier.retention.total_seconds() / 86400
        expected = f"nothing deleted before retention={duration(tier.retention)}"
        source = reproducible(row)
        if source:
            yield result(row, NOT_APPLICABLE, f"reproducible from {source}", expected=expected)
            continue
        if not rules:
            yield result(row, NOT_APPLICABLE, "no lifecycle rule deletes data", expected=expected)
            continue
        early = {r["rule"]: _too_early(r, want, ev.as_of) for r in rules}
        early = {rule: what for rule, what in early.items() if what}
        if not early:
            yield result(
                row,
                PASS,
                f"{len(rules)} expiring rule(s), none before {days(want)}",
                expected=expected,
            )
            continue
        prefixes = {r["rule"]: r.get("prefix") for r in rules}
        named = "; ".join(
            f"rule {r}{f' (prefix {prefixes[r]})' if prefixes.get(r) else ''} deletes "
            + " and ".join(w)
            for r, w in early.items()
        )
        ours = set(early) == {NONCURRENT_RULE_ID}
        yield result(
            row,
            FAIL,
            f"{named} (retention {days(want)})",
            expected=expected,
            remediation=step("lifecycle: noncurrent versions")
            if ours
            else manual(
                f"raise the expiration of rule(s) {', '.join(early)} on bucket "
                f"{row.get('name')} to at least {days(want)}, or remove it "
                "(PutBucketLifecycleConfiguration)"
            ),
        )
