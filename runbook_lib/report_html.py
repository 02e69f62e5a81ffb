"""The HTML copy of an executed runbook: the verdict first, no code, every row, offline.

:func:`export` turns an executed notebook into HTML that an auditor or an SRE reads:

- code, ``In``/``Out`` prompts and papermill's injected-parameters cell are left out; the
  parameters appear once, as a small table right after the verdict (the first output);
- log lines (``2026-12-02 13:16:14,945 INFO ...``) leave the cells and go to a collapsed
  "Run log" at the end;
- plotly figures (saved as JSON by the ``plotly_mimetype`` renderer) are drawn with one
  ``plotly.min.js`` written beside the HTML, once per folder: plotly.js's basic bundle
  (1.2 MB) while every figure is scatter, bar or pie, else the full one (4.8 MB);
- the evidence tables (:func:`runbook_lib.present.table`, all rows in the HTML) become
  searchable and sortable with the DataTables bundle that itables ships, also written once
  per folder, loaded by a classic ``<script src>`` so the page works from ``file://``
  with no network;
- nothing is fetched from the internet (nbconvert's CDN scripts are left out).
"""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any

from runbook_lib.present import HEADLINE_CLASS, TABLE_CLASS

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"
BASIC_PLOTLY_JS = "plotly-basic.min.js"  # the file in runbook_lib/assets
#: the trace types plotly.js's basic bundle draws
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})
_JS_VERSION = re.compile(r"plotly\.js (\(basic - minified\) )?v(\S+)")
TABLES_JS = "datatables.js"
TABLES_CSS = "datatables.css"
TABLES_PROMISE = "runbookDataTables"
REPORT_CSS = "report.css"
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ", re.M)
_REMOTE_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.I)

# Turns every table.rb-table into a DataTable once the bundle is loaded: no paging (every
# row stays in the page, so the browser's find works), a scroll box for long tables.
_TABLES_INIT = """<script>
(function () {
  function enhance(mod) {
    var DataTable = mod["default"];
    document.querySelectorAll("table.%(cls)s").forEach(function (t) {
      var n = Number(t.dataset.rows || 0);
      if (n <= 10) { return; }  // a short table needs no search box
      new DataTable(t, {paging: false, order: [], autoWidth: false, scrollX: true,
                        scrollY: n > 25 ? "60vh" : undefined, scrollCollapse: true});
    });
    document.body.dataset.tablesReady = "yes";
  }
  if (window.%(promise)s) { window.%(promise)s.then(enhance); }
  else { document.body.dataset.tablesReady = "no: %(js)s did not load"; }
})();
</script>"""

_CSS = """<style>
.rb-params {font-size:12px;margin:0 0 14px 0}
.rb-params td,.rb-params th {padding:2px 8px;text-align:left !important}
details.rb-log pre {font-size:11px;max-height:40em;overflow:auto}
.jp-Cell-inputWrapper:empty {display:none}
</style>"""


def export(executed: Path) -> Path:
    """Write ``<executed>.html`` beside the notebook (and the folder's shared scripts)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    traces = trace_types(nb)
    nb, log_lines, figures = prepare(nb, parameter_rows(executed))
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    folder = executed.parent
    head = [_CSS]
    if figures:
        write_plotly_js(folder, traces)
        head.append(f'<script src="{PLOTLY_JS}"></script>')
    tables = f'class="{TABLE_CLASS}"' in body
    if tables:
        promise = write_tables_js(folder)
        head.append(f'<link rel="stylesheet" href="{TABLES_CSS}">')
    body = _REMOTE_SCRIPT.sub("", body)
    body = shared_css(body, folder)
    body = body.replace("</head>", "\n".join(head) + "\n</head>", 1)
    tail = [run_log(log_lines)] if log_lines else []
    if tables:
        tail += [
            f'<script src="{TABLES_JS}"></script>',
            _TABLES_INIT % {"cls": TABLE_CLASS, "promise": promise, "js": TABLES_JS},
        ]
    body = body.replace("</body>", "\n".join(tail) + "\n</body>", 1)
    out = executed.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def parameter_rows(executed: Path) -> list[tuple[str, str, str]]:
    """(name, value, help) of every declared parameter: the value the run got."""
    import nbformat
    import papermill

    nb = nbformat.read(executed, as_version=4)
    given = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
    try:
        declared = papermill.inspect_notebook(str(executed))
    except Exception:  # noqa: BLE001  (no parameters cell: show what was given)
        declared = {}
    rows = [
        (name, repr(given[name]) if name in given else str(d.get("default")), d.get("help", ""))
        for name, d in declared.items()
    ]
    rows += [(k, repr(v), "") for k, v in given.items() if k not in declared]
    return rows


def prepare(nb: Any, params: list[tuple[str, str, str]]) -> tuple[Any, list[str], int]:
    """The notebook as the HTML shows it: (notebook, log lines taken out, figures)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    logs: list[str] = []
    figures = 0
    placed = False
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text = out.text
                logs += [line for line in text.splitlines() if LOG_LINE.match(line)]
                rest = "\n".join(line for line in text.splitlines() if not LOG_LINE.match(line))
                if rest.strip():
                    kept.append({**out, "text": rest + "\n"})
                continue
            data = out.get("data", {})
            if PLOTLY_MIME in data:
                figures += 1
                out = copy.deepcopy(out)
                out["data"] = {"text/html": figure_html(data[PLOTLY_MIME], figures)}
            elif _is_plotly_loader(data):
                continue  # plotly.js inlined by the notebook renderer: the folder has it
            kept.append(out)
        cell.outputs = kept
        if not placed and any(HEADLINE_CLASS in str(o.get("data", {})) for o in kept):
            cells.append(_params_cell(params))
            placed = True
    if not placed and params:
        cells.insert(min(2, len(cells)), _params_cell(params))
    nb.cells = _title_then_verdict(cells)
    return nb, logs, figures


