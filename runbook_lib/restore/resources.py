"""The data resources a restore test can choose from.

Uses the inventory (``runbook_lib.inventory.discover``) when it is there; otherwise a small
reader of its own that lists the same columns (account, region, service, resource_type,
arn, name, tags, tier). Scratch copies made by restore tests are never candidates.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from runbook_lib.restore.model import ResourceRef, service_of_arn

log = logging.getLogger("runbook_lib")
COLUMNS = ["account", "region", "service", "resource_type", "arn", "name", "tags", "tier"]


def discover_resources(ctx: Any) -> pd.DataFrame:
    """Every data resource of the estate, one row each, without scratch copies."""
    df = None
    try:
        from runbook_lib.inventory import discover  # type: ignore[attr-defined]

        inv = discover(ctx, progress=False)
        df = getattr(inv, "resources", inv)
        if not isinstance(df, pd.DataFrame) or not set(COLUMNS[:6]) <= set(df.columns):
            df = None
    except ImportError:
        df = None
    except TypeError as err:  # another signature: use the reader below
        log.info(
            "restore: inventory.discover(ctx) not usable here (%s); using the restore reader", err
        )
        df = None
    if df is None:
        df = _own_reader(ctx.session)
    df = df.copy()
    if "tier" not in df:
        df["tier"] = None
    key = ctx.params.tag_keys.restore_test
    scratch = df["tags"].map(lambda t: isinstance(t, dict) and key in t) if "tags" in df else False
    return df[~scratch].reset_index(drop=True)


def ref_from_row(row: dict[str, Any]) -> ResourceRef:
    arn = row["arn"]
    svc = row.get("service") or service_of_arn(arn, field_name="arn")[0]
    ident = None
    if svc in ("ebs", "efs"):
        ident = arn.rsplit("/", 1)[-1]
    tier = row.get("tier")
    return ResourceRef(
        arn,
        svc,
        row["account"],
        row["region"],
        row.get("name") or ident,
        tier if isinstance(tier, str) and tier else None,
        ident,
    )


def _tags(pairs: list[dict[str, str]] | None, k: str = "Key", v: str = "Value") -> dict[str, str]:
    return {p[k]: p[v] for p in pairs or []}


def _own_reader(session: Any) -> pd.DataFrame:
    p = session.params
    rows: list[dict[str, Any]] = []

    def add(account, region, service, rtype, arn, name, tags):
        rows.append(
            {
                "account": account,
                "region": region,
                "service": service,
                "resource_type": rtype,
                "arn": arn,
                "name": name,
                "tags": tags,
                "tier": tags.get(p.tag_keys.tier),
            }
        )

    seen_buckets: set[str] = set()
    for account, region in session.scopes():
        ddb = session.client("dynamodb", account, region)
        for page in ddb.get_paginator("list_tables").paginate():
            for name in page.get("TableNames", []):
                arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
                add(
                    account,
                    region,
                    "dynamodb",
                    "table",
                    arn,
                    name,
                    _tags(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags")),
                )
        s3 = session.client("s3", account, region)
        for b in s3.list_buckets().get("Buckets", []):
            if b["Name"] in seen_buckets:
                continue
            loc = s3.get_bucket_location(Bucket=b["Name"]).get("LocationConstraint") or "us-east-1"
            if loc != region:
                continue
            seen_buckets.add(b["Name"])
            try:
                tags = _tags(s3.get_bucket_tagging(Bucket=b["Name"]).get("TagSet"))
            except s3.exceptions.ClientError:
                tags = {}
            add(account, region, "s3", "bucket", f"arn:aws:s3:::{b['Name']}", b["Name"], tags)
        ec2 = session.client("ec2", account, region)
        for v in ec2.describe_volumes().get("Volumes", []):
            tags = _tags(v.get("Tags"))
            add(
                account,
                region,
                "ebs",
                "volume",
                f"arn:aws:ec2:{region}:{account}:volume/{v['VolumeId']}",
                tags.get("Name", v["VolumeId"]),
                tags,
            )
        rds = session.client("rds", account, region)
        for db in rds.describe_db_instances().get("DBInstances", []):
            if db.get("DBClusterIdentifier"):
                continue
            add(
                account,
                region,
                "rds",
                "db",
                db["DBInstanceArn"],
                db["DBInstanceIdentifier"],
                _tags(db.get("TagList")),
            )
        for c in rds.describe_db_clusters().get("DBClusters", []):
            svc = "neptune" if c.get("Engine", "").startswith("neptune") else "aurora"
            add(
                account,
                region,
                svc,
                "cluster",
                c["DBClusterArn"],
                c["DBClusterIdentifier"],
                _tags(c.get("TagList")),
            )
        efs = session.client("efs", account, region)
        for fs in efs.describe_file_systems().get("FileSystems", []):
            tags = _tags(fs.get("Tags"))
            add(
                account,
                region,
                "efs",
                "file-system",
                fs["FileSystemArn"],
                tags.get("Name", fs["FileSystemId"]),
                tags,
            )
        ec = session.client("elasticache", account, region)
        for g in ec.describe_replication_groups().get("ReplicationGroups", []):
            tags = _tags(ec.list_tags_for_resource(ResourceName=g["ARN"]).get("TagList"))
            add(
                account,
                region,
                "elasticache",
                "replicationgroup",
                g["ARN"],
                g["ReplicationGroupId"],
                tags,
            )
        osc = session.client("opensearch", account, region)
        for d in osc.list_domain_names().get("DomainNames", []):
            arn = osc.describe_domain(DomainName=d["DomainName"])["DomainStatus"]["ARN"]
            add(
                account,
                region,
                "opensearch",
                "domain",
                arn,
                d["DomainName"],
                _tags(osc.list_tags(ARN=arn).get("TagList")),
            )
        logs = session.client("logs", account, region)
        for page in logs.get_paginator("describe_log_groups").paginate():
            for g in page.get("logGroups", []):
                arn = g["arn"].removesuffix(":*")
                add(
                    account,
                    region,
                    "logs",
                    "log-group",
                    arn,
                    g["logGroupName"],
                    logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {}),
                )
    return pd.DataFrame(rows, columns=COLUMNS)
