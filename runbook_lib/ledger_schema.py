"""The ledger's declared schema: every table's columns, their types and meanings.

``Ledger.append`` conforms each write to it (a missing column is written as null, every
column is cast to its declared type, an undeclared column is an error), so a table's types
never drift between runs and ``pd.read_parquet(<ledger>/<table>)`` reads every file of it.
``docs/ledger.md``'s column tables are generated from here (``render_docs``) and a test
checks they agree. Besides these, the ledger adds ``run_id`` (text) and ``recorded_at``
(timestamp) to every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from runbook_lib import services as registry
from runbook_lib.errors import RunbookError

ARROW = {
    "text": pa.string(),
    "JSON text": pa.string(),
    "bool": pa.bool_(),
    "float": pa.float64(),
    "int": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of ARROW
    meaning: str


def _c(name: str, type_: str, meaning: str) -> Column:
    return Column(name, type_, meaning)


def _alike(meaning: str, names: str, type_: str = "text") -> list[Column]:
    """Columns of one type that share one meaning; ``names`` separated by spaces (spread
    into a table: ``*_alike(...)``)."""
    return [Column(name, type_, meaning) for name in names.split()]


def _quoted(values) -> str:
    return ", ".join(f"`{v}`" for v in dict.fromkeys(values))


_SERVICES = _quoted(registry.names())
_NATIVE = _quoted(s.native_backup for s in registry.specs().values() if s.native_backup)
_SOURCES = "a recovery-point source declared by a service (docs/restore.md, docs/services.md)"
_FINGERPRINT = (
    "`runbook_lib.fingerprint` of the content at backup time (`dynamodb-items`, `s3-objects`); "
    "empty where no data is read"
)


SCHEMA: dict[str, list[Column]] = {
    "inventory": [
        _c("account", "text", "12-digit account id"),
        _c("region", "text", "Region code (S3 buckets: the bucket's Region)"),
        _c(
            "service",
            "text",
            f"one of the registered services ({_SERVICES}; docs/services.md)",
        ),
        _c(
            "resource_type",
            "text",
            "`<ARN service>:<resource kind>` of the ARN shape its service declares, e.g. `ec2:volume`, `rds:db`, `rds:cluster`, `dynamodb:table`, `s3:bucket`",
        ),
        _c("arn", "text", "the resource's ARN (the join key of every table)"),
        _c(
            "name",
            "text",
            "table / bucket / identifier; where the service gives no name (volumes, file systems): the `Name` tag, else the id",
        ),
        _c(
            "size_bytes",
            "float",
            "allocated or stored size; null where the service's API does not say",
        ),
        _c("encrypted", "bool", "encrypted at rest"),
        _c(
            "kms_key",
            "text",
            "the KMS key id/ARN named by the resource; null = AWS-owned or default key",
        ),
        _c(
            "cmk",
            "bool",
            "key is customer-managed; false for AWS-managed (`alias/aws/*`), AWS-owned or unencrypted; null = could not be told (e.g. `kms:DescribeKey` denied)",
        ),
        _c("tags", "JSON text", "the resource's tags"),
        _c(
            "tier",
            "text",
            "value of the tier tag (`tag_keys.tier`) if it names a tier, else `default_tier`",
        ),
        _c(
            "reproducible_from",
            "text",
            "value of the `tag_keys.reproducible` tag: the source the data can be rebuilt from (no backup required)",
        ),
        _c(
            "classified",
            "bool",
            "false when the tier tag is missing or names no tier (and no reproducible tag)",
        ),
        _c("created", "timestamp", "creation time; null where the service's API does not say"),
        _c("backup_required", "bool", "not reproducible"),
        _c("protected", "bool", "at least one mechanism gives restore points"),
        _c(
            "mechanisms",
            "JSON text",
            'list of what protects it, e.g. `["dynamodb PITR", "aws backup plan gold / rule daily"]`',
        ),
        _c(
            "rpo_seconds",
            "float",
            "best achievable RPO of those mechanisms (PITR/continuous 300; a plan rule its schedule's longest interval; S3 versioning 0); null = none",
        ),
        _c("rpo_objective_seconds", "float", "the tier's RPO"),
        _c("rpo_met", "bool", "protected and rpo_seconds <= objective"),
        _c(
            "retention_days",
            "float",
            "longest retention among the protecting mechanisms (`inf` = never deleted); null = unknown",
        ),
        _c("retention_objective_days", "float", "the tier's retention"),
        _c("retention_met", "bool", "null when protected but the retention is unknown"),
        _c(
            "copy_regions",
            "JSON text",
            "Regions other than the resource's holding a copy (plan copy actions, S3 replication, recovery points found there)",
        ),
        _c("copy_accounts", "JSON text", "other accounts holding a copy"),
        _c(
            "newest_recovery_point",
            "timestamp",
            "newest restorable point at or before `as_of` (AWS Backup, snapshots, DynamoDB backups, PITR latest restorable time, log exports)",
        ),
        _c(
            "recovery_point_source",
            "text",
            "what made it, e.g. `aws backup (Default)`, `ebs snapshot`, `rds automated snapshot`",
        ),
        _c("recovery_point_age_seconds", "float", "`as_of` minus newest_recovery_point"),
        _c(
            "notes",
            "text",
            "questions the target could not answer, e.g. AWS Backup selections `NOT_SUPPORTED_ON_SANDBOX`",
        ),
        _c("as_of", "timestamp", "the run's `as_of`"),
    ],
    "gaps": [
        *_alike("as in `inventory`", "account region service name arn tier"),
        _c(
            "gap",
            "text",
            "`unclassified`, `unknown_tier`, `no_backup`, `rpo_too_long`, `retention_short`, `no_copy_region`, `no_copy_account`, `not_encrypted`, `no_cmk`",
        ),
        _c("missing", "text", "what is missing, in words (e.g. `restore points kept 7 days`)"),
        _c("why", "text", "the objective it breaks (e.g. `tier gold retention is 35 days`)"),
        _c(
            "closed_by",
            "text",
            "the step that closes it: `protect: <setting>` for the protect runbook (e.g. `protect: dynamodb PITR`, `protect: backup selection for tier gold`), `owner: <action>` for a person (tags)",
        ),
        _c("as_of", "timestamp", "the run's `as_of`"),
    ],
    "errors": [
        _c("account", "text", "account id"),
        _c("region", "text", "Region, or `*` for S3 (listed once per account)"),
        _c(
            "service",
            "text",
            "the service, `backup` (AWS Backup plans/vaults), or `*` when the account itself could not be reached (role not assumable)",
        ),
        _c(
            "resource",
            "text",
            "the resource whose describe failed; empty when the whole scope failed",
        ),
        _c("error", "text", "exception type and first line of its message"),
        _c("as_of", "timestamp", "the run's `as_of`"),
    ],
    "findings": [
        _c(
            "control_id",
            "text",
            "the control, e.g. `dynamodb_pitr_enabled`, `restore_tested_recently` (the catalogue: `runbook_lib.audit.controls_table()`)",
        ),
        _c("title", "text", "the control's title"),
        _c("practice", "text", "`REL09-BP01` .. `REL09-BP04`"),
        _c("severity", "text", "`critical`, `high`, `medium`, `low`"),
        _c("account", "text", "account id"),
        _c("region", "text", "Region code"),
        _c(
            "service",
            "text",
            "as in `inventory`; `backup` for vaults and recovery points; `*` for an estate scope",
        ),
        _c(
            "arn",
            "text",
            "the resource's ARN (join with `inventory.arn`); a vault or recovery point ARN; `arn:aws:backup:R:A:backup-vault:*` when a scope holding data has no vault; `estate:<account>/<region>` for a scope",
        ),
        _c(
            "name",
            "text",
            "resource name; vault name; `<vault>: <resource ARN>` for a recovery point; `(none)` for a missing vault",
        ),
        _c("tier", "text", "the resource's tier (empty for vaults and scopes)"),
        _c(
            "status",
            "text",
            "`PASS`, `FAIL`, `NOT_APPLICABLE`, `NOT_SUPPORTED_ON_SANDBOX` (the sandbox cannot produce the evidence; AWS can), `ERROR` (the control itself could not run)",
        ),
        _c(
            "reason",
            "text",
            "why, in words, with the measured value (e.g. `kept 7 days, less than 35 days`, `never restore-tested (no row in the restore_tests ledger)`)",
        ),
        _c(
            "expected",
            "text",
            "the parameter values judged against, e.g. `rpo=1h`, `restore_test_every=7d`, `copy_region=eu-central-1`",
        ),
        _c(
            "remediation",
            "text",
            "FAIL / ERROR only: the runbook step that fixes it; the inventory's resource-specific `closed_by` where it has one (e.g. `protect: dynamodb PITR`)",
        ),
        _c("as_of", "timestamp", "the audit's `as_of` (restore tests count up to it)"),
    ],
    "restore_tests": [
        _c(
            "test_id",
            "text",
            "`rt-YYYYMMDDtHHMMSS-xxxxxx`; also the value of the `restore-test` tag on the scratch copy",
        ),
        *_alike("the tested resource's, as in `inventory`", "account region service"),
        _c("resource_arn", "text", "the tested (source) resource; join with `inventory.arn`"),
        _c("resource_name", "text", "its name"),
        _c(
            "tier",
            "text",
            "the tier whose objectives were applied (the default tier when untagged)",
        ),
        _c(
            "recovery_point_id",
            "text",
            "AWS Backup recovery point ARN, DynamoDB backup ARN, snapshot id, `dynamodb-pitr:<arn>@latest`, `s3-versions:<bucket>@latest`, log export task id; empty when none was found",
        ),
        _c(
            "recovery_point_source",
            "text",
            f"{_SOURCES}, e.g. `aws-backup`, `dynamodb-pitr`, `s3-versions`, `ebs-snapshot`, `rds-snapshot`, `logs-export`",
        ),
        _c(
            "recovery_point_time",
            "timestamp",
            "when the recovery point was made (latest restorable time for continuous backups)",
        ),
        _c(
            "recovery_point_choice",
            "text",
            "why this one (`newest recovery point with a recorded fingerprint (within the RPO)`, `newest recovery point`, `asked for`)",
        ),
        _c(
            "copy",
            "text",
            "which recovery point was asked for: `local` (the resource's own Region) or `dr` (its AWS Backup copy in the tier's `copy_region`); see `docs/restore.md`",
        ),
        _c(
            "recovery_point_region",
            "text",
            "the Region holding the recovery point, and so the Region the scratch copy was made in: the resource's Region, or the copy Region for `dr`",
        ),
        _c(
            "recovery_point_copy_of",
            "text",
            "`dr` only: the source recovery point ARN the copy was made from (from its copy job); its backup-time fingerprint is the one checked. Empty when no copy job links it",
        ),
        _c("restore_start", "timestamp", "when the restore was called (UTC)"),
        _c("restore_end", "timestamp", "when the scratch copy was ready (UTC)"),
        _c(
            "restore_seconds",
            "float",
            "restore_end − restore_start, measured with a monotonic clock",
        ),
        _c("validation_seconds", "float", "reading back and checking the scratch copy"),
        _c(
            "verdict",
            "text",
            "the test's verdict, always equal to `status` (one row, one verdict). Rows recorded before `content_verdict` existed hold the content result here instead: read `status` for the outcome",
        ),
        _c(
            "content_verdict",
            "text",
            "what the content checks alone said: `PASS` (backup-time fingerprint matched), `PASS_WEAK` (only weaker checks ran), `FAIL`; empty when nothing was validated (no recovery point, restore failed, not supported, skipped). Not the test's verdict: a stale recovery point with the right content is `PASS` here and `FAIL` in `status`",
        ),
        _c(
            "verdict_detail",
            "text",
            "the failing checks with what differs (counts, first differing keys), or what passed",
        ),
        _c(
            "evidence",
            "JSON text",
            '`["fingerprint=PASS", "canary=PASS", "metadata:kms_key=PASS", ...]`: which checks ran and how they ended',
        ),
        _c("checks", "JSON text", 'every check as `{"check", "status", "detail"}`'),
        _c(
            "records_found",
            "int",
            "records in the restored copy (canaries excluded); empty where no data is read",
        ),
        _c("rto_seconds", "float", "restore_seconds + validation_seconds (the measured RTO)"),
        _c("rto_objective_seconds", "float", "the tier's `rto`"),
        _c("rto_met", "bool", "rto_seconds ≤ rto_objective_seconds"),
        _c("rpo_seconds", "float", "the test time (or the `as_of` given) − recovery_point_time"),
        _c("rpo_objective_seconds", "float", "the tier's `rpo`"),
        _c(
            "rpo_met",
            "bool",
            "rpo_seconds ≤ rpo_objective_seconds; empty when the recovery point has no time",
        ),
        _c("canary_time", "timestamp", "the newest canary record found in the restored copy"),
        _c(
            "canary_freshness_seconds",
            "float",
            "test time − canary_time: how fresh the restored data measurably is",
        ),
        _c(
            "status",
            "text",
            "**the verdict of the test**: `PASS`, `PASS_WEAK`, `FAIL` (a check failed, an objective was missed or the clean-up failed), or what stopped it: `ERROR`, `NO_RECOVERY_POINT`, `NOT_RESTORABLE`, `NOT_SUPPORTED_ON_SANDBOX`, `SKIPPED` (`dr` for a tier without `copy_region`). The audit, trends and selection read this column",
        ),
        _c(
            "reason",
            "text",
            "why, in words (e.g. `recovery point is 2.0 d old, older than the gold RPO of 1.0 h`)",
        ),
        _c(
            "scratch_name",
            "text",
            "the scratch copy's name (`rt-<source>-<test id tail>`); empty for log exports (read in place)",
        ),
        _c("scratch_arn", "text", "its ARN"),
        _c(
            "cleanup_status",
            "text",
            "`DELETED`, `NOTHING_CREATED`, `DELETE_REQUESTED` (deletion under way), `FAILED` (the sweep deletes it after its expiry)",
        ),
        _c("cleanup_detail", "text", "what was deleted, or the error"),
        _c(
            "notes", "JSON text", "honest remarks, e.g. `sandbox: moto ignores RestoreDateTime ...`"
        ),
    ],
    "protect_actions": [
        _c(
            "step",
            "text",
            "`<phase>:<kind>`, e.g. `20:key`, `30:vault`, `50:backup_plan`, `60:selection`, `80:pitr`; the number is the apply order",
        ),
        *_alike("where; `global` for account-wide settings (IAM roles)", "account region"),
        _c("resource", "text", "an ARN, or a name (vault, plan, selection, key alias)"),
        _c(
            "setting",
            "text",
            "what is set, in words (`point-in-time recovery`, `backup plan (gold)`, `vault lock`)",
        ),
        _c("action", "text", "the plan's action: `create`, `update`, `manual`, `not_supported`"),
        _c("before", "text", "the value before (JSON for structures)"),
        _c("after", "text", "the value after, for `APPLIED` rows; else the value before"),
        _c("desired", "text", "what the objectives asked for"),
        _c(
            "status",
            "text",
            "`APPLIED`, `FAILED`, `NOT_RUN` (an earlier step failed), `MANUAL` (needs a person), `NOT_SUPPORTED_ON_SANDBOX`, `SKIPPED_NEEDS_IRREVERSIBLE_APPROVAL`",
        ),
        _c("error", "text", "the error, or why it was not done"),
        _c(
            "risk",
            "text",
            "`low`, `medium` (replaces existing configuration), `weakens`, `irreversible`",
        ),
        _c("applied_at", "timestamp", "when the step ended (UTC)"),
    ],
    "backups": [
        *_alike(
            "the backed-up resource",
            "account region service resource_arn resource_name tier",
        ),
        _c(
            "method",
            "text",
            f"`aws-backup`, a service's own on-demand backup ({_NATIVE}), or `none`",
        ),
        _c("job_id", "text", "AWS Backup job id"),
        _c(
            "recovery_point_arn",
            "text",
            "AWS Backup recovery point ARN; native: the backup's or snapshot's ARN where the service gives one (e.g. DynamoDB backup ARN, DB (cluster) snapshot ARN)",
        ),
        _c(
            "native_id",
            "text",
            "native: the service's own id of the backup (e.g. DynamoDB backup ARN, EBS snapshot id, DB (cluster) snapshot ARN, a snapshot name)",
        ),
        _c("vault", "text", "vault name (aws-backup)"),
        *_alike("start and end of the backup (UTC)", "created completed", type_="timestamp"),
        _c(
            "status",
            "text",
            "`COMPLETED`, `FAILED`, `ABORTED`, `EXPIRED`, `PARTIAL`, `TIMEOUT`, `UNKNOWN` (its status could not be read; never FAILED for that), `NO_METHOD`, `NOT_SUPPORTED_ON_SANDBOX`",
        ),
        _c("status_message", "text", "the service's message, or why"),
        _c("encrypted", "bool", "of the recovery point / snapshot"),
        _c("kms_key", "text", "of the recovery point / snapshot"),
        _c("delete_after_days", "int", "lifecycle given to the AWS Backup job"),
        _c("fingerprint_kind", "text", _FINGERPRINT),
        _c("fingerprint_count", "int", _FINGERPRINT),
        _c("fingerprint_digest", "text", _FINGERPRINT),
        _c(
            "fingerprint_location",
            "text",
            "path or `s3://` URL of the JSON sidecar: `kind`, `count`, `digest`, `key_digests`, `key_names`, `resource_arn`, `taken_at`",
        ),
        _c("fingerprint_taken_at", "timestamp", "when the fingerprint was taken"),
        _c(
            "key_names",
            "JSON text",
            'key attributes of the per-key digests (`["pk","sk"]`; `["key"]` for S3)',
        ),
        _c(
            "canary_key",
            "text",
            "the canary written just before (`pk=__restore_canary__#<time>|sk=canary`, or the S3 key `__restore_canary__/<time>`)",
        ),
        _c("canary_written_at", "timestamp", "when the canary was written"),
    ],
    "post_incident": [
        *_alike("the incident window reviewed", "incident_start incident_end", type_="timestamp"),
        _c("as_of", "timestamp", "the review's `as_of` (restore tests count up to it)"),
        _c(
            "scope",
            "text",
            "what was asked for: `every data resource of the estate`, `2 ARN(s)`, `tag backup-tier=gold`",
        ),
        *_alike(
            "as in `inventory` (only `arn`, `name` for `NOT_FOUND`)",
            "account region service name arn tier",
        ),
        _c(
            "status",
            "text",
            "`RECOVERABLE`, `RPO_BREACHED`, `UNRECOVERABLE`, `REPRODUCIBLE`, `CREATED_AFTER_START`, `NOT_FOUND`",
        ),
        _c("reason", "text", "why, in words, with the chosen point and times"),
        _c(
            "recovery_point_time",
            "timestamp",
            "the time it would be restored to: the chosen point's creation, or `incident_start` when a continuous window covers it; null if none",
        ),
        _c(
            "recovery_point_source",
            "text",
            "e.g. `dynamodb user backup`, `ebs snapshot`, `aws backup (vault)`, `dynamodb PITR`",
        ),
        _c("recovery_point_arn", "text", "the chosen point's ARN (null for a continuous window)"),
        _c(
            "continuous",
            "bool",
            "a continuous backup (PITR, automated backups, S3 versioning) is on",
        ),
        _c("continuous_mechanism", "text", "which one"),
        *_alike(
            "its restorable window as read (see `notes` for estimates and sandbox assumptions)",
            "continuous_earliest continuous_latest",
            type_="timestamp",
        ),
        _c("continuous_covers_start", "bool", "the window holds `incident_start`"),
        _c(
            "data_loss_seconds",
            "float",
            "`incident_start` minus `recovery_point_time`; 0 when covered; null when unrecoverable",
        ),
        _c("data_loss", "text", "the same in words, or `unrecoverable: <reason>`"),
        _c("rpo_objective_seconds", "float", "the tier's RPO"),
        _c(
            "rpo_met",
            "bool",
            "data_loss_seconds <= RPO; false when unrecoverable; null when not judged",
        ),
        _c(
            "expected_rto_seconds",
            "float",
            "median of the last (up to 5) measured restore tests; null = never measured",
        ),
        _c(
            "rto_basis",
            "text",
            "`this resource (3 test(s))`, `other dynamodb resources of tier silver (1 test(s))`, `never measured (...)`",
        ),
        _c("rto_samples", "int", "how many tests the median is of"),
        _c("rto_objective_seconds", "float", "the tier's RTO"),
        _c("rto_met", "bool", "expected_rto_seconds <= RTO; null when never measured"),
        _c(
            "known_fail_controls",
            "JSON text",
            "control ids that were FAIL for this resource in the last audit before `incident_start`; null when there was no audit before it",
        ),
        _c("audit_as_of", "timestamp", "that audit's `as_of`"),
        _c("notes", "text", "estimates and sandbox assumptions behind the numbers"),
    ],
    "intents": [
        _c(
            "token",
            "text",
            "one id per thing to be created; also the create call's idempotency token where the API takes one (`IdempotencyToken`, `CreatorRequestId`)",
        ),
        _c(
            "step",
            "text",
            "`intended` (written before the create call), `started` (the call answered: `ref` holds what it returned) or `gone` (the sweep found nothing it made still exists: later sweeps skip it)",
        ),
        _c("purpose", "text", "`restore-test`, `incident-restore` or `protect`"),
        _c(
            "kind",
            "text",
            "what is created: `restore copy`, `kms key`, `backup selection`",
        ),
        _c("service", "text", "the service the resource belongs to"),
        _c("account", "text", "where it is created"),
        _c("region", "text", "where it is created"),
        _c(
            "name",
            "text",
            "the name it is given (table, bucket, DB identifier, Name tag, alias, selection name); empty when AWS names it",
        ),
        _c(
            "source",
            "text",
            "what it is made from: the recovery point restored, the backup plan a selection joins",
        ),
        _c(
            "ref",
            "text",
            "what the create call returned, on `started` rows: restore job id, resource ARN, key ARN, selection id",
        ),
        _c(
            "expires",
            "timestamp",
            "when a scratch resource it makes may be deleted (restore tests); empty for resources that are kept",
        ),
    ],
    "incident_restores": [
        _c(
            "restore_id",
            "text",
            "`incident-<UTC time>-<6 hex>`; also the `restore_id` column of the result the notebook shows",
        ),
        *_alike(
            "of the source resource (`tier` from the inventory, may be empty)",
            "account region service tier",
        ),
        *_alike("the damaged resource restored from", "source_arn source_name"),
        _c(
            "target_name",
            "text",
            "the new resource's name (table, bucket, DB identifier, Name tag)",
        ),
        *_alike(
            "the new resource's ARN, and its id where the name is only a tag (volumes, file "
            "systems); empty when the restore failed",
            "target_arn target_resource_id",
        ),
        _c(
            "recovery_point_id",
            "text",
            "the recovery point restored: AWS Backup recovery point ARN, DynamoDB backup ARN, snapshot id, `s3-versions:<bucket>@<time>`, ...",
        ),
        _c(
            "recovery_point_source",
            "text",
            f"{_SOURCES}, e.g. `dynamodb-backup`, `dynamodb-pitr`, `aws-backup`, `s3-versions`, `ebs-snapshot`",
        ),
        _c(
            "recovery_point_time",
            "timestamp",
            "when the recovery point was made (for continuous sources: the latest restorable time read); empty when the service gives none",
        ),
        _c(
            "restore_to_time",
            "timestamp",
            "the point in time asked for (`restore_time`), when the source is continuous (PITR, S3 versions); empty otherwise",
        ),
        _c(
            "restored_to_time",
            "timestamp",
            "the time the restored copy is of: `restore_to_time`, else `recovery_point_time`",
        ),
        _c(
            "choice",
            "text",
            "why this recovery point (`asked for`, `newest recovery point at or before ...`, `continuous backup ... covers ...`)",
        ),
        _c("requested_at", "timestamp", "when the restore was asked for (the plan was made)"),
        *_alike(
            "the restore call, and the moment the new resource was available (UTC); "
            "`restore_end` empty when it failed",
            "restore_start restore_end",
            type_="timestamp",
        ),
        _c(
            "restore_seconds",
            "float",
            "restore_start to available (to the failure, when it failed); the content check afterwards is not included",
        ),
        _c(
            "status",
            "text",
            "`COMPLETED`; `FAILED` (the restore or the wait raised; the error is raised again after the row is written); `NOT_SUPPORTED_ON_SANDBOX` (moto cannot do this restore; AWS can)",
        ),
        _c("error", "text", "`<exception type>: <message>` when not `COMPLETED`"),
        _c(
            "data_loss_seconds",
            "float",
            "`requested_at` minus `restored_to_time`: changes in that window are not in the restored copy. An upper bound of the loss: changes after the damage began were not wanted anyway (the post-incident review measures from `incident_start`)",
        ),
        _c("data_loss", "text", "the same boundary in words"),
        _c(
            "records",
            "int",
            "items / objects read back from the new resource (DynamoDB, S3); empty otherwise",
        ),
        _c(
            "content_check",
            "text",
            "`PASS: ...` (identical to the fingerprint recorded at backup time), `FAIL: ...`, `SKIP: ...` (no fingerprint), `ERROR: ...` (could not read the copy); empty where no data is read",
        ),
        _c(
            "approved_by",
            "text",
            "the `run_id` of the run whose `approve=True` applied it (who started that run is in the run archive or the scheduler, not here)",
        ),
        _c(
            "tags",
            "JSON text",
            "tags put on the new resource (the source's, plus `restored-from`, `restored-at`)",
        ),
        _c(
            "handover",
            "JSON text",
            'the hand-over checklist generated after the restore: a list of `{"#", "step", "why", "how", "needed"}` (as `handover_checklist` shows it); empty when the restore failed',
        ),
        _c(
            "notes",
            "JSON text",
            "the plan's notes and the restore's remarks (sandbox limits, ignored times)",
        ),
    ],
}

ADDED = [
    Column("run_id", "text", "the run that wrote the row (added by the ledger)"),
    Column("recorded_at", "timestamp", "when the row was written (added by the ledger)"),
]


def arrow_schema(table: str) -> pa.Schema:
    cols = SCHEMA[table] + ADDED
    return pa.schema([pa.field(c.name, ARROW[c.type]) for c in cols])


def conform(table: str, df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table of exactly the declared columns and types."""
    declared = {c.name: c for c in SCHEMA[table] + ADDED}
    extra = [c for c in df.columns if c not in declared]
    if extra:
        raise RunbookError(
            f"ledger: table {table!r}: column(s) {extra} are not in its declared schema "
            "(runbook_lib/ledger_schema.py); declare them there and regenerate docs/ledger.md"
        )
    out = {}
    for name, col in declared.items():
        s = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        out[name] = _cast(table, col, s)
    return pa.table(out, schema=arrow_schema(table))


