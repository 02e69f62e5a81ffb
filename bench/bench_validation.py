"""Validation throughput: fingerprinting a restored copy against a plain read of the same data.

Against a sandbox server running as its own process: a DynamoDB table of N items and an S3
bucket of M objects are backed up with AWS Backup (the sandbox extension), restored into
scratch copies, then read twice each way, alternating:

* plain read: parallel scan segments (DynamoDB) / list + concurrent GETs (S3), nothing else;
* validation: the restore test's own ``validate`` (the same reads, plus hashing every record,
  canary detection, fingerprint comparison with the one recorded at backup time, metadata).

Prints records/s for both, their ratio (aim: validation >= 80% of the plain read) and API
calls per record. Usage: ``python bench/bench_validation.py [--items 200000] [--objects 20000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

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


def plain_scan(session, table: str, workers: int) -> int:
    ddb = session.client("dynamodb", ACCOUNT, REGION)

    def segment(seg: int) -> int:
        n, kwargs = 0, {"TableName": table, "Segment": seg, "TotalSegments": workers}
        while True:
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
    with ThreadPoolExecutor(workers) as pool:
        return sum(
            pool.map(lambda k: len(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) >= 0, keys)
        )


def bench_one(ctx, service: str, arn: str, fingerprint, n: int, rounds: int) -> None:
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
    for _ in range(rounds):
        c0 = session.counter.total
        t = time.perf_counter()
        got = (
            plain_scan(session, restored.name, workers)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--objects", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    logging.getLogger("runbook_lib").setLevel(logging.WARNING)
    params = load_params("sandbox")
    with running_sandbox(None) as url, tempfile.TemporaryDirectory() as ledger:
        session = AwsSession(params, endpoint_url=url)
        ctx = RunContext(params, session, Ledger(ledger), "bench", utcnow())
        workers = params.target.max_workers
        print(f"sandbox server process at {url}; {workers} workers")

        if args.items:
            bench_dynamodb(ctx, args, workers)
        if args.objects:
            bench_s3(ctx, args, workers)


def bench_dynamodb(ctx, args, workers: int) -> None:
    session = ctx.session
    t = time.perf_counter()
    arn = seed_table(session, "bench-orders", args.items, workers)
    print(f"seeded {args.items:,} items in {time.perf_counter() - t:.1f} s")
    # the fingerprint "recorded at backup time": computed from what was written, client-side
    fp = fingerprint_dynamodb_items(
        (demo_item(i) for i in range(args.items)), ["pk", "sk"], keep_keys=False
    )
    bench_one(ctx, "dynamodb", arn, fp, args.items, args.rounds)


def bench_s3(ctx, args, workers: int) -> None:
    session = ctx.session
    t = time.perf_counter()
    arn = seed_bucket(session, "bench-assets", args.objects, workers)
    print(f"\nseeded {args.objects:,} objects in {time.perf_counter() - t:.1f} s")
    objs = (
        (demo_key(i), len(demo_body(i)), hashlib.sha256(demo_body(i)).hexdigest())
        for i in range(args.objects)
    )
    bench_one(
        ctx, "s3", arn, fingerprint_s3_objects(objs, keep_keys=False), args.objects, args.rounds
    )


if __name__ == "__main__":
    main()
