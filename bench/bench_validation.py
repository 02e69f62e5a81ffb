"""Validation throughput: fingerprinting a restored copy against a plain read of the same data.

Against a sandbox server running as its own process: a DynamoDB table of N items and an S3
bucket of M objects are backed up with AWS Backup (the sandbox extension), restored into
scratch copies, then read twice each way, alternating:

* plain read: parallel scan segments (DynamoDB) / list + concurrent GETs (S3), nothing else;
* validation: the restore test's own ``validate`` (the same reads, plus hashing every record,
  canary detection, fingerprint comparison with the one recorded at backup time, metadata).

Prints records/s for both, their ratio (aim: validation >= 80% of the plain read) and API
calls per record.

It finishes on a slow machine too: it sets its own client time-outs (``--read-timeout``,
default 600 s, instead of the session's 60 s, and no retry of a call that timed out; the
plain scan can page in smaller pages with ``--page-items``, each call then shorter), keeps
to a time budget (``--budget``, default 20 minutes, 40 with ``--full``: no new round starts
when the last one would not fit, and a plain read past it stops), and when a part cannot be
measured it says why and goes on. Measured with ``--full`` on a 2-core machine busy with
other work (load average about 10): 25 minutes in all, seeding included. The default size
is small (20,000 items, 2,000 objects); ``--full`` is the 200,000 items and 20,000 objects
of the original measurement.

    .venv/bin/python bench/bench_validation.py [--full] [--items N] [--objects N] [--rounds N]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from botocore.config import Config
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import ReadTimeoutError

from runbook_lib.context import RunContext
from runbook_lib.fingerprint import fingerprint_dynamodb_items, fingerprint_s3_objects
from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
from runbook_lib.restore.recorded import BackupRecords
from runbook_lib.restore.registry import RESTORERS, get_handler
from runbook_lib.restore.run import resource_ref
from runbook_lib.restore.validate import validate
from runbook_lib.session import AwsSession, utcnow
from runbook_sandbox.server import running_sandbox

ACCOUNT, REGION = "111111111111", "eu-west-1"
SMALL, FULL = (20_000, 2_000), (200_000, 20_000)
PAGE_ITEMS = 0  # --page-items
BUDGET: Budget | None = None


class OutOfTime(Exception):
    """The bench's time budget would be exceeded by another round."""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def check(self, next_takes: float, what: str) -> None:
        if next_takes > self.left() and not next_takes:
            raise OutOfTime(f"{what} not started: the {self.seconds:.0f} s budget is spent")
        if next_takes > self.left():
            raise OutOfTime(
                f"{what} would take about {next_takes:.0f} s, {max(self.left(), 0):.0f} s of "
                f"the {self.seconds:.0f} s budget left"
            )


def demo_item(i: int) -> dict:
    return {
        "pk": {"S": f"order#{i:07d}"}, "sk": {"S": "v1"}, "customer": {"S": f"c-{i % 9973:05d}"},
        "amount": {"N": str(i % 100000)}, "status": {"S": ("new", "paid", "shipped")[i % 3]},
    }  # fmt: skip


def demo_body(i: int) -> bytes:
    return (f'{{"i": {i}, "pad": "' + "x" * (i % 200) + '"}').encode()


def demo_key(i: int) -> str:
    return f"data/{i // 500:03d}/obj-{i:06d}.json"


def seed_table(session, name: str, n: int, workers: int) -> str:
    ddb = session.client("dynamodb", ACCOUNT, REGION)
    arn = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    )["TableDescription"]["TableArn"]  # fmt: skip

    def batch(start: int) -> None:
        items = [{"PutRequest": {"Item": demo_item(i)}} for i in range(start, min(start + 25, n))]
        ddb.batch_write_item(RequestItems={name: items})

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(batch, range(0, n, 25)))
    return arn


def seed_bucket(session, name: str, n: int, workers: int) -> str:
    s3 = session.client("s3", ACCOUNT, REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    with ThreadPoolExecutor(workers) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(Bucket=name, Key=demo_key(i), Body=demo_body(i)), range(n)
            )
        )
    return f"arn:aws:s3:::{name}"


