"""From what discovery found to the tables an SRE reads: resources (classified),
protection per resource, coverage per tier/service/account, and the gap list (the failing
findings of the audit's BP01-BP03 controls that the inventory's own facts decide)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from runbook_lib.inventory.backup import BackupScope
from runbook_lib.inventory.model import (
    COLUMNS,
    NOT_SUPPORTED,
    SUPPORTED,
    Found,
    RecoveryPoint,
    by_resource,
)
from runbook_lib.inventory.plugin import SERVICES
from runbook_lib.params import Params
from runbook_lib.present import integer_axis

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
    "restore_testing",
    "restore_testing_every_seconds",
    "restore_testing_met",
]
#: AWS Backup restore testing selections covering each resource (one row per resource and
#: selection): AWS Backup's own restore tests, counted as restore-test coverage.
RESTORE_TESTING_COLUMNS = [
    "arn",
    "plan",
    "selection",
    "schedule",
    "every_seconds",
    "validation_window_hours",
    "selection_window_days",
    "algorithm",
    "include_vaults",
    "eligible_point",
    "detail",
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
#: The recovery point table's columns: a part of ``RecoveryPoint.as_row()``, its ``id`` as ``arn``.
POINT_COLUMNS = ["resource_arn", "created", "source", "region", "account", "arn"]
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
    recovery_points: pd.DataFrame  # POINT_COLUMNS: every recovery point found, by resource
    errors: pd.DataFrame  # ERROR_COLUMNS: scopes or resources that could not be read
    problems: dict[str, str] = field(default_factory=dict)  # arn -> classification problem
    sandbox: bool = False  # read from the sandbox (some verdicts say what it cannot do)
    calls: int = 0
    seconds: float = 0.0
    #: what each service's ``describe`` returned (with the listed item), by resource ARN:
    #: what protect reads its current settings from (not recorded in the ledger)
    found: dict[str, Found] = field(default_factory=dict, repr=False)
    #: RESTORE_TESTING_COLUMNS: the AWS Backup restore testing selections covering each resource
    restore_testing: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=RESTORE_TESTING_COLUMNS)
    )

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
        rank = {x: i for i, x in enumerate(self.params.tiers)}
        order = sorted(
            set(zip(counts.tier, counts.service, strict=True)),
            key=lambda k: (rank.get(k[0], 99), k),
        )
        fig = go.Figure()
        # a multi-level axis orders its categories as they first appear: tiers in the
        # params' order (strictest first), then services
        fig.add_bar(x=[[k[0] for k in order], [k[1] for k in order]], y=[0] * len(order),
                    showlegend=False, hoverinfo="skip")  # fmt: skip
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
            yaxis={
                "title": "resources",
                **integer_axis(counts.groupby(["tier", "service"]).n.sum().max()),
            },
            legend_title="status",
            xaxis={"categoryorder": "trace"},
            height=450,
        )
        return fig

    def gaps(self) -> pd.DataFrame:
        """What is missing, per resource: the FAIL findings of the BP01-BP03 audit controls
        judged from the inventory alone (``runbook_lib.audit.gap_controls``), with the
        control id as ``gap``, its reason as ``missing`` and its remediation as ``closed_by``."""
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
    errors = list(errors) + [
        {"account": b.account, "region": b.region, "service": "backup",
         "resource": "restore testing plans", "error": b.restore_testing_error}
        for b in backups if b.restore_testing_error
    ]  # fmt: skip
    rows, details, points, problems, testing = [], [], [], {}, []
    backup_points = by_resource(rp for b in backups for rp in b.recovery_points)
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
            testing += _restore_testing(bs, row, backup_points.get(row["arn"], []), as_of)
        for p in prots:
            d = asdict(p)
            d["rpo_seconds"] = p.rpo.total_seconds() if p.rpo is not None else None
            del d["rpo"]
            details.append({"arn": row["arn"], **d})
        points += f.recovery_points + backup_points.get(row["arn"], [])

    resources = pd.DataFrame(rows, columns=COLUMNS)
    resources["created"] = pd.to_datetime(resources["created"], utc=True)
    detail = pd.DataFrame(details, columns=DETAIL_COLUMNS)
    rp = point_table(points)
    tested = pd.DataFrame(testing, columns=RESTORE_TESTING_COLUMNS)
    protection = _protection(params, resources, detail, rp, as_of, tested)
    errs = pd.DataFrame(errors, columns=ERROR_COLUMNS).sort_values(ERROR_COLUMNS, ignore_index=True)
    return Inventory(
        params, as_of, resources, protection, detail, rp, errs, problems,
        found={f.row["arn"]: f for f in found}, restore_testing=tested,
    )  # fmt: skip


def point_table(points: list[RecoveryPoint]) -> pd.DataFrame:
    """The inventory's recovery point table (POINT_COLUMNS) of ``points``."""
    rows = [{**rp.as_row(), "arn": rp.id} for rp in points]
    table = pd.DataFrame(rows, columns=POINT_COLUMNS)
    table["created"] = pd.to_datetime(table["created"], utc=True)
    return table


