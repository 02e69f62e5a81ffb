"""RDS instances, Aurora and Neptune clusters: restore from a snapshot or to a point in
time under a new identifier.

PostgreSQL and MySQL engines (``postgres``, ``aurora-postgresql``, ``mysql``, ``mariadb``,
``aurora-mysql``): the scratch copy gets a fresh
random master password, then every table is fingerprinted inside the database and compared
with the fingerprint backup_now took (:mod:`runbook_lib.services.rds.data`); canary rows give
the measured RPO. Other engines: metadata (engine, version, storage, encryption, key).
Sandbox: a real PostgreSQL or MariaDB server stands behind each such instance and cluster;
moto's ``restore_db_cluster_from_snapshot`` for a cluster without a password of its own
(Neptune, RDS-managed passwords) is patched by the sandbox's engines (docs/restore.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from runbook_lib.inventory.model import tag_dict, tag_list
from runbook_lib.restore.model import (
    NotSupportedOnSandbox,
    RecoveryPoint,
    ResourceRef,
    Restored,
    utc,
)
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
from runbook_lib.services.rds import data
from runbook_lib.services.rds.names import CLUSTER, INSTANCE
from runbook_lib.session import is_not_supported

#: the instance class of the DB instance added to a restored cluster so that it answers queries
READER_CLASS = "db.r6g.large"
#: (account, region, scratch identifier) -> the login its content was read with: in memory
#: only (the fresh password), dropped when the scratch copy is deleted
_LOGINS: dict[tuple[str, str, str], data.Login] = {}


def _rds(session, account: str, region: str, service: str = "rds"):
    return session.client("neptune" if service == "neptune" else "rds", account, region)


# --------------------------------------------------------------------------- instances


def _instance(session, account, region, name) -> dict[str, Any]:
    return INSTANCE.describe_one(_rds(session, account, region), name)


@finder("rds", "rds-snapshot")
def find_db_snapshots(session, ref: ResourceRef) -> list[RecoveryPoint]:
    rds = _rds(session, ref.account, ref.region)
    out = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=ref.name):
        for s in filter(_restorable, page.get("DBSnapshots", [])):
            out.append(
                _snapshot_point(
                    ref,
                    "rds-snapshot",
                    s,
                    id=s["DBSnapshotIdentifier"],
                    encrypted=s.get(INSTANCE.snapshot_encrypted),
                    size_bytes=(s.get("AllocatedStorage") or 0) * 1024**3,
                    arn=s.get("DBSnapshotArn"),
                )
            )
    return out


@finder("rds", "rds-pitr")
def find_db_pitr(session, ref: ResourceRef) -> list[RecoveryPoint]:
    return _pitr(ref, "rds-pitr", _instance(session, ref.account, ref.region, ref.name))


def _pitr(ref: ResourceRef, source: str, db: dict[str, Any], **details: Any) -> list[RecoveryPoint]:
    """The continuous recovery point of the DB instance or cluster ``db`` (restorable to its
    latest restorable time), or none while its automated backups are off."""
    if not db.get("BackupRetentionPeriod") or not db.get("LatestRestorableTime"):
        return []
    return [
        point(
            ref,
            source,
            id=f"{source}:{ref.arn}@latest",
            created=utc(db["LatestRestorableTime"]),
            encrypted=db.get("StorageEncrypted"),
            key=db.get("KmsKeyId"),
            details=details,
        )
    ]


def _snapshot_point(
    ref: ResourceRef,
    source: str,
    s: dict[str, Any],
    *,
    id: str,
    encrypted: bool | None,
    size_bytes: int | None = None,
    **details: Any,
) -> RecoveryPoint:
    """The recovery point of the DB (cluster) snapshot ``s``; ``details`` beside its type."""
    return point(
        ref,
        source,
        id=id,
        created=utc(s.get("SnapshotCreateTime")),
        encrypted=encrypted,
        key=s.get("KmsKeyId"),
        size_bytes=size_bytes,
        details={"snapshot_type": s.get("SnapshotType"), **details},
    )


def _to_time(key: str, restore_time: Any) -> dict[str, Any]:
    """The point-in-time restore's target: ``key`` (the API's name for it) at
    ``restore_time``, else the latest restorable time."""
    return {key: restore_time} if restore_time else {"UseLatestRestorableTime": True}


def _restorable(snapshot: dict[str, Any]) -> bool:
    """A DB (cluster) snapshot to restore from: available, and not made by AWS Backup (the
    AWS Backup finder lists those, with their vault)."""
    return snapshot.get("Status") == "available" and snapshot.get("SnapshotType") != "awsbackup"


@restorer("rds", "rds-snapshot")
def restore_db_snapshot(session, rp, ref, target, tags, restore_time=None):
    rds = _rds(session, rp.account, rp.region)
    src = _instance(session, ref.account, ref.region, ref.name)
    db = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=target,
        DBSnapshotIdentifier=rp.id,
        DBInstanceClass=src["DBInstanceClass"],
        PubliclyAccessible=False,
        DeletionProtection=False,
        Tags=tag_list(tags),
    )["DBInstance"]
    return Restored("rds", rp.account, rp.region, target, db.get("DBInstanceArn"))


@restorer("rds", "rds-pitr")
def restore_db_pitr(session, rp, ref, target, tags, restore_time=None):
    rds = _rds(session, rp.account, rp.region)
    db = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=ref.name,
        TargetDBInstanceIdentifier=target,
        PubliclyAccessible=False,
        DeletionProtection=False,
        Tags=tag_list(tags),
        **_to_time("RestoreTime", restore_time),
    )["DBInstance"]
    return Restored(
        "rds",
        rp.account,
        rp.region,
        target,
        db.get("DBInstanceArn"),
        details={"restore_time": restore_time},
    )


class _Database(ServiceHandler):
    """What DB instances and DB clusters share: RDS's API (Neptune's endpoint for Neptune),
    in which ``kind`` names the identifier, the ARN and the calls."""

    kind = INSTANCE
    test_minutes = 30
    has_data = True  # PostgreSQL engines: read_content fingerprints the tables (data.py)

    def _client(self, session, account, region):
        return _rds(session, account, region, self.service)

    def describe(self, session, where):
        return self.kind.describe_one(
            self._client(session, where.account, where.region), where.name
        )

    def metadata_of(self, db):
        size = {"allocated_storage_gib": db.get("AllocatedStorage")} if self.kind.sized else {}
        return {
            "engine": db.get("Engine"),
            "engine_version": db.get("EngineVersion"),
            **size,
            "encrypted": bool(db.get("StorageEncrypted")),
            "kms_key": db.get("KmsKeyId"),
        }

    def _reachable(self, session, restored) -> None:
        """Make the restored copy answer queries (a restored cluster has no instance yet)."""

    def read_content(self, session, restored, *, workers: int = 8) -> Content | None:
        """Every table's count and in-database hash, read in one consistent snapshot after
        giving the scratch copy a fresh random master password (held in memory only).
        None for engines the runbooks do not read (their proof rests on metadata)."""
        if not data.readable(session, self.describe(session, restored)):
            return None

        def read():
            self._reachable(session, restored)
            client = self._client(session, restored.account, restored.region)
            login = data.scratch_login(client, self.kind, restored.name)
            _LOGINS[(restored.account, restored.region, restored.name)] = login
            with data.connect(login) as db:
                tables = db.read_tables()
                found = db.canaries()
            return (
                tables,
                found,
                f"{len(tables)} tables hashed inside the database, one consistent read",
            )

        labels = ("all tables", "without the canary table")
        return canary_content(data.KIND, data.fingerprint, read, labels)

    def record_values(self, session, restored, key):
        """The row ``schema.table|col=value`` of the restored copy."""
        if not data.readable(session, self.describe(session, restored)):
            return None
        client = self._client(session, restored.account, restored.region)
        with data.connect(data.scratch_login(client, self.kind, restored.name)) as db:
            return db.row_values(key)

    def query_values(self, session, restored, queries):
        """Each query's first value on the restored copy, read only, with the login the
        content read gave it (a fresh password otherwise); a failed query's error as value."""
        if not data.readable(session, self.describe(session, restored)):
            return None
        login = _LOGINS.get((restored.account, restored.region, restored.name))
        if login is None:
            client = self._client(session, restored.account, restored.region)
            login = data.scratch_login(client, self.kind, restored.name)
            _LOGINS[(restored.account, restored.region, restored.name)] = login
        out: dict[str, Any] = {}
        with data.connect(login) as db:
            for name, query in queries.items():
                try:
                    out[name] = db.query_value(query)
                except Exception as err:  # noqa: BLE001  (the check fails, naming the error)
                    out[name] = err
                    with contextlib.suppress(Exception):  # an aborted transaction
                        db.conn.rollback()
        return out

    def backup_restore_metadata(self, target):
        return {self.kind.ident: target}

    def tag(self, session, restored, tags):
        arn = restored.arn or self.describe(session, restored)[self.kind.arn]
        self._client(session, restored.account, restored.region).add_tags_to_resource(
            ResourceName=arn, Tags=tag_list(tags)
        )

    def handover(self, session, ref, restored):
        return _db_handover(ref, restored, self.kind.word.lower())

    def _listed(self, client) -> Iterator[dict[str, Any]]:
        """Every DB instance (cluster) of the client's account and Region."""
        raise NotImplementedError

    def _ours(self, db: dict[str, Any]) -> bool:
        """Whether the listed ``db`` is one of this service's."""
        return True

    def list_tagged(self, session, account, region, tag_key):
        client = self._client(session, account, region)
        ident, arn = self.kind.ident, self.kind.arn
        out = []
        for db in self._listed(client):
            if not is_scratch_name(db[ident]) or not self._ours(db):
                continue
            tags = _tags_of(client, db[arn])
            if tag_key in tags:
                out.append(self.tagged(account, region, db[ident], db[arn], tags))
        return out


