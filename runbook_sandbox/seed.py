"""The demo estate: every service in scope, real data where moto holds data, and gaps.

``demo_estate(params)`` is a pure function returning what seeding creates (the ground
truth tests compare the inventory against); ``seed_demo_estate(session)`` creates it
through the same session layer the runbooks use. Accounts, Regions and tier names come
from the params: the first Region is the primary, the second (if any) the DR Region; tiers
are ranked by RPO (strictest first).

Deliberate gaps: unencrypted resources, untagged (unclassified) resources, a table
without point-in-time recovery, an unversioned bucket, a database with short retention,
a cache without snapshots, a log group that never expires and is never exported. One EBS
volume is protected by a Data Lifecycle Manager snapshot policy rather than AWS Backup.

**A past.** ``ensure_seeded`` then gives the estate a history (:func:`live_through`,
``RUNBOOK_SANDBOX_HISTORY``, default ``1d``; ``0`` or ``off`` for none): the protect flow's
plan for the params is applied (as an approved protect run would: AWS Backup vaults, plans
and selections, point-in-time recovery, versioning, log export schedules...; the changes a
person must make, such as encrypting an unencrypted volume, stay gaps) and the sandbox clock
is moved forward by that long, so the plans have fired and recovery points with real data,
copies and log exports exist when the first notebook runs. That set-up is the sandbox's own:
it is recorded in no ledger of yours. The tests keep the history off (``tests/conftest.py``)
so that they see the gaps.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from runbook_lib.params import Params

MARKER = "/runbook-sandbox/seeded"
HISTORY_ENV = "RUNBOOK_SANDBOX_HISTORY"
DEFAULT_HISTORY = "1d"  # every tier's rule (hourly to daily) fires at least once
OWNER = "Équipe données / SRE (on-call: +44 20 7946 0000)"  # unusual characters on purpose


@dataclass(frozen=True)
class DemoResource:
    account: str
    region: str
    service: str  # ebs, rds, aurora, neptune, dynamodb, efs, s3, elasticache, opensearch, logs
    name: str
    tier: str | None  # the tier tag seeded, None = untagged
    reproducible_from: str | None = None
    encrypted: bool = True
    cmk: bool = True
    facts: dict[str, Any] = field(default_factory=dict)  # pitr, versioned, retention_days, items...

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def tier_names(params: Params) -> tuple[str, str, str]:
    """(strictest, middle, loosest) tier names, by RPO."""
    ranked = sorted(params.tiers, key=lambda t: (params.tiers[t].rpo, t))
    return ranked[0], ranked[len(ranked) // 2], ranked[-1]


def demo_estate(params: Params) -> list[DemoResource]:
    gold, silver, bronze = tier_names(params)
    primary = params.regions[0]
    dr = params.regions[1] if len(params.regions) > 1 else primary
    workloads = params.workload_accounts or params.account_ids
    a = workloads[0]
    b = workloads[1] if len(workloads) > 1 else a
    R = DemoResource
    out = [
        # ---- account A, primary Region: the busy shop
        R(a, primary, "dynamodb", "orders", gold, facts={"pitr": True, "items": 3000}),
        R(a, primary, "dynamodb", "carts", silver, cmk=False, facts={"pitr": False, "items": 800}),
        R(
            a,
            primary,
            "dynamodb",
            "sessions.v2",
            None,
            cmk=False,
            facts={"pitr": False, "items": 150},
        ),
        R(
            a,
            primary,
            "s3",
            f"shop-assets-{a}-{primary}",
            gold,
            facts={"versioned": True, "objects": 300, "overwrites": 40, "deletes": 20},
        ),
        R(
            a,
            primary,
            "s3",
            f"shop-exports-{a}-{primary}",
            bronze,
            cmk=False,
            facts={"versioned": False, "objects": 60},
        ),
        R(a, primary, "ebs", "shop-web-data", gold, facts={"size_gib": 20}),
        R(
            a,
            primary,
            "ebs",
            "shop-build-cache",
            None,
            encrypted=False,
            cmk=False,
            facts={"size_gib": 8},
        ),
        R(a, primary, "rds", "shop-db", gold, facts={"retention_days": 7, "engine": "postgres"}),
        R(
            a,
            primary,
            "rds",
            "shop-reporting",
            silver,
            encrypted=False,
            cmk=False,
            facts={"retention_days": 1, "engine": "mysql"},
        ),
        R(a, primary, "aurora", "catalog-aurora", gold, facts={"retention_days": 14}),
        R(a, primary, "efs", "shop-media", silver, facts={"backup_policy": True}),
        R(
            a,
            primary,
            "efs",
            "shop-scratch",
            None,
            encrypted=False,
            cmk=False,
            facts={"backup_policy": False},
        ),
        R(
            a,
            primary,
            "elasticache",
            "shop-sessions-cache",
            bronze,
            cmk=False,
            facts={"snapshot_retention": 0},
        ),
        R(a, primary, "opensearch", "shop-search", silver, facts={"snapshot_hour": 3}),
        R(
            a,
            primary,
            "logs",
            "/shop/app",
            silver,
            cmk=False,
            facts={"retention_days": 30, "events": 200},
        ),
        R(
            a,
            primary,
            "logs",
            "/shop/audit trail",
            None,
            cmk=False,
            facts={"retention_days": None, "events": 50},
        ),
        # ---- account A, DR Region
        R(
            a,
            dr,
            "dynamodb",
            "orders-dr-index",
            bronze,
            reproducible_from="dynamodb://orders",
            cmk=False,
            facts={"pitr": False, "items": 100},
        ),
        R(
            a,
            dr,
            "ebs",
            "shop-dr-standby",
            silver,
            facts={"size_gib": 10, "dlm": {"every_hours": 12, "keep_days": 14}},
        ),
        # ---- account B: analytics
        R(b, primary, "dynamodb", "feature-store", silver, facts={"pitr": True, "items": 1200}),
        R(
            b,
            primary,
            "s3",
            f"analytics-raw-{b}-{primary}",
            None,
            encrypted=True,
            cmk=False,
            facts={"versioned": False, "objects": 120},
        ),
        R(
            b,
            primary,
            "s3",
            f"analytics-curated-{b}-{primary}",
            bronze,
            reproducible_from=f"s3://analytics-raw-{b}-{primary}",
            cmk=False,
            facts={"versioned": False, "objects": 40},
        ),
        R(b, primary, "neptune", "lineage-graph", silver, facts={"retention_days": 7}),
        R(
            b,
            primary,
            "elasticache",
            "feature-cache",
            None,
            cmk=False,
            facts={"snapshot_retention": 1},
        ),
        R(
            b,
            primary,
            "logs",
            "/analytics/jobs",
            bronze,
            cmk=False,
            facts={"retention_days": 14, "events": 120},
        ),
        R(
            b,
            dr,
            "rds",
            "warehouse-replica",
            silver,
            facts={"retention_days": 7, "engine": "postgres"},
        ),
    ]
    return out


# ----------------------------------------------------------------------------- seeding


def is_seeded(session) -> dict | None:
    ssm = session.client("ssm", session.params.account_ids[0], session.params.regions[0])
    try:
        return json.loads(ssm.get_parameter(Name=MARKER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def ensure_seeded(params: Params, url: str, history: str | None = None) -> None:
    """Seed the demo estate into the sandbox at ``url`` unless it is there, then give it
    ``history`` of past (default: ``RUNBOOK_SANDBOX_HISTORY``, else ``DEFAULT_HISTORY``)."""
    from runbook_lib.session import AwsSession

    duration = history_duration(history)  # a bad value is an error before any change
    session = AwsSession(params, endpoint_url=url)
    if is_seeded(session) is None:
        seed_demo_estate(session)
        if duration is not None:
            live_through(session, duration)


def history_duration(value: str | None = None):
    """The history to give a fresh estate: a duration (``1d``, ``36h``...) or None for
    none (``0``, ``off``, ``no``); ``value`` None reads ``RUNBOOK_SANDBOX_HISTORY``.
    ClockError naming the setting and what is allowed otherwise."""
    import os

    from runbook_sandbox.clock import ClockError, parse_duration

    text = os.environ.get(HISTORY_ENV, DEFAULT_HISTORY) if value is None else value
    if str(text).strip().lower() in ("", "0", "off", "no", "none", "false"):
        return None
    try:
        return parse_duration(text)
    except ClockError as err:
        raise ClockError(
            f"{HISTORY_ENV} (the seeded estate's history): {err}; or 0 / off"
        ) from None


def live_through(session, duration):
    """Protect the estate as an approved protect run would, then move the sandbox clock
    forward by ``duration`` (AWS Backup plans fire, copies land, log exports run...).
    Runs in the process that runs the sandbox (``ensure_seeded`` is called there), whose
    clock moves.
    Returns the clock's :class:`~runbook_sandbox.clock.Advance`. The protect run's rows
    go to a throwaway ledger: this is the sandbox's set-up, not evidence of yours."""
    import logging
    import tempfile

    from runbook_lib import protect
    from runbook_lib.context import RunContext
    from runbook_lib.ledger import Ledger
    from runbook_lib.session import utcnow
    from runbook_sandbox import clock

    log = logging.getLogger("runbook_sandbox")
    with tempfile.TemporaryDirectory(prefix="sandbox-history-") as folder:
        ctx = RunContext(session.params, session, Ledger(folder), "sandbox-history", utcnow())
        plan = protect.plan(ctx)
        rows = protect.apply(ctx, plan, approve=True)
    done = clock.advance(duration)  # this process runs the sandbox (serve, ensure_sandbox)
    applied = int((rows.status == "APPLIED").sum()) if len(rows) else 0
    log.info(
        "sandbox history: %d protect change(s) applied, then %s of sandbox time: %d event(s)",
        applied,
        duration,
        len(done.events),
    )
    return done