def _restore_testing(
    bs: BackupScope, row: dict, points: list[RecoveryPoint], as_of: datetime
) -> list[dict]:
    """The restore testing selections of ``bs`` covering the resource ``row``, each with
    whether its plan has a recovery point of the resource it may restore as of ``as_of``."""
    from runbook_lib.inventory.backup import backup_resource_type

    if not bs.restore_testing:
        return []
    kind = backup_resource_type(row["service"])
    out = []
    for rt in bs.restore_testing:
        if not rt.matches(kind, row["arn"], row["tags"] or {}):
            continue
        held = [p for p in points if p.account == bs.account and p.region == bs.region]
        eligible = any(rt.may_restore(p, bs.vault_arn(p.vault), as_of) for p in held)
        every = rt.every.total_seconds() if rt.every is not None else None
        window = rt.validation_window_hours
        out.append(
            {
                "arn": row["arn"], "plan": rt.plan, "selection": rt.selection,
                "schedule": rt.schedule, "every_seconds": every,
                "validation_window_hours": window,
                "selection_window_days": rt.selection_window_days, "algorithm": rt.algorithm,
                "include_vaults": list(rt.include_vaults), "eligible_point": eligible,
                "detail": f"{rt.name}: {rt.schedule}, {rt.algorithm} of the last "
                f"{rt.selection_window_days} days from vaults {rt.include_vaults}; restored copy "
                f"kept {window or 0} h for validation"
                + ("" if eligible else "; no recovery point it may restore"),
            }
        )  # fmt: skip
    return out


def _protection(
    params: Params,
    resources: pd.DataFrame,
    detail: pd.DataFrame,
    rp: pd.DataFrame,
    as_of,
    testing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    by_arn = {arn: g for arn, g in detail.groupby("arn")} if not detail.empty else {}
    tests = (
        {a: g for a, g in testing.groupby("arn")} if testing is not None and len(testing) else {}
    )
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
        rt = tests.get(r.arn)
        rt_every = rt.every_seconds.dropna() if rt is not None else pd.Series(dtype=float)
        often = tier.restore_test_every.total_seconds()
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
                "restore_testing": sorted(rt.plan + "/" + rt.selection) if rt is not None else [],
                "restore_testing_every_seconds": float(rt_every.min()) if len(rt_every) else None,
                "restore_testing_met": bool(
                    rt is not None
                    and (rt.eligible_point.astype(bool) & (rt.every_seconds <= often)).any()
                ),
            }
        )
    df = pd.DataFrame(out, columns=PROTECTION_COLUMNS)
    df["newest_recovery_point"] = pd.to_datetime(df["newest_recovery_point"], utc=True)
    return df


# ------------------------------------------------------------------ gaps


def _gaps(inv: Inventory) -> pd.DataFrame:
    """The FAIL findings of the audit's gap controls (BP01-BP03, judged from the inventory
    alone): one rule each, so the gaps, the audit and protect's plan cannot disagree.
    ``gap`` is the control id, ``missing`` its reason, ``why`` the control (practice, title
    and the tier values judged against), ``closed_by`` its remediation. A control that
    could not run is a row too (``missing`` says why), never a silent pass."""
    from runbook_lib.audit import ERROR, FAIL, inventory_findings

    f = inventory_findings(inv)
    f = f[f.status.isin([FAIL, ERROR])]
    if f.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    order = {arn: i for i, arn in enumerate(inv.resources.arn)}
    f = f.assign(_at=f.arn.map(order).fillna(len(order)), _n=range(len(f)))
    f = f.sort_values(["_at", "_n"], kind="stable")
    why = [
        f"{p}: {t}" + (f" ({e})" if isinstance(e, str) and e else "")
        for p, t, e in f[["practice", "title", "expected"]].values
    ]
    out = f.assign(gap=f.control_id, missing=f.reason, why=why, closed_by=f.remediation)
    return out[GAP_COLUMNS].reset_index(drop=True)
