"""The side-by-side page: one self-contained HTML file (CSS, script and highlighted code inline,
nothing fetched), one row per function, one column per library, the measured proof on top and
the seed's program beside the reference at the end. Generated from the files, never pasted:
every code block is a `Piece` of shared/studies/sidebyside.py, highlighted by Pygments.

The page's controls: a checkbox per library (hide/show its column), "read two" (pick any two
libraries), and the same through the address: `side_by_side.html?hide=keras` or
`?only=numpy,jax`. After applying them the script records the columns the browser really shows
in `data-visible` on the table, which the browser test reads back.
"""

from __future__ import annotations

import html
import json

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from shared.studies.sidebyside import (
    PARALLEL_ROWS,
    ROWS,
    RUNTIME_ROWS,
    SURPRISES,
    Cell,
    Piece,
    cells,
    engine_titles,
    library_titles,
    seed_pieces,
)

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def count_in_words(n: int) -> str:
    return NUMBERS.get(n, str(n))

CSS = """
:root { --line: #d0d7de; --muted: #57606a; --bg: #ffffff; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: var(--bg); }
header, section, nav { padding: 0.6rem 1rem; }
h1 { font-size: 1.35rem; margin: 0.3rem 0; }
h2 { font-size: 1.1rem; margin: 0.8rem 0 0.4rem; }
p { margin: 0.3rem 0; max-width: 70rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; }
#proof table { font-size: 12.5px; }
#proof th, #proof td { border: 1px solid var(--line); padding: 2px 8px; text-align: right; white-space: nowrap; }
#proof th:first-child, #proof td:first-child, #proof td:nth-child(2) { text-align: left; }
#proof .env { color: var(--muted); font-size: 12px; }
nav { background: var(--head); border-top: 1px solid var(--line);
      display: flex; flex-wrap: wrap; gap: 0.4rem 1.2rem; align-items: center; }
nav label { white-space: nowrap; }
nav .rows a { margin-right: 0.5rem; font-size: 12px; }
table.code-table { width: 100%; table-layout: fixed; }
.code-table th, .code-table td { border: 1px solid var(--line); vertical-align: top; padding: 4px; }
.code-table thead th { background: var(--head); position: sticky; top: 0; z-index: 1; }
.code-table th.fn { width: 8.5rem; text-align: left; font-weight: 600; word-break: break-word; }
.code-table th.fn a { color: inherit; text-decoration: none; }
.code-table td { min-width: 0; overflow: hidden; }
#parallel-proof table { font-size: 12.5px; margin-bottom: 0.5rem; }
#parallel-proof th, #parallel-proof td { border: 1px solid var(--line); padding: 2px 8px; text-align: right; white-space: nowrap; }
#parallel-proof td:first-child { text-align: left; }
.where { color: var(--muted); font-size: 11px; margin: 2px 0; overflow-wrap: anywhere; }
pre.code { margin: 0 0 6px; padding: 6px; background: #f8f8f8; border: 1px solid #eaeef2; border-radius: 4px;
           overflow-x: auto; font-size: 12px; line-height: 1.4; }
.piece + .piece { margin-top: 6px; }
tr[id$="surprises"] pre.code { white-space: pre-wrap; overflow-wrap: anywhere; }  /* prose: wrapped, not scrolled */
.absent { color: var(--muted); font-style: italic; }
mark.quirk { background: #ffe1a8; display: inline-block; min-width: 100%; }
.note { display: block; margin-top: 4px; background: #fff8c5; border: 1px solid #e3c55b; padding: 4px 8px; border-radius: 4px; }
#seed .pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
@media (max-width: 900px) { #seed .pair { grid-template-columns: minmax(0, 1fr); } }
"""

