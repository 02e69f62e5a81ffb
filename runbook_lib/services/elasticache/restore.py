"""ElastiCache (Redis/Valkey): a snapshot seeds a new replication group.

Redis / Valkey caches the runbooks can reach (cluster mode disabled): the scratch group is
created with a fresh random AUTH token when the source has one (held in memory only, never
printed or recorded), then every key is fingerprinted (type, TTL present, value digest
computed in the server; :mod:`runbook_lib.services.elasticache.data`) and compared with the
fingerprint backup_now took; canary keys give the measured RPO. Otherwise (cluster mode
enabled, memcached, an endpoint out of reach from where the runbook runs) the check is
metadata (node type, encryption, key). Sandbox: a real redis-server stands behind each Redis
group (a snapshot is an RDB file), when Debian's ``redis-server`` is installed.
"""

from __future__ import annotations

from typing import Any

from runbook_lib.inventory.model import tag_dict, tag_list
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, utc
from runbook_lib.restore.naming import is_scratch_name
from runbook_lib.restore.registry import (
    Content,
    ServiceHandler,
    canary_content,
    finder,
    handler,
    point,
    restorer,
)
from runbook_lib.services.elasticache import data

#: (account, region, scratch group) -> the AUTH token it was created with: in memory only,
#: dropped when the scratch group is deleted
_TOKENS: dict[tuple[str, str, str], str] = {}


def _ec(session, account, region):
    return session.client("elasticache", account, region)


def _group(session, account, region, name) -> dict[str, Any]:
    return _ec(session, account, region).describe_replication_groups(ReplicationGroupId=name)[
        "ReplicationGroups"
    ][0]


@finder("elasticache", "elasticache-snapshot")
def find_snapshots(session, ref: ResourceRef) -> list[RecoveryPoint]:
    ec = _ec(session, ref.account, ref.region)
    out = []
    for s in ec.describe_snapshots(ReplicationGroupId=ref.name).get("Snapshots", []):
        if s.get("SnapshotStatus") not in ("available", None):
            continue
        times = [
            n.get("SnapshotCreateTime")
            for n in s.get("NodeSnapshots", [])
            if n.get("SnapshotCreateTime")
        ]
        out.append(
            point(
                ref,
                "elasticache-snapshot",
                id=s["SnapshotName"],
                created=utc(max(times)) if times else None,
                encrypted=bool(s.get("KmsKeyId")),
                key=s.get("KmsKeyId"),
                details={
                    "node_type": s.get("CacheNodeType"),
                    "engine": s.get("Engine"),
                    "source": s.get("SnapshotSource"),
                },
            )
        )
    return out


@restorer("elasticache", "elasticache-snapshot")
def restore_snapshot(session, rp, ref, target, tags, restore_time=None):
    ec = _ec(session, rp.account, rp.region)
    src = _group(session, ref.account, ref.region, ref.name)
    kwargs: dict[str, Any] = {
        "ReplicationGroupId": target,
        "ReplicationGroupDescription": f"restore of {ref.name} from {rp.id}",
        "SnapshotName": rp.id,
        "CacheNodeType": src.get("CacheNodeType") or rp.details.get("node_type"),
        "Engine": rp.details.get("engine") or "redis",
        "NumCacheClusters": 1,
        "AtRestEncryptionEnabled": bool(src.get("AtRestEncryptionEnabled")),
        "TransitEncryptionEnabled": bool(src.get("TransitEncryptionEnabled")),
        "Tags": tag_list(tags),
    }
    if src.get("KmsKeyId"):
        kwargs["KmsKeyId"] = src["KmsKeyId"]
    if src.get("AuthTokenEnabled"):  # a fresh token (AWS needs in-transit encryption for one)
        token = data.new_token()
        _TOKENS[(rp.account, rp.region, target)] = token
        kwargs.update(AuthToken=token, TransitEncryptionEnabled=True)
    g = ec.create_replication_group(**kwargs)["ReplicationGroup"]
    return Restored("elasticache", rp.account, rp.region, target, g.get("ARN"))


@handler
class ElastiCache(ServiceHandler):
    service = "elasticache"
    not_found = ("ReplicationGroupNotFoundFault", "CacheClusterNotFound")
    ready_when = ("Status", "available")
    test_minutes = 20
    has_data = True  # Redis / Valkey: read_content fingerprints the keys (data.py)

    def read_content(self, session, restored, *, workers: int = 8) -> Content | None:
        """Every key's type, TTL presence and in-server value digest (SCAN); None for caches
        the runbooks do not read (their proof rests on metadata). The content's ``detail``
        says which path read the keys (summed in the server, key by key, or in the client)
        and whether a difference can name keys (:attr:`data.KeyScan.detail`)."""
        desc = self.describe(session, restored)
        if not data.readable(session, desc):
            return None

        def read():
            token = _TOKENS.get((restored.account, restored.region, restored.name))
            with data.connect(data.scratch_login(session, desc, token)) as cache:
                keys = data.read(cache)
                # which path ran, and so whether a difference can name keys
                return keys, cache.canaries(), keys.detail

        labels = ("all keys", "without the canary keys")
        return canary_content(data.KIND, data.fingerprint, read, labels)

    def describe(self, session, where):
        return _group(session, where.account, where.region, where.name)

    def metadata_of(self, g):
        return {
            "node_type": g.get("CacheNodeType"),
            "encrypted": bool(g.get("AtRestEncryptionEnabled")),
            "kms_key": g.get("KmsKeyId"),
            "transit_encryption": bool(g.get("TransitEncryptionEnabled")),
        }

    def tag(self, session, restored, tags):
        arn = restored.arn or self.describe(session, restored)["ARN"]
        _ec(session, restored.account, restored.region).add_tags_to_resource(
            ResourceName=arn, Tags=tag_list(tags)
        )

    def exists(self, session, restored):
        """False once deletion is under way (status 'deleting': AWS removes it minutes later)."""
        try:
            g = self.describe(session, restored)
        except Exception as err:
            if self.is_not_found(err):
                return False
            raise  # throttled, denied, ...: unknown, never "gone"
        return g.get("Status") != "deleting"

    def delete(self, session, restored):
        if self.exists(session, restored):
            _ec(session, restored.account, restored.region).delete_replication_group(
                ReplicationGroupId=restored.name, RetainPrimaryCluster=False
            )
        _TOKENS.pop((restored.account, restored.region, restored.name), None)

    def list_tagged(self, session, account, region, tag_key):
        ec = _ec(session, account, region)
        out = []
        for g in ec.describe_replication_groups().get("ReplicationGroups", []):
            if not is_scratch_name(g["ReplicationGroupId"]) or g.get("Status") == "deleting":
                continue
            tags = tag_dict(ec.list_tags_for_resource(ResourceName=g["ARN"]).get("TagList"))
            if tag_key in tags:
                out.append(self.tagged(account, region, g["ReplicationGroupId"], g["ARN"], tags))
        return out

    def handover(self, session, ref, restored):
        return [
            {
                "step": "point clients at the new endpoint",
                "why": "the primary endpoint is new",
                "how": f"describe_replication_groups('{restored.name}') NodeGroups[0].PrimaryEndpoint; update the "
                "application config / DNS",
                "needed": "yes",
            },
            {
                "step": "replicas, snapshots, parameter group",
                "why": "the restore made one node with default settings",
                "how": "increase_replica_count; modify_replication_group(SnapshotRetentionLimit=<tier>, "
                "CacheParameterGroupName=<source's>, SecurityGroupIds=<source's>)",
                "needed": "yes",
            },
        ]