def aws_backup(session, arn: str) -> str:
    backup = session.client("backup", ACCOUNT, REGION)
    try:
        backup.create_backup_vault(BackupVaultName="bench")
    except backup.exceptions.AlreadyExistsException:
        pass
    job = backup.start_backup_job(BackupVaultName="bench", ResourceArn=arn,
                                  IamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole")  # fmt: skip
    while True:
        d = backup.describe_backup_job(BackupJobId=job["BackupJobId"])
        if d["State"] == "COMPLETED":
            return d["RecoveryPointArn"]
        if d["State"] in ("FAILED", "ABORTED", "EXPIRED"):
            raise RuntimeError(d)
        time.sleep(0.2)


def out_of_time(what: str) -> None:
    if BUDGET is not None and BUDGET.left() <= 0:
        raise OutOfTime(f"{what} ran past the {BUDGET.seconds:.0f} s budget")


def plain_scan(session, table: str, workers: int, page_items: int = 0) -> int:
    """Parallel scan segments, page after page (``page_items`` per page, or DynamoDB's own
    1 MB pages as the validation reads them when 0)."""
    ddb = session.client("dynamodb", ACCOUNT, REGION)

    def segment(seg: int) -> int:
        n, kwargs = 0, {"TableName": table, "Segment": seg, "TotalSegments": workers}
        if page_items:
            kwargs["Limit"] = page_items
        while True:
            out_of_time("the plain scan")
            page = ddb.scan(**kwargs)
            n += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return n
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(segment, range(workers)))


def plain_get(session, bucket: str, workers: int) -> int:
    s3 = session.client("s3", ACCOUNT, REGION)
    keys = [
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in p.get("Contents", [])
    ]

    def get(key: str) -> bool:
        out_of_time("the plain read")
        return len(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) >= 0

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(get, keys))