SCRIPT = """
(function () {
  const libs = %LIBS%;
  const table = document.getElementById('rosetta');
  function apply(hidden) {
    libs.forEach(function (lib) {
      const hide = hidden.indexOf(lib) >= 0;
      document.querySelectorAll('[data-lib="' + lib + '"]').forEach(function (el) { el.style.display = hide ? 'none' : ''; });
      const box = document.getElementById('show-' + lib);
      if (box) { box.checked = !hide; }
    });
    const visible = libs.filter(function (lib) {
      const th = table.querySelector('thead th[data-lib="' + lib + '"]');
      return th && getComputedStyle(th).display !== 'none';
    });
    table.setAttribute('data-visible', visible.join(','));
  }
  function hiddenNow() {
    return libs.filter(function (lib) { return !document.getElementById('show-' + lib).checked; });
  }
  libs.forEach(function (lib) {
    document.getElementById('show-' + lib).addEventListener('change', function () { apply(hiddenNow()); });
  });
  document.getElementById('read-two').addEventListener('click', function () {
    const a = document.getElementById('left').value, b = document.getElementById('right').value;
    apply(libs.filter(function (lib) { return lib !== a && lib !== b; }));
  });
  document.getElementById('show-all').addEventListener('click', function () { apply([]); });
  const query = new URLSearchParams(window.location.search);
  const only = (query.get('only') || '').split(',').filter(Boolean);
  const hide = (query.get('hide') || '').split(',').filter(Boolean);
  apply(only.length ? libs.filter(function (lib) { return only.indexOf(lib) < 0; }) : hide);
})();
"""


def _code(piece: Piece, quirk_lines: tuple[int, ...] = ()) -> str:
    """The piece highlighted, line for line, quirk lines marked."""
    body = highlight(piece.source, PythonLexer(), HtmlFormatter(nowrap=True)).rstrip("\n").split("\n")
    marked = [f'<mark class="quirk">{line}</mark>' if piece.first + i in quirk_lines else line for i, line in enumerate(body)]
    where = f"{piece.path}:{piece.first}–{piece.last}"
    return (f'<div class="piece" data-name="{html.escape(piece.name)}" data-file="{piece.path}" '
            f'data-lines="{piece.first}-{piece.last}"><div class="where">{where}</div>'
            f'<pre class="code highlight"><code>{chr(10).join(marked)}</code></pre></div>')


def _cell(cell: Cell) -> str:
    inner = "".join(_code(p) for p in cell.pieces) if cell.pieces else f'<p class="absent">{html.escape(cell.absent)}</p>'
    return f'<td data-lib="{cell.library}">{inner}</td>'


def _proof(report: dict | None, report_path: str) -> str:
    if not report:
        return f'<section id="proof"><p>No report at <code>{html.escape(report_path)}</code>: run compare.py first.</p></section>'
    parity, env, cfg = report["parity"], report["environment"], report["config"]
    rows = []
    for run in report["runs"]:
        if run.status != "ok":
            continue
        diff = "reference" if run is report["runs"][0] else (
            f"{run.diff['scaled']:.1e}" if (run.diff or {}).get("scaled") is not None else "–")
        timing = run.timing or {}
        steps = f"{run.steps_run}" + ("" if run.steps_run == cfg["steps"] else f" of {cfg['steps']}")
        rows.append(f"<tr><td>{html.escape(run.library)}</td><td>{run.mode} {run.device}</td><td>{diff}</td>"
                    f"<td>{timing.get('step_us_median', 0):,.1f}</td><td>{timing.get('first_call_s', 0):.2f} s</td>"
                    f"<td>{steps}</td></tr>")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(env.get("versions", {}).items()))
    return (f'<section id="proof"><h2>The proof beside the code</h2>'
            f"<p>From <code>{html.escape(report_path)}</code> (<code>{html.escape(cfg.get('command', ''))}</code>): "
            f"{report['task']}, arch {','.join(map(str, cfg['arch']))}, {cfg['dtype']}, lr {cfg['lr']:g}, batch "
            f"{cfg['batch_size']}, seed {cfg['seed']}. Every library starts from the same weights and takes the same samples "
            f"in the same order; max Δ = max |result − NumPy| / max(1, |NumPy|) over predictions, final weights and loss "
            f"history, tolerance {parity['tolerance']:g}.</p>"
            "<table><thead><tr><th>library</th><th>mode, device</th><th>max Δ vs NumPy</th><th>µs/step</th>"
            f"<th>first call</th><th>steps</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="env">Measured on {html.escape(str(env.get("cpu")))} ({env.get("cpu_count")} logical cores), GPU '
            f'{html.escape(str(env.get("gpu") or "none"))}, Python {env.get("python")}; {html.escape(versions)}.'
            f'{_stamp(report)}</p></section>')