def seed_demo_estate(session) -> list[DemoResource]:
    """Create the demo estate; returns what was created. Deterministic for a seed."""
    params = session.params
    rng = random.Random(params.target.seed)
    estate = demo_estate(params)
    keys: dict[tuple[str, str], str] = {}

    def cmk(account: str, region: str) -> str:
        if (account, region) not in keys:
            kms = session.client("kms", account, region)
            key = kms.create_key(
                Description="demo data key", Tags=[{"TagKey": "purpose", "TagValue": "data"}]
            )
            arn = key["KeyMetadata"]["Arn"]
            kms.enable_key_rotation(KeyId=arn)
            kms.create_alias(AliasName="alias/demo-data", TargetKeyId=arn)
            keys[(account, region)] = arn
        return keys[(account, region)]

    for res in estate:
        key = cmk(res.account, res.region) if res.cmk else None
        tags = {"owner": OWNER, "app": res.name.split("-")[0].strip("/")}
        if res.tier:
            tags[params.tag_keys.tier] = res.tier
        if res.reproducible_from:
            tags[params.tag_keys.reproducible] = res.reproducible_from
        SEEDERS[res.service](session, res, key, tags, rng)

    ssm = session.client("ssm", params.account_ids[0], params.regions[0])
    ssm.put_parameter(
        Name=MARKER,
        Type="String",
        Overwrite=True,
        Value=json.dumps({"seed": params.target.seed, "resources": len(estate)}),
    )
    return estate