def bench_one(ctx, service: str, arn: str, fingerprint, n: int, rounds: int, budget: Budget) -> str:
    session, workers = ctx.session, ctx.params.target.max_workers
    ref = resource_ref(session, arn, tier="gold")
    rp_arn = aws_backup(session, arn)
    ctx.ledger.append("backups", [{"resource_arn": arn, "recovery_point_arn": rp_arn, "status": "COMPLETED",
                                   "fingerprint_kind": fingerprint.kind, "fingerprint_count": fingerprint.count,
                                   "fingerprint_digest": fingerprint.hexdigest}], "bench")  # fmt: skip
    from runbook_lib.restore.run import find_recovery_points

    rp = next(p for p in find_recovery_points(session, ref, ["aws-backup"])[0] if p.id == rp_arn)
    handler = get_handler(service)
    t0 = time.perf_counter()
    restored = RESTORERS[(service, "aws-backup")](session, rp, ref, f"bench-restored-{service}", {})
    handler.wait(session, restored)
    restore_s = time.perf_counter() - t0
    recorded = BackupRecords(ctx.ledger).lookup(rp)
    plain, valid, verdict = [], [], None
    calls_plain = calls_valid = 0
    for i in range(rounds):
        if i:  # a round is a plain read and a validation, as long as the last one
            budget.check(plain[-1] + valid[-1], f"round {i + 1}")
        c0 = session.counter.total
        t = time.perf_counter()
        got = (
            plain_scan(session, restored.name, workers, PAGE_ITEMS)
            if service == "dynamodb"
            else plain_get(session, restored.name, workers)
        )
        plain.append(time.perf_counter() - t)
        calls_plain = session.counter.total - c0
        assert got == n, (got, n)
        c0 = session.counter.total
        t = time.perf_counter()
        v = validate(session, handler, ref, rp, restored, recorded, {}, workers=workers)
        valid.append(time.perf_counter() - t)
        calls_valid = session.counter.total - c0
        verdict = v.verdict
    handler.delete(session, restored)
    p, w = min(plain), min(valid)
    unit = "items" if service == "dynamodb" else "objects"
    print(
        f"\n{service}: {n:,} {unit}, restore {restore_s:.1f} s, verdict {verdict}, {workers} workers, best of {rounds}"
    )
    print(
        f"  plain read : {p:7.2f} s  {n / p:10,.0f} {unit}/s  {calls_plain / n:.4f} calls/{unit[:-1]}"
    )
    print(
        f"  validation : {w:7.2f} s  {n / w:10,.0f} {unit}/s  {calls_valid / n:.4f} calls/{unit[:-1]}"
    )
    print(f"  validation / plain throughput: {p / w:.0%}  (aim >= 80%)")
    return (
        f"{service}: validation / plain throughput {p / w:.0%} ({n:,} {unit}, best of {len(plain)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--items", type=int, default=None, help=f"DynamoDB items (default {SMALL[0]:,})"
    )
    ap.add_argument("--objects", type=int, default=None, help=f"S3 objects (default {SMALL[1]:,})")
    ap.add_argument(
        "--full", action="store_true", help=f"{FULL[0]:,} items and {FULL[1]:,} objects"
    )
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--read-timeout", type=float, default=600.0, help="seconds per API call")
    ap.add_argument("--page-items", type=int, default=0,
                    help="items per page of the plain scan (default: DynamoDB's 1 MB pages)")  # fmt: skip
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole bench (default 1200, with --full 2400)")  # fmt: skip
    args = ap.parse_args()
    size = FULL if args.full else SMALL
    args.items = size[0] if args.items is None else args.items
    args.objects = size[1] if args.objects is None else args.objects
    args.budget = args.budget or (2400.0 if args.full else 1200.0)
    budget = Budget(args.budget)
    global PAGE_ITEMS, BUDGET
    PAGE_ITEMS, BUDGET = args.page_items, budget
    logging.getLogger("runbook_lib").setLevel(logging.WARNING)
    params = load_params("sandbox")
    with running_sandbox(None) as url, tempfile.TemporaryDirectory() as ledger:
        session = AwsSession(params, endpoint_url=url)
        # its own time-outs: a slow sandbox answers late rather than never; a call that timed
        # out is not sent again (it would only time out again)
        own = Config(
            read_timeout=args.read_timeout, retries={"mode": "standard", "max_attempts": 1}
        )
        session.config = session.config.merge(own)
        ctx = RunContext(params, session, Ledger(ledger), "bench", utcnow())
        workers = params.target.max_workers
        print(f"sandbox server process at {url}; {workers} workers; read time-out "
              f"{args.read_timeout:.0f} s; budget {args.budget:.0f} s")  # fmt: skip
        results = []
        for name, n, run in (
            ("dynamodb", args.items, bench_dynamodb),
            ("s3", args.objects, bench_s3),
        ):
            if not n:
                continue
            try:
                budget.check(0, name)
                results.append(run(ctx, args, workers, budget))
            except (OutOfTime, ReadTimeoutError, BotoConnectionError) as err:
                why = f"{type(err).__name__}: {err}"
                results.append(f"{name}: no ratio: could not be measured ({why})")
                print(f"\n{results[-1]}")
        print("\nsummary")
        for line in results:
            print(f"  {line}")


def bench_dynamodb(ctx, args, workers: int, budget: Budget) -> str:
    session = ctx.session
    t = time.perf_counter()
    arn = seed_table(session, "bench-orders", args.items, workers)
    print(f"seeded {args.items:,} items in {time.perf_counter() - t:.1f} s")
    # the fingerprint "recorded at backup time": computed from what was written, client-side
    fp = fingerprint_dynamodb_items(
        (demo_item(i) for i in range(args.items)), ["pk", "sk"], keep_keys=False
    )
    return bench_one(ctx, "dynamodb", arn, fp, args.items, args.rounds, budget)


def bench_s3(ctx, args, workers: int, budget: Budget) -> str:
    session = ctx.session
    t = time.perf_counter()
    arn = seed_bucket(session, "bench-assets", args.objects, workers)
    print(f"\nseeded {args.objects:,} objects in {time.perf_counter() - t:.1f} s")
    objs = (
        (demo_key(i), len(demo_body(i)), hashlib.sha256(demo_body(i)).hexdigest())
        for i in range(args.objects)
    )
    fp = fingerprint_s3_objects(objs, keep_keys=False)
    return bench_one(ctx, "s3", arn, fp, args.objects, args.rounds, budget)


if __name__ == "__main__":
    main()