def _stamp(report: dict) -> str:
    """When and on which code a report was made, and how busy the machine was (its stamp)."""
    stamp = report.get("stamp")
    if not stamp:
        return " (an unstamped report)"
    load = stamp.get("load_average") or {}
    return (f" Finished {html.escape(str(stamp.get('finished')))} on commit {html.escape(str(stamp.get('commit')))}; "
            f"load average {load.get('start')} as it started, {load.get('end')} as it ended.")


def _controls(libraries: dict[str, str]) -> str:
    boxes = "".join(f'<label><input type="checkbox" id="show-{lib}" checked> {name}</label>' for lib, name in libraries.items())
    options = "".join(f'<option value="{lib}">{name}</option>' for lib, name in libraries.items())
    second = list(libraries)[1]  # the page opens on the reference beside the first other library
    right = options.replace(f'value="{second}"', f'value="{second}" selected')
    links = "".join(f'<a href="#{row}">{row}</a>' for row in ROWS)
    return (f'<nav id="controls"><span>Show: {boxes}</span>'
            f'<span>Read two: <select id="left" aria-label="left library">{options}</select> '
            f'<select id="right" aria-label="right library">{right}</select> '
            f'<button id="read-two" type="button">side by side</button> '
            f'<button id="show-all" type="button">all {count_in_words(len(libraries))}</button></span>'
            f'<span class="rows">Rows: {links}</span></nav>')


def _seed_section(reference_cell: Cell) -> str:
    seed = "".join(_code(piece, tuple(quirk)) for piece, quirk in seed_pieces())
    reference = "".join(_code(p) for p in reference_cell.pieces)
    return ('<section id="seed"><h2>From the seed to the reference</h2>'
            '<p>Left: the book chapter\'s XOR program (<code>implementations/book.py</code>, ported to Python 3 and '
            'nothing else). Right: the NumPy reference\'s backpropagation. <span class="note">Marked: the seed\'s quirk. '
            '<code>tanh_derivative</code> is applied to a layer\'s <em>output</em> y = tanh(a), so it computes '
            '1 − tanh²(tanh(a)) where backpropagation needs 1 − tanh²(a) = 1 − y². XOR is still learned, but the updates '
            'do not follow the gradient: a finite-difference check fails it (tests/test_gradients.py); the reference '
            'uses 1 − y².</span></p>'
            f'<div class="pair"><div>{seed}</div><div>{reference}</div></div></section>')


def _code_rows(table: dict[tuple[str, str], Cell], libraries: dict[str, str], rows: tuple[str, ...], prefix: str = "") -> str:
    body = []
    for row in rows:
        label = row if row != SURPRISES else "About (module docstring)" if prefix == "runtime-" else "Surprises (module docstring)"
        anchor = prefix + (row if row != SURPRISES else "surprises")
        body.append(f'<tr id="{anchor}"><th class="fn"><a href="#{anchor}">{html.escape(label)}</a></th>'
                    + "".join(_cell(table[(lib, row)]) for lib in libraries) + "</tr>")
    return "".join(body)


def _runtime_section(table: dict[tuple[str, str], Cell], libraries: dict[str, str], head: str) -> str:
    """Each library's runtime.py side by side, folded: what the harness needs and a learner does not."""
    return ('<section id="runtime"><details><summary><h2 style="display:inline">What only the harness needs: each '
            "library's runtime</h2></summary><p>Its name and install line, versions, threads, devices, GPU memory, "
            "compilation caches and one-time probes (<code>implementations/&lt;library&gt;/runtime.py</code>), kept out "
            "of the lesson.</p>"
            f'<table id="runtime-table" class="code-table"><thead><tr><th class="fn">function</th>{head}</tr></thead>'
            f"<tbody>{_code_rows(table, libraries, RUNTIME_ROWS, 'runtime-')}</tbody></table></details></section>")