def _tag_list(tags: dict[str, str], k: str = "Key", v: str = "Value") -> list[dict[str, str]]:
    return [{k: key, v: val} for key, val in tags.items()]


def demo_item(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"order#{i:06d}"},
        "sk": {"S": "v1"},
        "customer": {"S": f"customer-{rng.randrange(10_000):05d}"},
        "amount": {"N": str(rng.randrange(100, 100_000) / 100)},
        "status": {"S": rng.choice(["new", "paid", "shipped", "returned"])},
    }


def _dynamodb(session, res: DemoResource, key, tags, rng) -> None:
    ddb = session.client("dynamodb", res.account, res.region)
    kwargs: dict[str, Any] = {}
    if key:
        kwargs["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    ddb.create_table(
        TableName=res.name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=_tag_list(tags),
        **kwargs,
    )
    items = [demo_item(rng, i) for i in range(res.facts["items"])]
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={res.name: batch})
    if res.facts.get("pitr"):
        ddb.update_continuous_backups(
            TableName=res.name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def _s3(session, res: DemoResource, key, tags, rng) -> None:
    s3 = session.client("s3", res.account, res.region)
    s3.create_bucket(
        Bucket=res.name,
        # us-east-1 takes no LocationConstraint (AWS and moto refuse one)
        **(
            {}
            if res.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": res.region}}
        ),
    )
    s3.put_bucket_tagging(Bucket=res.name, Tagging={"TagSet": _tag_list(tags)})
    if key:
        s3.put_bucket_encryption(
            Bucket=res.name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    if res.facts.get("versioned"):
        s3.put_bucket_versioning(Bucket=res.name, VersioningConfiguration={"Status": "Enabled"})
    n = res.facts["objects"]
    names = [f"data/{i // 50:02d}/object-{i:05d} ü+ß.json" for i in range(n)]
    for name in names:
        s3.put_object(Bucket=res.name, Key=name, Body=_body(rng, name))
    for name in names[: res.facts.get("overwrites", 0)]:
        s3.put_object(Bucket=res.name, Key=name, Body=_body(rng, name + "#2"))
    for name in names[n - res.facts.get("deletes", 0) :]:
        s3.delete_object(Bucket=res.name, Key=name)


def _body(rng: random.Random, name: str) -> bytes:
    payload = {"name": name, "value": rng.random(), "pad": "x" * rng.randrange(10, 400)}
    return json.dumps(payload).encode()


def _ebs(session, res: DemoResource, key, tags, rng) -> None:
    ec2 = session.client("ec2", res.account, res.region)
    kwargs: dict[str, Any] = {"Encrypted": res.encrypted}
    if key:
        kwargs["KmsKeyId"] = key
    ec2.create_volume(
        AvailabilityZone=f"{res.region}a",
        Size=res.facts["size_gib"],
        VolumeType="gp3",
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": _tag_list({**tags, "Name": res.name, **_dlm_tag(res)}),
            }
        ],
        **kwargs,
    )
    if res.facts.get("dlm"):
        _dlm_policy(session, res, tags)


