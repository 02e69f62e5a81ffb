"""ElastiCache in backup_now: AWS Backup does not reach it; the native on-demand backup is a
snapshot (``create_snapshot``) of the replication group or standalone cache cluster. For Redis / Valkey caches the runbooks can
reach, a canary key and the key fingerprint (:mod:`runbook_lib.services.elasticache.data`)
are taken before the snapshot starts, and the fingerprint again once it completed (equal:
exact; different: bounded, as SCAN is not one consistent read)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from runbook_lib import fingerprint as fpr
from runbook_lib.backup_now import NativeStarted, canary_writer, fingerprint_taker, native_backup
from runbook_lib.protect.estate import DataResource
from runbook_lib.services.elasticache import data
from runbook_lib.session import utcnow

log = logging.getLogger("runbook_lib")


@native_backup("elasticache")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    ec = session.client("elasticache", res.account, res.region)
    # the time too: a second backup in one run must not reuse the name (AWS refuses it)
    sname = f"{res.name[:40]}-{utcnow():%Y%m%d%H%M%S}-{ident}"[:100].rstrip("-")
    source = (
        {"CacheClusterId": res.name}
        if res.resource_type == "elasticache:cluster"
        else {"ReplicationGroupId": res.name}
    )
    d = ec.create_snapshot(**source, SnapshotName=sname)["Snapshot"]

    def poll() -> tuple[str, dict]:
        x = ec.describe_snapshots(SnapshotName=sname)["Snapshots"][0]
        st = {"available": "COMPLETED", "failed": "FAILED"}.get(x.get("SnapshotStatus"), "RUNNING")
        return st, {"encrypted": res.encrypted, "kms_key": x.get("KmsKeyId")}

    return NativeStarted(native_id=sname, recovery_point_arn=d.get("ARN"), poll=poll)


# --------------------------------------------------------------------------- content


def _source(session: Any, res: DataResource) -> data.Login | None:
    """The login of ``res`` when it is a cache the runbooks read, else None."""
    ec = session.client("elasticache", res.account, res.region)
    if res.resource_type == "elasticache:cluster":
        desc = ec.describe_cache_clusters(CacheClusterId=res.name, ShowCacheNodeInfo=True)[
            "CacheClusters"
        ][0]
    else:
        desc = ec.describe_replication_groups(ReplicationGroupId=res.name)["ReplicationGroups"][0]
    if not data.readable(session, desc):
        return None
    tag_key = session.params.tag_keys.db_secret
    return data.source_login(session, res.account, res.region, desc, res.tags or {}, tag_key)


@canary_writer("elasticache")
def write_canary(
    session: Any, res: DataResource, run_id: str, now: datetime
) -> tuple[str | None, str]:
    """One string key ``__restore_canary__#<time>`` (no TTL) in database 0."""
    try:
        login = _source(session, res)
        if login is None:
            return None, "cache not read by the runbooks: no canary written"
        with data.connect(login) as cache:
            return cache.write_canary(run_id, now), ""
    except (data.NotReachable, data.NoLogin) as err:
        return None, str(err)


@fingerprint_taker("elasticache", again=True)
def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint | None, list[str]]:
    """Every key's type, TTL presence and in-server value digest, listed by SCAN."""
    try:
        login = _source(session, res)
        if login is None:
            return None, []
        with data.connect(login) as cache:
            keys = data.read(cache)
    except (data.NotReachable, data.NoLogin) as err:
        log.warning("backup_now: %s: no fingerprint: %s", res.name, err)
        return None, []
    return data.fingerprint(keys), ["key"]
