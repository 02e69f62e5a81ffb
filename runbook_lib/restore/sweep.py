"""The sweep: find scratch resources left by restore tests (by their tags, in every
account, Region and service) and delete those whose expiry has passed.

Only resources carrying both the restore-test tag (with a test id) and the expiry tag are
considered by tag. A scratch copy made but never tagged (AWS Backup restores are tagged
only when their job completes: a run killed or cut off before that leaves it bare) is found
from the write-ahead record instead (``intents``, docs/reliability.md): every restore-test
intent whose expiry has passed names what was to be made (its name, its restore job, the
recovery point and the time), and whatever it made is deleted. Nothing else can be deleted
by the sweep. ``dry_run=True`` (the default) only reports.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from runbook_lib import intents
from runbook_lib.restore.model import Restored, parse_time, utc
from runbook_lib.restore.naming import TEST_ID_RE
from runbook_lib.restore.registry import get_handler, loaded
from runbook_lib.session import is_not_supported, utcnow

log = logging.getLogger("runbook_lib")
COLUMNS = [
    "account",
    "region",
    "service",
    "name",
    "arn",
    "test_id",
    "expires",
    "expired",
    "action",
    "detail",
]


def find_scratch(ctx: Any, *, as_of: datetime | str | None = None) -> pd.DataFrame:
    """Every scratch resource of the estate (expired or not), with its test id and expiry."""
    handlers = loaded()  # every service's restore handler
    now = parse_time(as_of, field_name="as_of") or utcnow()
    p = ctx.params
    rows = []
    for account, region in _scopes(ctx):
        for svc, handler in sorted(handlers.items()):
            try:
                found = handler.list_tagged(ctx.session, account, region, p.tag_keys.restore_test)
            except Exception as err:  # noqa: BLE001  (one service failing must not stop the sweep)
                if not is_not_supported(err):
                    rows.append(
                        {
                            "account": account,
                            "region": region,
                            "service": svc,
                            "action": "ERROR",
                            "detail": f"listing failed: {err}",
                        }
                    )
                continue
            for r in found:
                tags = r.details.get("tags", {})
                test_id = tags.get(p.tag_keys.restore_test, "")
                raw_exp = tags.get(p.tag_keys.expires)
                try:
                    expires = utc(raw_exp) if raw_exp else None
                except Exception:  # noqa: BLE001
                    expires = None
                ok = bool(TEST_ID_RE.match(test_id)) and expires is not None
                rows.append(
                    {
                        "account": account, "region": region, "service": svc, "name": r.name, "arn": r.arn,
                        "test_id": test_id, "expires": expires, "expired": bool(ok and expires <= now),
                        "action": "" if ok else "SKIP",
                        "detail": "" if ok else f"tags do not mark it as a restore test scratch resource ({p.tag_keys.expires}={raw_exp!r})",
                        "_restored": r,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS + ["_restored"])


#: how far back the sweep reads intents (an intent older than this is no longer reconciled)
INTENT_WINDOW = timedelta(days=90)


def intended_scratch(
    ctx: Any, *, as_of: datetime | str | None = None, settle: bool = False
) -> pd.DataFrame:
    """Scratch copies the write-ahead record says were made, or may have been, by restore
    tests whose expiry has passed, and that still exist (found by name, by the ARN or id
    recorded, by the restore job recorded, or, where the service names the copy itself and
    no job was recorded, by the recovery point's restore jobs started after the intent)."""
    from runbook_lib.services.backup import restore as aws_backup

    now = parse_time(as_of, field_name="as_of") or utcnow()
    ledger = getattr(ctx, "ledger", None)
    df = intents.expired(ledger, purpose="restore-test", now=now) if ledger else pd.DataFrame()
    if df.empty:
        return pd.DataFrame(columns=COLUMNS + ["_restored"])
    df = df[pd.to_datetime(df["recorded_at"], utc=True) >= pd.Timestamp(now - INTENT_WINDOW)]
    claimed = {r for refs in df["refs"] for r in refs if r.startswith(aws_backup.JOB_REF)}
    rows = []
    for it in df.itertuples():
        base = {"account": it.account, "region": it.region, "service": it.service,
                "name": it.name, "test_id": "", "expires": utc(it.expires), "expired": True}  # fmt: skip
        try:
            handler = get_handler(it.service)
            alive = [r for r in _made_by(ctx.session, handler, it, claimed, aws_backup)
                     if handler.exists(ctx.session, r)]  # fmt: skip
            if not alive and settle:
                intents.of(ctx).settled(it)
            for restored in alive:
                rows.append({**base, "name": restored.name, "arn": restored.arn, "action": "",
                             "detail": f"intent {it.token}: made by run {it.run_id}, never tagged",
                             "_restored": restored})  # fmt: skip
        except Exception as err:  # noqa: BLE001  (not known to be gone: say so, retry next time)
            rows.append({**base, "action": "ERROR", "detail": f"intent {it.token}: could not be "
                         f"checked: {type(err).__name__}: {err}"})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS + ["_restored"])


