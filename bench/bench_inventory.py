"""Inventory benchmark: concurrent discovery vs a plain sequential loop making the same calls.

Builds an estate of 10,000 data resources across 2 accounts x 4 Regions on a sandbox
server running as its own process (the demo estate, which has every service, plus cheap
filler: EBS volumes, log groups, DynamoDB tables, S3 buckets), inventories it both ways,
checks every resource was found, and prints wall time and API calls per resource, in total
and by inventory service (the sequential loop charges each call to the service it was made
for; the batched tag read, AWS Backup and the accounts' roles are shared reads).

Then the same comparison with an injected latency of 50 ms before every request
(``AwsSession(latency=0.05)``, modelling real AWS round trips), on one Region of the
estate (2,500 resources) so that the sequential run stays within a couple of minutes;
``--workers 16`` also runs the concurrent side with that ``max_workers``.

    .venv/bin/python bench/bench_inventory.py [--resources 10000] [--workers 16] [--skip-full]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from runbook_lib.inventory import SERVICES, discover
from runbook_lib.inventory.backup import collect
from runbook_lib.inventory.keys import KeyResolver
from runbook_lib.inventory.model import Scope
from runbook_lib.inventory.reads import Reads
from runbook_lib.inventory.report import build
from runbook_lib.params import load_params, validate_params
from runbook_lib.session import AwsSession, CallCounter
from runbook_sandbox.seed import HISTORY_ENV, demo_estate
from runbook_sandbox.server import running_sandbox

# the estate as seeded, without the day of history a sandbox gets by default
os.environ.setdefault(HISTORY_ENV, "off")

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


class Charged(CallCounter):
    """A call counter that also charges each call to what the sequential loop is doing
    (an inventory service, or a shared read); one thread sets ``label`` at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.label = "accounts"
        self.charged: Counter[str] = Counter()

    def add(self, service: str, operation: str) -> None:
        super().add(service, operation)
        self.charged[self.label] += 1


def sequential(session: AwsSession):
    """The straightforward way: one loop over accounts, services, Regions and resources,
    making the calls discover makes (the same shared reads), each charged to the service
    (or shared read) it was made for."""
    params, keys, found, backups = session.params, KeyResolver(session), [], []
    reads = Reads(session, SERVICES.values())
    counter = session.counter
    for account in params.account_ids:
        counter.label = "accounts"
        session.session_for(account)
        counter.label = "tags in batches (shared)"
        for region in params.regions:
            reads.load_tags(account, region)
        for svc in SERVICES.values():
            counter.label = svc.name
            for region in params.regions:
                scope = Scope(session, account, region, keys, reads)
                items, extras = svc.list(scope), svc.extras(scope)
                for item in items:
                    f = svc.read(scope, item, extras)
                    if f is not None:
                        found.append(f)
        counter.label = "aws backup (shared)"
        for region in params.regions:
            backups.append(collect(Scope(session, account, region, keys)))
    assert not reads.failures, reads.failures
    return build(params, found, backups, [], datetime.now(UTC))


def print_by_service(label: str, charged: Counter, resources: Counter) -> None:
    """API calls per resource by inventory service (shared reads: calls only)."""
    for name in sorted(set(charged) | set(resources)):
        calls, n = charged.get(name, 0), resources.get(name, 0)
        per = f"{calls / n:5.2f} calls/resource" if n else "  (shared read)     "
        print(f"  {label:<34}   {name:<22} {calls:6d} calls  {per}  ({n} resources)")


def measure(
    label: str, params, url: str, expected: set, latency: float = 0.0, workers: tuple = (None,)
) -> dict:
    """The sequential loop once, then ``discover`` with each of ``workers`` (None: the
    params' ``target.max_workers``); every run must find every resource, without errors."""
    out = {}
    runs = [("sequential", None)] + [("concurrent", w) for w in workers]
    for way, max_workers in runs:
        counter = Charged() if way == "sequential" else CallCounter()
        session = AwsSession(params, endpoint_url=url, latency=latency, counter=counter)
        t0 = time.perf_counter()
        if way == "sequential":
            inv = sequential(session)
        else:
            inv = discover(session, progress=False, max_workers=max_workers)
        seconds = time.perf_counter() - t0
        got = set(map(tuple, inv.resources[["account", "region", "service", "name"]].values))
        missing = expected - got
        assert not missing, f"{way}: {len(missing)} resources not found, e.g. {sorted(missing)[:3]}"
        assert inv.errors.empty, inv.errors
        calls = session.counter.total
        way = f"{way} ({max_workers} workers)" if max_workers else way
        out[way] = (seconds, calls, len(got))
        print(
            f"  {label:<34} {way:<10} {seconds:8.1f} s  {calls:6d} calls  "
            f"{calls / len(got):5.2f} calls/resource  ({len(got)} resources)"
        )
        if way == "sequential":
            print_by_service(label, counter.charged, Counter(inv.resources.service))
    ts, tc, _ = out["sequential"]
    for way, (cs, cc, _) in out.items():
        if way != "sequential":
            print(
                f"  {label:<34} {way}: speed-up {ts / cs:4.1f}x, "
                f"calls concurrent/sequential {cc / tc:.2f}"
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[],
        help="also run the latency comparison's concurrent discovery with these max_workers",
    )
    ap.add_argument(
        "--skip-full",
        action="store_true",
        help="skip the full-estate comparison without added latency (the estate is still built)",
    )
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
        if not args.skip_full:
            measure("full estate, no added latency", params, url, expected)
        one = bench_params(REGIONS[:1])
        subset = {k for k in expected if k[1] == REGIONS[0]}
        label = f"{REGIONS[0]} only, {LATENCY * 1000:.0f} ms latency/call"
        measure(label, one, url, subset, LATENCY, (None, *args.workers))


if __name__ == "__main__":
    main()