DLM_TAG = "dlm-snapshots"


def _dlm_tag(res: DemoResource) -> dict[str, str]:
    """The tag by which a volume's DLM policy (``facts["dlm"]``) targets it."""
    dlm = res.facts.get("dlm")
    return {DLM_TAG: f"every {dlm['every_hours']}h"} if dlm else {}


def _dlm_policy(session, res: DemoResource, tags: dict[str, str]) -> None:
    """A DLM snapshot policy for the volume: ``facts["dlm"]``, every N hours, kept N days."""
    every, keep = res.facts["dlm"]["every_hours"], res.facts["dlm"]["keep_days"]
    target = {"Key": DLM_TAG, "Value": _dlm_tag(res)[DLM_TAG]}
    session.client("dlm", res.account, res.region).create_lifecycle_policy(
        ExecutionRoleArn=f"arn:aws:iam::{res.account}:role/AWSDataLifecycleManagerDefaultRole",
        Description=f"snapshots every {every} hours kept {keep} days",
        State="ENABLED",
        PolicyDetails={
            "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
            "ResourceTypes": ["VOLUME"],
            "TargetTags": [target],
            "Schedules": [
                {
                    "Name": f"every {every}h",
                    "CreateRule": {"Interval": every, "IntervalUnit": "HOURS"},
                    "RetainRule": {"Interval": keep, "IntervalUnit": "DAYS"},
                    "CopyTags": True,
                }
            ],
        },
        Tags={"owner": tags.get("owner", "")},
    )


def _rds(session, res: DemoResource, key, tags, rng) -> None:
    rds = session.client("rds", res.account, res.region)
    kwargs: dict[str, Any] = {"StorageEncrypted": res.encrypted}
    if key:
        kwargs["KmsKeyId"] = key
    kwargs.update(_master_login(res.facts["engine"]))
    db = rds.create_db_instance(
        DBInstanceIdentifier=res.name,
        DBInstanceClass="db.t4g.medium",
        Engine=res.facts["engine"],
        AllocatedStorage=50,
        BackupRetentionPeriod=res.facts["retention_days"],
        PreferredBackupWindow="02:00-02:30",
        CopyTagsToSnapshot=True,
        Tags=_tag_list(tags),
        **kwargs,
    )["DBInstance"]
    _fill_database(session, res, db)


def _master_login(engine: str) -> dict[str, Any]:
    """Databases the runbooks read (PostgreSQL, MySQL) get an RDS-managed master password
    (the runbooks read it from the MasterUserSecret); the others a fixed, fake one."""
    if engine in DEMO_TABLES:
        return {"MasterUsername": "admin_user", "ManageMasterUserPassword": True}
    return {"MasterUsername": "admin_user", "MasterUserPassword": "not-a-real-password-1"}


