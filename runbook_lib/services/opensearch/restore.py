"""OpenSearch: snapshots are taken and restored through the domain's own ``_snapshot`` REST
API (SigV4-signed HTTP to the domain endpoint, inside its VPC), not through the AWS SDK, and
AWS Backup does not protect OpenSearch domains. So this runbook cannot restore or read a
domain's data: it reports NOT_RESTORABLE with the automated snapshot settings it can see.
"""

from __future__ import annotations

from runbook_lib.restore.model import NotRestorable, ResourceRef
from runbook_lib.restore.registry import ServiceHandler, finder, handler


def _os(session, account, region):
    return session.client("opensearch", account, region)


@finder("opensearch", "opensearch-snapshot")
def find_snapshots(session, ref: ResourceRef):
    meta = OpenSearch().source_metadata(session, ref)
    raise NotRestorable(
        f"OpenSearch domain {ref.name}: snapshots are restored with the domain's _snapshot REST API "
        "(signed HTTP to the domain endpoint), not the AWS SDK, and AWS Backup does not cover OpenSearch; "
        f"automated snapshot hour = {meta.get('automated_snapshot_hour')}, encrypted at rest = "
        f"{meta.get('encrypted')}. Restore-test it with a manual snapshot repository and the _restore API."
    )


@handler
class OpenSearch(ServiceHandler):
    service = "opensearch"
    not_found = ("ResourceNotFoundException",)
    test_minutes = 1  # nothing is restored: the test reports NOT_RESTORABLE

    def source_metadata(self, session, ref):
        d = _os(session, ref.account, ref.region).describe_domain(DomainName=ref.name)[
            "DomainStatus"
        ]
        enc = d.get("EncryptionAtRestOptions") or {}
        return {
            "engine_version": d.get("EngineVersion"),
            "encrypted": bool(enc.get("Enabled")),
            "kms_key": enc.get("KmsKeyId"),
            "automated_snapshot_hour": (d.get("SnapshotOptions") or {}).get(
                "AutomatedSnapshotStartHour"
            ),
        }
