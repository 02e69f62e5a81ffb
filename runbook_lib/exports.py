"""What a run wrote to the ledger, as files an auditor opens, and which of it is red.

After ``runbook run`` every ledger table the run appended to (its rows carry the run's
``run_id``) is written beside the notebooks as ``exports/<table>.csv`` and
``exports/<table>.json`` with the ledger's own columns (``docs/ledger.md``). Restore tests
are also written in the shape of AWS Backup Audit Manager's ``RESTORE_JOB_REPORT`` with the
columns that report lacks, and audit findings in the shapes of ``CONTROL_COMPLIANCE_REPORT``
and ``RESOURCE_COMPLIANCE_REPORT`` (``exports/<REPORT>.csv`` and ``.json``, the JSON as
``{"reportItems": [...]}`` like AWS's). Every column of those shapes is declared here with
its meaning (``REPORTS``) and documented from it in ``docs/evidence.md``. A value the ledger
does not record is left empty, never guessed.

The same tables decide whether the run's evidence is red (:func:`red_evidence`): rules such
as ``restore-fail`` (a restore test FAIL) and ``critical`` (a FAIL finding of a critical
control), chosen with ``--fail-on`` (:func:`parse_fail_on`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from runbook_lib.errors import RunbookError
from runbook_lib.ledger import TABLES

EXPORT_DIR = "exports"

# --------------------------------------------------------------------------- the run's rows


def _file_re(run_id: str) -> re.Pattern[str]:
    """A ledger file of ``run_id``: ``<run_id>-<8 hex>.parquet`` (the ledger's naming)."""
    return re.compile(rf"^{re.escape(run_id)}-[0-9a-f]{{8}}\.parquet$")


def run_files(location: str, run_id: str, s3: Any = None) -> dict[str, str]:
    """Every ledger file ``run_id`` wrote: path (or ``s3://`` URL) -> table."""
    name_re = _file_re(run_id)
    out: dict[str, str] = {}
    location = location.rstrip("/")
    if location.startswith("s3://"):
        bucket, _, prefix = location[5:].partition("/")
        pages = s3.get_paginator("list_objects_v2")
        for table in TABLES:
            for page in pages.paginate(Bucket=bucket, Prefix=f"{prefix}/{table}/".lstrip("/")):
                for obj in page.get("Contents", []):
                    if name_re.match(obj["Key"].rsplit("/", 1)[-1]):
                        out[f"s3://{bucket}/{obj['Key']}"] = table
        return out
    for table in TABLES:
        folder = Path(location) / table
        if folder.is_dir():
            for f in folder.glob("date=*/*.parquet"):
                if name_re.match(f.name):
                    out[str(f)] = table
    return out


def read_file(path: str, s3: Any = None) -> bytes:
    if path.startswith("s3://"):
        bucket, _, key = path[5:].partition("/")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Path(path).read_bytes()


def read_rows(files: dict[str, str], run_id: str, s3: Any = None) -> dict[str, pd.DataFrame]:
    """table -> the rows of ``run_id`` in ``files`` (oldest file first)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for path, table in sorted(files.items()):
        df = pd.read_parquet(io.BytesIO(read_file(path, s3)))
        if "run_id" in df:
            df = df[df["run_id"] == run_id]
        if not df.empty:
            frames.setdefault(table, []).append(df)
    return {t: pd.concat(f, ignore_index=True) for t, f in frames.items()}


# --------------------------------------------------------------------------- report shapes


Value = Callable[[pd.DataFrame, "Context"], Any]  # rows -> a Series (or one value for all)


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    value: Value


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """What the runner knows about the run besides the ledger rows."""

    run_id: str
    started: str = ""  # ISO 8601 UTC
    finished: str = ""
    started_by: str = ""
    tool_version: str = ""
    notebook: str = ""  # the runbook that wrote the rows (file name)
    notebook_sha256: str = ""  # of the runbook as run (the input to papermill)
    ledger: Any = None  # the Ledger, to look up backup-time records


class Context:
    """The run's facts, and (read once, when a column asks) each row's backup-time record."""

    def __init__(self, rows: pd.DataFrame, info: RunInfo) -> None:
        self.rows, self.info = rows, info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.info, name)

    @cached_property
    def backup_rows(self) -> list[dict[str, Any] | None]:
        return _backup_records(self.rows, self.info)


def _nothing(df: pd.DataFrame) -> pd.Series:
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def _col(name: str) -> Callable[[pd.DataFrame, Context], Any]:
    return lambda df, _: df[name] if name in df else None


def _empty(df: pd.DataFrame, _: Context) -> Any:
    return None


def _const(attr: str) -> Callable[[pd.DataFrame, Context], Any]:
    return lambda _, info: getattr(info, attr)


NOT_RECORDED = "not recorded by this tool: empty"


def _columns(*rows: tuple[str, str, str | Value] | str) -> list[Column]:
    """A report's columns, in order, from a table of ``(name, meaning, value)`` rows: a
    ``value`` given as text is the ledger column of that name; a row that is only a name is
    a column this tool does not record (:data:`NOT_RECORDED`, always empty)."""
    out = []
    for row in rows:
        if isinstance(row, str):
            out.append(Column(row, NOT_RECORDED, _empty))
            continue
        name, meaning, value = row
        out.append(Column(name, meaning, _col(value) if isinstance(value, str) else value))
    return out


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return []
    return []


def _check(df: pd.DataFrame, name: str, part: str) -> pd.Series:
    """``part`` (status or detail) of the check called ``name`` in each row's ``checks``."""

    def one(value: Any) -> Any:
        for c in _json_list(value):
            if isinstance(c, dict) and c.get("check") == name:
                return c.get(part)
        return None

    return df["checks"].map(one) if "checks" in df else _nothing(df)


#: strongest first: the kind of check whose result decided the content verdict
_METHODS = ("fingerprint", "canary", "user checks", "metadata")


def _kind(check: str) -> str:
    if check in ("fingerprint", "canary"):
        return check
    return "metadata" if check.startswith("metadata") else "user checks"


def _method(df: pd.DataFrame, _: Context) -> pd.Series:
    def one(value: Any) -> Any:
        ran = {
            _kind(str(c.get("check", "")))
            for c in _json_list(value)
            if isinstance(c, dict) and c.get("status") in ("PASS", "FAIL")
        }
        return next((m for m in _METHODS if m in ran), None)

    return df["checks"].map(one) if "checks" in df else _nothing(df)


def _job_status(df: pd.DataFrame, _: Context) -> pd.Series:
    start = df.get("restore_start", _nothing(df))
    end = df.get("restore_end", _nothing(df))
    return pd.Series(
        [
            "COMPLETED" if pd.notna(e) else "FAILED" if pd.notna(s) else None
            for s, e in zip(start, end, strict=True)
        ],
        index=df.index,
        dtype=object,
    )


def _period(df: pd.DataFrame, info: Context) -> str:
    return f"{info.started} - {info.finished}" if info.started else ""


def _region(df: pd.DataFrame, _: Context) -> pd.Series:
    rp = df.get("recovery_point_region", _nothing(df))
    return rp.where(rp.notna() & (rp.astype(str) != ""), df.get("region"))


def _backup_records(df: pd.DataFrame, info: RunInfo) -> list[dict[str, Any] | None]:
    """Each restore test's backup-time record in the ``backups`` table (the record the test
    compared against), or None."""
    if info.ledger is None or df.empty:
        return [None] * len(df)
    try:
        from runbook_lib.model import RecoveryPoint
        from runbook_lib.restore.recorded import BackupRecords
    except ImportError:  # a build without the restore package
        return [None] * len(df)
    records = BackupRecords(info.ledger)
    out: list[dict[str, Any] | None] = []
    for r in df.to_dict("records"):
        rp_id = r.get("recovery_point_id")
        if not isinstance(rp_id, str) or not rp_id:
            out.append(None)
            continue
        copy_of = r.get("recovery_point_copy_of")
        details = {"copy_of": copy_of} if isinstance(copy_of, str) and copy_of else {}
        point = RecoveryPoint(
            resource_arn=str(r.get("resource_arn") or ""), source="", created=None, id=rp_id,
            details=details,
        )  # fmt: skip
        found = records.lookup(point)
        out.append(found.row if found else None)
    return out


def _point_rows(df: pd.DataFrame, ctx: Context) -> list[dict[str, Any] | None]:
    """The ``backups`` row of each test's restored recovery point itself: None for a ``dr``
    test, which restored a copy in another vault (and Region) whose key, retention and vault
    that row does not hold (it recorded the source point the copy was made from)."""
    copies = df.get("copy", _nothing(df))
    return [r if copy != "dr" else None for r, copy in zip(ctx.backup_rows, copies, strict=True)]


def _from_backup(column: str) -> Callable[[pd.DataFrame, Context], Any]:
    def value(df: pd.DataFrame, ctx: Context) -> pd.Series:
        rows = _point_rows(df, ctx)
        return pd.Series([r.get(column) if r else None for r in rows], index=df.index, dtype=object)

    return value


def _vault_arn(df: pd.DataFrame, ctx: Context) -> pd.Series:
    out = []
    for r in _point_rows(df, ctx):
        vault = r.get("vault") if r else None
        if not isinstance(vault, str) or not vault or r.get("method") != "aws-backup":
            out.append(None)
            continue
        partition = str(r.get("resource_arn") or "arn:aws").split(":")[1] or "aws"
        out.append(
            f"arn:{partition}:backup:{r.get('region')}:{r.get('account')}:backup-vault:{vault}"
        )
    return pd.Series(out, index=df.index, dtype=object)


def _vault_type(df: pd.DataFrame, ctx: Context) -> pd.Series:
    """The type of the vault holding the restored recovery point, as the ``backups`` row
    that recorded that point read it (``vault_type``); empty for a ``dr`` test, which
    restored a copy held in another vault than the one that row names."""
    out = []
    for r in _point_rows(df, ctx):
        kind = r.get("vault_type") if r else None
        out.append(kind if isinstance(kind, str) and kind else None)
    return pd.Series(out, index=df.index, dtype=object)


# fmt: off
RESTORE_JOB_REPORT: list[Column] = _columns(
    # AWS Backup Audit Manager's RESTORE_JOB_REPORT columns, in its order
    ("reportTimePeriod", "the run's start and end (UTC), `<start> - <end>`; AWS: the report's 24-hour window", _period),
    ("accountId", "`account` of the tested resource", "account"),
    ("region", "`recovery_point_region` (where the restore ran: the copy Region for `dr`), else `region`", _region),
    ("restoreJobId", f"{NOT_RECORDED}; the test is identified by `testId` and its scratch copy by `createdResourceArn`", _empty),
    ("jobStatus", "`COMPLETED` when the scratch copy became ready (`restore_end` set), `FAILED` when a restore was started but never ready, empty when no restore was started (no recovery point, skipped, not supported)", _job_status),
    ("recoveryPointArn", "`recovery_point_id` (a recovery point ARN, backup ARN, snapshot id, or `dynamodb-pitr:<arn>@latest` style id for continuous backups)", "recovery_point_id"),
    ("resourceName", "`resource_name`", "resource_name"),
    ("initiationDate", "`restore_start`", "restore_start"),
    "backupPlanName",
    "backupRuleName",
    "backupRuleSchedule",
    "backupRuleTimezone",
    "startWindowEnd",
    "backupOptions",
    "isParentJob",
    "parentJobId",
    ("vaultType", "`vault_type` of the `backups` row that recorded the restored recovery point (DescribeRecoveryPoint `VaultType`: `BACKUP_VAULT`, `LOGICALLY_AIR_GAPPED_BACKUP_VAULT`); empty when no such row holds one (a native backup, a row recorded before the column existed) and for `dr` tests, which restore a copy in another vault", _vault_type),
    "vaultLockStatus",
    ("isEncrypted", "`encrypted` of the recovery point in the `backups` row that recorded it (empty when the backup was not made by the backup runbook, and for `dr` tests: that row recorded the source point, not the copy restored)", _from_backup("encrypted")),
    ("encryptionKeyArn", "`kms_key` of that `backups` row (empty for `dr` tests, as above)", _from_backup("kms_key")),
    ("deleteAfterDays", "`delete_after_days` of that `backups` row (empty for `dr` tests, as above)", _from_backup("delete_after_days")),
    "moveToColdAfterDays",
    "enableArchive",
    ("sourceResourceArn", "`resource_arn` (the tested resource; never touched by the test)", "resource_arn"),
    ("backupVaultArn", "the vault of that `backups` row as an ARN (`aws-backup` recovery points only; empty for `dr` tests, as above)", _vault_arn),
    ("creationDate", "`restore_start` (the restore call)", "restore_start"),
    "backupSizeInBytes",
    "percentDone",
    "iamRoleArn",
    # what RESTORE_JOB_REPORT lacks
    ("testId", "`test_id`; also the `restore-test` tag on the scratch copy", "test_id"),
    ("service", "`service` of the tested resource (the tool's service names, docs/services.md)", "service"),
    ("tier", "`tier` whose objectives were applied", "tier"),
    ("copy", "`copy`: `local` or `dr`", "copy"),
    ("recoveryPointSource", "`recovery_point_source`", "recovery_point_source"),
    ("recoveryPointCreationDate", "`recovery_point_time`", "recovery_point_time"),
    ("completionDate", "`restore_end`: when the scratch copy was ready", "restore_end"),
    ("createdResourceArn", "`scratch_arn`: the scratch copy made by the test", "scratch_arn"),
    ("validationMethod", "the strongest check that passed or failed, from `checks`: `fingerprint`, `canary`, `user checks`, `metadata`; empty when nothing was validated", _method),
    ("validationChecks", "`evidence`: every check that ran and how it ended", "evidence"),
    ("validationStatus", "`content_verdict`: `PASS`, `PASS_WEAK`, `FAIL`; empty when nothing was validated", "content_verdict"),
    ("validationStatusMessage", "`verdict_detail`", "verdict_detail"),
    ("expectedFingerprintKind", "`fingerprint_kind` of the `backups` row (the fingerprint taken when the backup was made); empty when the test compared against a reference the service reads itself (e.g. a log export: see `fingerprintCheckDetail`) or had none", _from_backup("fingerprint_kind")),
    ("expectedFingerprintCount", "`fingerprint_count` of that row", _from_backup("fingerprint_count")),
    ("expectedFingerprintDigest", "`fingerprint_digest` of that row", _from_backup("fingerprint_digest")),
    ("observedRecordCount", "`records_found`: records read back from the scratch copy, canaries excluded (the backup-time fingerprint counts the canary written just before the backup, so the two counts differ by it when the check is PASS)", "records_found"),
    ("observedFingerprintDigest", f"{NOT_RECORDED} (the ledger keeps the comparison's result, `fingerprintCheck`, not the restored copy's digest)", _empty),
    ("fingerprintCheck", "status of the `fingerprint` check in `checks`: `PASS` (identical), `FAIL`, `SKIP` (no backup-time fingerprint, or no records to read)", lambda df, _: _check(df, "fingerprint", "status")),
    ("fingerprintCheckDetail", "its detail (what differs, or how many records matched)", lambda df, _: _check(df, "fingerprint", "detail")),
    ("rtoSeconds", "`rto_seconds`: measured restore + validation", "rto_seconds"),
    ("rtoObjectiveSeconds", "`rto_objective_seconds`: the tier's RTO", "rto_objective_seconds"),
    ("rtoMet", "`rto_met`", "rto_met"),
    ("rpoSeconds", "`rpo_seconds`: test time minus the recovery point's time", "rpo_seconds"),
    ("rpoObjectiveSeconds", "`rpo_objective_seconds`: the tier's RPO", "rpo_objective_seconds"),
    ("rpoMet", "`rpo_met`", "rpo_met"),
    ("testStatus", "`status`: the test's verdict (`PASS`, `PASS_WEAK`, `FAIL`, `ERROR`, ...)", "status"),
    ("testReason", "`reason`", "reason"),
    ("deletionStatus", "`cleanup_status`: `DELETED`, `NOTHING_CREATED`, `DELETE_REQUESTED`, `FAILED`", "cleanup_status"),
    ("deletionStatusMessage", "`cleanup_detail`", "cleanup_detail"),
    ("deletionRecordedBy", "`recorded_at`: the ledger row is written after every clean-up of the run, so the clean-up ended at or before this time (the exact clean-up time is not recorded)", "recorded_at"),
    ("runId", "`run_id` of the run that made the test", "run_id"),
    ("startedBy", "the operating-system user who started `runbook run` (the restore test needs no approval: it changes nothing but its own scratch copy)", _const("started_by")),
    ("toolVersion", "`runbook_lib.__version__` of the run", _const("tool_version")),
    ("notebook", "the runbook that ran the test", _const("notebook")),
    ("notebookSha256", "SHA-256 of that runbook as run (the input notebook, before execution)", _const("notebook_sha256")),
)
# fmt: on

_COMPLIANCE = {
    "PASS": "COMPLIANT",
    "FAIL": "NON_COMPLIANT",
    "NOT_APPLICABLE": "NOT_APPLICABLE",
    "NOT_SUPPORTED_ON_SANDBOX": "INSUFFICIENT_DATA",
    "ERROR": "INSUFFICIENT_DATA",
}
#: a control's status in an account and Region: the first of these that any finding has
_WORST_FIRST = ("NON_COMPLIANT", "INSUFFICIENT_DATA", "COMPLIANT")


def _practices() -> dict[str, str]:
    from runbook_lib.audit.model import PRACTICES

    return PRACTICES


def _practice_title(df: pd.DataFrame, _: Context) -> pd.Series | None:
    return df["practice"].map(_practices()) if "practice" in df else None


def _controls() -> dict[str, Any]:
    from runbook_lib.audit import report  # noqa: F401  (registers every control)
    from runbook_lib.audit.model import CONTROLS

    return CONTROLS


# fmt: off
RESOURCE_COMPLIANCE_REPORT: list[Column] = _columns(
    ("accountId", "`account`", "account"),
    ("region", "`region`", "region"),
    ("frameworkName", "`practice` (`REL09-BP01` .. `REL09-BP04`): the Well-Architected best practice the control belongs to", "practice"),
    ("frameworkDescription", "the practice's title", _practice_title),
    ("controlName", "`control_id`", "control_id"),
    ("resourceId", "`arn` (a resource, vault or recovery point ARN, or `estate:<account>/<region>`); AWS: `<CloudFormation type>/<id>`", "arn"),
    ("resourceType", "`service` (the tool's service name; `backup` for vaults and recovery points, `*` for an estate scope); AWS: the CloudFormation type", "service"),
    ("resourceComplianceStatus", "`status` as AWS words: PASS `COMPLIANT`, FAIL `NON_COMPLIANT`, NOT_APPLICABLE `NOT_APPLICABLE`, NOT_SUPPORTED_ON_SANDBOX and ERROR `INSUFFICIENT_DATA`", lambda df, _: df["status"].map(_COMPLIANCE)),
    ("lastEvaluationTime", "`recorded_at`: when the finding was written", "recorded_at"),
    ("resourceName", "`name`", "name"),
    ("tier", "`tier`", "tier"),
    ("severity", "`severity` of the control", "severity"),
    ("status", "`status` in the tool's words", "status"),
    ("reason", "`reason`, with the measured value", "reason"),
    ("expected", "`expected`: the parameter values judged against", "expected"),
    ("remediation", "`remediation`: the runbook step that fixes it", "remediation"),
    ("asOf", "`as_of`: the time the audit judged at", "as_of"),
    ("runId", "`run_id`", "run_id"),
)
# fmt: on


def _per_control(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (account, Region, control) with its counts, as AWS's control report."""
    rows = []
    controls = _controls()
    for (account, region, cid), g in findings.groupby(
        ["account", "region", "control_id"], sort=True, dropna=False
    ):
        counts = g["status"].value_counts()
        words = g["status"].map(_COMPLIANCE).value_counts()  # the findings' AWS words
        status = next((w for w in _WORST_FIRST if words.get(w, 0)), "NOT_APPLICABLE")
        ctl = controls.get(cid)
        by_tier = {
            str(t or "(none)"): str(e)
            for t, e in g[["tier", "expected"]].drop_duplicates().itertuples(index=False)
            if isinstance(e, str) and e
        }
        first = g.iloc[0]
        rows.append(
            {
                "account": account,
                "region": region,
                "practice": first.get("practice"),
                "control_id": cid,
                "_status": status,
                "recorded_at": g["recorded_at"].max() if "recorded_at" in g else None,
                "_pass": int(counts.get("PASS", 0)),
                "_fail": int(counts.get("FAIL", 0)),
                "_na": int(counts.get("NOT_APPLICABLE", 0)),
                "_unknown": int(words.get("INSUFFICIENT_DATA", 0)),
                "_scope": json.dumps({"scope": ctl.scope, "services": list(ctl.services)})
                if ctl
                else None,
                "_parameters": json.dumps(by_tier, sort_keys=True) if by_tier else None,
                "title": first.get("title"),
                "severity": first.get("severity"),
                "as_of": first.get("as_of"),
                "run_id": first.get("run_id"),
            }
        )
    return pd.DataFrame(rows)


# fmt: off
CONTROL_COMPLIANCE_REPORT: list[Column] = _columns(
    ("accountId", "`account`", "account"),
    ("region", "`region`", "region"),
    ("frameworkName", "`practice` of the control", "practice"),
    ("frameworkDescription", "the practice's title", _practice_title),
    ("controlName", "`control_id`", "control_id"),
    ("controlComplianceStatus", "`NON_COMPLIANT` if any finding of the control in this account and Region is FAIL; else `INSUFFICIENT_DATA` if any is ERROR or NOT_SUPPORTED_ON_SANDBOX; else `COMPLIANT` if any is PASS; else `NOT_APPLICABLE`", "_status"),
    ("lastEvaluationTime", "the newest `recorded_at` of those findings", "recorded_at"),
    ("numResourcesCompliant", "findings with status PASS", "_pass"),
    ("numResourcesNonCompliant", "findings with status FAIL", "_fail"),
    ("controlFrequency", f"{NOT_RECORDED} (a control is evaluated whenever the audit runbook runs: see the schedule)", _empty),
    ("controlScope", "JSON: the control's `scope` (resource, vault, recovery_point, estate) and the `services` it is about (`[]` = all)", "_scope"),
    ("controlParameters", "JSON: tier -> the `expected` values the findings were judged against", "_parameters"),
    ("numResourcesNotApplicable", "findings with status NOT_APPLICABLE", "_na"),
    ("numResourcesUnknown", "findings with status ERROR or NOT_SUPPORTED_ON_SANDBOX", "_unknown"),
    ("title", "the control's title", "title"),
    ("severity", "the control's severity", "severity"),
    ("asOf", "`as_of` of the audit", "as_of"),
    ("runId", "`run_id`", "run_id"),
)
# fmt: on


@dataclass(frozen=True)
class Report:
    name: str  # the AWS template name
    table: str  # the ledger table it is made from
    columns: list[Column]
    prepare: Callable[[pd.DataFrame], pd.DataFrame] = lambda df: df


REPORTS: list[Report] = [
    Report("RESTORE_JOB_REPORT", "restore_tests", RESTORE_JOB_REPORT),
    Report("CONTROL_COMPLIANCE_REPORT", "findings", CONTROL_COMPLIANCE_REPORT, _per_control),
    Report("RESOURCE_COMPLIANCE_REPORT", "findings", RESOURCE_COMPLIANCE_REPORT),
]


def shape(report: Report, rows: pd.DataFrame, info: RunInfo) -> pd.DataFrame:
    """``rows`` of ``report.table`` in the report's columns, in order."""
    df = report.prepare(rows.reset_index(drop=True))
    ctx = Context(df, info)
    out = pd.DataFrame(index=df.index)
    for c in report.columns:
        out[c.name] = c.value(df, ctx)
    return out.astype(object).where(out.notna(), None)


# --------------------------------------------------------------------------- writing


def _plain(value: Any) -> Any:
    """A JSON value: times as ISO 8601 UTC, JSON text kept as text, NaN as null."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def write_table(df: pd.DataFrame, folder: Path, name: str, wrap: bool = False) -> list[Path]:
    """``<name>.csv`` and ``<name>.json`` (``{"reportItems": [...]}`` when ``wrap``)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    df.to_csv(csv, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    records = [{k: _plain(v) for k, v in row.items()} for row in df.to_dict("records")]
    body: Any = {"reportItems": records} if wrap else records
    js = folder / f"{name}.json"
    js.write_text(json.dumps(body, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return [csv, js]


def write_exports(
    folder: Path, tables: dict[str, pd.DataFrame], infos: dict[str, RunInfo]
) -> list[Path]:
    """Every table of the run as CSV and JSON under ``folder/exports``, plus the report
    shapes of the tables they are made from. ``infos``: table -> the run's facts (the
    notebook that wrote it)."""
    out_dir = folder / EXPORT_DIR
    written: list[Path] = []
    for table in sorted(tables):
        written += write_table(tables[table], out_dir, table)
    for report in REPORTS:
        rows = tables.get(report.table)
        if rows is not None and not rows.empty:
            shaped = shape(report, rows, infos[report.table])
            written += write_table(shaped, out_dir, report.name, wrap=True)
    return written


# --------------------------------------------------------------------------- red evidence


@dataclass(frozen=True)
class Rule:
    name: str
    table: str
    meaning: str
    matches: Callable[[pd.DataFrame], pd.Series]


def _status_in(*values: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df["status"].isin(values) if "status" in df else pd.Series(False, df.index)


SEVERITY_ORDER = ("critical", "high", "medium", "low")


def _fail_at_least(severity: str) -> Callable[[pd.DataFrame], pd.Series]:
    worse = SEVERITY_ORDER[: SEVERITY_ORDER.index(severity) + 1]

    def matches(df: pd.DataFrame) -> pd.Series:
        if "status" not in df or "severity" not in df:
            return pd.Series(False, df.index)
        return (df["status"] == "FAIL") & df["severity"].isin(worse)

    return matches


RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule(
            "restore-fail", "restore_tests", "a restore test with status FAIL", _status_in("FAIL")
        ),
        Rule(
            "restore-error",
            "restore_tests",
            "a restore test with status ERROR (it could not finish)",
            _status_in("ERROR"),
        ),
        *(
            Rule(
                s,
                "findings",
                f"an audit finding FAIL of a control of severity {s}"
                + (" or higher" if s != "critical" else ""),
                _fail_at_least(s),
            )
            for s in SEVERITY_ORDER
        ),
        Rule(
            "audit-error",
            "findings",
            "an audit finding ERROR (a control could not be evaluated)",
            _status_in("ERROR"),
        ),
        Rule(
            "backup-fail",
            "backups",
            "an on-demand backup FAILED, ABORTED, EXPIRED, PARTIAL or TIMEOUT",
            _status_in("FAILED", "ABORTED", "EXPIRED", "PARTIAL", "TIMEOUT"),
        ),
        Rule("protect-fail", "protect_actions", "a protect step FAILED", _status_in("FAILED")),
        Rule(
            "incident-restore-fail",
            "incident_restores",
            "an incident restore FAILED",
            _status_in("FAILED"),
        ),
        Rule(
            "unrecoverable",
            "post_incident",
            "a resource UNRECOVERABLE in a post-incident review",
            _status_in("UNRECOVERABLE"),
        ),
    ]
}
DEFAULT_FAIL_ON = ("restore-fail", "critical")
#: words that stand for several rules
GROUPS = {
    # every rule; "low" covers findings FAIL of every severity
    "any-fail": tuple(r for r in RULES if r not in SEVERITY_ORDER[:-1]),
    "none": (),
}


def parse_fail_on(text: str | None) -> tuple[str, ...]:
    """``--fail-on`` (comma-separated rule names, ``any-fail`` or ``none``) -> rule names;
    RunbookError naming the word and what is allowed."""
    if text is None:
        return DEFAULT_FAIL_ON
    words = [w.strip() for w in str(text).split(",") if w.strip()]
    allowed = [*RULES, *GROUPS]
    bad = [w for w in words if w not in allowed]
    if bad or not words:
        what = f"{bad[0]!r} is not a rule" if bad else "empty"
        raise RunbookError(f"--fail-on: {what}; allowed: {', '.join(allowed)} (comma-separated)")
    if "none" in words and len(words) > 1:
        raise RunbookError("--fail-on: 'none' cannot be combined with other rules")
    out: list[str] = []
    for w in words:
        out += GROUPS.get(w, (w,))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, kw_only=True)
class Red:
    rule: str
    table: str
    rows: int
    first: list[str]  # the first few resources (name or ARN) it is about

    def message(self) -> str:
        more = f" (first: {', '.join(self.first)})" if self.first else ""
        return f"{self.rule}: {self.rows} row(s) of {self.table} — {RULES[self.rule].meaning}{more}"


def _who(row: dict[str, Any]) -> str:
    for key in ("resource_name", "name", "source_name", "resource", "resource_arn", "arn"):
        v = row.get(key)
        if isinstance(v, str) and v:
            ctl = row.get("control_id")
            return f"{v} [{ctl}]" if isinstance(ctl, str) and ctl else v
    return "?"


def red_evidence(tables: dict[str, pd.DataFrame], first: int = 3) -> list[Red]:
    """Every rule that matches rows of the run's tables (whatever ``--fail-on`` says)."""
    out = []
    for rule in RULES.values():
        df = tables.get(rule.table)
        if df is None or df.empty:
            continue
        hit = df[rule.matches(df).fillna(False).astype(bool)]
        if len(hit):
            names = list(dict.fromkeys(_who(r) for r in hit.to_dict("records")))
            out.append(Red(rule=rule.name, table=rule.table, rows=len(hit), first=names[:first]))
    return out


# --------------------------------------------------------------------------- docs


def markdown(report: Report) -> str:
    """The column table of ``report`` for docs/evidence.md (a test checks they agree)."""
    rows = ["| column | meaning |", "|---|---|"]
    rows += [f"| `{c.name}` | {c.meaning} |" for c in report.columns]
    return "\n".join(rows)


def rules_markdown() -> str:
    rows = ["| rule | table | red when |", "|---|---|---|"]
    rows += [f"| `{r.name}` | `{r.table}` | {r.meaning} |" for r in RULES.values()]
    rows += [
        "| `any-fail` | all | every rule above (`low` covers FAIL findings of every severity) |",
        "| `none` | | nothing: the exit status says only whether the notebooks ran |",
    ]
    return "\n".join(rows)