def _parallel_section(report: dict | None, report_path: str) -> str:
    """The data-parallel engines side by side, with their own proof (compare.py parallel's report)."""
    engines = engine_titles()
    table = cells(tuple(engines), part="parallel")
    head = "".join(f'<th data-lib="{lib}">{name}</th>' for lib, name in engines.items())
    proof = f"<p>No report at <code>{html.escape(report_path)}</code>: run <code>compare.py parallel</code> first.</p>"
    if report:
        cfg, env = report["config"], report["environment"]
        rows = "".join(
            f"<tr><td>{html.escape(r.engine)}</td><td>{r.workers}</td><td>{r.hosts}</td><td>{r.status}</td>"
            f"<td>{(r.diff or {}).get('scaled', float('nan')):.1e}</td>"
            f"<td>{(r.timing or {}).get('step_us_median') or float('nan'):,.1f}</td>"
            f"<td>{(r.timing or {}).get('startup_s') or float('nan'):.2f} s</td></tr>"
            for r in report["rows"] if r.status == "ok")
        proof = (f"<p>From <code>{html.escape(report_path)}</code> (<code>{html.escape(cfg.get('command', ''))}</code>): "
                 f"{cfg['task']}, {cfg['dtype']}, {cfg['steps']} steps, global batch {cfg['batch_size']} split across the "
                 f"workers. max Δ against the single-process NumPy run on the same global batches, tolerance "
                 f"{report['tolerance']['value']:g}. {html.escape(report['verdict'])} Measured on "
                 f"{html.escape(str(env.get('cpu')))} ({env.get('cpu_count')} logical cores): overhead, not speed-up."
                 f"{_stamp(report)}</p>"
                 "<table><thead><tr><th>engine</th><th>workers</th><th>hosts</th><th>status</th><th>max Δ vs NumPy</th>"
                 f"<th>µs/step</th><th>start-up</th></tr></thead><tbody>{rows}</tbody></table>")
    return ('<section id="parallel-proof"><h2>Beyond one device: each library\'s own data-parallel engine</h2>'
            "<p>The same training with each global batch split across N workers and the gradients averaged by the "
            "library's collective (each library's <code>parallel.py</code>, run by <code>python compare.py parallel</code>). "
            f"One row per step of the engine, in the order a host goes through them.</p>{proof}</section>"
            f'<table id="parallel" class="code-table"><thead><tr><th class="fn">engine step</th>{head}</tr></thead>'
            f"<tbody>{_code_rows(table, engines, PARALLEL_ROWS, 'parallel-')}</tbody></table>")


def page(report: dict | None, report_path: str, parallel_report: dict | None = None,
         parallel_path: str = "results/parallel_cpu.json") -> str:
    libraries = library_titles()
    table = cells(tuple(libraries))
    head = "".join(f'<th data-lib="{lib}">{name}</th>' for lib, name in libraries.items())
    body = [_code_rows(table, libraries, ROWS)]
    runtime = cells(tuple(libraries), part="runtime")
    style = HtmlFormatter().get_style_defs(".highlight") + CSS
    script = SCRIPT.replace("%LIBS%", json.dumps(list(libraries)))
    title = f"nn-rosetta: the same network in {count_in_words(len(libraries))} libraries, side by side"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{style}</style></head><body>"
            f"<header><h1>{title}</h1><p>Each library's lesson, one row per function, in the order of a training run "
            "(precision, the model, forward, loss, gradients, one step, the loop, the compiled loop), one column per "
            "library, each cell the function's exact source with the helpers it uses, file and lines named. Generated by "
            "<code>python compare.py code --html results/side_by_side.html</code> from the implementation files; a test "
            "fails when this page no longer matches them. After the lessons: what only the harness needs (each "
            "library's runtime, folded), the seed's program, and each library's data-parallel engine step by "
            "step.</p></header>"
            f"{_proof(report, report_path)}{_controls(libraries)}"
            f'<table id="rosetta" class="code-table" data-visible="{",".join(libraries)}"><thead><tr><th class="fn">function'
            f"</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{_runtime_section(runtime, libraries, head)}"
            f"{_seed_section(table[('numpy', 'gradients')])}{_parallel_section(parallel_report, parallel_path)}"
            f"<script>{script}</script></body></html>\n")
