"""From what discovery found to the tables an SRE reads: resources (classified),
protection per resource, coverage per tier/service/account, and the gap list."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from runbook_lib.inventory.backup import BackupScope
from runbook_lib.inventory.model import COLUMNS, NOT_SUPPORTED, SUPPORTED, Found, RecoveryPoint
from runbook_lib.inventory.plugin import SERVICES
from runbook_lib.params import Params, format_duration

ERROR_COLUMNS = ["account", "region", "service", "resource", "error"]
PROTECTION_COLUMNS = [
    "arn",
    "backup_required",
    "protected",
    "mechanisms",
    "rpo_seconds",
    "rpo_objective_seconds",
    "rpo_met",
    "retention_days",
    "retention_objective_days",
    "retention_met",
    "copy_regions",
    "copy_accounts",
    "newest_recovery_point",
    "recovery_point_source",
    "recovery_point_age_seconds",
    "notes",
]
DETAIL_COLUMNS = [
    "arn",
    "mechanism",
    "rpo_seconds",
    "retention_days",
    "copy_regions",
    "copy_accounts",
    "status",
    "detail",
]
GAP_COLUMNS = [
    "account",
    "region",
    "service",
    "name",
    "arn",
    "tier",
    "gap",
    "missing",
    "why",
    "closed_by",
]
STATUS_ORDER = ["protected, meets RPO", "protected, RPO too long", "not protected", "reproducible"]
STATUS_COLORS = ["#2e7d32", "#f9a825", "#c62828", "#90a4ae"]


def classify(tags: dict[str, str], params: Params) -> tuple[str, str | None, bool, str | None]:
    """(tier, reproducible_from, classified, problem) from a resource's tags."""
    keys = params.tag_keys
    value = (tags.get(keys.tier) or "").strip()
    reproducible = (tags.get(keys.reproducible) or "").strip() or None
    if value in params.tiers:
        return value, reproducible, True, None
    if value:
        return params.default_tier, reproducible, False, f"unknown_tier:{value}"
    return (
        params.default_tier,
        reproducible,
        reproducible is not None,
        (None if reproducible else "unclassified"),
    )