@handler
class RDS(_Database):
    service = "rds"
    not_found = ("DBInstanceNotFound",)
    ready_when = (INSTANCE.status, "available")
    backup_resource_type = "RDS"

    def delete(self, session, restored):
        _LOGINS.pop((restored.account, restored.region, restored.name), None)
        if self.exists(session, restored):
            _rds(session, restored.account, restored.region).delete_db_instance(
                DBInstanceIdentifier=restored.name,
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )

    def _listed(self, client) -> Iterator[dict[str, Any]]:
        for page in client.get_paginator("describe_db_instances").paginate():
            yield from page.get("DBInstances", [])


def _tags_of(client, arn: str) -> dict[str, str]:
    """A DB instance's or cluster's tags as a dict (one ListTagsForResource call)."""
    return tag_dict(client.list_tags_for_resource(ResourceName=arn)["TagList"])


# --------------------------------------------------------------------------- clusters


class _Cluster(_Database):
    kind = CLUSTER
    not_found = ("DBClusterNotFoundFault",)
    ready_when = (CLUSTER.status, "available")

    def find_ref(self, session, arn, account, region, name):
        """A cluster ARN does not say whether it is Aurora or Neptune: ask the engine."""
        cluster = CLUSTER.describe_one(_rds(session, account, region), arn.rsplit(":", 1)[-1])
        engine = cluster.get("Engine", "")
        service = "neptune" if engine.startswith("neptune") else "aurora"
        return ResourceRef(arn, service, account, region, name)

    def delete(self, session, restored):
        _LOGINS.pop((restored.account, restored.region, restored.name), None)
        if not self.exists(session, restored):
            return
        client = self._client(session, restored.account, restored.region)
        cluster = self.describe(session, restored)
        for member in cluster.get("DBClusterMembers", []):
            client.delete_db_instance(
                DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True
            )
        client.delete_db_cluster(DBClusterIdentifier=restored.name, SkipFinalSnapshot=True)

    def _listed(self, client) -> Iterator[dict[str, Any]]:
        return iter(client.describe_db_clusters().get("DBClusters", []))

    def _reachable(self, session, restored) -> None:
        """A restored cluster has no DB instance, so nothing answers queries: add one (it
        goes with the cluster at clean-up: ``delete`` removes the members first)."""
        client = self._client(session, restored.account, restored.region)
        cluster = self.describe(session, restored)
        if cluster.get("DBClusterMembers"):
            return
        name = f"{restored.name[:58]}-db1"
        client.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier=restored.name,
            Engine=cluster["Engine"],
            DBInstanceClass=READER_CLASS,
            Tags=cluster.get("TagList") or [],  # the scratch tags: the policy and sweep need them
        )
        client.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=name, WaiterConfig={"Delay": 15, "MaxAttempts": 120}
        )

    def _ours(self, db: dict[str, Any]) -> bool:
        """Aurora and Neptune clusters share one listing: the engine tells them apart."""
        return db.get("Engine", "").startswith("neptune") == (self.service == "neptune")

    def handover(self, session, ref, restored):
        steps = super().handover(session, ref, restored)
        steps.insert(
            0,
            {
                "step": "add instances",
                "why": "a restored cluster has no DB instances: nothing answers queries yet",
                "how": f"create_db_instance(DBClusterIdentifier='{restored.name}', DBInstanceClass=<as the source>, "
                f"Engine=...) for the writer and each reader",
                "needed": "yes",
            },
        )
        return steps


