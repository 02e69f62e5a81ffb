"""Content fingerprints: order-independent, sensitive to any change, and able to say what differs."""

from __future__ import annotations

import random

from runbook_lib.fingerprint import Fingerprint, fingerprint_dynamodb_items, fingerprint_s3_objects


def items(n):
    return [{"pk": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(n)]


def test_order_does_not_matter():
    a = items(500)
    b = a[:]
    random.Random(1).shuffle(b)
    assert fingerprint_dynamodb_items(a, ["pk"]).matches(fingerprint_dynamodb_items(b, ["pk"]))


def test_dropped_altered_and_extra_records_are_named():
    expected = fingerprint_dynamodb_items(items(100), ["pk"])
    found_items = items(100)
    del found_items[7]
    found_items[3]["v"] = {"N": "999"}
    found_items.append({"pk": {"S": "zzz"}, "v": {"N": "1"}})
    found = fingerprint_dynamodb_items(found_items, ["pk"])
    assert not expected.matches(found)
    d = expected.differences(found)
    assert d["missing"] == ["pk=k7"] and d["changed"] == ["pk=k3"] and d["unexpected"] == ["pk=zzz"]
    text = expected.describe_difference(found)
    assert "expected 100 records, found 100" in text and "1 missing (first: pk=k7)" in text


def test_duplicates_do_not_cancel():
    one = fingerprint_s3_objects([("a", 1, "x")], keep_keys=False)
    three = fingerprint_s3_objects([("a", 1, "x")] * 3, keep_keys=False)
    assert one.digest != three.digest and three.count == 3


def test_round_trip_through_dict():
    fp = fingerprint_s3_objects([("a", 1, "x"), ("b", 2, "y")])
    again = Fingerprint.from_dict(fp.to_dict(with_keys=True))
    assert again.matches(fp) and again.key_digests == fp.key_digests
    assert "content hash differs" in Fingerprint("s3-objects", 2, 5).describe_difference(
        Fingerprint("s3-objects", 2, 6)
    )


def test_one_digest_arithmetic_for_parallel_parts_and_subtraction():
    """restore.fp's helpers compute exactly what Fingerprint.add does (one definition)."""
    from runbook_lib.fingerprint import canonical
    from runbook_lib.restore.fp import add_digest, merge

    whole = fingerprint_dynamodb_items(items(50), ["pk"])
    parts = [Fingerprint("dynamodb-items"), Fingerprint("dynamodb-items")]
    digests = {}
    for i, item in enumerate(items(50)):
        digests[f"pk=k{i}"] = add_digest(parts[i % 2], f"pk=k{i}", canonical(item))
    merged = merge("dynamodb-items", parts)
    assert merged.matches(whole) and merged.key_digests == whole.key_digests
    less = whole.without((k, digests[k]) for k in ("pk=k3", "pk=k7"))
    rest = [it for i, it in enumerate(items(50)) if i not in (3, 7)]
    expected = fingerprint_dynamodb_items(rest, ["pk"])
    assert less.matches(expected) and less.key_digests == expected.key_digests
    assert whole.count == 50  # without() leaves the original alone
