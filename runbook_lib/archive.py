"""The run archive, tamper-evident: each run folder's ``run.json`` is its manifest.

``run.json`` lists every other file of its run folder with its SHA-256 and size, and links
to the run before it (``previous``: that run's id and the SHA-256 of its ``run.json``), so
the runs of one archive form a chain. The previous run is the one whose manifest was
written last before this one (local: the greatest ``written`` time, chosen and written under
a lock file; ``s3://``: the newest ``run.json`` object). :func:`verify` reports a file changed, removed or
added, and a broken link: a previous run that is gone or whose ``run.json`` changed, two runs
naming the same previous one, or more than one run starting a chain.

What it cannot see: the newest run removed whole (nothing links to it yet; S3 Object Lock
is the guard there), or files replaced together with a rewritten chain by someone who can
write the whole archive. On ``s3://`` with ``run_archive_lock`` in the params, every object
is written under S3 Object Lock (:func:`lock_arguments`), and :func:`verify` also checks that
each object still carries the retention its manifest recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runbook_lib.errors import RunbookError

MANIFEST = "run.json"
FORMAT = "runbook-run/1"
LOCK_FILE = ".run-archive.lock"
#: a folder named like a run id (``runbook_lib.ledger.new_run_id``) is a run folder
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_list(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` but its manifest: path (POSIX, relative), SHA-256, bytes."""
    return [
        {"path": rel, "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and (rel := p.relative_to(folder).as_posix()) != MANIFEST
    ]


# --------------------------------------------------------------------------- stores


class _Store:
    """An archive's run folders and their files, local or on S3."""

    location: str

    def folders(self) -> dict[str, dict[str, int]]:
        """run folder name -> {relative path: size}."""
        raise NotImplementedError

    def read(self, run: str, rel: str) -> bytes:
        raise NotImplementedError

    def lock_of(self, run: str, rel: str) -> dict[str, Any] | None:  # pragma: no cover
        return None

    def where(self, run: str, rel: str = "") -> str:
        return f"{self.location.rstrip('/')}/{run}" + (f"/{rel}" if rel else "")


class LocalStore(_Store):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def folders(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if (d / MANIFEST).is_file() or RUN_ID_RE.match(d.name):
                out[d.name] = {
                    p.relative_to(d).as_posix(): p.stat().st_size
                    for p in d.rglob("*")
                    if p.is_file()
                }
        return out

    def read(self, run: str, rel: str) -> bytes:
        return (self.root / run / rel).read_bytes()


class S3Store(_Store):
    def __init__(self, url: str, s3: Any) -> None:
        self.location = url.rstrip("/")
        self.bucket, _, prefix = self.location[5:].partition("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.s3 = s3
        self._meta: dict[str, dict[str, Any]] = {}

    def folders(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        try:
            for page in pages:
                for o in page.get("Contents", []):
                    run, sep, rel = o["Key"][len(self.prefix) :].partition("/")
                    if sep and rel:
                        out.setdefault(run, {})[rel] = o["Size"]
                        self._meta[o["Key"]] = o
        except Exception as err:  # noqa: BLE001  (NoSuchBucket, AccessDenied, no endpoint)
            raise RunbookError(
                f"run archive {self.location}: cannot list it ({type(err).__name__}: {err})"
            ) from None
        return {k: v for k, v in sorted(out.items()) if MANIFEST in v or RUN_ID_RE.match(k)}

    def _key(self, run: str, rel: str) -> str:
        return f"{self.prefix}{run}/{rel}"

    def read(self, run: str, rel: str) -> bytes:
        got = self.s3.get_object(Bucket=self.bucket, Key=self._key(run, rel))
        self._meta[self._key(run, rel)] = {
            "lock_mode": got.get("ObjectLockMode"),
            "retain_until": got.get("ObjectLockRetainUntilDate"),
        }
        return got["Body"].read()

    def lock_of(self, run: str, rel: str) -> dict[str, Any] | None:
        return self._meta.get(self._key(run, rel))

    def newest_manifest(self) -> str | None:
        """The run whose ``run.json`` object was written last (S3's LastModified)."""
        self.folders()
        manifests = [
            (o["LastModified"], key)
            for key, o in self._meta.items()
            if "LastModified" in o and key.endswith(f"/{MANIFEST}")
        ]
        for _, key in sorted(manifests, reverse=True):
            run = key[len(self.prefix) :].partition("/")[0]
            data = _manifest_of(self.read(run, MANIFEST))
            if data is not None:
                return run
        return None


def store_for(path: str, s3: Any = None) -> _Store:
    if path.startswith("s3://"):
        if s3 is None:
            raise RunbookError(f"verify-archive: {path}: an S3 client is needed")
        return S3Store(path, s3)
    root = Path(path)
    if not root.is_dir():
        raise RunbookError(
            f"verify-archive: {path}: no such folder; give a run folder or the archive"
        )
    return LocalStore(root)


def _manifest_of(data: bytes) -> dict[str, Any] | None:
    """The parsed manifest, or None when ``data`` is not one (no file list)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), list) else None


# --------------------------------------------------------------------------- writing


def previous_link(store: _Store) -> dict[str, str] | None:
    """``{"run_id", "manifest_sha256"}`` of the run whose manifest was written last, or None
    for the first run of the archive."""
    if isinstance(store, S3Store):
        run = store.newest_manifest()
    else:
        best: tuple[str, str] | None = None
        for name, files in store.folders().items():
            if MANIFEST not in files:
                continue
            doc = _manifest_of(store.read(name, MANIFEST))
            key = (str(doc.get("written") or doc.get("finished")), name) if doc else None
            if key is not None and (best is None or key > best):
                best = key
        run = best[1] if best else None
    if run is None:
        return None
    return {"run_id": run, "manifest_sha256": sha256_bytes(store.read(run, MANIFEST))}


@contextlib.contextmanager
def archive_lock(archive: Path) -> Iterator[None]:
    """One manifest written at a time in a local archive (two runs finishing together would
    otherwise both link to the same previous run)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX: no lock)
        yield
        return
    archive.mkdir(parents=True, exist_ok=True)
    with open(archive / LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_manifest(folder: Path, summary: dict[str, Any], previous: dict[str, str] | None) -> Path:
    """``folder/run.json``: ``summary`` plus the file list, the link to ``previous`` and when
    it was written (the order :func:`previous_link` follows)."""
    written = datetime.now(UTC).isoformat(timespec="microseconds")
    doc = {
        "format": FORMAT,
        **summary,
        "written": written,
        "previous": previous,
        "files": file_list(folder),
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- object lock


def lock_arguments(lock: Any, now: datetime | None = None) -> dict[str, Any]:
    """put_object arguments for ``run_archive_lock`` (mode, days)."""
    until = (now or datetime.now(UTC)) + timedelta(days=lock.days)
    return {"ObjectLockMode": lock.mode.upper(), "ObjectLockRetainUntilDate": until}


def check_lock_bucket(s3: Any, url: str) -> None:
    """RunbookError unless the bucket of ``url`` has Object Lock enabled (before any upload)."""
    bucket = url[5:].partition("/")[0]
    try:
        conf = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except Exception as err:  # noqa: BLE001  (ObjectLockConfigurationNotFoundError and kin)
        conf = {"error": f"{type(err).__name__}: {err}"}
    if conf.get("ObjectLockEnabled") != "Enabled":
        raise RunbookError(
            f"run_archive_lock: bucket {bucket!r} does not have S3 Object Lock enabled "
            f"({conf.get('error') or conf or 'no configuration'}); create the bucket with "
            "Object Lock enabled, or remove run_archive_lock from the params"
        )


# --------------------------------------------------------------------------- verifying


@dataclass
class Verification:
    location: str
    checked: list[str] = field(default_factory=list)  # run folders checked
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = (
            f"{self.location}: {len(self.checked)} run folder(s) intact"
            if self.ok
            else f"{self.location}: {len(self.problems)} problem(s) in {len(self.checked)} run folder(s)"
        )
        return [head, *self.problems, *(f"note: {n}" for n in self.notes)]


def _check_files(
    store: _Store, run: str, doc: dict[str, Any], present: dict[str, int], v: Verification
) -> None:
    listed = {f["path"]: f for f in doc["files"] if isinstance(f, dict) and "path" in f}
    for rel in sorted(listed):
        where = store.where(run, rel)
        if rel not in present:
            v.problems.append(f"REMOVED  {where}")
            continue
        want = listed[rel]
        got = sha256_bytes(store.read(run, rel))
        if got != want.get("sha256") or present[rel] != want.get("bytes"):
            v.problems.append(
                f"CHANGED  {where} (SHA-256 {str(want.get('sha256'))[:12]}…, now {got[:12]}…; "
                f"{want.get('bytes')} bytes, now {present[rel]})"
            )
        _check_lock(store, run, rel, doc.get("object_lock"), v)
    for rel in sorted(set(present) - set(listed) - {MANIFEST}):
        v.problems.append(f"ADDED    {store.where(run, rel)} (not in its run.json)")


def _check_lock(store: _Store, run: str, rel: str, lock: Any, v: Verification) -> None:
    if not isinstance(lock, dict) or not isinstance(store, S3Store):
        return
    got = store.lock_of(run, rel) or {}
    until = got.get("retain_until")
    want = str(lock.get("mode", "")).upper()
    if got.get("lock_mode") != want or until is None:
        v.problems.append(
            f"UNLOCKED {store.where(run, rel)} (its run.json says Object Lock {want} until "
            f"{lock.get('retain_until')}; the object has {got.get('lock_mode') or 'none'})"
        )


def verify(path: str, s3: Any = None) -> Verification:
    """Check one run folder (``path`` holds a ``run.json``) or every run folder of an archive."""
    single = None
    if path.startswith("s3://"):
        probe = S3Store(path, s3) if s3 is not None else None
        if probe is not None:
            try:
                s3.head_object(Bucket=probe.bucket, Key=f"{probe.prefix}{MANIFEST}")
                single = True
            except Exception:  # noqa: BLE001  (404: not a run folder)
                single = False
    else:
        single = (Path(path) / MANIFEST).is_file()
    if single:
        parent, _, run = path.rstrip("/").rpartition("/")
        store = store_for(parent or ".", s3)
        only = {run}
    else:
        store = store_for(path, s3)
        only = None
    v = Verification(path)
    folders = store.folders()
    docs: dict[str, dict[str, Any]] = {}
    for run, files in folders.items():
        if only is not None and run not in only:
            continue
        if MANIFEST not in files:
            v.problems.append(
                f"NO MANIFEST {store.where(run)} (an interrupted run, or a folder added)"
            )
            continue
        doc = _manifest_of(store.read(run, MANIFEST))
        if doc is None:
            v.notes.append(
                f"{store.where(run)}: run.json lists no files (written before manifests); not checked"
            )
            continue
        v.checked.append(run)
        docs[run] = doc
        _check_files(store, run, doc, files, v)
    _check_chain(store, folders, docs, v, whole=only is None)
    return v


def _check_chain(
    store: _Store,
    folders: dict[str, dict[str, int]],
    docs: dict[str, dict[str, Any]],
    v: Verification,
    whole: bool,
) -> None:
    roots, named_by = [], {}
    for run, doc in sorted(docs.items()):
        prev = doc.get("previous")
        if not prev:
            roots.append(run)
            continue
        target = str(prev.get("run_id"))
        if target in named_by:
            v.problems.append(
                f"BROKEN LINK {store.where(run)}: names the same previous run as {named_by[target]} ({target})"
            )
        named_by[target] = run
        if MANIFEST not in folders.get(target, {}):
            if whole:
                v.problems.append(f"BROKEN LINK {store.where(run)}: previous run {target} is gone")
            else:
                v.notes.append(f"previous run {target} is not beside {run}: link not checked")
            continue
        got = sha256_bytes(store.read(target, MANIFEST))
        if got != prev.get("manifest_sha256"):
            v.problems.append(
                f"BROKEN LINK {store.where(run)}: run.json of previous run {target} changed "
                f"(SHA-256 {str(prev.get('manifest_sha256'))[:12]}…, now {got[:12]}…)"
            )
    if whole and len(roots) > 1:
        v.problems.append(
            f"BROKEN LINK {len(roots)} runs start a chain (no previous run): {', '.join(roots)}; "
            "only the archive's first run may"
        )
