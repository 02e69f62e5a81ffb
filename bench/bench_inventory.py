"""Inventory benchmark: concurrent discovery vs a plain sequential loop making the same calls.

Builds an estate of 10,000 data resources across 2 accounts x 4 Regions on a sandbox
server running as its own process (the demo estate, which has every service, plus cheap
filler: EBS volumes, log groups, DynamoDB tables, S3 buckets), inventories it both ways,
checks every resource was found, and prints wall time and API calls per resource.

Then the same comparison with an injected latency of 50 ms before every request
(``AwsSession(latency=0.05)``, modelling real AWS round trips), on one Region of the
estate (2,500 resources) so that the sequential run stays within a couple of minutes.

    .venv/bin/python bench/bench_inventory.py [--resources 10000]
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from runbook_lib.inventory import SERVICES, discover
from runbook_lib.inventory.backup import collect
from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import Scope
from runbook_lib.inventory.report import build
from runbook_lib.params import load_params, validate_params
from runbook_lib.session import AwsSession
from runbook_sandbox.seed import demo_estate
from runbook_sandbox.server import running_sandbox

REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]
LATENCY = 0.05
# filler per scope, as shares of what is left after the demo estate
MIX = {"logs": 0.12, "dynamodb": 0.10, "s3": 0.03}  # the rest: EBS volumes


def bench_params(regions: list[str]):
    data = load_params("sandbox").model_dump(mode="json", exclude={"source"})
    data["accounts"] = [a for a in data["accounts"] if a["kind"] == "workload"]
    data["regions"] = regions
    for tier in data["tiers"].values():  # copy targets must stay inside the estate
        tier.pop("copy_account", None)
    return validate_params(data)


def build_filler(session: AwsSession, total: int) -> set[tuple[str, str, str, str]]:
    """Create filler resources (concurrently, one thread per scope); returns their keys."""
    params = session.params
    scopes = list(session.scopes())
    per_scope = total // len(scopes)
    extra = total - per_scope * len(scopes)
    tiers = list(params.tiers)

    def fill(i_scope: int, account: str, region: str) -> set:
        n = per_scope + (1 if i_scope < extra else 0)
        counts = {svc: int(n * share) for svc, share in MIX.items()}
        counts["ebs"] = n - sum(counts.values())
        made = set()
        ec2, logs = session.client("ec2", account, region), session.client("logs", account, region)
        ddb, s3 = session.client("dynamodb", account, region), session.client("s3", account, region)
        for i in range(counts["ebs"]):
            name = f"bench-vol-{i:05d}"
            tags = [{"Key": "Name", "Value": name}, {"Key": "backup-tier", "Value": tiers[i % 3]}]
            ec2.create_volume(
                AvailabilityZone=f"{region}a",
                Size=1,
                TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
            )
            made.add((account, region, "ebs", name))
        for i in range(counts["logs"]):
            name = f"/bench/app-{i:05d}"
            logs.create_log_group(logGroupName=name, tags={"backup-tier": tiers[i % 3]})
            made.add((account, region, "logs", name))
        for i in range(counts["dynamodb"]):
            name = f"bench-table-{i:05d}"
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": "backup-tier", "Value": tiers[i % 3]}],
            )
            made.add((account, region, "dynamodb", name))
        for i in range(counts["s3"]):
            name = f"bench-{account}-{region}-{i:05d}"
            kwargs = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=name, **kwargs)
            made.add((account, region, "s3", name))
        return made

    with ThreadPoolExecutor(len(scopes)) as pool:
        parts = pool.map(lambda x: fill(x[0], *x[1]), enumerate(scopes))
        return set().union(*parts)


def sequential(session: AwsSession):
    """The straightforward way: one loop over accounts, services, Regions and resources."""
    params, keys, found, backups = session.params, KeyResolver(session), [], []
    for account in params.account_ids:
        session.session_for(account)
        for svc in SERVICES.values():
            for region in [params.regions[0]] if svc.per_account else params.regions:
                scope = Scope(session, account, region, keys)
                items, extras = svc.list(scope), svc.extras(scope)
                for item in items:
                    f = svc.describe(scope, item, extras)
                    if f is not None:
                        found.append(f)
        for region in params.regions:
            backups.append(collect(Scope(session, account, region, keys)))
    return build(params, found, backups, [], datetime.now(UTC))


def measure(label: str, params, url: str, expected: set, latency: float = 0.0) -> dict:
    out = {}
    for way in ("sequential", "concurrent"):
        session = AwsSession(params, endpoint_url=url, latency=latency)
        t0 = time.perf_counter()
        inv = sequential(session) if way == "sequential" else discover(session, progress=False)
        seconds = time.perf_counter() - t0
        got = set(map(tuple, inv.resources[["account", "region", "service", "name"]].values))
        missing = expected - got
        assert not missing, f"{way}: {len(missing)} resources not found, e.g. {sorted(missing)[:3]}"
        assert inv.errors.empty, inv.errors
        calls = session.counter.total
        out[way] = (seconds, calls, len(got))
        print(
            f"  {label:<34} {way:<10} {seconds:8.1f} s  {calls:6d} calls  "
            f"{calls / len(got):5.2f} calls/resource  ({len(got)} resources)"
        )
    (ts, tc, _), (cs, cc, _) = out["sequential"], out["concurrent"]
    print(f"  {label:<34} speed-up {ts / cs:4.1f}x, calls concurrent/sequential {cc / tc:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--resources", type=int, default=10_000)
    args = ap.parse_args()
    logging.getLogger("runbook_lib").setLevel(logging.ERROR)
    params = bench_params(REGIONS)
    with running_sandbox("sandbox") as url:  # its own process, seeded with the demo estate
        demo = {
            (d.account, d.region, d.service, d.name)
            for d in demo_estate(load_params("sandbox"))
            if d.account in params.account_ids
        }
        t0 = time.perf_counter()
        filler = build_filler(AwsSession(params, endpoint_url=url), args.resources - len(demo))
        expected = demo | filler
        print(
            f"estate: {len(expected)} resources in {len(params.account_ids)} accounts x "
            f"{len(params.regions)} Regions, built in {time.perf_counter() - t0:.0f} s "
            f"(sandbox server in its own process, max_workers={params.target.max_workers})"
        )
        measure("full estate, no added latency", params, url, expected)
        one = bench_params(REGIONS[:1])
        subset = {k for k in expected if k[1] == REGIONS[0]}
        measure(
            f"{REGIONS[0]} only, {LATENCY * 1000:.0f} ms latency/call", one, url, subset, LATENCY
        )


if __name__ == "__main__":
    main()
