"""S3: restore the object versions current at a time into a scratch bucket (or an AWS
Backup recovery point); read back with a listing and concurrent GETs, hashing each body.

A fingerprint record is ``[key, size, checksum]`` where checksum is the SHA-256 of the
body; the ETag variant is computed too, so a fingerprint recorded either way compares.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from runbook_lib.fingerprint import Fingerprint, canonical
from runbook_lib.inventory.model import tag_list
from runbook_lib.restore.canary import S3_PREFIX, canary_time
from runbook_lib.restore.fp import add_digest
from runbook_lib.restore.model import RecoveryPoint, ResourceRef, Restored, utc
from runbook_lib.restore.registry import Content, ServiceHandler, finder, handler, point, restorer
from runbook_lib.session import utcnow


def _s3(session, account: str, region: str):
    return session.client("s3", account, region)


def bucket_region(s3, bucket: str) -> str:
    loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return loc or "us-east-1"


def _tags(s3, bucket: str) -> dict[str, str]:
    try:
        return {
            t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
        }
    except s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise


def _encryption(s3, bucket: str) -> dict[str, Any] | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        return rules[0]
    except s3.exceptions.ClientError:
        return None


# --------------------------------------------------------------------------- finders


@finder("s3", "s3-versions")
def find_versions(session, ref: ResourceRef) -> list[RecoveryPoint]:
    s3 = _s3(session, ref.account, ref.region)
    if s3.get_bucket_versioning(Bucket=ref.name).get("Status") != "Enabled":
        return []
    now = utcnow()
    return [
        point(
            ref,
            "s3-versions",
            id=f"s3-versions:{ref.name}@latest",
            created=now,
            details={"restore_time": None},
        )
    ]


def versions_as_of(s3, bucket: str, when: datetime | None) -> dict[str, str]:
    """key -> version id current at ``when`` (None: now); keys deleted by then are left out."""
    best: dict[str, tuple[datetime, str | None]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [(v, False) for v in page.get("Versions", [])] + [
            (m, True) for m in page.get("DeleteMarkers", [])
        ]
        for v, is_marker in entries:
            modified = utc(v["LastModified"])
            if when is not None and modified > when:
                continue
            if when is None and not v.get("IsLatest"):
                continue
            key = v["Key"]
            if key not in best or modified >= best[key][0]:
                best[key] = (modified, None if is_marker else v["VersionId"])
    return {k: vid for k, (_, vid) in best.items() if vid is not None}


# --------------------------------------------------------------------------- restorers


def create_bucket(
    session, account: str, region: str, name: str, tags: dict[str, str], like: str | None
):
    s3 = _s3(session, account, region)
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
    rule = _encryption(s3, like) if like else None
    if rule:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


@restorer("s3", "s3-versions")
def restore_versions(
    session, rp: RecoveryPoint, ref: ResourceRef, target: str, tags: dict, restore_time=None
):
    s3 = _s3(session, ref.account, ref.region)
    when = restore_time or rp.details.get("restore_time")
    chosen = versions_as_of(s3, ref.name, when)
    create_bucket(session, ref.account, ref.region, target, tags, like=ref.name)
    workers = session.params.target.max_workers

    def copy(item: tuple[str, str]) -> None:
        key, vid = item
        s3.copy_object(
            Bucket=target, Key=key, CopySource={"Bucket": ref.name, "Key": key, "VersionId": vid}
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(copy, sorted(chosen.items())))
    out = Restored("s3", ref.account, ref.region, target, f"arn:aws:s3:::{target}")
    out.details.update(objects_copied=len(chosen), restore_time=when)
    return out


# --------------------------------------------------------------------------- handler


def list_and_hash(s3, bucket: str, workers: int = 8) -> Content:
    """List ``bucket`` and GET every object concurrently; fingerprints by SHA-256 and by ETag,
    each with and without canary objects."""
    started = time.perf_counter()
    listing = [
        o
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]

    def get(obj: dict[str, Any]) -> tuple[str, int, str, str]:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        return (
            obj["Key"],
            len(body),
            hashlib.sha256(body).hexdigest(),
            obj.get("ETag", "").strip('"'),
        )

    fps = {
        name: Fingerprint("s3-objects")
        for name in ("sha256", "sha256 without canaries", "etag", "etag without canaries")
    }
    canaries: list[datetime] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for key, size, sha, etag in pool.map(get, listing, chunksize=16):
            add_digest(fps["sha256"], key, canonical([key, size, sha]))
            add_digest(fps["etag"], key, canonical([key, size, etag]))
            if key.startswith(S3_PREFIX):
                when = canary_time(key)
                if when:
                    canaries.append(when)
                continue
            add_digest(fps["sha256 without canaries"], key, canonical([key, size, sha]))
            add_digest(fps["etag without canaries"], key, canonical([key, size, etag]))
    return Content(
        "s3-objects",
        fps["sha256 without canaries"].count,
        fps,
        sorted(canaries),
        time.perf_counter() - started,
        f"list + {workers} concurrent GETs, SHA-256 of every body",
    )


@handler
class S3(ServiceHandler):
    service = "s3"
    has_data = True
    not_found = ("NoSuchBucket", "404")  # head_bucket has no body: its code is the HTTP status
    test_minutes = 10
    backup_resource_type = "S3"

    def backup_restore_metadata(self, target: str) -> dict[str, str]:
        return {"DestinationBucketName": target, "NewBucket": "true"}

    def covers(self, rp: RecoveryPoint, when: datetime) -> bool:
        """Object versions restore to any time up to now: the point's time is not an end."""
        if rp.source != "s3-versions":
            return super().covers(rp, when)
        earliest = rp.details.get("earliest")
        return earliest is None or earliest <= when

    def record_values(self, session, restored: Restored, key: str) -> dict[str, Any] | None:
        """The body of the object ``key`` of the restored bucket, as text."""
        s3 = _s3(session, restored.account, restored.region)
        try:
            body = s3.get_object(Bucket=restored.name, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return {"body": body.decode("utf-8", errors="replace")}

    def find_ref(self, session, arn: str, account: str, region: str, name: str) -> ResourceRef:
        if account and region:
            return ResourceRef(arn, "s3", account, region, name)
        for acct in session.params.account_ids:  # an S3 ARN names neither account nor Region
            s3 = _s3(session, acct, session.params.regions[0])
            if any(b["Name"] == name for b in s3.list_buckets().get("Buckets", [])):
                return ResourceRef(arn, "s3", acct, bucket_region(s3, name), name)
        from runbook_lib.errors import ParamsError

        raise ParamsError(
            "source_arn",
            [
                f"source_arn: bucket {name!r} is in none of the accounts {session.params.account_ids}"
            ],
        )

    def read_content(self, session, restored: Restored, *, workers: int = 8) -> Content:
        return list_and_hash(
            _s3(session, restored.account, restored.region), restored.name, workers
        )

    def describe(self, session, where: ResourceRef | Restored) -> dict[str, Any]:
        """The bucket's default encryption rule ({} when it has none)."""
        return _encryption(_s3(session, where.account, where.region), where.name) or {}

    def metadata_of(self, rule: dict[str, Any]) -> dict[str, Any]:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        return {"sse": default.get("SSEAlgorithm"), "kms_key": default.get("KMSMasterKeyID")}

    def tag(self, session, restored: Restored, tags: dict[str, str]) -> None:
        s3 = _s3(session, restored.account, restored.region)
        merged = {**_tags(s3, restored.name), **tags}
        s3.put_bucket_tagging(
            Bucket=restored.name,
            Tagging={"TagSet": tag_list(merged)},
        )

    def exists(self, session, restored: Restored) -> bool:
        s3 = _s3(session, restored.account, restored.region)
        return self.found(lambda: s3.head_bucket(Bucket=restored.name))

    def delete(self, session, restored: Restored) -> None:
        s3 = _s3(session, restored.account, restored.region)
        if not self.exists(session, restored):
            return
        # list from the start after each batch: a listing paged past deleted keys can skip some
        for _ in range(1_000_000):
            page = s3.list_object_versions(Bucket=restored.name, MaxKeys=1000)
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not doomed:
                break
            s3.delete_objects(Bucket=restored.name, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=restored.name)

    def list_tagged(self, session, account: str, region: str, tag_key: str) -> list[Restored]:
        from runbook_lib.restore.naming import PREFIX

        s3 = _s3(session, account, region)
        out = []
        for b in s3.list_buckets().get("Buckets", []):
            name = b["Name"]
            if not name.startswith(PREFIX + "-") or bucket_region(s3, name) != region:
                continue
            tags = _tags(s3, name)
            if tag_key in tags:
                out.append(
                    Restored(
                        "s3", account, region, name, f"arn:aws:s3:::{name}", details={"tags": tags}
                    )
                )
        return out

    def handover(self, session, ref: ResourceRef, restored: Restored) -> list[dict[str, str]]:
        return [
            {
                "step": "bucket settings",
                "why": "versioning, lifecycle, replication, policies, CORS, notifications and Object Lock "
                "are not restored with the objects",
                "how": f"copy them from {ref.name} (get_bucket_* / put_bucket_*) to {restored.name}; "
                "enable versioning first",
                "needed": "yes",
            },
            {
                "step": "event notifications",
                "why": "consumers (Lambda, SQS, EventBridge) listen to the old bucket",
                "how": f"put_bucket_notification_configuration on {restored.name}",
                "needed": "if the source had any",
            },
        ]