def _fill_database(session, res: DemoResource, desc: dict[str, Any]) -> None:
    """Real tables with rows, when a real engine stands behind the endpoint (the sandbox's
    PostgreSQL or MariaDB; see runbook_sandbox/engines): customers, orders and a table
    without a primary key. Deterministic: the same rows every time."""
    from runbook_sandbox.engines.rds import LOCAL_ADDRESS

    ep = desc.get("Endpoint")
    host = ep.get("Address") if isinstance(ep, dict) else ep
    statements = DEMO_TABLES.get(desc.get("Engine", ""))
    if host != LOCAL_ADDRESS or not statements:
        return
    from runbook_lib.services.rds import data

    login = data.source_login(session, res.account, res.region, desc, "")
    with data.connect(login) as db:
        db.run(statements)


_PG_TABLES = (
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, country text, "
    "created timestamptz NOT NULL)",
    "INSERT INTO customers SELECT g, 'customer ' || g, (ARRAY['FR','DE','IE','ES'])[1 + g % 4], "
    "timestamptz '2026-01-01 00:00Z' + g * interval '7 minutes' FROM generate_series(1, 1500) g",
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES "
    "customers(id), amount numeric(10,2) NOT NULL, status text NOT NULL, placed timestamptz NOT NULL)",
    "INSERT INTO orders SELECT g, 1 + (g * 7919) % 1500, ((g * 37) % 100000) / 100.0, "
    "(ARRAY['new','paid','shipped','returned'])[1 + g % 4], "
    "timestamptz '2026-02-01 00:00Z' + g * interval '1 minute' FROM generate_series(1, 4000) g",
    "CREATE TABLE audit_events (at timestamptz NOT NULL, message text NOT NULL)",
    "INSERT INTO audit_events SELECT timestamptz '2026-03-01 00:00Z' + g * interval '1 second', "
    "'event ' || g FROM generate_series(1, 500) g",
)
# the sandbox's MySQL is MariaDB: seq_1_to_N is its Sequence engine
_MYSQL_TABLES = (
    "CREATE DATABASE reporting",
    "USE reporting",
    "CREATE TABLE reporting.customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
    "country CHAR(2), created DATETIME NOT NULL)",
    "INSERT INTO reporting.customers SELECT seq, CONCAT('customer ', seq), "
    "ELT(1 + seq % 4, 'FR', 'DE', 'IE', 'ES'), "
    "TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq * 7 MINUTE FROM seq_1_to_1500",
    "CREATE TABLE reporting.orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, "
    "amount DECIMAL(10,2) NOT NULL, status VARCHAR(20) NOT NULL, placed DATETIME NOT NULL, "
    "FOREIGN KEY (customer_id) REFERENCES reporting.customers(id))",
    "INSERT INTO reporting.orders SELECT seq, 1 + (seq * 7919) % 1500, ((seq * 37) % 100000) / 100.0, "
    "ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), "
    "TIMESTAMP '2026-02-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_4000",
    "CREATE TABLE reporting.audit_events (at DATETIME NOT NULL, message VARCHAR(200) NOT NULL)",
    "INSERT INTO reporting.audit_events SELECT TIMESTAMP '2026-03-01 00:00:00' + INTERVAL seq SECOND, "
    "CONCAT('event ', seq) FROM seq_1_to_500",
)
#: engine -> the demo tables' SQL
DEMO_TABLES = {
    "postgres": _PG_TABLES,
    "aurora-postgresql": _PG_TABLES,
    "mysql": _MYSQL_TABLES,
    "mariadb": _MYSQL_TABLES,
}


def _cluster(engine: str):
    def seed(session, res: DemoResource, key, tags, rng) -> None:
        client = session.client(
            "neptune" if engine == "neptune" else "rds", res.account, res.region
        )
        kwargs: dict[str, Any] = {"StorageEncrypted": res.encrypted}
        if key:
            kwargs["KmsKeyId"] = key
        if engine != "neptune":
            kwargs.update(_master_login(engine))
        cluster = client.create_db_cluster(
            DBClusterIdentifier=res.name,
            Engine=engine,
            BackupRetentionPeriod=res.facts["retention_days"],
            PreferredBackupWindow="03:00-03:30",
            Tags=_tag_list(tags),
            **kwargs,
        )["DBCluster"]
        _fill_database(session, res, cluster)

    return seed


def _efs(session, res: DemoResource, key, tags, rng) -> None:
    efs = session.client("efs", res.account, res.region)
    kwargs: dict[str, Any] = {"Encrypted": res.encrypted}
    if key:
        kwargs["KmsKeyId"] = key
    efs.create_file_system(
        CreationToken=hashlib.sha256(f"{res.account}{res.region}{res.name}".encode()).hexdigest()[
            :32
        ],
        PerformanceMode="generalPurpose",
        Backup=res.facts["backup_policy"],
        Tags=_tag_list({**tags, "Name": res.name}),
        **kwargs,
    )


