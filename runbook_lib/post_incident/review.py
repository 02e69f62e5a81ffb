"""Assemble a post-incident review: per data resource in scope, what could be recovered,
the data-loss window against the tier's RPO, the expected restore time (measured) against
its RTO, the audit findings known before the incident, and the timeline around it."""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib import services as registry
from runbook_lib.params import format_duration
from runbook_lib.post_incident.continuous import Window, read_window, sandbox_notes
from runbook_lib.post_incident.window import (
    IncidentWindow,
    ResourceFilter,
    parse_resources,
    parse_window,
)
from runbook_lib.progress import progress as progress_bar

log = logging.getLogger("runbook_lib")

RECOVERABLE = "RECOVERABLE"  # a point before the start, loss window within the tier RPO
RPO_BREACHED = "RPO_BREACHED"  # a point before the start, loss window longer than the RPO
UNRECOVERABLE = "UNRECOVERABLE"  # no recovery point from before the start
REPRODUCIBLE = "REPRODUCIBLE"  # no backup required: rebuilt from its source
CREATED_AFTER_START = "CREATED_AFTER_START"  # no pre-incident state to go back to
NOT_FOUND = "NOT_FOUND"  # an ARN asked for is not in the estate
STATUSES = [RECOVERABLE, RPO_BREACHED, UNRECOVERABLE, REPRODUCIBLE, CREATED_AFTER_START, NOT_FOUND]
RECENT_TESTS = 5  # expected RTO: median of this many most recent measured restore tests

COLUMNS = [
    "account", "region", "service", "name", "arn", "tier", "status", "reason",
    "recovery_point_time", "recovery_point_source", "recovery_point_arn",
    "continuous", "continuous_mechanism", "continuous_earliest", "continuous_latest",
    "continuous_covers_start", "data_loss_seconds", "data_loss", "rpo_objective_seconds", "rpo_met",
    "expected_rto_seconds", "rto_basis", "rto_samples", "rto_objective_seconds", "rto_met",
    "known_fail_controls", "audit_as_of", "notes",
]  # fmt: skip


@dataclass
class Review:
    """The answer for one incident window (``summary`` is what the ledger records)."""

    window: IncidentWindow
    scope: ResourceFilter
    summary: pd.DataFrame  # COLUMNS, one row per resource in scope
    known_risks: pd.DataFrame  # FAIL findings of the last audit before the start, in scope
    timeline: pd.DataFrame  # events around the window (see timeline.py)
    notes: list[str] = field(default_factory=list)
    audit_as_of: datetime | None = None
    sandbox: bool = False

    def counts(self) -> dict[str, int]:
        return {s: int((self.summary.status == s).sum()) for s in STATUSES}

    def headline(self) -> pd.DataFrame:
        """How many resources were recoverable within RPO, breached it, unrecoverable..."""
        c = self.counts()
        w = self.window
        rto = self.summary.rto_met
        rows = [
            ("incident window", f"{w.start:%Y-%m-%d %H:%M:%S} to {w.end:%Y-%m-%d %H:%M:%S} UTC"
             + (" (default: the 24 hours before the end)" if w.defaulted else "")),
            ("resources in scope", len(self.summary)),
            ("recoverable within RPO", c[RECOVERABLE]),
            ("recoverable, RPO breached", c[RPO_BREACHED]),
            ("unrecoverable", c[UNRECOVERABLE]),
            ("reproducible from a source", c[REPRODUCIBLE]),
            ("created after the incident start", c[CREATED_AFTER_START]),
            ("not found in the estate", c[NOT_FOUND]),
            ("expected restore within RTO (measured)", int((rto == True).sum())),  # noqa: E712
            ("expected restore over RTO (measured)", int((rto == False).sum())),  # noqa: E712
            ("restore time never measured", int(self.summary.expected_rto_seconds.isna().sum())),
            ("risks known before (FAIL findings)", len(self.known_risks)),
            ("audit used", f"{self.audit_as_of:%Y-%m-%d %H:%M:%S} UTC" if self.audit_as_of
             else "none before the incident start"),
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["measure", "value"]).set_index("measure")

    def headline_text(self) -> str:
        c = self.counts()
        return (
            f"{c[RECOVERABLE]} of {len(self.summary)} resources recoverable within RPO, "
            f"{c[RPO_BREACHED]} breach their RPO, {c[UNRECOVERABLE]} unrecoverable"
        )

    def table(self) -> pd.DataFrame:
        """The summary in reading order: worst first."""
        order = {s: i for i, s in enumerate([UNRECOVERABLE, RPO_BREACHED, NOT_FOUND, RECOVERABLE,
                                             CREATED_AFTER_START, REPRODUCIBLE])}  # fmt: skip
        return self.summary.sort_values(
            ["status", "tier", "name"], key=lambda s: s.map(order) if s.name == "status" else s,
            ignore_index=True,
        )  # fmt: skip

    def figure(self):
        from runbook_lib.post_incident.timeline import figure

        return figure(self)

    def ledger_rows(self) -> pd.DataFrame:
        w = self.window
        return self.summary.assign(
            incident_start=pd.Timestamp(w.start),
            incident_end=pd.Timestamp(w.end),
            as_of=pd.Timestamp(w.as_of),
            scope=self.scope.describe(),
        )