def _title_then_verdict(cells: list) -> list:
    """The runbook's title, then its verdict and parameters, then the introduction."""
    import nbformat

    first = cells[0] if cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith("#"):
        return cells
    title, _, intro = first.source.partition("\n")
    after = next((i for i, c in enumerate(cells) if _is_params_cell(c)), None)
    if after is None or not intro.strip():
        return cells
    first = copy.deepcopy(first)
    first.source = title
    rest = nbformat.v4.new_markdown_cell(intro.strip())
    return [first, *cells[1 : after + 1], rest, *cells[after + 1 :]]


def _is_params_cell(cell: Any) -> bool:
    return cell.cell_type == "code" and any(
        "rb-params" in str(o.get("data", {})) for o in cell.get("outputs", [])
    )


def _is_plotly_loader(data: dict) -> bool:
    text = str(data.get("text/html", ""))
    return set(data) <= {"text/html", "text/plain"} and (
        "window.PlotlyConfig" in text and len(text) > 100_000
    )


def _params_cell(params: list[tuple[str, str, str]]) -> Any:
    import nbformat

    rows = "".join(
        f"<tr><td><code>{html.escape(n)}</code></td><td>{html.escape(v)}</td>"
        f"<td>{html.escape(h)}</td></tr>"
        for n, v, h in params
    )
    table = (
        f'<details class="rb-params" open><summary>Parameters of this run</summary>'
        f"<table><thead><tr><th>parameter</th><th>value</th><th>meaning</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": table})]
    return cell


def figure_html(fig: dict, n: int) -> str:
    """A figure's div and the call that draws it with the page's plotly.js."""
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=f"figure-{n}",
        validate=False,
        config={"responsive": True, "displaylogo": False},
    )


def run_log(lines: list[str]) -> str:
    return (
        f'<details class="rb-log"><summary>Run log ({len(lines)} lines)</summary>'
        f"<pre>{html.escape(chr(10).join(lines))}</pre></details>"
    )


def shared_css(page: str, folder: Path) -> str:
    """nbconvert's stylesheet (about 260 kB, the same in every copy) moved from the page's
    head to the folder's one ``report.css``."""
    head, sep, rest = page.partition("</head>")
    blocks = _STYLE.findall(head)
    if not sep or not blocks:
        return page
    target = folder / REPORT_CSS
    if not target.exists():
        target.write_text("\n".join(_STYLE.sub(r"\1", b) for b in blocks), encoding="utf-8")
    head = _STYLE.sub("", head)
    return f'{head}<link rel="stylesheet" href="{REPORT_CSS}">\n{sep}{rest}'


def write_plotly_js(folder: Path, traces: frozenset[str] = frozenset()) -> Path:
    """``plotly.min.js`` in ``folder``, once: plotly.js's basic bundle (scatter, bar, pie:
    1.2 MB, in ``runbook_lib/assets``, from npm's ``plotly.js-basic-dist-min``) when the
    figures' ``traces`` are all basic and its version is the one the installed plotly
    ships; otherwise the full bundle (4.8 MB) that plotly ships, which also replaces a basic
    one written by an earlier report of the folder (it draws everything the basic one does)."""
    import plotly

    target = folder / PLOTLY_JS
    full = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    basic = Path(__file__).parent / "assets" / BASIC_PLOTLY_JS
    wanted = full
    if traces <= BASIC_TRACES and basic.exists():
        if _js_version(basic) == _js_version(full):
            wanted = basic
    if not target.exists() or (wanted is full and _js_version(target, basic=True)):
        target.write_bytes(wanted.read_bytes())
    return target


def _js_version(path: Path, basic: bool = False) -> str | None:
    """plotly.js's version from a bundle's header (``basic=True``: only a basic bundle's)."""
    with path.open("rb") as f:
        head = f.read(200).decode("utf-8", "replace")
    m = _JS_VERSION.search(head)
    if not m or (basic and not m.group(1)):
        return None
    return m.group(2)


def trace_types(nb) -> frozenset[str]:
    """The plotly trace types of every figure saved in the notebook's outputs."""
    types = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY_MIME)
            if isinstance(fig, dict):
                types.update(t.get("type", "scatter") for t in fig.get("data", []))
    return frozenset(types)


def write_tables_js(folder: Path) -> str:
    """The DataTables bundle that itables ships (``itables.options.dt_bundle``, an ES
    module) and its stylesheet in ``folder``, once. A page opened from ``file://`` may not
    import a module file, so the script holds the module's text and imports it from a
    ``blob:`` URL (as itables' own offline mode does); returns the name of the promise it
    sets on ``window``."""
    import json

    from itables.options import dt_bundle

    bundle = Path(dt_bundle)
    target = folder / TABLES_JS
    if not target.exists():
        source = json.dumps(bundle.read_text(encoding="utf-8"), ensure_ascii=False)
        target.write_text(
            "(function () {\n"
            f"  var source = {source};\n"
            '  var url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));\n'
            f"  window.{TABLES_PROMISE} = import(url);\n"
            "})();\n",
            encoding="utf-8",
        )
    css = folder / TABLES_CSS
    if not css.exists():
        css.write_bytes(bundle.with_suffix(".css").read_bytes())
    return TABLES_PROMISE