def _elasticache(session, res: DemoResource, key, tags, rng) -> None:
    ec = session.client("elasticache", res.account, res.region)
    kwargs: dict[str, Any] = {}
    if key:
        kwargs["KmsKeyId"] = key
    group = ec.create_replication_group(
        ReplicationGroupId=res.name,
        ReplicationGroupDescription=f"{res.name} (demo)",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=2,
        AtRestEncryptionEnabled=res.encrypted,
        TransitEncryptionEnabled=True,
        SnapshotRetentionLimit=res.facts["snapshot_retention"],
        Tags=_tag_list(tags),
        **kwargs,
    )["ReplicationGroup"]
    _fill_cache(group)


def _fill_cache(group: dict[str, Any]) -> None:
    """Real keys, when a redis-server stands behind the endpoint (the sandbox's; see
    runbook_sandbox/elasticache_ext.py): sessions with a TTL, hashes, lists, sets, a sorted
    set and a stream, 3,000 keys in all. Deterministic: the same keys every time."""
    from runbook_lib.services.elasticache import data

    ep = data.endpoint(group)
    if ep is None or ep[0] != "127.0.0.1":
        return
    with data.connect(data.Login(host=ep[0], port=ep[1])) as cache:
        p = cache.client.pipeline(transaction=False)
        for n in range(1, 1201):
            p.set(f"session:{n:05d}", f"user={n % 300};cart={n * 7 % 97}", ex=90 * 86400)
        for n in range(1, 801):
            p.hset(
                f"user:{n}", mapping={"name": f"user {n}", "country": "FRDEIEES"[n % 4 * 2 :][:2]}
            )
        for n in range(1, 501):
            p.rpush(f"cart:{n}", *[f"sku-{(n * k) % 211}" for k in range(1, 1 + n % 5 + 1)])
        for n in range(1, 498):
            p.sadd(f"tags:{n}", *[f"t{(n + k) % 13}" for k in range(3)])
        p.zadd("leaderboard", {f"user:{n}": (n * 37) % 1000 / 10 for n in range(1, 301)})
        p.zadd("recent", {f"order:{n}": n for n in range(1, 101)})
        for n in range(1, 51):
            p.xadd("events", {"n": str(n), "kind": "checkout"}, id=f"{1767225600000 + n}-0")
        p.execute()


def _opensearch(session, res: DemoResource, key, tags, rng) -> None:
    osc = session.client("opensearch", res.account, res.region)
    enc: dict[str, Any] = {"Enabled": res.encrypted}
    if key:
        enc["KmsKeyId"] = key
    osc.create_domain(
        DomainName=res.name,
        EngineVersion="OpenSearch_2.13",
        EncryptionAtRestOptions=enc,
        NodeToNodeEncryptionOptions={"Enabled": True},
        SnapshotOptions={"AutomatedSnapshotStartHour": res.facts["snapshot_hour"]},
        TagList=_tag_list(tags),
    )


def _logs(session, res: DemoResource, key, tags, rng) -> None:
    logs = session.client("logs", res.account, res.region)
    kwargs: dict[str, Any] = {"kmsKeyId": key} if key else {}
    logs.create_log_group(logGroupName=res.name, tags=tags, **kwargs)
    if res.facts.get("retention_days"):
        logs.put_retention_policy(
            logGroupName=res.name, retentionInDays=res.facts["retention_days"]
        )
    import time

    now_ms = int(time.time() * 1000)
    for stream in ("web-1", "web-2"):
        logs.create_log_stream(logGroupName=res.name, logStreamName=stream)
        n = res.facts["events"] // 2
        events = [
            {
                "timestamp": now_ms - (n - i) * 1000,
                "message": f"{stream} request {i} status={rng.choice([200, 200, 404, 500])}",
            }
            for i in range(n)
        ]
        logs.put_log_events(logGroupName=res.name, logStreamName=stream, logEvents=events)


SEEDERS = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "ebs": _ebs,
    "rds": _rds,
    "aurora": _cluster("aurora-postgresql"),
    "neptune": _cluster("neptune"),
    "efs": _efs,
    "elasticache": _elasticache,
    "opensearch": _opensearch,
    "logs": _logs,
}