# --------------------------------------------------------------------------- building


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.to_datetime(value, utc=True, errors="coerce")
    return None if pd.isna(ts) else ts


def _fmt(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return ""
    if seconds < 1:
        return "0 (continuous backup covers the start)"
    from datetime import timedelta

    s = int(round(seconds))
    return format_duration(timedelta(seconds=s)) if s else "0"


def select_scope(inv: Any, scope: ResourceFilter) -> tuple[pd.DataFrame, list[str]]:
    """The inventory rows in scope, and the ARNs asked for that the inventory does not hold.

    A resource is in scope when its ARN is named OR it matches the tag filters (all of
    them): naming ARNs next to a tag filter adds to it, it never narrows it."""
    t = inv.table()
    if scope.everything:
        return t.reset_index(drop=True), []
    keep = t.arn.isin(scope.arns)
    if scope.tags:
        keep |= t.tags.map(
            lambda tags: (
                isinstance(tags, dict) and all(tags.get(k) == v for k, v in scope.tags.items())
            )
        ).astype(bool)
    held = set(t.arn)
    missing = [a for a in scope.arns if a not in held]
    return t[keep].reset_index(drop=True), missing


def not_found_row(arn: str, params: Any, errors: pd.DataFrame) -> dict[str, Any]:
    """The review row of an ARN the inventory does not hold, with why: outside the accounts
    or Regions the params name, a scope the inventory could not read (it may exist), or not
    there."""
    _, _, svc, region, account, _ = arn.split(":", 5)
    services = registry.arn_services().get(svc, ())
    where = f"account {account}, Region {region}" if account else "the accounts x Regions read"
    errs = errors
    if errs is not None and not errs.empty:
        errs = errs[
            (errs.service.isin(services) | (errs.service == "*"))
            & ((errs.account == account) if account else True)
            & ((errs.region == region) if region else True)
        ]
    if account and account not in params.account_ids:
        reason = (
            f"not inventoried: account {account} is not in the estate the params name "
            f"(accounts: {', '.join(params.account_ids)})"
        )
    elif region and region not in params.regions:
        reason = (
            f"not inventoried: Region {region} is not in the params' regions "
            f"({', '.join(params.regions)})"
        )
    elif errs is not None and not errs.empty:
        e = errs.iloc[0]
        reason = (
            f"not in the inventory, but the inventory could not read {svc} in {where} "
            f"({len(errs)} error(s), e.g. {e.resource or 'the whole scope'}: {e.error}): "
            "it may exist; re-run when the inventory is complete"
        )
    elif svc in registry.global_arn_services() and services:
        title = registry.spec(services[0]).title  # named once per account, not per Region
        reason = (
            f"no {title} of that name in the accounts the params name ({title}s outside "
            "params.regions are not inventoried)"
        )
    else:
        reason = f"no such resource in the inventory of {where} (read completely)"
    return {
        "account": account or None,
        "region": region or None,
        "service": services[0] if len(services) == 1 else None,
        "arn": arn,
        "name": arn.split(":")[-1],
        "status": NOT_FOUND,
        "reason": reason,
        "notes": "",
    }


def _inventory_errors(errors: pd.DataFrame, row: dict) -> list[str]:
    """Notes for one resource from the inventory's errors naming it (e.g. an export task
    whose time cannot be told): evidence the review could not see."""
    if errors is None or errors.empty:
        return []
    name = str(row.get("name"))
    mine = errors[
        (errors.account == row.get("account"))
        & (errors.region == row.get("region"))
        & (errors.service == row.get("service"))
        & errors.resource.map(
            lambda r: isinstance(r, str) and (r == name or r.startswith(f"{name}: "))
        ).astype(bool)
    ]
    return [f"inventory could not read {e.resource}: {e.error}" for e in mine.itertuples()]


def measured_rtos(ledger: Any, as_of: datetime) -> pd.DataFrame:
    """restore_tests rows with a measured RTO, recorded up to ``as_of``, newest first."""
    df = ledger.read("restore_tests")
    if df.empty or "rto_seconds" not in df:
        return pd.DataFrame(columns=["resource_arn", "service", "tier", "rto_seconds", "when"])
    when = None
    for col in ("restore_end", "restore_start", "recorded_at"):
        if col in df:
            t = pd.to_datetime(df[col], utc=True, errors="coerce")
            when = t if when is None else when.fillna(t)
    df = df.assign(when=when, rto_seconds=pd.to_numeric(df.rto_seconds, errors="coerce"))
    df = df[df.rto_seconds.notna() & (df.rto_seconds > 0) & (df.when <= pd.Timestamp(as_of))]
    return df.sort_values("when", ascending=False, ignore_index=True)


def expected_rto(
    tests: pd.DataFrame, arn: str, service: str, tier: str
) -> tuple[float | None, str, int]:
    """Median of the most recent measured RTOs: this resource first, else its service and tier."""
    if tests.empty:
        return None, "never measured (no restore test in the ledger)", 0
    own = tests[tests.resource_arn == arn].head(RECENT_TESTS)
    if len(own):
        return (
            float(statistics.median(own.rto_seconds)),
            f"this resource ({len(own)} test(s))",
            len(own),
        )
    if "tier" in tests:
        peers = tests[(tests.service == service) & (tests.tier == tier)].head(RECENT_TESTS)
        if len(peers):
            return (
                float(statistics.median(peers.rto_seconds)),
                f"other {service} resources of tier {tier} ({len(peers)} test(s))",
                len(peers),
            )
    return None, f"never measured (no restore test of this resource or of {service}/{tier})", 0


def audit_before(ledger: Any, start: datetime) -> tuple[pd.DataFrame, datetime | None]:
    """The findings of the last audit whose as_of is at or before the incident start."""
    df = ledger.read("findings")
    if df.empty or "as_of" not in df:
        return pd.DataFrame(), None
    df = df.assign(as_of=pd.to_datetime(df.as_of, utc=True, errors="coerce"))
    before = df[df.as_of <= pd.Timestamp(start)]
    if before.empty:
        return pd.DataFrame(), None
    last = before.sort_values(["as_of", "run_id"]).run_id.iloc[-1]
    run = before[before.run_id == last]
    return run.reset_index(drop=True), run.as_of.max().to_pydatetime()


def assess(
    row: dict,
    window: IncidentWindow,
    points: pd.DataFrame,
    continuous: Window | None,
    mechanisms: list[str],
    rpo_seconds: float,
    sandbox: bool,
) -> dict[str, Any]:
    """What could be recovered for one resource, and the data-loss window. Pure: no calls."""
    start = pd.Timestamp(window.start)
    out: dict[str, Any] = {
        "continuous": continuous is not None,
        "continuous_mechanism": continuous.mechanism if continuous else None,
        "continuous_earliest": continuous.earliest if continuous else None,
        "continuous_latest": continuous.latest if continuous else None,
        "continuous_covers_start": bool(continuous and continuous.covers(window.start)),
        "rpo_objective_seconds": rpo_seconds,
    }
    notes: list[str] = []
    if continuous is not None:
        for basis in (continuous.earliest_basis, continuous.latest_basis):
            if basis and basis != "reported":
                notes.append(f"{continuous.mechanism}: {basis}")
    if isinstance(row.get("reproducible_from"), str) and row["reproducible_from"]:
        out.update(
            status=REPRODUCIBLE,
            reason=f"no backup required: rebuilt from {row['reproducible_from']}",
        )
        return {**out, "notes": notes}
    created = _ts(row.get("created"))
    if created is not None and created > start:
        out.update(
            status=CREATED_AFTER_START,
            reason=f"created {created:%Y-%m-%dT%H:%M:%SZ}, after the incident start: "
            "no state from before the incident to go back to",
        )
        return {**out, "notes": notes}
    if out["continuous_covers_start"]:
        out.update(
            status=RECOVERABLE,
            reason=f"{continuous.mechanism} covers the start: restore to "
            f"{start:%Y-%m-%dT%H:%M:%SZ} (any second from {continuous.earliest:%Y-%m-%dT%H:%M:%SZ} "
            f"to {continuous.latest:%Y-%m-%dT%H:%M:%SZ})",
            recovery_point_time=start,
            recovery_point_source=continuous.mechanism,
            recovery_point_arn=None,
            data_loss_seconds=0.0,
            rpo_met=True,
        )
        return {**out, "notes": notes}
    candidates = []
    if not points.empty:
        before = points[points.created <= start]
        if len(before):
            best = before.sort_values("created").iloc[-1]
            candidates.append((best.created, best.source, best.arn or None))
    if continuous is not None and continuous.latest is not None and continuous.latest <= start:
        candidates.append(
            (pd.Timestamp(continuous.latest), f"{continuous.mechanism} (latest restorable)", None)
        )
    if candidates:
        when, source, arn = max(candidates, key=lambda c: c[0])
        loss = (start - when).total_seconds()
        met = bool(loss <= rpo_seconds)
        out.update(
            status=RECOVERABLE if met else RPO_BREACHED,
            reason=f"newest point before the start: {source} at {when:%Y-%m-%dT%H:%M:%SZ}; "
            f"changes in the {_fmt(loss)} before the start are lost "
            f"({'within' if met else 'over'} the RPO of {_fmt(rpo_seconds)})",
            recovery_point_time=when,
            recovery_point_source=source,
            recovery_point_arn=arn,
            data_loss_seconds=loss,
            rpo_met=met,
        )
        if (
            continuous is not None
            and continuous.earliest is not None
            and start < continuous.earliest
        ):
            notes.append(
                f"{continuous.mechanism} starts at {continuous.earliest:%Y-%m-%dT%H:%M:%SZ}, after the incident start"
            )
        return {**out, "notes": notes}
    # nothing from before the start
    if not points.empty:
        first = points.sort_values("created").iloc[0]
        reason = (
            f"the oldest recovery point ({first.source}, {first.created:%Y-%m-%dT%H:%M:%SZ}) "
            "was made after the incident started"
        )
    elif continuous is not None:
        reason = (
            f"{continuous.mechanism} window starts at "
            f"{continuous.earliest:%Y-%m-%dT%H:%M:%SZ}, after the incident start"
            if continuous.earliest is not None
            else f"{continuous.mechanism} is on but reports no restorable window"
        )
    elif mechanisms:
        reason = f"protected by {', '.join(mechanisms)} but no recovery point exists"
        if sandbox:
            reason += " (sandbox: moto never fires schedules, so scheduled backups never appear)"
    else:
        reason = "nothing protects it: no AWS Backup, snapshot, on-demand backup or continuous backup found"
    out.update(status=UNRECOVERABLE, reason=reason, rpo_met=False)
    return {**out, "notes": notes}


def review(
    ctx: Any,
    incident_start: str = "",
    incident_end: str = "",
    resources: Any = None,
    *,
    inventory: Any = None,
    progress: bool = True,
) -> Review:
    """The post-incident review for one window. Parameters are checked before any AWS call."""
    window = parse_window(incident_start, incident_end, ctx.as_of)
    scope = parse_resources(resources)
    session, params = ctx.session, ctx.params
    if inventory is None:
        from runbook_lib.inventory import discover

        inventory = discover(ctx, progress=progress)
    in_scope, missing = select_scope(inventory, scope)
    notes: list[str] = []
    if inventory.partial:
        notes.append(
            f"inventory PARTIAL: {len(inventory.errors)} scope(s)/resource(s) could not be read"
        )
    tests = measured_rtos(ctx.ledger, window.as_of)
    findings, audit_as_of = audit_before(ctx.ledger, window.start)
    if audit_as_of is None:
        notes.append("no audit in the ledger before the incident start: known risks cannot be told")
    fails = (
        findings[(findings.status == "FAIL") & findings.arn.isin(in_scope.arn)]
        if not findings.empty else pd.DataFrame(columns=["arn", "control_id"])
    )  # fmt: skip
    detail = inventory.protection_detail
    rps = inventory.recovery_points
    discrete = rps[~rps.source.str.endswith(" PITR")] if not rps.empty else rps

    rows = []
    for r in progress_bar(
        in_scope.to_dict("records"), desc="post-incident", unit="resource", disable=not progress
    ):
        d = detail[(detail.arn == r["arn"]) & (detail.status == "ok")]
        mechs = [(m, rd) for m, rd in zip(d.mechanism, d.retention_days, strict=True)]
        protecting = [m for m, s in zip(d.mechanism, d.rpo_seconds, strict=True) if not pd.isna(s)]
        cont, note = read_window(session, r, mechs, window.as_of)
        tier = params.tier(r["tier"])
        row = {k: r.get(k) for k in ("account", "region", "service", "name", "arn", "tier")}
        res = assess(
            r, window, discrete[discrete.resource_arn == r["arn"]] if not discrete.empty else discrete,
            cont, protecting, tier.rpo.total_seconds(), session.sandbox,
        )  # fmt: skip
        if note:
            res["notes"].append(note)
        res["notes"] += _inventory_errors(inventory.errors, r)
        rto, basis, n = expected_rto(tests, r["arn"], r["service"], r["tier"])
        known = sorted(set(fails[fails.arn == r["arn"]].control_id)) if len(fails) else []
        row.update(res)
        row.update(
            data_loss=_fmt(res.get("data_loss_seconds"))
            if res.get("data_loss_seconds") is not None
            else ("unrecoverable: " + res["reason"] if res["status"] == UNRECOVERABLE else ""),
            expected_rto_seconds=rto,
            rto_basis=basis,
            rto_samples=n,
            rto_objective_seconds=tier.rto.total_seconds(),
            rto_met=None if rto is None else bool(rto <= tier.rto.total_seconds()),
            known_fail_controls=known if audit_as_of else None,
            audit_as_of=audit_as_of,
            notes="; ".join(res["notes"]),
        )
        rows.append(row)
        log.info("post-incident: %s %s: %s", r["service"], r["name"], res["status"])
    rows += [not_found_row(arn, params, inventory.errors) for arn in missing]
    summary = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("recovery_point_time", "continuous_earliest", "continuous_latest", "audit_as_of"):
        summary[col] = pd.to_datetime(summary[col], utc=True)
    for col in (
        "data_loss_seconds",
        "expected_rto_seconds",
        "rpo_objective_seconds",
        "rto_objective_seconds",
    ):
        summary[col] = pd.to_numeric(summary[col], errors="coerce").astype(float)
    known_risks = _known_risks(fails, in_scope)
    notes += _sandbox_notes(session.sandbox, summary)
    if tests.empty and not summary.empty:
        notes.append(
            "no measured restore test in the ledger: expected restore times are 'never measured'"
        )
    out = Review(
        window, scope, summary, known_risks, pd.DataFrame(), notes, audit_as_of, session.sandbox
    )
    from runbook_lib.post_incident.timeline import build_timeline

    out.timeline = build_timeline(ctx.ledger, out, discrete)
    return out


def _known_risks(fails: pd.DataFrame, in_scope: pd.DataFrame) -> pd.DataFrame:
    cols = ["name", "service", "tier", "control_id", "title", "practice", "severity", "reason",
            "remediation", "arn", "as_of"]  # fmt: skip
    if fails.empty:
        return pd.DataFrame(columns=cols)
    out = fails.drop(columns=[c for c in ("name", "service", "tier") if c in fails]).merge(
        in_scope[["arn", "name", "service", "tier"]], on="arn", how="left"
    )
    sev = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    out = out.sort_values(
        ["name", "severity"], key=lambda s: s.map(sev) if s.name == "severity" else s
    )
    return out[[c for c in cols if c in out]].reset_index(drop=True)


def _sandbox_notes(sandbox: bool, summary: pd.DataFrame) -> list[str]:
    if not sandbox:
        return []
    notes = [
        "sandbox: moto never fires schedules, so AWS Backup plans and snapshot policies make "
        "no recovery points by themselves; only on-demand backups and moto's creation-time "
        "automated snapshots exist",
    ]
    return notes + sandbox_notes(set(summary.service.dropna()))


def record(ctx: Any, review: Review) -> str | None:
    """Append one row per resource to the ``post_incident`` ledger table."""
    rows = review.ledger_rows()
    rows = rows.assign(
        known_fail_controls=rows.known_fail_controls.map(
            lambda v: json.dumps(list(v)) if isinstance(v, list | tuple) else None
        )
    )
    return ctx.ledger.append("post_incident", rows, ctx.run_id)
