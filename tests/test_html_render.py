"""The HTML copies of the runbooks: verdict first, no code, every row, offline.

The first tests build HTML from hand-made notebooks (no sandbox, no browser). The browser
tests execute runbooks with papermill on a sandbox of their own, write their HTML copies
into one folder, and open each in headless Chromium with the network off (every request
that is not a local file goes to a closed proxy port): no script error, every chart drawn,
the first output is the verdict, and every long table holds all its rows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest

from runbook_lib import present
from runbook_lib.report_html import PLOTLY_JS, REPORT_CSS, TABLES_CSS, TABLES_JS, export

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it when run as root)"
)
LOG = "2026-12-02 13:16:14,945 INFO inventory: 25 resources, 0 errors"


def _display(obj) -> dict:
    data = {"text/plain": repr(obj)}
    if hasattr(obj, "_repr_html_"):
        data["text/html"] = obj._repr_html_()
    return nbformat.v4.new_output("display_data", data=data)


def make_notebook(folder: Path, name: str, rows: int = 120) -> Path:
    """An executed-looking runbook: title, parameters, injected parameters, a cell that
    logs, the verdict, a long table and a chart."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('params_file: str = "sandbox"  # parameter file')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('params_file = "/secret/path.yaml"')
    injected.metadata["tags"] = ["injected-parameters"]
    work = nbformat.v4.new_code_cell("rb = start(globals())")
    work.outputs = [nbformat.v4.new_output("stream", name="stdout", text=LOG + "\n")]
    verdict = nbformat.v4.new_code_cell("present.headline(...)")
    verdict.outputs = [
        _display(
            present.headline(
                title="Test runbook",
                checked="3 things",
                red=[present.Red(what="FAIL: orders", fix="run protect")],
            )
        )
    ]
    table = nbformat.v4.new_code_cell("present.table(df)")
    df = pd.DataFrame({"name": [f"r{i}" for i in range(rows)], "status": ["PASS"] * rows})
    table.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="plain print\n" + LOG + "\n"),
        _display(present.table(df)),
    ]
    chart = nbformat.v4.new_code_cell("fig")
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    chart.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.plotly.v1+json": fig.to_plotly_json() | {"config": {}},
                "text/plain": "Figure",
            },
        )  # fmt: skip
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nWhy this runbook exists."),
        params, injected, work, verdict, table, chart,
    ]  # fmt: skip
    nb.metadata["papermill"] = {"parameters": {"params_file": "/secret/path.yaml"}}
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_html_hides_code_and_shows_the_verdict_then_the_parameters(tmp_path):
    html = export(make_notebook(tmp_path, "01_a.ipynb")).read_text(encoding="utf-8")
    assert "rb = start(globals())" not in html and "present.headline" not in html  # no code
    assert 'class="jp-InputPrompt' not in html and "In&nbsp;[" not in html
    title, verdict, params, intro = (
        html.index("<h1"), html.index(f'class="{present.HEADLINE_CLASS}'),
        html.index('class="rb-params'),
        html.index("Why this runbook exists"),
    )  # fmt: skip
    assert title < verdict < params < intro  # the verdict is the first output
    assert html.count('class="rb-params') == 1 and "/secret/path.yaml" in html  # once
    assert html.count('params_file = "/secret/path.yaml"') == 0  # not the injected cell
    assert "plain print" in html  # printed text stays; log lines go to the run log
    assert html.index(LOG.split(" INFO")[0]) > html.index("Run log")
    assert not re.search(r'<script[^>]+src="https?://', html)  # nothing from the internet


def test_plotly_and_datatables_are_written_once_per_folder(tmp_path):
    first = export(make_notebook(tmp_path, "01_a.ipynb"))
    second = export(make_notebook(tmp_path, "02_b.ipynb"))
    shared = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".js", ".css"))
    assert shared == sorted([PLOTLY_JS, TABLES_JS, TABLES_CSS, REPORT_CSS])
    for html in (first, second):
        text = html.read_text(encoding="utf-8")
        assert f'<script src="{PLOTLY_JS}"></script>' in text
        assert f'<script src="{TABLES_JS}"></script>' in text
        assert f'<link rel="stylesheet" href="{REPORT_CSS}">' in text
        assert len(text) < 100_000, "plotly.js, DataTables and the stylesheet are shared"
    assert (tmp_path / PLOTLY_JS).stat().st_size > 1_000_000  # the real library


# ------------------------------------------------------------------ in a real browser