def _made_by(session: Any, handler: Any, it: Any, claimed: set[str], aws_backup: Any):
    def restored(arn: str | None, ident: str | None = None) -> Restored:
        rid = handler.resource_id(arn) if arn else (ident if handler.assigns_id else None)
        return Restored(it.service, it.account, it.region, it.name, arn, resource_id=rid)

    jobs = [r.removeprefix(aws_backup.JOB_REF) for r in it.refs if r.startswith(aws_backup.JOB_REF)]
    made = [r for r in it.refs if not r.startswith(aws_backup.JOB_REF)]
    if (
        not jobs
        and not made
        and handler.assigns_id
        and str(it.source).startswith("arn:aws:backup:")
    ):
        after = pd.Timestamp(it.recorded_at).to_pydatetime() - timedelta(minutes=1)
        for job in aws_backup.jobs_from(session, it.account, it.region, it.source, after):
            if f"{aws_backup.JOB_REF}{job['RestoreJobId']}" not in claimed:
                jobs = [job["RestoreJobId"]]  # the first unclaimed job after the intent
                break
    for job_id in jobs:
        arn = aws_backup.created_by_job(session, it.account, it.region, job_id)
        if arn:
            made.append(arn)
    if made:
        return [restored(r if r.startswith("arn:") else None, r) for r in dict.fromkeys(made)]
    return [] if handler.assigns_id else [restored(None)]  # named by the test: look it up


def _scopes(ctx: Any) -> list[tuple[str, str]]:
    """The estate's (account, Region) pairs, plus every tier's copy Region in each account:
    restore tests of DR copies make their scratch copies there."""
    scopes = list(ctx.session.scopes())
    extra = sorted({t.copy_region for t in ctx.params.tiers.values() if t.copy_region})
    for account in ctx.params.account_ids:
        scopes += [(account, r) for r in extra if (account, r) not in scopes]
    return scopes


def sweep(ctx: Any, dry_run: bool = True, *, as_of: datetime | str | None = None) -> pd.DataFrame:
    """Expired scratch resources found by tag, and those the write-ahead record says were
    made but never tagged; deleted when ``dry_run`` is False."""
    df = find_scratch(ctx, as_of=as_of)
    bare = intended_scratch(ctx, as_of=as_of, settle=not dry_run)
    if len(bare):
        known = set(df["arn"].dropna()) | set(zip(df["service"], df["name"], strict=True))
        fresh = [
            i for i, r in bare.iterrows()
            if r["arn"] not in known and (r["service"], r["name"]) not in known
        ]  # fmt: skip
        df = pd.concat([df, bare.loc[fresh]], ignore_index=True)
    for i, row in df.iterrows():
        if row["action"] in ("SKIP", "ERROR"):
            continue
        if not row["expired"]:
            df.at[i, "action"] = "KEEP"
            df.at[i, "detail"] = f"expires {row['expires']:%Y-%m-%dT%H:%M:%SZ}"
            continue
        if dry_run:
            df.at[i, "action"] = "WOULD_DELETE"
            df.at[i, "detail"] = "expired; run with dry_run=False to delete"
            continue
        handler = get_handler(row["service"])
        try:
            handler.delete(ctx.session, row["_restored"])
            gone = not handler.exists(ctx.session, row["_restored"])
            df.at[i, "action"] = "DELETED" if gone else "DELETE_REQUESTED"
            why = row["detail"] if isinstance(row["detail"], str) else ""  # intents say why
            df.at[i, "detail"] = "; ".join(
                x for x in (why, "" if gone else "deletion in progress") if x
            )
            log.info("sweep: deleted %s %s (%s)", row["service"], row["name"], row["test_id"])
        except Exception as err:  # noqa: BLE001  (a check that failed is not a deletion)
            df.at[i, "action"] = "ERROR"
            df.at[i, "detail"] = (
                f"delete or existence check failed: {type(err).__name__}: {err}; "
                "not known to be deleted; it keeps its tags, so the next sweep retries it"
            )
            log.warning("sweep: %s %s not deleted: %s", row["service"], row["name"], err)
    return df.drop(columns=["_restored"]).reset_index(drop=True)
