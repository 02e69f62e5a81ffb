"""RDS, Aurora and Neptune in backup_now: the native on-demand backup is a manual DB snapshot
(``create_db_snapshot``) for an instance, a DB cluster snapshot
(``create_db_cluster_snapshot``) for a cluster. For PostgreSQL and MySQL engines, a canary row and
the content fingerprint (:mod:`runbook_lib.services.rds.data`) are taken before the backup
starts, and the fingerprint again once it completed (equal: exact; different: bounded)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from runbook_lib import fingerprint as fpr
from runbook_lib.backup_now import NativeStarted, canary_writer, fingerprint_taker, native_backup
from runbook_lib.protect.estate import DataResource
from runbook_lib.services.rds import data
from runbook_lib.services.rds.names import kind_of

log = logging.getLogger("runbook_lib")


@native_backup("rds", "aurora", "neptune")
def start(session: Any, res: DataResource, *, run_id: str, ident: str) -> NativeStarted:
    rds = session.client("rds", res.account, res.region)
    name = res.name
    sid = f"{name[:30]}-{ident}"[:63].rstrip("-")
    kind = kind_of(res.resource_type)
    create = getattr(rds, kind.create_snapshot)
    d = create(**{kind.snapshot_id: sid, kind.ident: name})[kind.snapshot]
    arn = d[kind.snapshot_arn]

    def poll() -> tuple[str, dict]:
        x = kind.describe_snapshot(rds, sid)
        st = {"available": "COMPLETED", "failed": "FAILED"}.get(x["Status"], "RUNNING")
        return st, {"encrypted": x.get(kind.snapshot_encrypted), "kms_key": x.get("KmsKeyId")}

    return NativeStarted(
        native_id=arn, recovery_point_arn=arn, created=d.get("SnapshotCreateTime"), poll=poll
    )


# --------------------------------------------------------------------------- content


def _source(session: Any, res: DataResource) -> tuple[dict, data.Login] | None:
    """The description and login of ``res`` when its engine is one the runbooks read."""
    rds = session.client("rds", res.account, res.region)
    desc = kind_of(res.resource_type).describe_one(rds, res.name)
    if not data.readable(session, desc):
        return None
    tag_key = session.params.tag_keys.db_secret
    return desc, data.source_login(session, res.account, res.region, desc, tag_key)


@canary_writer("rds", "aurora")
def write_canary(
    session: Any, res: DataResource, run_id: str, now: datetime
) -> tuple[str | None, str]:
    """One row in the database's ``runbook_restore_canary`` table (PostgreSQL: ``public``;
    MySQL: the login's database, else ``runbook_restore``)."""
    try:
        found = _source(session, res)
        if found is None:
            return None, "engine not read by the runbooks: no canary written"
        with data.connect(found[1]) as db:
            return db.write_canary(run_id, now), ""
    except (data.NotReachable, data.NoLogin) as err:
        return None, str(err)


@fingerprint_taker("rds", "aurora", again=True)
def take_fingerprint(session: Any, res: DataResource) -> tuple[fpr.Fingerprint | None, list[str]]:
    """Every user table's count and in-database hash, in one consistent read."""
    try:
        found = _source(session, res)
        if found is None:
            return None, []
        with data.connect(found[1]) as db:
            tables = db.read_tables()
    except (data.NotReachable, data.NoLogin) as err:
        log.warning("backup_now: %s: no fingerprint: %s", res.name, err)
        return None, []
    return data.fingerprint(tables), ["table", "primary key"]