def open_offline(html: Path) -> tuple[str, list[str]]:
    """(DOM after scripts ran, console messages) of ``html`` in headless Chromium with no
    network: every request that is not a local file goes to a closed proxy port."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                "--virtual-time-budget=20000", "--window-size=1400,1000", "--dump-dom",
                html.as_uri(),
            ],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def script_errors(console: list[str]) -> list[str]:
    return [line for line in console if re.search(r"Uncaught|Error", line)]


def check_report(html: Path) -> dict:
    """What the browser shows of one report: raises AssertionError on the first problem."""
    from bs4 import BeautifulSoup

    dom, console = open_offline(html)
    assert not script_errors(console), f"{html.name}: script errors: {script_errors(console)}"
    page = BeautifulSoup(dom, "html.parser")
    assert page.body is not None, f"{html.name}: nothing rendered"
    charts = page.select("div.plotly-graph-div")
    drawn = [c for c in charts if c.select_one("svg.main-svg")]
    assert len(drawn) == len(charts), f"{html.name}: {len(charts) - len(drawn)} chart(s) not drawn"
    outputs = [o for o in page.select(".jp-OutputArea-output") if o.get_text(strip=True)]
    assert outputs and outputs[0].select_one(f".{present.HEADLINE_CLASS}"), (
        f"{html.name}: the first output is not the verdict: {outputs[0].get_text()[:200]!r}"
    )
    assert not page.select(".jp-InputArea-editor"), f"{html.name}: code is shown"
    # with a scroll box DataTables moves the header into a table of its own: the rows stay in
    # the original table
    tables = [t for t in page.select(f"table.{present.TABLE_CLASS}") if t.find("tbody")]
    for t in tables:
        assert len(t.select("tbody > tr")) == int(t["data-rows"]), f"{html.name}: rows lost"
    if tables:
        assert page.body.get("data-tables-ready") == "yes", f"{html.name}: DataTables not loaded"
    return {
        "charts": len(charts),
        "rows": max((int(t["data-rows"]) for t in tables), default=0),
        "searchable": len(page.select(".dt-container")),
    }


@needs_chromium
def test_the_browser_check_catches_a_script_error_and_an_undrawn_chart(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><div class="plotly-graph-div"></div>'
        "<script>undefinedFunction();</script></body></html>"
    )
    with pytest.raises(AssertionError, match="script errors"):
        check_report(bad)
    bad.write_text('<html><body><div class="plotly-graph-div"></div></body></html>')
    with pytest.raises(AssertionError, match="not drawn"):
        check_report(bad)


@needs_chromium
def test_hand_made_report_renders_offline(tmp_path):
    seen = check_report(export(make_notebook(tmp_path, "01_a.ipynb", rows=300)))
    assert seen == {"charts": 1, "rows": 300, "searchable": 1}


@pytest.fixture(scope="module")
def runbook_reports(tmp_path_factory):
    """Inventory, restore test, audit, trends and post-incident run on a sandbox of their
    own into one folder, with their HTML copies."""
    import papermill as pm

    from runbook_lib.runner import to_html
    from runbook_sandbox import ENV_URL
    from runbook_sandbox.server import running_sandbox

    folder = tmp_path_factory.mktemp("run")
    ledger = str(folder / "ledger")
    runs = [
        ("01_inventory.ipynb", {}),
        ("04_restore_test.ipynb", {"services": ["dynamodb", "s3"]}),
        ("06_audit.ipynb", {}),
        ("07_trends.ipynb", {}),
        ("08_post_incident.ipynb", {}),
    ]
    before = os.environ.get(ENV_URL)
    with running_sandbox("sandbox") as url:
        os.environ[ENV_URL] = url
        try:
            for name, params in runs:
                pm.execute_notebook(
                    str(NOTEBOOKS / name), str(folder / name),
                    parameters={"ledger_location": ledger, **params},
                    kernel_name="python3", progress_bar=False, cwd=str(NOTEBOOKS),
                )  # fmt: skip
                to_html(folder / name)
        finally:
            if before is None:
                os.environ.pop(ENV_URL, None)
            else:
                os.environ[ENV_URL] = before
    return folder


@needs_chromium
@pytest.mark.notebook
def test_every_runbook_report_opens_offline_verdict_first_with_every_row(runbook_reports):
    seen = {p.name: check_report(p) for p in sorted(runbook_reports.glob("*.html"))}
    assert len(seen) == 5
    assert all(s["charts"] >= 1 for s in seen.values()), seen  # every runbook here draws
    assert seen["06_audit.html"]["rows"] > 100 and seen["06_audit.html"]["searchable"] >= 1
    assert [p.name for p in runbook_reports.glob("*.js")].count(PLOTLY_JS) == 1


# --------------------------------------------------------------------------- plotly.js bundle


def test_the_vendored_basic_bundle_is_the_installed_plotly_version():
    """runbook_lib/assets/plotly-basic.min.js must match the plotly.js the installed plotly
    ships (otherwise every report falls back to the 4.8 MB bundle): update the asset from
    npm's plotly.js-basic-dist-min when plotly is upgraded."""
    import plotly

    from runbook_lib import report_html as rh

    full = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    basic = Path(rh.__file__).parent / "assets" / rh.BASIC_PLOTLY_JS
    assert rh._js_version(basic, basic=True) == rh._js_version(full)
    assert rh._js_version(full, basic=True) is None


def test_basic_traces_get_the_basic_bundle_and_others_the_full_one(tmp_path):
    from runbook_lib import report_html as rh

    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    rh.write_plotly_js(a, frozenset({"bar", "scatter"}))
    assert rh._js_version(a / PLOTLY_JS, basic=True)  # 1.2 MB, not 4.8
    assert (a / PLOTLY_JS).stat().st_size < 2_000_000
    rh.write_plotly_js(a, frozenset({"heatmap"}))  # a later report needs more: replaced
    assert rh._js_version(a / PLOTLY_JS, basic=True) is None
    assert (a / PLOTLY_JS).stat().st_size > 4_000_000
    rh.write_plotly_js(b, frozenset({"heatmap"}))
    rh.write_plotly_js(b, frozenset({"bar"}))  # the full bundle stays: it draws bars too
    assert rh._js_version(b / PLOTLY_JS, basic=True) is None
    rh.write_plotly_js(c)  # no figure told: basic
    assert rh._js_version(c / PLOTLY_JS, basic=True)


def test_trace_types_come_from_the_saved_figures():
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from runbook_lib.report_html import PLOTLY_MIME, trace_types

    fig = {"data": [{"type": "bar"}, {"x": [1]}, {"type": "heatmap"}], "layout": {}}
    cell = new_code_cell("fig")
    cell.outputs = [new_output("display_data", data={PLOTLY_MIME: fig})]
    nb = new_notebook(cells=[cell, new_code_cell("1")])
    assert trace_types(nbformat.from_dict(nb)) == {"bar", "scatter", "heatmap"}
