"""Fingerprint helpers for reading restored data in parallel (same digests as
``runbook_lib.fingerprint``, so a restored copy compares with what backups recorded)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from runbook_lib.fingerprint import Fingerprint

_MOD = 1 << 128


def add_digest(fp: Fingerprint, key: str, canonical: bytes) -> int:
    """``fp.add`` that also returns the record's digest (to reuse it in a second variant)."""
    d = int.from_bytes(hashlib.blake2b(canonical, digest_size=16).digest(), "big")
    fp.count += 1
    fp.digest = (fp.digest + d) % _MOD
    fp.key_digests[key] = f"{d:032x}"[:16]
    return d


def merge(kind: str, parts: Iterable[Fingerprint]) -> Fingerprint:
    """One fingerprint of the union of disjoint parts (parallel scan segments)."""
    out = Fingerprint(kind)
    for p in parts:
        out.count += p.count
        out.digest = (out.digest + p.digest) % _MOD
        out.key_digests.update(p.key_digests)
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
