"""Which resources to restore-test in this run, and why.

Modes: ``due`` (each tier's ``restore_test_every``, least recently tested first), ``sample``
(a seeded random sample of resources not tested within ``window``), ``arns`` (exactly the
ARNs given). A budget (``max_tests``, ``max_minutes``, estimated from past tests) cuts the
list; every row says why it was or was not selected.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib.errors import ParamsError
from runbook_lib.params import parse_duration
from runbook_lib.restore.model import service_of_arn
from runbook_lib.restore.model import services as known_services
from runbook_lib.restore.recorded import last_tested
from runbook_lib.restore.registry import loaded

MODES = ("due", "sample", "arns")
#: Minutes a test of a service without a restore handler takes (none in the registry).
DEFAULT_MINUTES = 15


def default_minutes(service: str) -> float:
    """Minutes a test takes when no past test says otherwise (restore + validation on AWS):
    the service's ``ServiceHandler.test_minutes``."""
    handler = loaded().get(service)
    return handler.test_minutes if handler is not None else DEFAULT_MINUTES


def _history_minutes(ledger: Any) -> dict[str, float]:
    df = ledger.read("restore_tests")
    if df.empty or "rto_seconds" not in df:
        return {}
    done = df[df["rto_seconds"].notna()]
    return {svc: float(s.median()) / 60 for svc, s in done.groupby("service")["rto_seconds"]}


def select_resources(
    ctx: Any,
    resources: pd.DataFrame | None = None,
    *,
    mode: str = "due",
    arns: list[str] | None = None,
    sample_size: int = 3,
    seed: int = 0,
    window: str = "30d",
    max_tests: int | None = None,
    max_minutes: float | None = None,
    services: list[str] | None = None,
) -> pd.DataFrame:
    """The candidates with ``selected`` (bool), ``reason`` and ``est_minutes``, selected first."""
    if mode not in MODES:
        raise ParamsError(
            "mode", [f"mode: {mode!r} is not a selection mode; allowed: {list(MODES)}"]
        )
    bad = sorted(set(services or []) - set(known_services()))
    if bad:
        raise ParamsError(
            "services", [f"services: unknown {bad}; allowed: {list(known_services())}"]
        )
    for a in arns or []:
        service_of_arn(a, field_name="arns")
    if mode == "arns" and not arns:
        raise ParamsError("arns", ["arns: mode 'arns' needs at least one ARN"])
    try:
        window_td = parse_duration(window)
    except ValueError as err:
        raise ParamsError("window", [f"window: {err}"]) from None
    if resources is None:
        from runbook_lib.restore.resources import discover_resources

        resources = discover_resources(ctx)
    df = resources.copy()
    if mode == "arns":
        missing = sorted(set(arns) - set(df["arn"]))
        if missing:
            raise ParamsError("arns", [f"arns: not found in the estate: {missing}"])
    params, as_of = ctx.params, ctx.as_of
    tested = last_tested(ctx.ledger)
    history = _history_minutes(ctx.ledger)
    df["tier"] = df["tier"].where(df["tier"].isin(list(params.tiers)), None)
    df["tier_used"] = df["tier"].fillna(params.default_tier)
    df["restore_test_every"] = df["tier_used"].map(lambda t: params.tier(t).restore_test_every)
    df["last_tested"] = df["arn"].map(lambda a: tested.get(a)).astype(object)
    df["next_due"] = [
        (lt + every) if lt is not None and not pd.isna(lt) else None
        for lt, every in zip(df["last_tested"], df["restore_test_every"], strict=True)
    ]
    df["est_minutes"] = df["service"].map(lambda s: round(history.get(s, default_minutes(s)), 2))
    df["selected"] = False
    df["reason"] = ""
    rank = {t: i for i, t in enumerate(sorted(params.tiers, key=lambda t: params.tiers[t].rpo))}
    df["_rank"] = df["tier_used"].map(rank)
    df["_last"] = df["last_tested"].map(
        lambda t: datetime.min.replace(tzinfo=as_of.tzinfo) if t is None or pd.isna(t) else t
    )

    if services:
        out_of_scope = ~df["service"].isin(services)
        df.loc[out_of_scope, "reason"] = f"service not in {services}"
    else:
        out_of_scope = pd.Series(False, index=df.index)

    if mode == "due":
        due = df["next_due"].map(lambda n: n is None or pd.isna(n) or n <= as_of) & ~out_of_scope
        df.loc[due & df["last_tested"].isna(), "reason"] = "due: never restore-tested"
        df.loc[due & df["last_tested"].notna(), "reason"] = df.loc[
            due & df["last_tested"].notna()
        ].apply(
            lambda r: (
                f"due: last tested {r['last_tested']:%Y-%m-%d}, {r['tier_used']} tiers test every "
                f"{_fmt(r['restore_test_every'])}"
            ),
            axis=1,
        )
        df.loc[~due & ~out_of_scope, "reason"] = df.loc[~due & ~out_of_scope].apply(
            lambda r: (
                f"not due until {r['next_due']:%Y-%m-%d} (tested {r['last_tested']:%Y-%m-%d})"
            ),
            axis=1,
        )
        order = df[due].sort_values(["_last", "_rank", "arn"]).index
    elif mode == "sample":
        pool = df[
            ~out_of_scope
            & df["last_tested"].map(lambda t: t is None or pd.isna(t) or as_of - t >= window_td)
        ]
        rng = random.Random(seed)
        picked = rng.sample(sorted(pool["arn"]), min(sample_size, len(pool)))
        df.loc[~df.index.isin(pool.index) & ~out_of_scope, "reason"] = (
            f"tested within the last {window}"
        )
        df.loc[df.index.isin(pool.index), "reason"] = f"not in the sample (seed {seed})"
        df.loc[df["arn"].isin(picked), "reason"] = (
            f"in a random sample of {sample_size} (seed {seed}) of resources not tested within {window}"
        )
        order = pd.Index([df.index[df["arn"] == a][0] for a in picked])
    else:
        df.loc[~df["arn"].isin(arns), "reason"] = "not asked for"
        df.loc[df["arn"].isin(arns), "reason"] = "asked for"
        order = pd.Index([df.index[df["arn"] == a][0] for a in arns])

    minutes = 0.0
    count = 0
    for i in order:
        est = float(df.at[i, "est_minutes"])
        if max_tests is not None and count >= max_tests:
            df.at[i, "reason"] += f"; over budget (max_tests={max_tests})"
            continue
        if max_minutes is not None and minutes + est > max_minutes and count > 0:
            df.at[i, "reason"] += (
                f"; over budget (max_minutes={max_minutes:g}, {minutes:g} planned)"
            )
            continue
        df.at[i, "selected"] = True
        minutes += est
        count += 1
    df["order"] = None
    for n, i in enumerate([i for i in order if df.at[i, "selected"]]):
        df.at[i, "order"] = n + 1
    df = df.drop(columns=["_rank", "_last", "tier_used"])
    df["restore_test_every"] = df["restore_test_every"].map(_fmt)
    df = df.sort_values(
        ["selected", "order", "arn"], ascending=[False, True, True], na_position="last"
    )
    cols = ["order", "selected", "service", "name", "tier", "account", "region", "last_tested", "next_due",
            "restore_test_every", "est_minutes", "reason", "arn"]  # fmt: skip
    return df[cols + [c for c in df.columns if c not in cols]].reset_index(drop=True)


def _fmt(td) -> str:
    from runbook_lib.params import format_duration

    return format_duration(td)