@dataclass
class Inventory:
    """Every data resource of the estate, what protects it, and what is missing."""

    params: Params
    as_of: datetime
    resources: pd.DataFrame  # COLUMNS, one row per resource
    protection: pd.DataFrame  # PROTECTION_COLUMNS, one row per resource (by arn)
    protection_detail: pd.DataFrame  # DETAIL_COLUMNS, one row per (resource, mechanism)
    recovery_points: pd.DataFrame  # every recovery point found, by resource
    errors: pd.DataFrame  # ERROR_COLUMNS: scopes or resources that could not be read
    problems: dict[str, str] = field(default_factory=dict)  # arn -> classification problem
    calls: int = 0
    seconds: float = 0.0

    @property
    def partial(self) -> bool:
        """True when some account, Region, service or resource could not be read."""
        return not self.errors.empty

    def table(self) -> pd.DataFrame:
        """Resources joined with their protection (what the ledger's inventory table holds)."""
        return self.resources.merge(self.protection, on="arn", how="left")

    def summary(self) -> pd.DataFrame:
        t = self.table()
        required = t[t.backup_required.astype(bool)]
        rows = [
            ("resources", len(t)),
            ("accounts x Regions read", self._scopes_read()),
            ("unclassified (default tier applied)", int((~t.classified).sum())),
            ("reproducible (no backup required)", int((~t.backup_required).sum())),
            ("backup required", len(required)),
            ("protected", int(required.protected.sum())),
            ("meeting the tier RPO", int(required.rpo_met.sum())),
            ("gaps", len(self.gaps())),
            ("errors", len(self.errors)),
            ("complete", "no: PARTIAL, see errors" if self.partial else "yes"),
            ("API calls", self.calls),
            ("seconds", round(self.seconds, 1)),
        ]
        return pd.DataFrame(rows, columns=["measure", "value"]).set_index("measure")

    def _scopes_read(self) -> str:
        p = self.params
        failed = set()
        if not self.errors.empty:
            failed = {
                (a, r)
                for a, r, s in self.errors[["account", "region", "service"]].values
                if s == "*"
            }
        total = len(p.account_ids) * len(p.regions)
        return f"{total - len(failed)} of {total}"

    def coverage(self) -> pd.DataFrame:
        """Per tier, service and account: protected vs not, RPO and retention met."""
        t = self.table()
        if t.empty:
            return pd.DataFrame(
                columns=[
                    "tier",
                    "service",
                    "account",
                    "resources",
                    "backup_required",
                    "protected",
                    "rpo_met",
                    "retention_met",
                    "unclassified",
                    "protected_pct",
                ]
            )
        gaps = self.gaps()
        t = t.assign(
            req=t.backup_required,
            prot=t.backup_required & t.protected,
            rpo=t.backup_required & t.rpo_met.fillna(False).astype(bool),
            ret=t.backup_required & t.retention_met.fillna(False).astype(bool),
            uncl=~t.classified,
        )
        out = (
            t.groupby(["tier", "service", "account"], sort=True)
            .agg(
                resources=("arn", "size"),
                backup_required=("req", "sum"),
                protected=("prot", "sum"),
                rpo_met=("rpo", "sum"),
                retention_met=("ret", "sum"),
                unclassified=("uncl", "sum"),
            )
            .reset_index()
        )
        out["gaps"] = [
            int(((gaps.tier == tr) & (gaps.service == sv) & (gaps.account == ac)).sum())
            for tr, sv, ac in out[["tier", "service", "account"]].values
        ]
        out["protected_pct"] = (
            100 * out.protected / out.backup_required.where(out.backup_required > 0)
        ).round(1)
        order = {name: i for i, name in enumerate(self.params.tiers)}
        return out.sort_values(
            ["tier", "service", "account"],
            key=lambda s: s.map(order) if s.name == "tier" else s,
            ignore_index=True,
        )

    def status(self) -> pd.Series:
        """One word per resource for charts: see STATUS_ORDER."""
        t = self.table()
        return pd.Series(
            [
                "reproducible"
                if not r.backup_required
                else "not protected"
                if not r.protected
                else "protected, meets RPO"
                if r.rpo_met
                else "protected, RPO too long"
                for r in t.itertuples()
            ],
            index=t.index,
            dtype=object,
        )

    def coverage_figure(self) -> go.Figure:
        """Stacked bars per tier and service: protected and meeting the RPO, or not."""
        t = self.table().assign(status=self.status())
        counts = t.groupby(["tier", "service", "status"]).size().rename("n").reset_index()
        tiers = [x for x in self.params.tiers if x in set(t.tier)]
        fig = go.Figure()
        for status, color in zip(STATUS_ORDER, STATUS_COLORS, strict=True):
            part = counts[counts.status == status]
            fig.add_bar(
                name=status,
                marker_color=color,
                x=[part.tier, part.service],
                y=part.n,
                hovertemplate="%{x}: %{y} resources<extra>" + status + "</extra>",
            )
        fig.update_layout(
            barmode="stack",
            title=f"Backup coverage by tier and service ({len(t)} resources, as of {self.as_of:%Y-%m-%d %H:%M} UTC)",
            xaxis_title="tier / service",
            yaxis_title="resources",
            legend_title="status",
            xaxis={"categoryorder": "array", "categoryarray": tiers},
            height=450,
        )
        return fig

    def gaps(self) -> pd.DataFrame:
        return _gaps(self)


# ------------------------------------------------------------------ building


def build(
    params: Params,
    found: list[Found],
    backups: list[BackupScope],
    errors: list[dict],
    as_of: datetime,
) -> Inventory:
    found = sorted(
        found, key=lambda f: (f.row["account"], f.row["region"], f.row["service"], f.row["name"])
    )
    by_scope = {(b.account, b.region): b for b in backups}
    rows, details, points, problems = [], [], [], {}
    backup_points: dict[str, list[RecoveryPoint]] = {}
    for b in backups:
        for rp in b.recovery_points:
            backup_points.setdefault(rp.resource_arn, []).append(rp)
    for f in found:
        row = dict(f.row)
        row["tier"], row["reproducible_from"], row["classified"], problem = classify(
            row["tags"], params
        )
        if problem:
            problems[row["arn"]] = problem
        rows.append(row)
        prots = list(f.protections)
        bs = by_scope.get((row["account"], row["region"]))
        if bs is not None and SERVICES[row["service"]].aws_backup:
            prots += bs.protections(row["service"], row["arn"], row["tags"])
        for p in prots:
            d = asdict(p)
            d["rpo_seconds"] = p.rpo.total_seconds() if p.rpo is not None else None
            del d["rpo"]
            details.append({"arn": row["arn"], **d})
        points += [asdict(rp) for rp in f.recovery_points + backup_points.get(row["arn"], [])]

    resources = pd.DataFrame(rows, columns=COLUMNS)
    resources["created"] = pd.to_datetime(resources["created"], utc=True)
    detail = pd.DataFrame(details, columns=DETAIL_COLUMNS)
    rp = pd.DataFrame(
        points, columns=["resource_arn", "created", "source", "region", "account", "arn"]
    )
    rp["created"] = pd.to_datetime(rp["created"], utc=True)
    protection = _protection(params, resources, detail, rp, as_of)
    errs = pd.DataFrame(errors, columns=ERROR_COLUMNS).sort_values(ERROR_COLUMNS, ignore_index=True)
    return Inventory(params, as_of, resources, protection, detail, rp, errs, problems)


