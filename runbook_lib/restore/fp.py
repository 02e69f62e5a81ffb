"""Fingerprint helpers for reading restored data in parallel. The digest arithmetic is
``runbook_lib.fingerprint``'s (one definition), so a restored copy compares with what
backups recorded."""

from __future__ import annotations

from collections.abc import Iterable

from runbook_lib.fingerprint import Fingerprint


def add_digest(fp: Fingerprint, key: str, canonical: bytes) -> int:
    """``fp.add`` keeping the key's digest; returns the record's digest (to reuse it in a
    second variant, or to subtract it with ``Fingerprint.without``)."""
    return fp.add(key, canonical)


def merge(kind: str, parts: Iterable[Fingerprint]) -> Fingerprint:
    """One fingerprint of the union of disjoint parts (parallel scan segments)."""
    out = Fingerprint(kind)
    for p in parts:
        out.absorb(p)
    return out


def best_match(
    expected: Fingerprint, found: dict[str, Fingerprint]
) -> tuple[str | None, Fingerprint | None]:
    """(variant, fingerprint) of ``found`` that matches ``expected``; else the closest one
    (same kind, nearest count) with variant None."""
    same_kind = {k: f for k, f in found.items() if f.kind == expected.kind}
    for variant, fp in same_kind.items():
        if expected.matches(fp):
            return variant, fp
    if not same_kind:
        return None, None
    closest = min(same_kind.values(), key=lambda f: abs(f.count - expected.count))
    return None, closest
