"""Run runbooks with papermill into a run folder: executed notebooks plus HTML copies.

Each run writes an immutable folder ``<run_archive>/<run_id>/`` holding
``NN_name.ipynb`` (executed, with outputs) and ``NN_name.html`` (for sharing offline),
``exports/`` (every ledger table the run wrote, as CSV and JSON, and the AWS Backup
Audit Manager report shapes: :mod:`runbook_lib.exports`) and ``run.json``, the manifest
that lists every file with its SHA-256 and links to the previous run
(:mod:`runbook_lib.archive`). Parameters given to the run go only to notebooks that declare
them; every value is checked against each receiving notebook's declared type, and a name no
notebook of the run declares is an error, all before the sandbox starts or any AWS call.

Whether the run's evidence is red (a restore test FAIL, a critical finding, ...) is judged
by :func:`judge` with the ``--fail-on`` rules: ``runbook run`` and scheduled runs share it
and exit with :data:`EXIT_NOTEBOOK_FAILED` or :data:`EXIT_RED`.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook_lib import __version__, arguments, exports
from runbook_lib import archive as archives
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.ledger import Ledger, new_run_id
from runbook_lib.package_data import data_dir
from runbook_lib.params import find_params_file, load_params
from runbook_lib.progress import BATCH_ENV

log = logging.getLogger("runbook_lib")
NOTEBOOK_DIR = data_dir("notebooks")

#: exit codes of ``runbook run`` and ``runbook schedule run-due`` (2: a usage error)
EXIT_OK, EXIT_NOTEBOOK_FAILED, EXIT_RED = 0, 1, 3


@dataclass
class NotebookRun:
    notebook: str
    output: str
    html: str | None
    seconds: float
    status: str  # ok | failed | timed_out (its kernel killed at the run's time-out)
    error: str | None = None
    sha256: str = ""  # of the runbook as run (the input notebook)
    #: the ledger files it appended: table, path, rows, sha256
    ledger_writes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    run_id: str
    folder: str
    notebooks: list[NotebookRun] = field(default_factory=list)
    started: str = ""  # ISO 8601 UTC
    finished: str = ""
    started_by: str = ""  # the operating-system user
    tool_version: str = __version__
    params_file: str = ""
    params_sha256: str = ""
    fail_on: list[str] = field(default_factory=list)  # the rules the exit code follows
    #: every red-evidence rule that matched the run's rows (whatever fail_on says)
    red: list[dict[str, Any]] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    object_lock: dict[str, Any] | None = None
    #: the run's time-out (seconds of notebook execution), None for none
    timeout_seconds: float | None = None
    #: table -> status -> rows, for every table of the run with a status column
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(n.status == "ok" for n in self.notebooks)


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def resolve_notebooks(names: list[str] | None) -> list[Path]:
    available = list_notebooks()
    if not names:
        return available
    chosen = []
    for name in names:
        match = [p for p in available if name in (p.name, p.stem, p.stem.split("_", 1)[1])]
        if not match and Path(name).is_file():
            match = [Path(name)]
        if not match:
            allowed = ", ".join(p.stem.split("_", 1)[1] for p in available)
            raise RunbookError(f"notebooks: {name!r} is not a runbook; allowed: {allowed}")
        chosen += match
    return chosen


def declared_parameters(notebook: Path) -> set[str]:
    return {d.name for d in arguments.declaration_of(notebook)}


def check_run_parameters(
    paths: list[Path], params_file: str, run_id: str, parameters: dict[str, Any]
) -> dict[Path, dict[str, Any]]:
    """The validated parameters each notebook of a run gets; ParamsError before anything runs
    when a value does not fit a receiving notebook or a name fits none of them."""
    declared = {nb: arguments.declaration_of(nb) for nb in paths}
    known = {d.name for decl in declared.values() for d in decl}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ParamsError(
            "-p",
            [
                f"{name}: not a parameter of {', '.join(p.stem for p in paths)}; "
                f"allowed: {', '.join(sorted(known - {'params_file', 'run_id'}))}"
                for name in unknown
            ],
        )
    out: dict[Path, dict[str, Any]] = {}
    for nb, decl in declared.items():
        names = {d.name for d in decl}
        given = {"params_file": params_file, "run_id": run_id, **parameters}
        given = {k: v for k, v in given.items() if k in names}
        args = arguments.validate(decl, given, source=f"-p for {nb.name}")
        out[nb] = {k: v for k, v in arguments.as_dict(args).items() if k in given}
    return out


def to_html(executed: Path) -> Path:
    """An HTML copy for reading offline: the verdict first, no code, every table row; the
    folder's one plotly.min.js and DataTables script are written beside it (see
    :mod:`runbook_lib.report_html`)."""
    from runbook_lib.report_html import export

    return export(Path(executed))


def run_notebooks(
    params_file: str = "sandbox",
    notebooks: list[str] | None = None,
    out_dir: str | None = None,
    parameters: dict[str, Any] | None = None,
    html: bool = True,
    stop_on_error: bool = True,
    log_output: bool = False,
    fail_on: str | tuple[str, ...] | None = None,
    run_id: str | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Execute the runbooks in order; on the sandbox, one sandbox server serves them all.
    ``fail_on``: the red-evidence rules the exit code follows (:func:`judge`), recorded in
    ``run.json``; default :data:`runbook_lib.exports.DEFAULT_FAIL_ON`. ``run_id``: the run's
    id and folder name (a scheduler's own, e.g. Airflow's); default a new one. A run id whose
    folder exists already is refused before anything runs (a run never overwrites another).
    ``timeout``: seconds the notebooks may run in all; then the running kernel is killed
    (its process group) and the notebook recorded ``timed_out`` (:func:`_kernel_deadline`)."""
    rules = fail_on if isinstance(fail_on, tuple) else exports.parse_fail_on(fail_on)
    if run_id:
        try:
            arguments.check_run_id(run_id)
        except ValueError as err:
            raise ParamsError("run_id", [str(err)]) from None
    params_path = find_params_file(params_file).resolve()  # the kernel runs in notebooks/
    params = load_params(params_path)
    run_id = run_id or new_run_id()
    paths = resolve_notebooks(notebooks)
    checked = check_run_parameters(paths, str(params_path), run_id, parameters or {})
    archive = out_dir or params.resolve_path(params.run_archive)
    remote = archive if archive.startswith("s3://") else None
    if params.run_archive_lock and not remote:
        raise RunbookError(
            f"run_archive_lock: the params ask for S3 Object Lock but the run archive {archive} "
            "is local; give --out s3://bucket/prefix or remove run_archive_lock"
        )
    # executed locally first when remote, then uploaded whole (never a local folder 's3:');
    # made once the sandbox is up, so a sandbox that fails to start leaves no empty run folder
    folder = Path(tempfile.gettempdir() if remote else archive) / (
        f"runbook-{run_id}" if remote else run_id
    )
    if not remote and folder.exists():
        raise RunbookError(f"run_id: {run_id!r} has a run folder already ({folder}); give a new id")
    result = RunResult(
        run_id,
        str(folder),
        started=_now(),
        started_by=_user(),
        params_file=str(params_path),
        params_sha256=archives.sha256_file(params_path),
        fail_on=list(rules),
        timeout_seconds=timeout,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    os.environ[BATCH_ENV] = "1"  # kernels inherit it: no frozen progress widgets in outputs
    if not log_output:  # papermill logs every cell at INFO; one line per notebook is ours
        logging.getLogger("papermill").setLevel(logging.WARNING)
    with _sandbox_for(params) as url:
        if url:
            log.info("sandbox serving at %s", url)
        s3 = _S3(params)
        lock = params.run_archive_lock if remote else None
        if lock:
            archives.check_lock_bucket(s3.client, remote)  # before anything is made
        folder.mkdir(parents=True, exist_ok=False)
        ledgers: dict[str, Ledger] = {}
        try:
            for nb in paths:
                nb_params = checked[nb]
                location = _ledger_location(params, nb_params, nb)
                ledger = ledgers.setdefault(location, Ledger(location, s3.lazy(location)))
                before = exports.run_files(location, run_id, ledger._s3)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:  # not started: the time was used up
                    run = NotebookRun(nb.name, "", None, 0.0, "timed_out", _late(timeout))
                else:
                    run = _execute(nb, folder, nb_params, html, left)
                run.ledger_writes = _writes(
                    exports.run_files(location, run_id, ledger._s3), before, ledger
                )
                result.notebooks.append(run)
                if run.status != "ok" and stop_on_error:
                    break
        finally:
            result.finished = _now()
            _finish(result, folder, paths, ledgers, run_id)
            if remote:
                target = f"{remote.rstrip('/')}/{run_id}"
                lock_args = archives.lock_arguments(lock) if lock else {}
                if lock:
                    result.object_lock = {
                        "mode": lock.mode.upper(),
                        "days": lock.days,
                        "retain_until": lock_args["ObjectLockRetainUntilDate"].isoformat(),
                    }
                _relocate(result, folder, target)
                previous = archives.previous_link(archives.S3Store(remote, s3.client))
                archives.write_manifest(folder, asdict(result), previous)
                upload_folder(params, folder, result.folder, s3.client, lock_args)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                with archives.archive_lock(Path(archive)):
                    previous = archives.previous_link(archives.LocalStore(Path(archive)))
                    archives.write_manifest(folder, asdict(result), previous)
    return result


def _execute(
    nb: Path, folder: Path, nb_params: dict[str, Any], html: bool, timeout: float | None = None
) -> NotebookRun:
    out = folder / nb.name
    log.info("running %s with %s", nb.name, nb_params)
    t0 = time.monotonic()
    status, error = "ok", None
    with _kernel_deadline(timeout) as killed:
        try:
            import papermill

            from runbook_lib import nbengine

            papermill.execute_notebook(
                str(nb),
                str(out),
                parameters=nb_params,
                cwd=str(nb.parent),
                log_output=True,
                progress_bar=False,
                kernel_name="python3",
                engine_name=nbengine.ENGINE,  # writes the copy every 10 s, not twice a cell
            )
        except Exception as err:  # papermill raises PapermillExecutionError; keep the copy
            status, error = (
                "failed",
                f"{type(err).__name__}: {str(err).strip().splitlines()[-1:]}",
            )
    if killed and status == "failed":  # DeadKernelError: the kill ended it
        status, error = "timed_out", _late(None, killed[0] - t0, time.monotonic() - killed[0])
    html_path = str(to_html(out)) if html and out.exists() else None
    log.info("%s %s in %.1f s", nb.name, status, time.monotonic() - t0)
    return NotebookRun(
        nb.name,
        str(out),
        html_path,
        round(time.monotonic() - t0, 1),
        status,
        error,
        sha256=archives.sha256_file(nb),
    )


def _late(timeout: float | None, ran: float = 0.0, after_kill: float = 0.0) -> str:
    if timeout is not None:
        return f"the run's time-out of {timeout:g} s had passed before it could start"
    return (
        f"the run's time-out passed after {ran:.1f} s of this notebook: its kernel was killed "
        f"(the notebook ended {after_kill:.1f} s after the kill)"
    )


@contextlib.contextmanager
def _kernel_deadline(seconds: float | None):
    """Kill every process this process starts inside the block (the kernel) with its process
    group once ``seconds`` have passed; papermill then ends with DeadKernelError within about
    a second (nbclient polls the kernel). Yields a list that holds the kill's monotonic time
    once it fired."""
    if seconds is None:
        yield []
        return
    import signal
    import threading

    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children()}
    killed: list[float] = []

    def kill() -> None:
        killed.append(time.monotonic())
        for p in me.children():
            if p.pid in before:
                continue
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                tree = [p, *p.children(recursive=True)]
                if os.getpgid(p.pid) == p.pid:  # the kernel leads its own session
                    os.killpg(p.pid, signal.SIGKILL)
                for q in tree:  # and whatever left its group
                    with contextlib.suppress(psutil.Error):
                        q.kill()
                log.warning(
                    "time-out: killed kernel pid %s (and %d child processes)", p.pid, len(tree) - 1
                )

    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()
    try:
        yield killed
    finally:
        timer.cancel()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in this environment)
        return ""


