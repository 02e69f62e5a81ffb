"""EFS: restored from an AWS Backup recovery point into a new file system (EFS has no
native snapshot). The check is metadata (encryption, key, performance mode): reading files
needs a mount target and an NFS client. Sandbox: moto holds no file data."""

from __future__ import annotations

from runbook_lib.inventory.model import tag_list
from runbook_lib.restore.registry import ServiceHandler, handler


def _efs(session, account, region):
    return session.client("efs", account, region)


def _fs(session, account, region, fs_id):
    return _efs(session, account, region).describe_file_systems(FileSystemId=fs_id)["FileSystems"][
        0
    ]


@handler
class EFS(ServiceHandler):
    service = "efs"
    not_found = ("FileSystemNotFound",)
    ready_when = ("LifeCycleState", "available")
    assigns_id = True  # a file system id (the ARN's last part); the name is a Name tag
    test_minutes = 20
    backup_resource_type = "EFS"

    def backup_restore_metadata(self, target):
        return {"newFileSystem": "true", "CreationToken": target[:64]}

    def describe(self, session, where):
        return _fs(session, where.account, where.region, where.ident)

    def metadata_of(self, fs):
        return {
            "encrypted": bool(fs.get("Encrypted")),
            "kms_key": fs.get("KmsKeyId"),
            "performance_mode": fs.get("PerformanceMode"),
        }

    def tag(self, session, restored, tags):
        _efs(session, restored.account, restored.region).tag_resource(
            ResourceId=restored.ident,
            Tags=tag_list({**tags, "Name": restored.name}),
        )

    def exists(self, session, restored):
        return bool(restored.resource_id) and super().exists(session, restored)

    def delete(self, session, restored):
        if not self.exists(session, restored):
            return
        efs = _efs(session, restored.account, restored.region)
        for mt in efs.describe_mount_targets(FileSystemId=restored.ident).get("MountTargets", []):
            efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
        efs.delete_file_system(FileSystemId=restored.ident)

    def list_tagged(self, session, account, region, tag_key):
        efs = _efs(session, account, region)
        out = []
        for page in efs.get_paginator("describe_file_systems").paginate():
            for fs in page.get("FileSystems", []):
                tags = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}
                if tag_key in tags:
                    name, fs_id = tags.get("Name", fs["FileSystemId"]), fs["FileSystemId"]
                    out.append(
                        self.tagged(account, region, name, fs.get("FileSystemArn"), tags, fs_id)
                    )
        return out

    def handover(self, session, ref, restored):
        return [
            {
                "step": "mount targets and access points",
                "why": "a restored file system has none: no instance can mount it",
                "how": f"create_mount_target(FileSystemId='{restored.ident}', SubnetId=..., SecurityGroups=...) per AZ; "
                "re-create access points",
                "needed": "yes",
            },
            {
                "step": "backup policy and lifecycle",
                "why": "not carried over",
                "how": f"put_backup_policy(FileSystemId='{restored.ident}', BackupPolicy={{Status: ENABLED}}); "
                "put_lifecycle_configuration as the source",
                "needed": "yes",
            },
        ]
