"""What every runbook starts with: params, session, ledger, run id and ``as_of``.

A notebook's first step is one line::

    rb = runbook_lib.context.start(globals())

which first validates every parameter of the notebook against its declared type
(:mod:`runbook_lib.arguments`: an unknown name, ``approve="0"`` or ``max_tests=-1`` is an
error before any AWS call) and replaces each parameter variable by its validated value.

It works the same under papermill (any working directory), under nbval (the notebook's
folder) and in JupyterLab, and on the sandbox starts or reaches the sandbox.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook_lib.errors import ParamsError
from runbook_lib.ledger import Ledger, new_run_id
from runbook_lib.params import Params, load_params
from runbook_lib.session import AwsSession, utcnow

log = logging.getLogger("runbook_lib")


@dataclass
class RunContext:
    params: Params
    session: AwsSession
    ledger: Ledger
    run_id: str
    as_of: datetime
    notes: dict[str, Any] = field(default_factory=dict)
    args: Any = None  # the notebook's validated parameters (runbook_lib.arguments)

    def summary(self):
        import pandas as pd

        p = self.params
        return pd.DataFrame(
            [
                ("parameters", p.name),
                (
                    "target",
                    p.target.kind
                    + (f" ({self.session.endpoint_url})" if self.session.sandbox else ""),
                ),
                ("accounts", ", ".join(f"{a.name} ({a.id})" for a in p.accounts)),
                ("regions", ", ".join(p.regions)),
                ("tiers", ", ".join(p.tiers)),
                ("ledger", self.ledger.location),
                ("run id", self.run_id),
                ("as of", self.as_of.isoformat()),
            ],
            columns=["setting", "value"],
        ).set_index("setting")


def parse_as_of(value: str | datetime | None) -> datetime:
    """'' -> now (by the target's clock once measured: :mod:`runbook_lib.clock`);
    ISO 8601 text -> that time (UTC if no offset)."""
    if value in (None, ""):
        return utcnow()
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ParamsError(
                "as_of",
                [f"as_of: {value!r} is not a time; use ISO 8601, e.g. 2026-11-24T10:00:00Z"],
            ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def start(
    params_file: str | dict[str, Any] = "sandbox",
    *,
    ledger_location: str = "",
    run_id: str = "",
    as_of: str | datetime | None = "",
    setup_display: bool = True,
) -> RunContext:
    """Load params, open the session (starting the sandbox if needed) and the ledger.

    In a notebook pass ``globals()``: its parameters are validated first (see the module
    docstring) and ``params_file``, ``ledger_location``, ``run_id`` and ``as_of`` are read
    from them."""
    from runbook_lib import arguments

    args = None
    if isinstance(params_file, dict):
        args = arguments.from_namespace(params_file)
        values = arguments.as_dict(args)
        params_file = values["params_file"]
        ledger_location = values.get("ledger_location", "")
        run_id = values.get("run_id", "")
        as_of = values.get("as_of", "")
    else:
        try:
            run_id = arguments.check_run_id(run_id)
        except ValueError as err:
            raise ParamsError("run_id", [f"run_id: {err}"]) from None
    params = load_params(params_file)
    as_of_dt = parse_as_of(as_of)  # a bad as_of is an error before any AWS call
    session = AwsSession(params)
    if params.target.kind == "aws":
        session.check_access()  # no credentials / no SSO sign-in: say so before any work
    session.sync_clock()  # "now" is the target's time (a sandbox's clock may run ahead)
    if as_of in (None, ""):
        as_of_dt = utcnow()
    location = ledger_location or params.resolve_path(params.ledger)
    s3 = session.client("s3", params.account_ids[0]) if location.startswith("s3://") else None
    if setup_display:
        setup_notebook_display()
    return RunContext(
        params, session, Ledger(location, s3), run_id or new_run_id(as_of_dt), as_of_dt, args=args
    )


def setup_notebook_display() -> None:
    """Plotly figures that survive nbconvert HTML offline; pandas wide enough for ARNs;
    log lines (progress under papermill) on the cell's output."""
    import pandas as pd
    import plotly.io as pio

    # the figure as JSON: live in Lab; the HTML copy draws it with the run folder's one
    # plotly.min.js (runner.to_html), so no notebook carries plotly.js itself
    pio.renderers.default = "plotly_mimetype"
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.width", 200)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)  # stdout: not shown as an error block
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