def _cast(table: str, col: Column, s: pd.Series) -> pa.Array:
    kind = ARROW[col.type]
    try:
        if col.type == "timestamp":
            values = pd.to_datetime(s, utc=True, errors="raise", format="mixed")
            return pa.array(values, type=kind, from_pandas=True)
        if col.type == "float":
            return pa.array(
                pd.to_numeric(s, errors="raise").astype("float64"), type=kind, from_pandas=True
            )
        if col.type == "int":
            return pa.array(
                pd.to_numeric(s, errors="raise").astype("Int64"), type=kind, from_pandas=True
            )
        if col.type == "bool":
            values = [None if _missing(v) else bool(v) for v in s]
            return pa.array(values, type=kind)
        values = [None if _missing(v) else str(v) for v in s]
        return pa.array(values, type=kind)
    except (ValueError, TypeError, pa.ArrowException) as err:
        raise RunbookError(
            f"ledger: table {table!r}, column {col.name!r}: values do not fit its declared type "
            f"{col.type} ({type(err).__name__}: {str(err)[:200]})"
        ) from None


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def markdown(table: str) -> str:
    rows = ["| column | type | meaning |", "|---|---|---|"]
    rows += [f"| {c.name} | {c.type} | {c.meaning} |" for c in SCHEMA[table]]
    return "\n".join(rows)


_TABLE_RE = re.compile(r"(^### (\w+)\n(?:(?!^### |^\| ).*\n)*)((?:^\|.*\n?)+)", re.M)


def render_docs(text: str) -> str:
    """docs/ledger.md with each table section's column table rewritten from SCHEMA."""

    def one(m: re.Match) -> str:
        name = m.group(2)
        if name not in SCHEMA:
            return m.group(0)
        tail = "\n" if m.group(3).endswith("\n") else ""
        return m.group(1) + markdown(name) + tail

    return _TABLE_RE.sub(one, text)


if __name__ == "__main__":  # python -m runbook_lib.ledger_schema docs/ledger.md
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else "docs/ledger.md"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_docs(text))