def _protection(
    params: Params, resources: pd.DataFrame, detail: pd.DataFrame, rp: pd.DataFrame, as_of
) -> pd.DataFrame:
    by_arn = {arn: g for arn, g in detail.groupby("arn")} if not detail.empty else {}
    rp = rp[rp.created <= pd.Timestamp(as_of)] if not rp.empty else rp
    rp_by_arn = {arn: g for arn, g in rp.groupby("resource_arn")} if not rp.empty else {}
    out = []
    for r in resources.itertuples():
        tier = params.tier(r.tier)
        d = by_arn.get(r.arn, pd.DataFrame(columns=DETAIL_COLUMNS))
        ok = d[(d.status == SUPPORTED) & d.rpo_seconds.notna()]
        copy_regions = set().union(*ok.copy_regions) if len(ok) else set()
        copy_accounts = set().union(*ok.copy_accounts) if len(ok) else set()
        points = rp_by_arn.get(r.arn)
        newest = source = age = None
        if points is not None and len(points):
            copy_regions |= set(points.region) - {r.region, ""}
            copy_accounts |= set(points.account) - {r.account, ""}
            best = points.sort_values("created").iloc[-1]
            newest, source = best.created, best.source
            age = (pd.Timestamp(as_of) - newest).total_seconds()
        rpo = float(ok.rpo_seconds.min()) if len(ok) else None
        kept = [x for x in ok.retention_days if x is not None and not pd.isna(x)]
        retention = float(max(kept)) if kept else None
        protected = bool(len(ok))
        out.append(
            {
                "arn": r.arn,
                "backup_required": not isinstance(r.reproducible_from, str),
                "protected": protected,
                "mechanisms": sorted(ok.mechanism),
                "rpo_seconds": rpo,
                "rpo_objective_seconds": tier.rpo.total_seconds(),
                "rpo_met": protected and rpo <= tier.rpo.total_seconds(),
                "retention_days": retention,
                "retention_objective_days": tier.retention.total_seconds() / 86400,
                "retention_met": (retention >= tier.retention.total_seconds() / 86400)
                if retention is not None
                else (None if protected else False),
                "copy_regions": sorted(copy_regions),
                "copy_accounts": sorted(copy_accounts),
                "newest_recovery_point": newest,
                "recovery_point_source": source,
                "recovery_point_age_seconds": age,
                "notes": "; ".join(d[d.status == NOT_SUPPORTED].detail),
            }
        )
    df = pd.DataFrame(out, columns=PROTECTION_COLUMNS)
    df["newest_recovery_point"] = pd.to_datetime(df["newest_recovery_point"], utc=True)
    return df


# ------------------------------------------------------------------ gaps


def _fmt_days(days: float | None) -> str:
    if days is None:
        return "unknown"
    return "forever" if math.isinf(days) else f"{days:g} days"


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return "none"
    if seconds == 0:
        return "0 (every change kept)"
    from datetime import timedelta

    return format_duration(timedelta(seconds=seconds))


def _fix(service: str, gap: str, tier: str, params: Params, **fmt: str) -> str:
    svc = SERVICES[service]
    objective = params.tier(tier).rpo
    native = svc.fixes.get(gap)
    if native and (
        gap not in ("no_backup", "rpo_too_long")
        or svc.native_rpo is None
        or svc.native_rpo <= objective
    ):
        return native.format(tier=tier, service=service, **fmt)
    defaults = {
        "no_backup": "protect: backup selection for tier {tier}",
        "rpo_too_long": "protect: backup selection for tier {tier}",
        "retention_short": "protect: backup plan retention for tier {tier}",
        "no_copy_region": "protect: backup plan copy to {region} for tier {tier}",
        "no_copy_account": "protect: backup plan copy to account {account} for tier {tier}",
        "not_encrypted": "protect: encrypt {service}",
        "no_cmk": "protect: customer-managed KMS key for {service}",
    }
    if not svc.aws_backup and gap in (
        "no_backup",
        "rpo_too_long",
        "retention_short",
        "no_copy_region",
        "no_copy_account",
    ):
        return f"none automatic: AWS Backup does not cover {service}; review by hand"
    return defaults[gap].format(tier=tier, service=service, **fmt)


