"""Run runbooks with papermill into a run folder: executed notebooks plus HTML copies.

Each run writes an immutable folder ``<run_archive>/<run_id>/`` holding
``NN_name.ipynb`` (executed, with outputs) and ``NN_name.html`` (for sharing offline),
and a ``run.json`` summary. Parameters given to the run go only to notebooks that declare
them; every value is checked against each receiving notebook's declared type, and a name no
notebook of the run declares is an error, all before the sandbox starts or any AWS call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runbook_lib import arguments
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.ledger import new_run_id
from runbook_lib.package_data import data_dir
from runbook_lib.params import find_params_file, load_params
from runbook_lib.progress import BATCH_ENV

log = logging.getLogger("runbook_lib")
NOTEBOOK_DIR = data_dir("notebooks")


@dataclass
class NotebookRun:
    notebook: str
    output: str
    html: str | None
    seconds: float
    status: str  # ok | failed
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    folder: str
    notebooks: list[NotebookRun] = field(default_factory=list)

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
    """An HTML copy that renders offline (plotly JS is inlined by the notebook renderer)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def run_notebooks(
    params_file: str = "sandbox",
    notebooks: list[str] | None = None,
    out_dir: str | None = None,
    parameters: dict[str, Any] | None = None,
    html: bool = True,
    stop_on_error: bool = True,
    log_output: bool = False,
) -> RunResult:
    """Execute the runbooks in order; on the sandbox, one sandbox server serves them all."""
    params_path = find_params_file(params_file).resolve()  # the kernel runs in notebooks/
    params = load_params(params_path)
    run_id = new_run_id()
    paths = resolve_notebooks(notebooks)
    checked = check_run_parameters(paths, str(params_path), run_id, parameters or {})
    archive = out_dir or params.resolve_path(params.run_archive)
    remote = archive if archive.startswith("s3://") else None
    if remote:  # executed locally first, then uploaded whole (never a local folder 's3:')
        folder = Path(tempfile.mkdtemp(prefix=f"runbook-{run_id}-"))
    else:
        folder = Path(archive) / run_id
        folder.mkdir(parents=True, exist_ok=False)
    result = RunResult(run_id, str(folder))
    os.environ[BATCH_ENV] = "1"  # kernels inherit it: no frozen progress widgets in outputs
    if not log_output:  # papermill logs every cell at INFO; one line per notebook is ours
        logging.getLogger("papermill").setLevel(logging.WARNING)
    with _sandbox_for(params) as url:
        if url:
            log.info("sandbox serving at %s", url)
        for nb in paths:
            nb_params = checked[nb]
            out = folder / nb.name
            log.info("running %s with %s", nb.name, nb_params)
            t0 = time.monotonic()
            status, error = "ok", None
            try:
                import papermill

                papermill.execute_notebook(
                    str(nb),
                    str(out),
                    parameters=nb_params,
                    cwd=str(nb.parent),
                    log_output=True,
                    progress_bar=False,
                    kernel_name="python3",
                )
            except Exception as err:  # papermill raises PapermillExecutionError; keep the copy
                status, error = (
                    "failed",
                    f"{type(err).__name__}: {str(err).strip().splitlines()[-1:]}",
                )
            html_path = str(to_html(out)) if html and out.exists() else None
            log.info("%s %s in %.1f s", nb.name, status, time.monotonic() - t0)
            result.notebooks.append(
                NotebookRun(
                    nb.name, str(out), html_path, round(time.monotonic() - t0, 1), status, error
                )
            )
            if status != "ok" and stop_on_error:
                break
        if remote:
            _relocate(result, folder, f"{remote.rstrip('/')}/{run_id}")
        (folder / "run.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
        if remote:
            upload_folder(params, folder, result.folder)
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _relocate(result: RunResult, local: Path, remote: str) -> None:
    """Point the result at where the files will live once uploaded."""
    result.folder = remote
    for nb in result.notebooks:
        nb.output = nb.output.replace(str(local), remote)
        nb.html = nb.html.replace(str(local), remote) if nb.html else None


def upload_folder(params: Any, folder: Path, target: str) -> list[str]:
    """Upload every file of ``folder`` under ``s3://bucket/prefix``; RunbookError naming the
    local copy (kept) when an upload fails."""
    from runbook_lib.session import AwsSession

    bucket, _, prefix = target[5:].partition("/")
    s3 = AwsSession(params).client("s3", params.account_ids[0])
    keys = []
    try:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{f.relative_to(folder).as_posix()}".lstrip("/")
            kind = {".html": "text/html", ".json": "application/json"}.get(f.suffix)
            extra = {"ContentType": kind} if kind else {}
            s3.put_object(Bucket=bucket, Key=key, Body=f.read_bytes(), **extra)
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
