"""RDS instances, Aurora and Neptune clusters: restore from a snapshot or to a point in
time under a new identifier.

The check is metadata (engine, version, storage, encryption, key): the runbook does not
connect to databases. Sandbox: no database engine runs in moto, so there is no data to
check anyway; moto's Neptune ``restore_db_cluster_from_snapshot`` crashes (KeyError
'_master_user_password'), reported as NOT_SUPPORTED_ON_SANDBOX.
"""

from __future__ import annotations

from typing import Any

from runbook_lib.restore.model import (
    NotSupportedOnSandbox,
    RecoveryPoint,
    ResourceRef,
    Restored,
    utc,
)
from runbook_lib.restore.registry import ServiceHandler, finder, handler, restorer
from runbook_lib.session import is_not_supported


def _rds(session, account: str, region: str, service: str = "rds"):
    return session.client("neptune" if service == "neptune" else "rds", account, region)


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


# --------------------------------------------------------------------------- instances


def _instance(session, account, region, name) -> dict[str, Any]:
    return _rds(session, account, region).describe_db_instances(DBInstanceIdentifier=name)[
        "DBInstances"
    ][0]


@finder("rds", "rds-snapshot")
def find_db_snapshots(session, ref: ResourceRef) -> list[RecoveryPoint]:
    rds = _rds(session, ref.account, ref.region)
    out = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=ref.name):
        for s in page.get("DBSnapshots", []):
            if s.get("Status") != "available" or s.get("SnapshotType") == "awsbackup":
                continue
            out.append(
                RecoveryPoint(
                    id=s["DBSnapshotIdentifier"],
                    resource_arn=ref.arn,
                    service="rds",
                    source="rds-snapshot",
                    created=utc(s.get("SnapshotCreateTime")),
                    account=ref.account,
                    region=ref.region,
                    encrypted=s.get("Encrypted"),
                    key=s.get("KmsKeyId"),
                    size_bytes=(s.get("AllocatedStorage") or 0) * 1024**3,
                    details={"snapshot_type": s.get("SnapshotType"), "arn": s.get("DBSnapshotArn")},
                )
            )
    return out


@finder("rds", "rds-pitr")
def find_db_pitr(session, ref: ResourceRef) -> list[RecoveryPoint]:
    db = _instance(session, ref.account, ref.region, ref.name)
    if not db.get("BackupRetentionPeriod") or not db.get("LatestRestorableTime"):
        return []
    return [
        RecoveryPoint(
            id=f"rds-pitr:{ref.arn}@latest",
            resource_arn=ref.arn,
            service="rds",
            source="rds-pitr",
            created=utc(db["LatestRestorableTime"]),
            account=ref.account,
            region=ref.region,
            encrypted=db.get("StorageEncrypted"),
            key=db.get("KmsKeyId"),
        )
    ]


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
        Tags=_tags(tags),
    )["DBInstance"]
    return Restored("rds", rp.account, rp.region, target, db.get("DBInstanceArn"))


@restorer("rds", "rds-pitr")
def restore_db_pitr(session, rp, ref, target, tags, restore_time=None):
    rds = _rds(session, rp.account, rp.region)
    kwargs: dict[str, Any] = {
        "SourceDBInstanceIdentifier": ref.name,
        "TargetDBInstanceIdentifier": target,
        "PubliclyAccessible": False,
        "DeletionProtection": False,
        "Tags": _tags(tags),
    }
    if restore_time:
        kwargs["RestoreTime"] = restore_time
    else:
        kwargs["UseLatestRestorableTime"] = True
    db = rds.restore_db_instance_to_point_in_time(**kwargs)["DBInstance"]
    return Restored(
        "rds",
        rp.account,
        rp.region,
        target,
        db.get("DBInstanceArn"),
        details={"restore_time": restore_time},
    )


