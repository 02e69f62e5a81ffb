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