def _gaps(inv: Inventory) -> pd.DataFrame:
    p = inv.params
    t = inv.table()
    out: list[dict[str, Any]] = []
    for r in t.itertuples():
        tier = p.tier(r.tier)
        base = {k: getattr(r, k) for k in ("account", "region", "service", "name", "arn", "tier")}

        def gap(code: str, missing: str, why: str, closed_by: str, base: dict = base) -> None:
            out.append(
                {**base, "gap": code, "missing": missing, "why": why, "closed_by": closed_by}
            )

        problem = inv.problems.get(r.arn)
        if problem == "unclassified":
            gap(
                "unclassified",
                f"no {p.tag_keys.tier} tag",
                f"BP01: unclassified data gets the default tier {p.default_tier!r}, which may be too weak",
                f"owner: tag {p.tag_keys.tier}=<{'|'.join(p.tiers)}> or {p.tag_keys.reproducible}=<source>",
            )
        elif problem and problem.startswith("unknown_tier:"):
            value = problem.split(":", 1)[1]
            gap(
                "unknown_tier",
                f"{p.tag_keys.tier}={value!r} is not a tier",
                f"BP01: treated as {p.default_tier!r}; allowed tiers: {', '.join(p.tiers)}",
                f"owner: fix tag {p.tag_keys.tier} (one of {', '.join(p.tiers)})",
            )
        if r.backup_required:
            note = f" ({r.notes})" if r.notes else ""
            if not r.protected:
                gap(
                    "no_backup",
                    "no backup: nothing protects it" + note,
                    f"RPO {format_duration(tier.rpo)} of tier {r.tier} cannot be met; data loss is unbounded",
                    _fix(r.service, "no_backup", r.tier, p),
                )
            else:
                if not r.rpo_met:
                    gap(
                        "rpo_too_long",
                        f"achievable RPO {_fmt_seconds(r.rpo_seconds)} ({', '.join(r.mechanisms)})",
                        f"tier {r.tier} RPO is {format_duration(tier.rpo)}",
                        _fix(r.service, "rpo_too_long", r.tier, p),
                    )
                if r.retention_met is False:
                    gap(
                        "retention_short",
                        f"restore points kept {_fmt_days(r.retention_days)}",
                        f"tier {r.tier} retention is {_fmt_days(tier.retention.total_seconds() / 86400)}",
                        _fix(r.service, "retention_short", r.tier, p),
                    )
            # copies are asked of protected resources only: no_backup already says the rest
            if r.protected and tier.copy_region and not set(r.copy_regions) - {r.region}:
                target = tier.copy_region if tier.copy_region != r.region else "another Region"
                gap(
                    "no_copy_region",
                    f"no copy in {target}",
                    f"tier {r.tier} keeps a copy in {tier.copy_region} to survive a Regional outage",
                    _fix(r.service, "no_copy_region", r.tier, p, region=target),
                )
            if (
                r.protected
                and tier.copy_account
                and tier.copy_account != r.account
                and tier.copy_account not in r.copy_accounts
            ):
                gap(
                    "no_copy_account",
                    f"no copy in account {tier.copy_account}",
                    f"tier {r.tier} keeps a copy in account {tier.copy_account} (survives account compromise)",
                    _fix(r.service, "no_copy_account", r.tier, p, account=tier.copy_account),
                )
        if r.encrypted is False:
            gap(
                "not_encrypted",
                "not encrypted at rest",
                "BP02: data and its backups must be encrypted",
                _fix(r.service, "not_encrypted", r.tier, p),
            )
        elif tier.require_cmk and r.cmk is False:
            gap(
                "no_cmk",
                "encrypted with an AWS-managed or AWS-owned key",
                f"tier {r.tier} requires a customer-managed KMS key (control of access and deletion)",
                _fix(r.service, "no_cmk", r.tier, p),
            )
    return pd.DataFrame(out, columns=GAP_COLUMNS)
