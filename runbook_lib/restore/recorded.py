"""What the ledger says about a recovery point: the content fingerprint taken when the
backup was made (``backups`` table, with a JSON sidecar of per-key digests) and the canary
written just before it; and when each resource was last restore-tested (``restore_tests``).

Column names are read leniently (``recovery_point_arn`` or ``recovery_point_id``,
``fingerprint_*`` columns or one ``fingerprint`` JSON column) so that backups recorded by
older versions of the backup runbook still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from runbook_lib.fingerprint import Fingerprint
from runbook_lib.restore.canary import canary_time
from runbook_lib.restore.model import RecoveryPoint, utc

RP_COLUMNS = ("recovery_point_arn", "native_id", "recovery_point_id", "backup_arn", "snapshot_id")
SIDECAR_COLUMNS = ("fingerprint_location", "fingerprint_keys_path", "fingerprint_sidecar")
CANARY_COLUMNS = ("canary_written_at", "canary_time", "canary_key")
TIME_COLUMNS = ("completed", "created")


@dataclass
class Recorded:
    fingerprint: Fingerprint | None
    canary_time: datetime | None
    row: dict[str, Any]
    note: str = ""
    #: the fingerprint taken again once the backup completed, when it differed from the
    #: first (the source was written while the backup ran): the content is bounded by both
    after: Fingerprint | None = None


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not pd.isna(value)
    except (TypeError, ValueError):
        return True


class BackupRecords:
    """The ``backups`` table indexed by recovery point id, read once per run."""

    def __init__(self, ledger: Any, frame: pd.DataFrame | None = None) -> None:
        self.ledger = ledger
        self.frame = ledger.read("backups") if frame is None else frame
        self._by_id: dict[str, dict[str, Any]] = {}
        if not self.frame.empty:
            for row in self.frame.to_dict("records"):
                if str(row.get("status") or "COMPLETED").upper() not in ("COMPLETED", "AVAILABLE"):
                    continue
                for col in RP_COLUMNS:
                    if _present(row.get(col)) and str(row[col]):
                        for ident in _aliases(str(row[col])):
                            self._by_id[ident] = row  # later rows win (appended later)

    def ids(self) -> set[str]:
        return set(self._by_id)

    def lookup(self, rp: RecoveryPoint) -> Recorded | None:
        """The backup record of ``rp``; for a copy (``details['copy_of']``, set from its copy
        job), the record of the source recovery point it was copied from."""
        row = next((self._by_id[i] for i in _aliases(rp.id) if i in self._by_id), None)
        note = ""
        source = (rp.details or {}).get("copy_of")
        if row is None and source:
            row = next((self._by_id[i] for i in _aliases(source) if i in self._by_id), None)
            note = f"recorded for the source recovery point {source} (copy job {rp.details.get('copy_job_id')})"
        if row is None:
            return None
        rec = Recorded(self._fingerprint(row), self._canary(row), row, note)
        if rec.fingerprint is not None:
            rec.after = self._after(row)
        return rec

    @staticmethod
    def recorded_time(rec: Recorded) -> datetime | None:
        """When the backup was made, per the ledger (for recovery points that lack a time)."""
        for col in TIME_COLUMNS:
            v = rec.row.get(col)
            if _present(v) and v != "":
                return utc(pd.Timestamp(v).to_pydatetime())
        return None

    def _fingerprint(self, row: dict[str, Any]) -> Fingerprint | None:
        fp: Fingerprint | None = None
        if _present(row.get("fingerprint_digest")) and _present(row.get("fingerprint_count")):
            fp = Fingerprint(
                str(row.get("fingerprint_kind") or ""),
                int(row["fingerprint_count"]),
                int(str(row["fingerprint_digest"]), 16),
            )
        elif _present(row.get("fingerprint")):
            raw = row["fingerprint"]
            data = json.loads(raw) if isinstance(raw, str) else raw
            if isinstance(data, dict) and "digest" in data:
                fp = Fingerprint.from_dict(data)
        if fp is None:
            return None
        for col in SIDECAR_COLUMNS:
            if _present(row.get(col)):
                keys = self._sidecar(str(row[col]))
                if keys:
                    fp.key_digests = keys
                break
        return fp

    def _after(self, row: dict[str, Any]) -> Fingerprint | None:
        for col in SIDECAR_COLUMNS:
            if _present(row.get(col)):
                doc = self._sidecar_doc(str(row[col]))
                after = doc.get("after") if isinstance(doc, dict) else None
                return Fingerprint.from_dict(after) if after else None
        return None

    def _sidecar(self, ref: str) -> dict[str, str]:
        data = self._sidecar_doc(ref)
        if isinstance(data, dict) and "key_digests" in data:
            data = data["key_digests"]
        return {str(k): str(v) for k, v in (data or {}).items()}

    def _sidecar_doc(self, ref: str) -> Any:
        text: str | None = None
        if ref.lstrip().startswith("{"):
            text = ref
        elif ref.startswith("s3://") or getattr(self.ledger, "is_s3", False):
            path = ref if ref.startswith("s3://") else f"{self.ledger.location}/{ref}"
            bucket, _, key = path[5:].partition("/")
            try:
                text = self.ledger._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            except Exception:  # noqa: BLE001  (a missing sidecar only weakens the difference report)
                return {}
        else:
            p = Path(ref)
            if not p.is_absolute():
                p = Path(self.ledger.location) / ref
            if not p.exists():
                return {}
            text = p.read_text(encoding="utf-8")
        return json.loads(text)

    def _canary(self, row: dict[str, Any]) -> datetime | None:
        for col in CANARY_COLUMNS:
            v = row.get(col)
            if not _present(v) or v == "":
                continue
            if isinstance(v, datetime | pd.Timestamp):
                return utc(pd.Timestamp(v).to_pydatetime())
            text = str(v)
            return canary_time(text) or _try_time(text)
        return None


def _aliases(ident: str) -> list[str]:
    """An id and its short forms: a snapshot ARN also matches the snapshot's name."""
    out = [ident]
    for sep in ("/", ":"):
        tail = ident.rsplit(sep, 1)[-1]
        if tail and tail not in out and len(tail) >= 6:
            out.append(tail)
    return out


def _try_time(text: str) -> datetime | None:
    try:
        return utc(text)
    except Exception:  # noqa: BLE001
        return None


def last_tested(ledger: Any) -> dict[str, datetime]:
    """resource ARN -> end of its newest restore test that restored something."""
    df = ledger.read("restore_tests")
    if df.empty or "resource_arn" not in df:
        return {}
    col = "restore_end" if "restore_end" in df else "recorded_at"
    done = df[df[col].notna()]
    if "status" in done:
        done = done[~done["status"].isin(["NO_RECOVERY_POINT", "SKIPPED"])]
    times = pd.to_datetime(done[col], utc=True, format="ISO8601")
    return {arn: t.to_pydatetime() for arn, t in times.groupby(done["resource_arn"]).max().items()}
