"""``runbook``: a thin command line over runbook_lib.

    runbook run [--params sandbox] [--notebook inventory ...] [--approve] [-p key=value ...]
    runbook params check FILE ...
    runbook sandbox serve [--port 5055] [--seed-params sandbox] [--load STATE]
    runbook sandbox advance 36h | save PATH | load PATH [--url URL]
    runbook lab [--params sandbox]
    runbook sweep [--params sandbox] [--apply]
    runbook schedule check|next|run-due|serve|airflow-dag
    runbook ledger compact --table T (--day YYYY-MM-DD | --month YYYY-MM) [--dry-run]
    runbook verify-archive PATH [--params sandbox]

Exit status: 0 all well; 1 a notebook failed to execute (run, run-due) or the archive is
not intact (verify-archive); 3 the evidence is red by the ``--fail-on`` rules (run, run-due).
Errors the user can fix print one message (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import yaml

from runbook_lib.errors import RunbookError


class _ValueLoader(yaml.SafeLoader):
    """YAML for -p values, except that times stay text (the notebooks parse them)."""


_ValueLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _value(key: str, text: str) -> Any:
    if not text:
        return ""
    try:
        return yaml.load(text, Loader=_ValueLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        raise RunbookError(
            f"-p {key}: {text[:80]!r} is not a value (read as YAML: 5, true, [a, b], 'text')"
        ) from None


def _parse_kv(groups: list[list[str]] | list[str]) -> dict[str, Any]:
    """``-p key=value`` or papermill's ``-p key value``; the value is read as YAML."""
    out: dict[str, Any] = {}
    for group in groups:
        group = [group] if isinstance(group, str) else group
        if len(group) == 2 and "=" not in group[0]:
            pairs = [(group[0], group[1])]
        else:
            pairs = []
            for item in group:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise RunbookError(
                        f"-p {item!r}: use key=value or key value (the value is read as YAML: 5, true, [a, b])"
                    )
                pairs.append((key, value))
        for key, value in pairs:
            if key in out:
                raise RunbookError(f"-p {key}: given twice")
            out[key.strip()] = _value(key, value)
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from runbook_lib.exports import parse_fail_on
    from runbook_lib.runner import judge, run_notebooks

    fail_on = parse_fail_on(args.fail_on)  # a bad rule is an error before anything runs
    parameters = _parse_kv(args.param)
    if args.approve:
        parameters.setdefault("approve", True)
    result = run_notebooks(
        args.params,
        args.notebook,
        args.out,
        parameters,
        html=not args.no_html,
        log_output=args.log_output,
        fail_on=fail_on,
    )
    for nb in result.notebooks:
        mark = "ok    " if nb.status == "ok" else "FAILED"
        print(
            f"{mark} {nb.seconds:6.1f}s  {nb.output}"
            + (f"\n        {nb.error}" if nb.error else "")
        )
    print(f"\nRun folder: {result.folder}")
    print("Open the .html files in a browser, or the .ipynb files in JupyterLab (make lab).")
    code, lines = judge(result)
    for line in lines:
        print(line, file=sys.stderr)
    return code


def cmd_verify_archive(args: argparse.Namespace) -> int:
    from runbook_lib.archive import verify

    s3 = None
    if args.path.startswith("s3://"):
        from runbook_lib.params import load_params
        from runbook_lib.runner import _sandbox_for
        from runbook_lib.session import AwsSession

        params = load_params(args.params)
        with _sandbox_for(params):
            s3 = AwsSession(params).client("s3", params.account_ids[0])
            result = verify(args.path, s3)
    else:
        result = verify(args.path)
    for line in result.lines():
        print(line)
    return 0 if result.ok else 1


def cmd_params_check(args: argparse.Namespace) -> int:
    from runbook_lib.params import load_params

    status = 0
    for f in args.files:
        try:
            p = load_params(f)
            print(
                f"{f}: OK ({p.target.kind}, {len(p.accounts)} accounts, {len(p.regions)} Regions, tiers {', '.join(p.tiers)})"
            )
        except RunbookError as err:
            print(err, file=sys.stderr)
            status = 2
    return status


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from runbook_lib.targets import sandbox

    sandbox().serve(args.host, args.port, args.seed_params, state_file=args.load)
    return 0


def _sandbox_url(args: argparse.Namespace) -> str:
    from runbook_lib.targets import ENV_URL

    url = args.url or os.environ.get(ENV_URL)
    if not url:
        raise RunbookError(
            f"sandbox {args.sandbox_command}: no sandbox server named: pass --url or set "
            f"{ENV_URL} (`runbook sandbox serve` prints it)"
        )
    return url


