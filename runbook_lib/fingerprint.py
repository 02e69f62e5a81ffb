"""Content fingerprints: an order-independent hash and a count of a data set.

Taken when a backup is made, and again over the restored copy: equal fingerprints prove
the restored content is exactly what was backed up, whatever order a scan returns.

Each record is canonicalised (JSON, sorted keys) and hashed with BLAKE2b to 128 bits; the
set's digest is the sum of the record digests modulo 2**128 (so order does not matter and,
unlike XOR, two equal records do not cancel out). ``key_digests`` keeps a short digest per
record key so that two fingerprints can name the first keys that differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_MOD = 1 << 128


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


@dataclass
class Fingerprint:
    kind: str  # dynamodb-items, s3-objects, log-events
    count: int = 0
    digest: int = 0
    key_digests: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, key: str, canonical: bytes, keep_key: bool = True) -> int:
        """Count one record; returns its digest (to subtract it again, see :meth:`without`)."""
        d = _digest(canonical)
        self.count += 1
        self.digest = (self.digest + d) % _MOD
        if keep_key:
            self.key_digests[key] = f"{d:032x}"[:16]
        return d

    def absorb(self, other: Fingerprint) -> None:
        """Add the records of ``other`` (a disjoint part, e.g. one parallel scan segment)."""
        self.count += other.count
        self.digest = (self.digest + other.digest) % _MOD
        self.key_digests.update(other.key_digests)

    def without(self, records: Iterable[tuple[str, int]]) -> Fingerprint:
        """The same set less some of its records, given as (key, digest) as :meth:`add`
        returned them (e.g. the content without canary records)."""
        out = Fingerprint(self.kind, self.count, self.digest, dict(self.key_digests))
        for key, d in records:
            out.count -= 1
            out.digest = (out.digest - d) % _MOD
            out.key_digests.pop(key, None)
        return out

    @property
    def hexdigest(self) -> str:
        return f"{self.digest:032x}"

    def to_dict(self, with_keys: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": self.count, "digest": self.hexdigest}
        if with_keys:
            out["key_digests"] = self.key_digests
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fingerprint:
        return cls(
            d["kind"], int(d["count"]), int(d["digest"], 16), dict(d.get("key_digests") or {})
        )

    def matches(self, other: Fingerprint) -> bool:
        return self.kind == other.kind and self.count == other.count and self.digest == other.digest

    def differences(self, other: Fingerprint, limit: int = 5) -> dict[str, Any]:
        """What differs between ``self`` (expected) and ``other`` (found)."""
        mine, theirs = self.key_digests, other.key_digests
        missing = sorted(k for k in mine if k not in theirs)
        extra = sorted(k for k in theirs if k not in mine)
        changed = sorted(k for k in mine if k in theirs and mine[k] != theirs[k])
        return {
            "expected_count": self.count,
            "found_count": other.count,
            "missing": missing[:limit],
            "missing_total": len(missing),
            "unexpected": extra[:limit],
            "unexpected_total": len(extra),
            "changed": changed[:limit],
            "changed_total": len(changed),
        }

    def describe_difference(self, other: Fingerprint) -> str:
        if self.matches(other):
            return "content identical"
        d = self.differences(other)
        parts = [f"expected {d['expected_count']} records, found {d['found_count']}"]
        for label in ("missing", "changed", "unexpected"):
            if d[f"{label}_total"]:
                parts.append(f"{d[f'{label}_total']} {label} (first: {', '.join(d[label])})")
        if len(parts) == 1:
            parts.append("content hash differs (no per-key digests to say which records)")
        return "; ".join(parts)


def canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def dynamodb_key(item: dict[str, Any], key_names: list[str]) -> str:
    """'pk=order#000001|sk=v1' from a low-level item ({'pk': {'S': ...}})."""
    return "|".join(f"{k}={next(iter(item[k].values()))}" for k in key_names if k in item)


def _records(
    kind: str, records: Iterable[Any], key: Callable[[Any], str], keep_keys: bool
) -> Fingerprint:
    """The fingerprint of ``records``: each one's canonical JSON, under the key ``key`` gives."""
    fp = Fingerprint(kind)
    for record in records:
        fp.add(key(record), canonical(record), keep_keys)
    return fp


def fingerprint_dynamodb_items(
    items: Iterable[dict[str, Any]], key_names: list[str], keep_keys: bool = True
) -> Fingerprint:
    """Items in DynamoDB's low-level JSON form (as ``client.scan`` returns them)."""
    return _records("dynamodb-items", items, lambda item: dynamodb_key(item, key_names), keep_keys)


def fingerprint_s3_objects(
    objects: Iterable[tuple[str, int, str]], keep_keys: bool = True
) -> Fingerprint:
    """(key, size, checksum) per object; checksum = a SHA-256 of the body (or the ETag)."""
    return _records("s3-objects", objects, lambda obj: obj[0], keep_keys)


def _event_key(event: tuple[str, int, str]) -> str:
    stream, ts, message = event
    return f"{stream}@{ts}:{hashlib.blake2b(message.encode(), digest_size=4).hexdigest()}"


def fingerprint_log_events(
    events: Iterable[tuple[str, int, str]], keep_keys: bool = True
) -> Fingerprint:
    """(stream, timestamp, message) per event."""
    return _records("log-events", events, _event_key, keep_keys)