@handler
class RDS(ServiceHandler):
    service = "rds"
    not_found = ("DBInstanceNotFound",)
    test_minutes = 30
    backup_resource_type = "RDS"

    def backup_restore_metadata(self, target):
        return {"DBInstanceIdentifier": target}

    def is_ready(self, session, restored):
        return (
            _instance(session, restored.account, restored.region, restored.name)["DBInstanceStatus"]
            == "available"
        )

    def _meta(self, db):
        return {
            "engine": db.get("Engine"),
            "engine_version": db.get("EngineVersion"),
            "allocated_storage_gib": db.get("AllocatedStorage"),
            "encrypted": bool(db.get("StorageEncrypted")),
            "kms_key": db.get("KmsKeyId"),
        }

    def source_metadata(self, session, ref):
        return self._meta(_instance(session, ref.account, ref.region, ref.name))

    def metadata(self, session, restored):
        return self._meta(_instance(session, restored.account, restored.region, restored.name))

    def tag(self, session, restored, tags):
        arn = (
            restored.arn
            or _instance(session, restored.account, restored.region, restored.name)["DBInstanceArn"]
        )
        _rds(session, restored.account, restored.region).add_tags_to_resource(
            ResourceName=arn, Tags=_tags(tags)
        )

    def exists(self, session, restored):
        return self.found(
            lambda: _instance(session, restored.account, restored.region, restored.name)
        )

    def delete(self, session, restored):
        if self.exists(session, restored):
            _rds(session, restored.account, restored.region).delete_db_instance(
                DBInstanceIdentifier=restored.name,
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )

    def list_tagged(self, session, account, region, tag_key):
        from runbook_lib.restore.naming import PREFIX

        rds = _rds(session, account, region)
        out = []
        for page in rds.get_paginator("describe_db_instances").paginate():
            for db in page.get("DBInstances", []):
                if not db["DBInstanceIdentifier"].startswith(PREFIX + "-"):
                    continue
                tags = _tags_of(rds, db["DBInstanceArn"])
                if tag_key in tags:
                    out.append(
                        Restored(
                            "rds",
                            account,
                            region,
                            db["DBInstanceIdentifier"],
                            db["DBInstanceArn"],
                            details={"tags": tags},
                        )
                    )
        return out

    def handover(self, session, ref, restored):
        return _db_handover(ref, restored, "instance")


def _tags_of(client, arn: str) -> dict[str, str]:
    """A DB instance's or cluster's tags as a dict (one ListTagsForResource call)."""
    return {
        t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=arn)["TagList"]
    }


# --------------------------------------------------------------------------- clusters