def cmd_sandbox_advance(args: argparse.Namespace) -> int:
    from runbook_lib.targets import sandbox

    done = sandbox().advance(args.duration, endpoint_url=_sandbox_url(args))
    for e in done.events:
        print(f"{e.at:%Y-%m-%d %H:%M}Z {e.kind:22} {e.state:9} {e.resource_arn or e.source}")
    print(f"sandbox clock {done.start:%Y-%m-%d %H:%M}Z -> {done.end:%Y-%m-%d %H:%M}Z: "
          f"{len(done.events)} events")  # fmt: skip
    return 0


def cmd_sandbox_state(args: argparse.Namespace) -> int:
    from runbook_lib.targets import sandbox

    verb = args.sandbox_command
    act = sandbox().save_state if verb == "save" else sandbox().load_state
    info = act(args.path, endpoint_url=_sandbox_url(args))
    print(f"{verb}d {args.path}: {info.size / 1e6:.1f} MB, sandbox time {info.saved_at}, "
          f"{sum(info.services.values())} backends of {len(info.services)} services")  # fmt: skip
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    import subprocess

    from runbook_lib.package_data import data_dir
    from runbook_lib.targets import ENV_URL, sandbox

    running_sandbox = sandbox().running_sandbox

    with running_sandbox(args.params) as url:
        os.environ[ENV_URL] = url
        print(f"Sandbox at {url}; every notebook in this JupyterLab uses it.", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--notebook-dir",
            str(data_dir("notebooks")),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI machines often run as root
        cmd += args.lab_args
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from runbook_lib.context import start

    try:
        from runbook_lib.restore import sweep
    except ImportError as err:
        raise RunbookError("sweep: the restore package is not available in this build") from err
    ctx = start(args.params, setup_display=False)
    table = sweep(ctx, dry_run=not args.apply)
    print(
        table.to_string(index=False) if len(table) else "No expired restore-test resources found."
    )
    if not args.apply and len(table):
        print("\nDry run: nothing deleted. Run again with --apply to delete these.")
    errors = int((table["action"] == "ERROR").sum()) if len(table) else 0
    if errors:  # a scheduler must see that scratch copies may be left behind
        print(
            f"\n{errors} resource(s) could not be checked or deleted: see ERROR rows",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runbook_lib import schedule as sch

    plan = sch.load_schedule(args.file)
    problems = sch.check_schedule(plan)
    if problems:
        raise RunbookError("schedule: " + "; ".join(problems))
    if args.schedule_command == "check":
        print(f"{args.file or 'params/schedule.yaml'}: OK ({len(plan.jobs)} jobs)")
    elif args.schedule_command == "next":
        print(sch.upcoming(plan, n=args.count).to_string(index=False))
    elif args.schedule_command == "run-due":
        from runbook_lib.exports import parse_fail_on

        outcomes = sch.run_due(plan, Path(args.state), fail_on=parse_fail_on(args.fail_on))
        for o in outcomes:
            sch.report(o)
        if not outcomes:
            print("nothing due")
        return sch.exit_code(outcomes)
    elif args.schedule_command == "serve":
        from runbook_lib.exports import parse_fail_on

        sch.serve(plan, Path(args.state), args.poll_seconds, fail_on=parse_fail_on(args.fail_on))
    elif args.schedule_command == "airflow-dag":
        text = sch.airflow_dag(plan, args.output_dir, source=args.file or "params/schedule.yaml")
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


FAIL_ON_HELP = (
    "what makes the exit status 3 (evidence red): comma-separated rules such as restore-fail, "
    "restore-error, critical, high, medium, low, audit-error, backup-fail, protect-fail, "
    "incident-restore-fail, unrecoverable; or any-fail, or none (default: restore-fail,critical)"
)


def cmd_ledger_compact(args: argparse.Namespace) -> int:
    from runbook_lib.ledger import Ledger
    from runbook_lib.params import load_params

    params = load_params(args.params)
    location = args.ledger or params.resolve_path(params.ledger)
    if not location.startswith("s3://"):
        result = Ledger(location).compact(
            args.table, day=args.day, month=args.month, dry_run=args.dry_run
        )
    else:
        from runbook_lib.runner import _sandbox_for
        from runbook_lib.session import AwsSession

        with _sandbox_for(params):
            s3 = AwsSession(params).client("s3", params.account_ids[0])
            result = Ledger(location, s3).compact(
                args.table, day=args.day, month=args.month, dry_run=args.dry_run
            )
    print(result.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="runbook", description="Backup and restore assurance runbooks (AWS REL 9)."
    )
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute runbooks with papermill into a run folder")
    run.add_argument(
        "--params", default="sandbox", help="params name (in params/) or path to a YAML file"
    )
    run.add_argument(
        "--notebook", action="append", help="a runbook to run (repeatable); default: all, in order"
    )
    run.add_argument("--out", default=None, help="run archive folder (default: params run_archive)")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="key=value (or key value) for notebooks that declare key; checked before the run",
    )
    run.add_argument(
        "--approve", action="store_true", help="pass approve=True to runbooks that change things"
    )
    run.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    run.add_argument(
        "--log-output", action="store_true", help="echo the notebooks' output and log lines"
    )
    run.add_argument("--fail-on", default=None, help=FAIL_ON_HELP)
    run.set_defaults(func=cmd_run)

    verify = sub.add_parser(
        "verify-archive",
        help="check run folders against their run.json (files and the chain of runs)",
    )
    verify.add_argument("path", help="a run folder, or the archive holding them (s3:// too)")
    verify.add_argument(
        "--params", default="sandbox", help="params whose session reads an s3:// archive"
    )
    verify.set_defaults(func=cmd_verify_archive)

    params = sub.add_parser("params", help="parameter files")
    psub = params.add_subparsers(dest="params_command", required=True)
    check = psub.add_parser("check", help="validate parameter files")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_params_check)

    sandbox = sub.add_parser("sandbox", help="the local moto sandbox")
    ssub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = ssub.add_parser("serve", help="run the sandbox server in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5055)
    serve.add_argument("--seed-params", default="sandbox", help="seed the demo estate ('' to skip)")
    serve.add_argument("--load", default=None, help="start from a saved state instead of seeding")
    serve.set_defaults(func=cmd_sandbox_serve)
    adv = ssub.add_parser("advance", help="move the sandbox clock; AWS schedules fire")
    adv.add_argument("duration", help="how far: 36h, 2d, 90m, 1w, 1d12h")
    adv.set_defaults(func=cmd_sandbox_advance)
    for verb in ("save", "load"):
        sp = ssub.add_parser(verb, help=f"{verb} the sandbox's whole state (a file)")
        sp.add_argument("path")
        sp.set_defaults(func=cmd_sandbox_state)
    for sp in (adv, ssub.choices["save"], ssub.choices["load"]):
        sp.add_argument(
            "--url", default=None, help="the sandbox server (default: $RUNBOOK_SANDBOX_URL)"
        )

    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks, with a sandbox running")
    lab.add_argument("--params", default="sandbox")
    lab.add_argument("lab_args", nargs="*", help="extra arguments for jupyter lab (after --)")
    lab.set_defaults(func=cmd_lab)

    sweep = sub.add_parser(
        "sweep", help="find (and with --apply delete) expired restore-test resources"
    )
    sweep.add_argument("--params", default="sandbox")
    sweep.add_argument(
        "--apply", action="store_true", help="delete what is found (default: dry run)"
    )
    sweep.set_defaults(func=cmd_sweep)

    schedule = sub.add_parser("schedule", help="scheduled runs from params/schedule.yaml")
    schedule.add_argument(
        "--file", default=None, help="schedule file (default params/schedule.yaml)"
    )
    schsub = schedule.add_subparsers(dest="schedule_command", required=True)
    schsub.add_parser("check", help="validate the schedule against the notebooks")
    nxt = schsub.add_parser("next", help="list the coming runs")
    nxt.add_argument("--count", type=int, default=3)
    for name in ("run-due", "serve"):
        p = schsub.add_parser(
            name, help="run due jobs once" if name == "run-due" else "run due jobs forever"
        )
        p.add_argument("--state", default="runs/schedule-state.json")
        p.add_argument("--fail-on", default=None, help=FAIL_ON_HELP + "; a job's fail_on wins")
        if name == "serve":
            p.add_argument(
                "--poll-seconds", type=float, default=30.0, help="how often to look for due jobs"
            )
    dag = schsub.add_parser(
        "airflow-dag", help="write an Airflow DAG file (one DAG per job, the same runner)"
    )
    dag.add_argument("--out", default="backup_runbooks_dag.py")
    dag.add_argument(
        "--output-dir",
        default="runs",
        help="the run archive on the workers (made absolute), or s3://bucket/prefix",
    )
    for p in schsub.choices.values():
        p.set_defaults(func=cmd_schedule)

    ledger = sub.add_parser("ledger", help="the run ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    compact = lsub.add_parser(
        "compact", help="merge one day's or month's files of a table into one (rows unchanged)"
    )
    compact.add_argument("--params", default="sandbox", help="params naming the ledger")
    compact.add_argument("--ledger", default="", help="ledger folder or s3:// (default: params')")
    compact.add_argument("--table", required=True, help="ledger table, e.g. restore_tests")
    period = compact.add_mutually_exclusive_group(required=True)
    period.add_argument("--day", help="YYYY-MM-DD: that day's files")
    period.add_argument("--month", help="YYYY-MM: that month's files, into one")
    compact.add_argument("--dry-run", action="store_true", help="count and fingerprint only")
    compact.set_defaults(func=cmd_ledger_compact)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except RunbookError as err:
        print(f"runbook: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