def _db_handover(ref, restored, kind):
    return [
        {
            "step": "security groups and parameter groups",
            "why": "a restore uses the default VPC security group and parameter group unless told otherwise",
            "how": f"modify_db_{kind}(... VpcSecurityGroupIds=<source's>, DB{'Cluster' if kind == 'cluster' else ''}"
            "ParameterGroupName=<source's>, ApplyImmediately=True)",
            "needed": "yes",
        },
        {
            "step": "backup retention and deletion protection",
            "why": "set them as the tier requires; the restore turned deletion protection off",
            "how": f"modify_db_{kind}(BackupRetentionPeriod=<tier>, DeletionProtection=True)",
            "needed": "yes",
        },
        {
            "step": "secrets and DNS",
            "why": "the endpoint is new: applications and secrets still name the old one",
            "how": "update the connection secret / DNS CNAME to the new endpoint; rotate credentials if the "
            "incident involved them",
            "needed": "yes",
        },
    ]


def _cluster_finders(service: str) -> None:
    @finder(service, "rds-cluster-snapshot")
    def find_cluster_snapshots(session, ref: ResourceRef) -> list[RecoveryPoint]:
        client = _rds(session, ref.account, ref.region, service)
        snaps = client.describe_db_cluster_snapshots(DBClusterIdentifier=ref.name).get(
            "DBClusterSnapshots", []
        )
        return [
            _snapshot_point(
                ref,
                "rds-cluster-snapshot",
                s,
                id=s["DBClusterSnapshotIdentifier"],
                encrypted=s.get(CLUSTER.snapshot_encrypted),
                engine=s.get("Engine"),
            )
            for s in filter(_restorable, snaps)
        ]

    @finder(service, "rds-cluster-pitr")
    def find_cluster_pitr(session, ref: ResourceRef) -> list[RecoveryPoint]:
        c = HANDLERS_BY_SERVICE[service].describe(session, ref)
        return _pitr(ref, "rds-cluster-pitr", c, engine=c.get("Engine"))

    def _call(session, fn, **kwargs):
        try:
            return fn(**kwargs)["DBCluster"]
        except Exception as err:
            if session.sandbox and is_not_supported(err):
                raise NotSupportedOnSandbox(
                    f"{service}: {fn.__name__} is not supported by the sandbox (moto {_moto_version()} fails: "
                    f"{type(err).__name__}); the same call works on AWS"
                ) from err
            raise

    @restorer(service, "rds-cluster-snapshot")
    def restore_cluster_snapshot(session, rp, ref, target, tags, restore_time=None):
        client = _rds(session, rp.account, rp.region, service)
        engine = (
            rp.details.get("engine")
            or HANDLERS_BY_SERVICE[service].source_metadata(session, ref)["engine"]
        )
        c = _call(
            session,
            client.restore_db_cluster_from_snapshot,
            DBClusterIdentifier=target,
            SnapshotIdentifier=rp.id,
            Engine=engine,
            DeletionProtection=False,
            Tags=tag_list(tags),
        )
        return Restored(service, rp.account, rp.region, target, c.get("DBClusterArn"))

    @restorer(service, "rds-cluster-pitr")
    def restore_cluster_pitr(session, rp, ref, target, tags, restore_time=None):
        client = _rds(session, rp.account, rp.region, service)
        c = _call(
            session,
            client.restore_db_cluster_to_point_in_time,
            SourceDBClusterIdentifier=ref.name,
            DBClusterIdentifier=target,
            DeletionProtection=False,
            Tags=tag_list(tags),
            **_to_time("RestoreToTime", restore_time),
        )
        return Restored(
            service,
            rp.account,
            rp.region,
            target,
            c.get("DBClusterArn"),
            details={"restore_time": restore_time},
        )


def _moto_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # read from the installed package's metadata: the library never imports moto
        return version("moto")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


@handler
class Aurora(_Cluster):
    service = "aurora"
    backup_resource_type = "Aurora"


@handler
class Neptune(_Cluster):
    service = "neptune"
    backup_resource_type = "Neptune"


HANDLERS_BY_SERVICE = {"aurora": Aurora(), "neptune": Neptune()}
_cluster_finders("aurora")
_cluster_finders("neptune")
