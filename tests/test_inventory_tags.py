"""Tags read in batches (Resource Groups Tagging API) and the per-service fallback, shared
reads, and the API calls an inventory makes per resource, against a seeded sandbox."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from runbook_lib.inventory import SERVICES, discover
from runbook_lib.inventory.plugin import TagSource
from runbook_lib.inventory.reads import TAGGING_API, Reads
from runbook_lib.params import load_params
from runbook_lib.session import AwsSession
from runbook_sandbox import in_process
from runbook_sandbox.seed import demo_estate, seed_demo_estate

AS_OF = datetime(2030, 1, 1, tzinfo=UTC)
#: the per-resource tag read of each service that declares one: (counter service, operation)
TAG_READS = {
    "dynamodb": ("dynamodb", "ListTagsOfResource"),
    "logs": ("logs", "ListTagsForResource"),
    "s3": ("s3", "GetBucketTagging"),
    "elasticache": ("elasticache", "ListTagsForResource"),
    "opensearch": ("es", "ListTags"),
}


@pytest.fixture(scope="module")
def sandbox():
    logging.getLogger("werkzeug").disabled = True
    with in_process() as url:
        params = load_params("sandbox")
        seed_demo_estate(AwsSession(params, endpoint_url=url))
        yield params, url


def _run(sandbox, **kwargs):
    """(inventory, calls by (service, operation)) of one discover on a fresh session."""
    params, url = sandbox
    session = AwsSession(params, endpoint_url=url)
    hooks = kwargs.pop("hooks", {})
    for (account, region), hook in hooks.items():
        session.client(TAGGING_API, account, region).meta.events.register("before-send", hook)
    inv = discover(session, progress=False, as_of=AS_OF, **kwargs)
    return inv, Counter(session.counter.snapshot())


@pytest.fixture(scope="module")
def batched(sandbox):
    return _run(sandbox)


@pytest.fixture(scope="module")
def per_resource(sandbox):
    return _run(sandbox, batch_tags=False)


def _count(inv, service: str, account: str | None = None, region: str | None = None) -> int:
    r = inv.resources
    r = r[r.service == service]
    if account:
        r = r[(r.account == account) & (r.region == region)]
    return len(r)


def _tables(inv) -> dict[str, pd.DataFrame]:
    """The inventory's tables in a stable order, for comparing two runs. moto dates a
    continuous backup's newest point (PITR's latest restorable time) when it is read, so
    those points and what derives from them are left out."""
    rp = inv.recovery_points
    read_time = rp.source.str.contains("PITR")
    out = {
        "resources": inv.resources,
        "protection": inv.protection.drop(
            columns=["newest_recovery_point", "recovery_point_source", "recovery_point_age_seconds"]
        ),
        "protection_detail": inv.protection_detail,
        "recovery_points": pd.concat(
            [rp[~read_time], rp[read_time].drop(columns=["created"]).drop_duplicates()]
        ),
    }
    for name, df in out.items():
        df = df.copy()
        for col in df.columns:  # lists and dicts compare as text
            df[col] = df[col].map(lambda v: repr(v) if isinstance(v, list | dict | tuple) else v)
        out[name] = df.sort_values(list(df.columns), ignore_index=True)
    return out


def test_services_declare_where_their_tags_come_from():
    """A TagSource (types and the per-resource read) for each service whose listing does
    not carry the tags; none for the others (EBS, RDS, Aurora, Neptune, EFS)."""
    declared = {n for n, s in SERVICES.items() if s.tags is not None}
    assert declared == set(TAG_READS)
    with pytest.raises(ValueError, match="TagSource.types: .*allowed: 'service\\[:type\\]'"):
        TagSource(types=(), read=lambda *a: {})


def test_sandbox_gaps_are_what_moto_answers(sandbox, per_resource):
    """Each declaration is checked against moto itself: the tagging API returns every
    tagged resource of a service declared as covered, and none of a service declared
    not covered on the sandbox (if moto learns them, the declaration must go)."""
    params, url = sandbox
    inv, _ = per_resource
    session = AwsSession(params, endpoint_url=url)
    for name in TAG_READS:
        tags = SERVICES[name].tags
        res = inv.resources[(inv.resources.service == name) & inv.resources.tags.map(bool)]
        assert len(res), f"the demo estate has no tagged {name} resource"
        returned = set()
        for account, region in {(a, r) for a, r in res[["account", "region"]].values}:
            client = session.client(TAGGING_API, account, region)
            pages = client.get_paginator("get_resources").paginate(
                ResourceTypeFilters=list(tags.types)
            )
            returned |= {m["ResourceARN"] for p in pages for m in p["ResourceTagMappingList"]}
        if tags.not_on_sandbox:
            assert not returned & set(res.arn), name
        else:
            assert set(res.arn) <= returned, name


def test_batched_tags_where_covered_per_resource_where_not(sandbox, batched):
    params, _ = sandbox
    inv, calls = batched
    assert inv.errors.empty, inv.errors
    scopes = len(params.account_ids) * len(params.regions)
    assert calls[("tagging", "GetResources")] >= scopes
    for name, op in TAG_READS.items():
        if SERVICES[name].tags.not_on_sandbox:  # declared: moto does not return them
            assert calls[op] == _count(inv, name) > 0, name
        else:
            assert calls[op] == 0, name


def test_same_inventory_batched_or_read_per_resource(batched, per_resource):
    """The batch changes how tags are read, not what the inventory says."""
    inv_b, calls_b = batched
    inv_p, calls_p = per_resource
    assert calls_p[("tagging", "GetResources")] == 0
    for name, op in TAG_READS.items():
        assert calls_p[op] == _count(inv_p, name) > 0, name
    got, want = _tables(inv_b), _tables(inv_p)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    assert inv_b.resources.tags.map(bool).sum() > 10  # tags were really read
    assert inv_b.calls < inv_p.calls


def test_tags_match_the_seeded_tiers(sandbox, batched):
    params, _ = sandbox
    inv, _ = batched
    got = inv.resources.set_index(["account", "region", "service", "name"])
    for d in demo_estate(params):
        key = (d.account, d.region, d.service, d.name)
        if d.service in TAG_READS and key in got.index:
            assert got.loc[key, "tags"].get(params.tag_keys.tier) == d.tier, key


def test_access_denied_on_get_resources_falls_back_and_says_so(sandbox, batched):
    """A role without tag:GetResources in one account x Region (a before-send hook answers
    AccessDenied there): that scope's tags are read per resource, nothing is lost, and an
    errors row names the scope and the services read per resource."""
    params, _ = sandbox
    account, region = params.account_ids[0], params.regions[0]

    def denied(**_):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "GetResources",
        )

    inv, calls = _run(sandbox, hooks={(account, region): denied})
    errs = inv.errors
    assert {"dynamodb", "logs"} <= set(errs.service)  # one row per service read per resource
    assert set(zip(errs.account, errs.region, strict=True)) == {(account, region)}
    assert errs.error.str.contains("AccessDeniedException").all()
    assert errs.resource.str.contains("read per resource instead; none lost").all()
    for name in ("dynamodb", "logs"):
        assert calls[TAG_READS[name]] == _count(inv, name, account, region) > 0, name
    inv_b, _ = batched
    got, want = _tables(inv), _tables(inv_b)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)


def test_calls_per_resource_on_the_seeded_estate(sandbox, batched):
    """The calls each covered service makes per resource, and shared listings read once."""
    params, _ = sandbox
    inv, calls = batched
    scopes = len(params.account_ids) * len(params.regions)
    tables, groups = _count(inv, "dynamodb"), _count(inv, "logs")
    assert calls[("dynamodb", "DescribeTable")] == tables
    assert calls[("dynamodb", "DescribeContinuousBackups")] == tables
    assert calls[("logs", "DescribeSubscriptionFilters")] == groups
    # buckets are listed per Region (BucketRegion), so none is located one by one
    assert calls[("s3", "ListBuckets")] == scopes
    locations = calls[("s3", "GetBucketLocation")]
    assert locations <= inv.protection_detail.mechanism.str.startswith("s3 replication").sum()
    # Aurora and Neptune share one cluster listing and one cluster-snapshot listing
    assert calls[("rds", "DescribeDBClusters")] == scopes
    assert calls[("rds", "DescribeDBClusterSnapshots")] == scopes
    # and nothing else is read per resource for the services the batch covers
    for name in ("dynamodb", "logs", "s3"):
        assert calls[TAG_READS[name]] == 0, name


def test_reads_once_shares_a_read_and_retries_a_failed_one():
    reads = Reads(session=None)
    made = []
    assert reads.once("k", lambda: made.append(1) or "v") == "v"
    assert reads.once("k", lambda: made.append(2) or "w") == "v"
    assert made == [1]

    def fails():
        made.append(3)
        raise OSError("down")

    with pytest.raises(OSError):
        reads.once("bad", fails)
    assert reads.once("bad", lambda: "ok") == "ok" and made == [1, 3]
