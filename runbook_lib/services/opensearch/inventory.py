"""OpenSearch domains (described 5 per call; tags in batches, tagging API); AWS takes hourly
automated snapshots of every domain and keeps 14 days."""

from __future__ import annotations

from datetime import timedelta

from runbook_lib.inventory.model import Found, Protection, Scope, tag_dict
from runbook_lib.inventory.plugin import Service, TagSource, register

AUTOMATED_RPO = timedelta(hours=1)
AUTOMATED_RETENTION_DAYS = 14.0
BATCH = 5  # describe_domains takes at most 5 names


def _list(scope: Scope) -> list[dict]:
    osc = scope.client("opensearch")
    names = [d["DomainName"] for d in osc.list_domain_names().get("DomainNames", [])]
    domains = []
    for i in range(0, len(names), BATCH):
        domains += osc.describe_domains(DomainNames=names[i : i + BATCH])["DomainStatusList"]
    return [d for d in domains if not d.get("Deleted")]


def _tags(scope: Scope, arn: str, _domain: dict) -> dict[str, str]:
    """One domain's tags (where the tagging API's batch is not used)."""
    return tag_dict(scope.client("opensearch").list_tags(ARN=arn).get("TagList"))


def _describe(scope: Scope, d: dict, _extras) -> Found:
    arn = d["ARN"]
    enc = d.get("EncryptionAtRestOptions") or {}
    ebs = d.get("EBSOptions") or {}
    nodes = (d.get("ClusterConfig") or {}).get("InstanceCount") or 1
    row = scope.row(
        "opensearch",
        "es:domain",
        arn,
        d["DomainName"],
        size_bytes=ebs["VolumeSize"] * 2**30 * nodes
        if ebs.get("EBSEnabled") and ebs.get("VolumeSize")
        else None,
        encrypted=bool(enc.get("Enabled")),
        kms_key=enc.get("KmsKeyId"),
        created=None,  # the API does not say when a domain was created
    )
    hour = (d.get("SnapshotOptions") or {}).get("AutomatedSnapshotStartHour")
    protection = Protection(
        mechanism="opensearch automated snapshots",
        rpo=AUTOMATED_RPO,
        retention_days=AUTOMATED_RETENTION_DAYS,
        detail="hourly, kept 14 days in an AWS-owned repository; listed only by the domain's "
        "_snapshot REST API, so no recovery point is shown"
        + (f" (legacy start hour {hour})" if hour is not None else ""),
    )
    return Found(row=row, protections=[protection])


TAGS = TagSource(
    types=("es:domain",),
    read=_tags,
    not_on_sandbox="moto's tagging API never returns OpenSearch domains",
)
FIXES = {
    "resource_backed_up_or_reproducible": "automated snapshot start hour (UTC)",
    "backup_frequency_meets_rpo": "manual: automated snapshots run hourly at best; a "
    "shorter RPO needs manual snapshots to an S3 repository (not configured by protect)",
    "backup_retention_meets_objective": "manual: automated snapshots are kept 14 days; "
    "longer needs manual snapshots to an S3 repository (not configured by protect)",
    "cross_region_copy": "copy to another Region",
    "cross_account_copy": "manual: protect plans no copy of the snapshots to account {account}",
}
register(Service("opensearch", list=_list, describe=_describe, tags=TAGS, fixes=FIXES))
