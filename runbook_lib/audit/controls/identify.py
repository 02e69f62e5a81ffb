"""REL09-BP01: every data resource is identified, classified, and backed up or reproducible."""

from __future__ import annotations

from collections.abc import Iterator

from runbook_lib.audit.controls import declared_in, fix, result, step
from runbook_lib.audit.evidence import Evidence, reproducible
from runbook_lib.audit.model import FAIL, NOT_APPLICABLE, PASS, Result

control = declared_in(__name__)  # the controls' metadata: identify.json beside this file


@control("estate_fully_read")
def estate_fully_read(ev: Evidence) -> Iterator[Result]:
    """An audit over a partial inventory would pass resources it never saw: each
    (account, Region) must have been read without errors."""
    errs = ev.inventory_errors
    for account in ev.params.account_ids:
        for region in ev.params.regions:
            base = {"account": account, "region": region, "service": "*"}
            base["arn"] = f"estate:{account}/{region}"
            if errs is not None and len(errs):
                mine = errs[(errs.account == account) & errs.region.isin([region, "*"])]
            else:
                mine = []
            if len(mine):
                what = ", ".join(
                    sorted(
                        {
                            f"{s}{'/' + r if r else ''}"
                            for s, r in mine[["service", "resource"]].values
                        }
                    )
                )
                yield result(
                    base, FAIL, f"{len(mine)} part(s) not read: {what}", expected="no errors"
                )
            else:
                yield result(base, PASS, "read without errors", expected="no errors")


@control("resource_classified")
def resource_classified(ev: Evidence) -> Iterator[Result]:
    """Unclassified data silently gets the default tier, whose objectives may be too weak."""
    keys, tiers = ev.params.tag_keys, ", ".join(ev.params.tiers)
    expected = f"{keys.tier} in ({tiers}) or {keys.reproducible} set"
    for row in ev.rows():
        problem = ev.problems.get(row["arn"])
        source = reproducible(row)
        if problem == "unclassified" or (problem is None and not row.get("classified")):
            reason = f"no {keys.tier} tag and no {keys.reproducible} tag: default tier {ev.params.default_tier!r} applied"
            yield result(row, FAIL, reason, expected=expected, remediation=_classify(ev))
        elif problem and problem.startswith("unknown_tier:"):
            value = problem.split(":", 1)[1]
            reason = f"{keys.tier}={value!r} is not a tier ({tiers}): default tier applied"
            yield result(row, FAIL, reason, expected=expected, remediation=_classify(ev))
        elif (row.get("tags") or {}).get(keys.tier):
            yield result(row, PASS, f"{keys.tier}={row['tier']}", expected=expected)
        else:
            yield result(row, PASS, f"reproducible from {source}", expected=expected)


def _classify(ev: Evidence) -> str:
    """protect tags unclassified resources (and unknown tier values) with the default tier
    when ``protect.tag_untagged`` is set; otherwise the owner tags them."""
    keys, p = ev.params.tag_keys, ev.params
    if p.protect.tag_untagged:
        return step("classification tag") + f" ({keys.tier}={p.default_tier}; or the owner tags it)"
    return f"owner: tag {keys.tier}=<{'|'.join(p.tiers)}> or {keys.reproducible}=<source>"


@control("resource_backed_up_or_reproducible")
def resource_backed_up_or_reproducible(ev: Evidence) -> Iterator[Result]:
    """Anything that cannot be rebuilt must have at least one working backup mechanism."""
    for row in ev.rows():
        source = reproducible(row)
        if source:
            yield result(
                row,
                PASS,
                f"reproducible from {source}: no backup required",
                expected="a backup or a source",
            )
        elif row.get("protected"):
            mech = ", ".join(row.get("mechanisms") or [])
            yield result(row, PASS, f"backed up by {mech}", expected="a backup or a source")
        else:
            note = (
                f" ({row['notes']})" if isinstance(row.get("notes"), str) and row["notes"] else ""
            )
            yield result(
                row,
                FAIL,
                "nothing backs it up" + note,
                expected="a backup or a source",
                remediation=fix(ev, row, "resource_backed_up_or_reproducible"),
            )


def _find_source(ev: Evidence, row: dict, source: str) -> dict | None:
    scheme, sep, rest = source.partition("://")
    if not sep:
        return None
    name = rest.strip("/").split("/")[0]
    candidates = [
        r
        for r in ev.rows()
        if r["service"] == scheme
        and (r["name"] == name or r["arn"] == rest or r["arn"].endswith("/" + name))
    ]
    # the same account and Region first, then the same account, then anywhere
    candidates.sort(
        key=lambda r: (r["account"] != row["account"], r["region"] != row["region"], r["arn"])
    )
    return candidates[0] if candidates else None


@control("reproducible_source_protected")
def reproducible_source_protected(ev: Evidence) -> Iterator[Result]:
    """'Reproducible' is only true if the source survives: the resource named by the
    reproducible tag must be in the inventory and backed up. Sources outside the services
    the inventory reads (a Git repository, a vendor feed) are NOT_APPLICABLE: check by hand."""
    services = set(ev.resources.service) if len(ev.resources) else set()
    for row in ev.rows():
        source = reproducible(row)
        if not source:
            yield result(row, NOT_APPLICABLE, "not marked reproducible")
            continue
        scheme = source.partition("://")[0]
        if scheme not in services and scheme not in ev.aws_backup_services:
            yield result(
                row,
                NOT_APPLICABLE,
                f"source {source} is outside the inventoried services: verify by hand",
                expected=source,
            )
            continue
        found = _find_source(ev, row, source)
        if found is None:
            yield result(
                row,
                FAIL,
                f"source {source} is not in the inventory (deleted, renamed, or in an account/Region not read)",
                expected=source,
                remediation=f"owner: correct {ev.params.tag_keys.reproducible} (or bring the "
                "source back and into the estate's accounts and Regions)",
            )
        elif reproducible(found):
            yield result(
                row,
                PASS,
                f"source {found['arn']} is itself reproducible from {reproducible(found)}",
                expected=source,
            )
        elif found.get("protected"):
            yield result(
                row,
                PASS,
                f"source {found['arn']} is backed up by {', '.join(found.get('mechanisms') or [])}",
                expected=source,
            )
        else:
            yield result(
                row,
                FAIL,
                f"source {found['arn']} is not backed up: losing it loses this data too",
                expected=source,
                remediation=fix(ev, found, "resource_backed_up_or_reproducible"),
            )