class _S3:
    """The run's S3 client, made only when an s3:// ledger or archive needs it."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from runbook_lib.session import AwsSession

            self._client = AwsSession(self.params).client("s3", self.params.account_ids[0])
        return self._client

    def lazy(self, location: str) -> Any:
        return self.client if location.startswith("s3://") else None


def _ledger_location(params: Any, nb_params: dict[str, Any], nb: Path) -> str:
    """Where the notebook's kernel appends: its ``ledger_location``, else the params' ledger
    resolved as the kernel resolves it (its working directory is the notebook's folder)."""
    given = nb_params.get("ledger_location")
    if given:
        return str(given)
    with contextlib.chdir(nb.parent):
        return params.resolve_path(params.ledger)


def _writes(after: dict[str, str], before: dict[str, str], ledger: Ledger) -> list[dict[str, Any]]:
    import io

    import pyarrow.parquet as pq

    out = []
    for path in sorted(set(after) - set(before)):
        data = exports.read_file(path, ledger._s3)
        out.append(
            {
                "ledger": ledger.location,
                "table": after[path],
                "path": path,
                "rows": pq.ParquetFile(io.BytesIO(data)).metadata.num_rows,
                "sha256": archives.sha256_bytes(data),
            }
        )
    return out


def _finish(
    result: RunResult, folder: Path, paths: list[Path], ledgers: dict[str, Ledger], run_id: str
) -> None:
    """The run's exports and red evidence, from the ledger files its notebooks wrote."""
    by_path = {nb.name: nb for nb in paths}
    tables: dict[str, Any] = {}
    infos: dict[str, exports.RunInfo] = {}
    for ledger in ledgers.values():
        location = ledger.location
        runs = [n for n in result.notebooks if n.ledger_writes]
        files = {
            w["path"]: w["table"] for n in runs for w in n.ledger_writes if w["ledger"] == location
        }
        for table, df in exports.read_rows(files, run_id, ledger._s3).items():
            tables[table] = df if table not in tables else _concat(tables[table], df)
            writer = next(n for n in runs if any(w["table"] == table for w in n.ledger_writes))
            source = by_path.get(writer.notebook)
            infos.setdefault(
                table,
                exports.RunInfo(
                    run_id=run_id,
                    started=result.started,
                    finished=result.finished,
                    started_by=result.started_by,
                    tool_version=result.tool_version,
                    notebook=writer.notebook,
                    notebook_sha256=writer.sha256
                    or (archives.sha256_file(source) if source else ""),
                    ledger=ledger,
                ),
            )
    written = exports.write_exports(folder, tables, infos) if tables else []
    result.exports = [str(p) for p in written]
    result.verdicts = {
        t: {str(k): int(v) for k, v in df["status"].value_counts().items()}
        for t, df in sorted(tables.items())
        if "status" in df
    }
    result.red = [asdict(r) for r in exports.red_evidence(tables)]


def _concat(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


def judge(result: RunResult, fail_on: tuple[str, ...] | None = None) -> tuple[int, list[str]]:
    """The exit code of a run and what to say: :data:`EXIT_NOTEBOOK_FAILED` when a notebook
    did not execute to the end, else :data:`EXIT_RED` when a ``fail_on`` rule matched the
    run's rows (table, how many rows, the first resources), else :data:`EXIT_OK`.
    ``runbook run`` and scheduled runs both decide with this."""
    rules = set(result.fail_on if fail_on is None else fail_on)
    lines = [
        f"notebook {n.notebook} {n.status.replace('_', ' ')}: {n.error}"
        for n in result.notebooks
        if n.status != "ok"
    ]
    red = [exports.Red(**r) for r in result.red if r["rule"] in rules]
    lines += [f"evidence red: {r.message()}" for r in red]
    if any(n.status != "ok" for n in result.notebooks):
        return EXIT_NOTEBOOK_FAILED, lines
    return (EXIT_RED if red else EXIT_OK), lines


def worst(codes: list[int]) -> int:
    """One exit code for several runs: a failed notebook first, then red evidence."""
    for code in (EXIT_NOTEBOOK_FAILED, EXIT_RED):
        if code in codes:
            return code
    return EXIT_OK


def _relocate(result: RunResult, local: Path, remote: str) -> None:
    """Point the result at where the files will live once uploaded."""
    result.folder = remote
    result.exports = [p.replace(str(local), remote) for p in result.exports]
    for nb in result.notebooks:
        nb.output = nb.output.replace(str(local), remote)
        nb.html = nb.html.replace(str(local), remote) if nb.html else None


#: content types the run folder's files are served with (a browser opening the archived
#: HTML from S3 must get its scripts as JavaScript); the rest from :mod:`mimetypes`
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".ipynb": "application/x-ipynb+json",
    ".csv": "text/csv; charset=utf-8",
    ".parquet": "application/vnd.apache.parquet",
}


def content_type(path: Path) -> str:
    """The Content-Type a run folder file is uploaded with."""
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def upload_folder(
    params: Any,
    folder: Path,
    target: str,
    s3: Any = None,
    lock_args: dict[str, Any] | None = None,
) -> list[str]:
    """Upload every file of ``folder`` under ``s3://bucket/prefix`` (with ``lock_args``,
    each under S3 Object Lock: :func:`runbook_lib.archive.lock_arguments`); RunbookError
    naming the local copy (kept) when an upload fails."""
    if s3 is None:
        s3 = _S3(params).client
    bucket, _, prefix = target[5:].partition("/")
    keys = []
    try:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{f.relative_to(folder).as_posix()}".lstrip("/")
            extra = {"ContentType": content_type(f)}
            s3.put_object(Bucket=bucket, Key=key, Body=f.read_bytes(), **extra, **(lock_args or {}))
            keys.append(f"s3://{bucket}/{key}")
    except Exception as err:
        raise RunbookError(
            f"run_archive: upload to {target} failed ({type(err).__name__}: {err}); "
            f"the run's files are kept in {folder}"
        ) from err
    return keys


@contextlib.contextmanager
def _sandbox_for(params):
    from runbook_lib.targets import ENV_URL, sandbox

    if params.target.kind != "sandbox" or params.target.endpoint_url or os.environ.get(ENV_URL):
        yield params.target.endpoint_url or os.environ.get(ENV_URL)
        return
    with sandbox().running_sandbox(params.source) as url:
        os.environ[ENV_URL] = url
        try:
            yield url
        finally:
            os.environ.pop(ENV_URL, None)
