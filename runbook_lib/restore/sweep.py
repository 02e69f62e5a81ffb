"""The sweep: find scratch resources left by restore tests (by their tags, in every
account, Region and service) and delete those whose expiry has passed.

Only resources carrying both the restore-test tag (with a test id) and the expiry tag are
ever considered, so nothing else can be deleted by it. ``dry_run=True`` (the default)
only reports.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd

from runbook_lib.restore.model import parse_time, utc
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


def _scopes(ctx: Any) -> list[tuple[str, str]]:
    """The estate's (account, Region) pairs, plus every tier's copy Region in each account:
    restore tests of DR copies make their scratch copies there."""
    scopes = list(ctx.session.scopes())
    extra = sorted({t.copy_region for t in ctx.params.tiers.values() if t.copy_region})
    for account in ctx.params.account_ids:
        scopes += [(account, r) for r in extra if (account, r) not in scopes]
    return scopes


def sweep(ctx: Any, dry_run: bool = True, *, as_of: datetime | str | None = None) -> pd.DataFrame:
    """Expired scratch resources found by tag; deleted when ``dry_run`` is False."""
    df = find_scratch(ctx, as_of=as_of)
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
            df.at[i, "detail"] = "" if gone else "deletion in progress"
            log.info("sweep: deleted %s %s (%s)", row["service"], row["name"], row["test_id"])
        except Exception as err:  # noqa: BLE001  (a check that failed is not a deletion)
            df.at[i, "action"] = "ERROR"
            df.at[i, "detail"] = (
                f"delete or existence check failed: {type(err).__name__}: {err}; "
                "not known to be deleted; it keeps its tags, so the next sweep retries it"
            )
            log.warning("sweep: %s %s not deleted: %s", row["service"], row["name"], err)
    return df.drop(columns=["_restored"]).reset_index(drop=True)
