"""REL09-BP03: backups are taken automatically, often enough for the RPO, kept long enough,
and copied out of the Region and the account."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pandas as pd

from runbook_lib import services as registry
from runbook_lib.audit.controls import (
    days,
    declared_in,
    duration,
    fix,
    human,
    manual,
    points_named,
    recovery_point_groups,
    result,
    runbook,
    step,
)
from runbook_lib.audit.evidence import AIR_GAPPED, Evidence, as_list, reproducible
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, NOT_SUPPORTED, PASS, Result

control = declared_in(__name__)  # the controls' metadata: automate.json beside this file
#: ``verdict(status, reason, **extra)``: a Result about the row being judged
Verdict = Callable[..., Result]


def _needs_backup(row: dict[str, Any]) -> str | None:
    """None if the row needs backups; otherwise the NOT_APPLICABLE reason."""
    source = reproducible(row)
    return f"reproducible from {source}: no backup required" if source else None


def _per_backed_up_row(
    objective: str,
) -> Callable[[Callable[..., Result]], Callable[[Evidence], Iterator[Result]]]:
    """Turns ``judge(ev, row, verdict, target) -> Result`` into a control over every
    inventory row: a row that needs no backup is NOT_APPLICABLE and one with no backup at
    all FAILs; the judge sees the rest, with ``target`` the tier's ``objective`` (``rpo``,
    ``retention``: a timedelta) and ``verdict(status, reason, **extra)``: the row's Result,
    expecting the objective as the params file writes it (``rpo=1d``)."""

    def wrap(judge: Callable[..., Result]) -> Callable[[Evidence], Iterator[Result]]:
        @functools.wraps(judge)
        def evaluate(ev: Evidence) -> Iterator[Result]:
            for row in ev.rows():
                target = getattr(ev.tier(row.get("tier")), objective)
                exp = f"{objective}={duration(target)}"
                na = _needs_backup(row)
                if na:
                    yield result(row, NOT_APPLICABLE, na, expected=exp)
                elif not row.get("protected"):
                    yield _unprotected(ev, row, "no backup at all", exp)
                else:
                    yield judge(ev, row, functools.partial(result, row, expected=exp), target)

        return evaluate

    return wrap


def _unprotected(ev: Evidence, row: dict[str, Any], reason: str, expected: str) -> Result:
    """FAIL: ``row`` needs a backup and has none; the fix is the one that backs it up."""
    return result(
        row,
        FAIL,
        reason,
        expected=expected,
        remediation=fix(ev, row, "resource_backed_up_or_reproducible"),
    )


def _newest_copy(ev: Evidence, copies: pd.DataFrame) -> tuple[float, str]:
    """(age in seconds at ``as_of``, where it is held) of the newest of ``copies`` (recovery
    points, oldest first)."""
    newest = copies.iloc[-1]
    age = (pd.Timestamp(ev.as_of) - newest.created).total_seconds()
    return age, f"{newest.account}/{newest.region} vault {newest.vault}"


def _measured(row: dict[str, Any], column: str) -> float | None:
    """``row[column]``, None when it is missing or NaN."""
    value = row.get(column)
    return None if value is None or value != value else value


@control("resource_protected_by_backup_plan")
def resource_protected_by_backup_plan(ev: Evidence) -> Iterator[Result]:
    """Central, scheduled, policy-managed backups (vault, lock, copies) instead of settings
    scattered per service. Services AWS Backup does not cover are NOT_APPLICABLE."""
    for row in ev.rows():
        na = _needs_backup(row)
        plans = [m for m in row.get("mechanisms") or [] if m.startswith("aws backup plan")]
        if na:
            yield result(row, NOT_APPLICABLE, na)
        elif row["service"] not in ev.aws_backup_services:
            yield result(row, NOT_APPLICABLE, f"AWS Backup does not cover {row['service']}")
        elif plans:
            yield result(row, PASS, "; ".join(plans), expected="a backup plan selection")
        else:
            note = row.get("notes") if isinstance(row.get("notes"), str) else ""
            yield result(
                row,
                FAIL,
                "no backup plan selects it" + (f" ({note})" if note else ""),
                expected="a backup plan selection",
                remediation=step(f"backup selection ({row.get('tier')})"),
            )


def _meets(
    verdict: Verdict,
    measured: float,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    passed: str,
    failed: str,
    **extra: Any,
) -> Result:
    """PASS (reason ``passed``) when ``measured`` is within the objective (``at_most`` or
    ``at_least`` it); otherwise FAIL (reason ``failed``, with ``extra``: the remediation)."""
    ok = measured <= at_most if at_most is not None else measured >= at_least
    return verdict(PASS, passed) if ok else verdict(FAIL, failed, **extra)


@control("backup_frequency_meets_rpo")
@_per_backed_up_row("rpo")
def backup_frequency_meets_rpo(
    ev: Evidence, row: dict, verdict: Verdict, target: timedelta
) -> Result:
    """The longest gap between two scheduled backups bounds the data lost in a disaster."""
    rpo, objective = _measured(row, "rpo_seconds"), target.total_seconds()
    return _meets(
        verdict,
        math.inf if rpo is None else rpo,
        at_most=objective,
        passed=f"achievable RPO {human(rpo)} ({', '.join(row.get('mechanisms') or [])})",
        failed=f"achievable RPO {human(rpo)} is longer than {human(objective)}",
        remediation=fix(ev, row, "backup_frequency_meets_rpo"),
    )


@control("backup_retention_meets_objective")
@_per_backed_up_row("retention")
def backup_retention_meets_objective(
    ev: Evidence, row: dict, verdict: Verdict, target: timedelta
) -> Result:
    """Corruption found late needs an old enough restore point."""
    kept, objective = _measured(row, "retention_days"), target.total_seconds() / 86400
    mechanisms = ", ".join(row.get("mechanisms") or [])
    if kept is None:
        return verdict(
            FAIL,
            f"retention unknown: the inventory reads no retention for {mechanisms}",
            remediation=manual(
                f"check that the copies made by {mechanisms} are kept at least "
                f"{days(objective)} (the inventory does not read that retention), "
                "or add a backup whose retention it reads"
            ),
        )
    return _meets(
        verdict,
        kept,
        at_least=objective,
        passed=f"kept {days(kept)}",
        failed=f"kept {days(kept)}, less than {days(objective)}",
        remediation=fix(ev, row, "backup_retention_meets_objective"),
    )


@control("last_recovery_point_within_rpo")
@_per_backed_up_row("rpo")
def last_recovery_point_within_rpo(
    ev: Evidence, row: dict, verdict: Verdict, target: timedelta
) -> Result:
    """A schedule is a promise; a recent recovery point is the evidence it was kept."""
    age, objective = _measured(row, "recovery_point_age_seconds"), target.total_seconds()
    if age is None:
        unlistable = registry.spec(row["service"]).unlistable_points
        if unlistable:
            return verdict(
                NOT_APPLICABLE,
                unlistable + "; the restore-test controls give the evidence",
            )
        hint = (
            " (the sandbox runs schedules only when its clock is advanced: "
            "`runbook sandbox advance 1d`; the backup_now runbook makes one at once)"
            if ev.sandbox
            else ""
        )
        return verdict(FAIL, "no recovery point found" + hint)
    return _meets(
        verdict,
        age,
        at_most=objective,
        passed=f"newest recovery point {human(age)} old ({row.get('recovery_point_source')})",
        failed=f"newest recovery point is {human(age)} old, older than {human(objective)}",
    )


def _copy_mechanisms(ev: Evidence, arn: str, kind: str, wanted) -> tuple[list[str], list[str]]:
    """(AWS Backup plan rules, other mechanisms) whose settings copy ``arn`` to a place
    ``wanted`` accepts: a setting, not a copy; only a copy recovery point is evidence."""
    detail = getattr(ev, "protection_detail", None)
    if detail is None or detail.empty:
        return [], []
    hit = detail[(detail.arn == arn) & (detail.status == "ok")]
    plans, other = [], []
    for mechanism, dests in zip(hit.mechanism, hit[f"copy_{kind}s"], strict=True):
        if any(wanted(d) for d in as_list(dests)):
            (plans if mechanism.startswith("aws backup plan") else other).append(mechanism)
    return plans, other


def _copy_scopes(ev: Evidence, row: dict[str, Any], kind: str, want: str) -> list[tuple[str, str]]:
    """Where a copy of ``row`` in ``want`` would be listed."""
    if kind == "region":
        return [(row["account"], want)]
    copy_region = ev.tier(row.get("tier")).copy_region
    return [(want, r) for r in dict.fromkeys([row["region"], copy_region]) if r]


def _copy_control(kind: str) -> Callable[[Evidence], Iterator[Result]]:
    def evaluate(ev: Evidence) -> Iterator[Result]:
        for row in ev.rows():
            tier = ev.tier(row.get("tier"))
            want = tier.copy_region if kind == "region" else tier.copy_account
            own = row["region"] if kind == "region" else row["account"]
            rpo = tier.rpo.total_seconds()
            exp = (
                f"copy_{kind}={want}, rpo={duration(tier.rpo)}" if want else f"copy_{kind} not set"
            )
            na = _needs_backup(row)
            if not want:
                yield result(
                    row,
                    NOT_APPLICABLE,
                    f"tier {row.get('tier')} asks for no copy in another {kind}",
                    expected=exp,
                )
                continue
            if na:
                yield result(row, NOT_APPLICABLE, na, expected=exp)
                continue
            if want == own and kind == "account":
                yield result(
                    row, NOT_APPLICABLE, f"the resource is in the copy account {want}", expected=exp
                )
                continue
            where = want if want != own else f"another {kind}"

            def wanted(dest: str, want: str = want, own: str = own) -> bool:
                return dest == want if want != own else bool(dest) and dest != own

            copies = ev.copies_of(row["arn"])
            copies = copies[copies[kind].map(wanted)] if len(copies) else copies
            plans, other = _copy_mechanisms(ev, row["arn"], kind, wanted)
            cid = f"cross_{kind}_copy"
            fmt = {kind: want if want != own else where}
            if len(copies):
                age, at = _newest_copy(ev, copies)
                if age <= rpo:
                    yield result(
                        row,
                        PASS,
                        f"copy recovery point in {where} {human(max(age, 0.0))} old ({at})",
                        expected=exp,
                    )
                else:
                    yield result(
                        row,
                        FAIL,
                        f"newest copy recovery point in {where} is {human(age)} old ({at}), "
                        f"older than the {row.get('tier') or ev.params.default_tier} RPO of {human(rpo)}",
                        expected=exp,
                        remediation=fix(ev, row, cid, **fmt),
                    )
                continue
            unread = {
                s: ev.scope_read(*s)
                for s in (_copy_scopes(ev, row, kind, want) if want != own else [])
                if ev.scope_read(*s) != "ok"
            }
            if unread:
                why = "; ".join(f"{a}/{r}: {w}" for (a, r), w in unread.items())
                status = (
                    NOT_SUPPORTED
                    if ev.sandbox and all(NOT_SUPPORTED in w for w in unread.values())
                    else FAIL
                )
                yield result(
                    row,
                    status,
                    f"no copy recovery point found in {where}, and AWS Backup there was not read ({why})",
                    expected=exp,
                )
            elif other:
                mech = ", ".join(other)
                if ev.sandbox:
                    yield result(
                        row,
                        NOT_SUPPORTED,
                        f"{mech} copies to {where}, but the sandbox never replicates objects: "
                        "no copy can exist here",
                        expected=exp,
                    )
                else:
                    yield result(
                        row,
                        PASS,
                        f"{mech} copies to {where} (continuous replication to a destination "
                        "that exists; its content is not counted)",
                        expected=exp,
                    )
            elif plans:
                yield result(
                    row,
                    FAIL,
                    f"plan copies to {where}, but no copy recovery point exists there yet "
                    f"({', '.join(plans)})",
                    expected=exp,
                    remediation=f"{runbook('backup_now')} (a backup whose plan copies it), or "
                    "find why the plan's copy jobs did not run",
                )
            elif not row.get("protected"):
                yield _unprotected(ev, row, "no backup, so no copy", exp)
            else:
                yield result(
                    row,
                    FAIL,
                    f"no copy in {where}",
                    expected=exp,
                    remediation=fix(ev, row, cid, **fmt),
                )

    return evaluate


control("cross_region_copy")(_copy_control("region"))
control("cross_account_copy")(_copy_control("account"))


@control("recovery_point_min_retention")
def recovery_point_min_retention(ev: Evidence) -> Iterator[Result]:
    """A recovery point that expires before the retention objective leaves a hole in history."""
    tiers = dict(zip(ev.resources.arn, ev.resources.tier, strict=True)) if len(ev.resources) else {}
    for row, points in recovery_point_groups(ev.recovery_points):
        tier_name = tiers.get(row["arn"]) or ev.params.default_tier
        row["tier"] = tier_name
        want = ev.tier(tier_name).retention.total_seconds() / 86400
        exp = f"retention={duration(ev.tier(tier_name).retention)}"

        def kept(p: dict[str, Any]) -> float:
            keep = p.get("delete_after_days")
            return math.inf if keep is None or keep != keep else float(keep)

        short = [p for p in points if kept(p) < want]
        if short:
            why = ", ".join(sorted({days(kept(p)) for p in short}))
            yield result(
                row,
                FAIL,
                f"{len(short)} of {len(points)} deleted after {why}, less than {days(want)}: "
                + points_named(short),
                expected=exp,
            )
        else:
            least = min(kept(p) for p in points)
            how = (
                "kept until deleted (no lifecycle)" if least == math.inf else f"kept {days(least)}"
            )
            yield result(
                row, PASS, f"all {len(points)} recovery point(s) {how} or longer", expected=exp
            )


# ------------------------------------------------------------------ native settings (Steampipe-style)


def native_setting(
    prefix: str,
    *,
    min_days: float | None = None,
    cap: float | None = None,
    when: Callable[[Any], bool] | None = None,
    otherwise: str = "",
):
    """A control that asks for a service's own backup setting, the protection mechanism named
    ``prefix`` (formatted with ``service``); with ``min_days`` or a tier retention (capped at
    ``cap``) its retention. ``when(tier)``: protect's own rule for planning the setting;
    tiers it rejects are NOT_APPLICABLE (``otherwise`` says why), so the audit never asks for
    a step protect does not plan. Registered with ``control(..., services=(...))`` in the
    service's ``controls.py``, it sees only that service's resources."""

    def evaluate(ev: Evidence) -> Iterator[Result]:
        for row in ev.rows():
            na = _needs_backup(row)
            tier = ev.tier(row.get("tier"))
            name = prefix.format(service=row["service"])
            want = min_days
            if want is None and cap is not None:
                want = min(tier.retention.total_seconds() / 86400, cap)
            exp = name + (f", kept >= {days(want)}" if want else "")
            if na:
                yield result(row, NOT_APPLICABLE, na, expected=exp)
                continue
            mechanisms = [m for m in row.get("mechanisms") or [] if m.startswith(name)]
            if when is not None and not when(tier) and not mechanisms:
                why = otherwise.format(tier=row.get("tier"), rpo=duration(tier.rpo))
                yield result(row, NOT_APPLICABLE, why, expected=exp)
                continue
            if not mechanisms:
                yield result(row, FAIL, f"{name} is not enabled", expected=exp)
                continue
            kept = _mechanism_retention(ev, row["arn"], name)
            if want and (kept is None or kept < want):
                yield result(
                    row,
                    FAIL,
                    f"{mechanisms[0]} keeps {days(kept)}, less than {days(want)}",
                    expected=exp,
                )
            else:
                yield result(
                    row,
                    PASS,
                    f"{mechanisms[0]} enabled" + (f", kept {days(kept)}" if kept else ""),
                    expected=exp,
                )

    return evaluate


def _mechanism_retention(ev: Evidence, arn: str, prefix: str) -> float | None:
    detail = getattr(ev, "protection_detail", None)
    if detail is None or detail.empty:
        return None
    hit = detail[(detail.arn == arn) & detail.mechanism.str.startswith(prefix)]
    vals = [float(x) for x in hit.retention_days if x is not None and x == x]
    return max(vals) if vals else None


# ------------------------------------------------------------------ logically air-gapped vault


@control("resource_in_air_gapped_vault")
def resource_in_air_gapped_vault(ev: Evidence) -> Iterator[Result]:
    """A logically air-gapped vault (AWS Backup) is locked in compliance mode, encrypted,
    and can be shared with a recovery account: a copy there survives the loss or
    compromise of the workload account. Tiers with ``air_gapped_copy`` ask for one no
    older than that."""
    for row in ev.rows():
        tier = ev.tier(row.get("tier"))
        age_max = tier.air_gapped_copy
        exp = f"air_gapped_copy={duration(age_max)}" if age_max else "air_gapped_copy not set"
        na = _needs_backup(row)
        if age_max is None:
            why = f"tier {row.get('tier')} asks for no logically air-gapped copy"
            yield result(row, NOT_APPLICABLE, why, expected=exp)
            continue
        if na:
            yield result(row, NOT_APPLICABLE, na, expected=exp)
            continue
        if row["service"] not in ev.aws_backup_services:
            why = f"AWS Backup does not cover {row['service']}: no vault can hold its copy"
            yield result(row, NOT_APPLICABLE, why, expected=exp)
            continue
        copies = ev.copies_of(row["arn"])
        if len(copies) and "vault_type" in copies:
            gapped = copies[copies["vault_type"] == AIR_GAPPED]
        else:
            gapped = copies.iloc[0:0]
        remedy = manual(
            "create a logically air-gapped vault (CreateLogicallyAirGappedBackupVault, "
            f"e.g. in the backup account) and add a copy action to it in tier "
            f"{row.get('tier')}'s backup plan rule; protect plans no air-gapped vault"
        )
        if len(gapped):
            age, at = _newest_copy(ev, gapped)
            if age <= age_max.total_seconds():
                reason = f"recovery point in logically air-gapped vault {human(max(age, 0.0))} old ({at})"
                yield result(row, PASS, reason, expected=exp)
            else:
                reason = (
                    f"newest recovery point in a logically air-gapped vault is {human(age)} old "
                    f"({at}), older than {human(age_max.total_seconds())}"
                )
                yield result(row, FAIL, reason, expected=exp, remediation=remedy)
            continue
        types = [t for _, _, t in _vault_types(ev)]
        # a server that reports no vault's type (None or NaN) cannot say which is air-gapped
        typeless = bool(types) and all(t is None or t != t for t in types)
        if ev.sandbox and typeless:
            why = (
                "the sandbox reports no vault types (it has no logically air-gapped vaults): "
                "no such copy can exist here"
            )
            yield result(row, NOT_SUPPORTED, why, expected=exp)
        else:
            reason = "no recovery point in a logically air-gapped vault"
            yield result(row, FAIL, reason, expected=exp, remediation=remedy)


def _vault_types(ev: Evidence) -> list[tuple[str, str, Any]]:
    """(account, Region, VaultType) of every vault read."""
    v = ev.vaults
    if not len(v):
        return []
    types = v["vault_type"] if "vault_type" in v else [None] * len(v)
    return list(zip(v.account, v.region, types, strict=True))