class _Cluster(ServiceHandler):
    service = "aurora"
    not_found = ("DBClusterNotFoundFault",)
    test_minutes = 30
    backup_resource_type = "Aurora"

    def backup_restore_metadata(self, target):
        return {"DBClusterIdentifier": target}

    def find_ref(self, session, arn, account, region, name):
        """A cluster ARN does not say whether it is Aurora or Neptune: ask the engine."""
        engine = (
            _rds(session, account, region)
            .describe_db_clusters(DBClusterIdentifier=arn.rsplit(":", 1)[-1])["DBClusters"][0]
            .get("Engine", "")
        )
        service = "neptune" if engine.startswith("neptune") else "aurora"
        return ResourceRef(arn, service, account, region, name)

    def _client(self, session, account, region):
        return _rds(session, account, region, self.service)

    def _cluster(self, session, account, region, name):
        return self._client(session, account, region).describe_db_clusters(
            DBClusterIdentifier=name
        )["DBClusters"][0]

    def is_ready(self, session, restored):
        return (
            self._cluster(session, restored.account, restored.region, restored.name)["Status"]
            == "available"
        )

    def _meta(self, c):
        return {
            "engine": c.get("Engine"),
            "engine_version": c.get("EngineVersion"),
            "encrypted": bool(c.get("StorageEncrypted")),
            "kms_key": c.get("KmsKeyId"),
        }

    def source_metadata(self, session, ref):
        return self._meta(self._cluster(session, ref.account, ref.region, ref.name))

    def metadata(self, session, restored):
        return self._meta(self._cluster(session, restored.account, restored.region, restored.name))

    def tag(self, session, restored, tags):
        arn = (
            restored.arn
            or self._cluster(session, restored.account, restored.region, restored.name)[
                "DBClusterArn"
            ]
        )
        self._client(session, restored.account, restored.region).add_tags_to_resource(
            ResourceName=arn, Tags=_tags(tags)
        )

    def exists(self, session, restored):
        return self.found(
            lambda: self._cluster(session, restored.account, restored.region, restored.name)
        )

    def delete(self, session, restored):
        if not self.exists(session, restored):
            return
        client = self._client(session, restored.account, restored.region)
        cluster = self._cluster(session, restored.account, restored.region, restored.name)
        for member in cluster.get("DBClusterMembers", []):
            client.delete_db_instance(
                DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True
            )
        client.delete_db_cluster(DBClusterIdentifier=restored.name, SkipFinalSnapshot=True)

    def list_tagged(self, session, account, region, tag_key):
        from runbook_lib.restore.naming import PREFIX

        client = self._client(session, account, region)
        out = []
        for c in client.describe_db_clusters().get("DBClusters", []):
            engine = c.get("Engine", "")
            if not c["DBClusterIdentifier"].startswith(PREFIX + "-") or engine.startswith(
                "neptune"
            ) != (self.service == "neptune"):
                continue
            tags = _tags_of(client, c["DBClusterArn"])
            if tag_key in tags:
                out.append(
                    Restored(
                        self.service,
                        account,
                        region,
                        c["DBClusterIdentifier"],
                        c["DBClusterArn"],
                        details={"tags": tags},
                    )
                )
        return out

    def handover(self, session, ref, restored):
        steps = _db_handover(ref, restored, "cluster")
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
        out = []
        snaps = client.describe_db_cluster_snapshots(DBClusterIdentifier=ref.name).get(
            "DBClusterSnapshots", []
        )
        for s in snaps:
            if s.get("Status") != "available" or s.get("SnapshotType") == "awsbackup":
                continue
            out.append(
                RecoveryPoint(
                    id=s["DBClusterSnapshotIdentifier"],
                    resource_arn=ref.arn,
                    service=service,
                    source="rds-cluster-snapshot",
                    created=utc(s.get("SnapshotCreateTime")),
                    account=ref.account,
                    region=ref.region,
                    encrypted=s.get("StorageEncrypted"),
                    key=s.get("KmsKeyId"),
                    details={"snapshot_type": s.get("SnapshotType"), "engine": s.get("Engine")},
                )
            )
        return out

    @finder(service, "rds-cluster-pitr")
    def find_cluster_pitr(session, ref: ResourceRef) -> list[RecoveryPoint]:
        c = HANDLERS_BY_SERVICE[service]._cluster(session, ref.account, ref.region, ref.name)
        if not c.get("BackupRetentionPeriod") or not c.get("LatestRestorableTime"):
            return []
        return [
            RecoveryPoint(
                id=f"rds-cluster-pitr:{ref.arn}@latest",
                resource_arn=ref.arn,
                service=service,
                source="rds-cluster-pitr",
                created=utc(c["LatestRestorableTime"]),
                account=ref.account,
                region=ref.region,
                encrypted=c.get("StorageEncrypted"),
                key=c.get("KmsKeyId"),
                details={"engine": c.get("Engine")},
            )
        ]

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
            Tags=_tags(tags),
        )
        return Restored(service, rp.account, rp.region, target, c.get("DBClusterArn"))

    @restorer(service, "rds-cluster-pitr")
    def restore_cluster_pitr(session, rp, ref, target, tags, restore_time=None):
        client = _rds(session, rp.account, rp.region, service)
        kwargs: dict[str, Any] = {
            "SourceDBClusterIdentifier": ref.name,
            "DBClusterIdentifier": target,
            "DeletionProtection": False,
            "Tags": _tags(tags),
        }
        if restore_time:
            kwargs["RestoreToTime"] = restore_time
        else:
            kwargs["UseLatestRestorableTime"] = True
        c = _call(session, client.restore_db_cluster_to_point_in_time, **kwargs)
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


@handler
class Neptune(_Cluster):
    service = "neptune"
    backup_resource_type = "Neptune"


HANDLERS_BY_SERVICE = {"aurora": Aurora(), "neptune": Neptune()}
_cluster_finders("aurora")
_cluster_finders("neptune")
