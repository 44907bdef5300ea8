"""`compare.py code`: the implementations side by side.

  compare.py code FUNCTION [--frameworks numpy,jax]   that function of each library, in columns
  compare.py code --list                              the rows (functions) there are: the lessons', then the runtimes'
  compare.py code --html PATH [--report FILE]         the self-contained page, with the proof from FILE
"""

from __future__ import annotations

import json
import os

from shared.commands.args import Parser, check_output_path, choice_list, first_paragraph, guarded
from shared.contract.errors import UsageError
from shared.reports.rows import ParallelRow, RunRow, from_json_rows
from shared.studies.sidebyside import ROOT, ROWS, RUNTIME_ROWS, SURPRISES, Cell, cells, library_titles

RUNTIME_ONLY = tuple(r for r in RUNTIME_ROWS if r not in ROWS)  # the runtimes' rows (their docstrings: `code Surprises`)

DEFAULT_REPORT = "results/cpu_xor.json"  # relative to the repository, wherever the command runs
PARALLEL_REPORT = "results/parallel_cpu.json"  # `compare.py parallel`'s, for the data-parallel section
COLUMN_MIN = 56  # characters a column needs to be readable; narrower terminals get one library below the other


def build_parser() -> Parser:
    p = Parser(prog="compare.py code", description=first_paragraph(__doc__))
    p.add_argument("function", nargs="?", help=f"a row: the lessons' {', '.join(ROWS)}; the runtimes' {', '.join(RUNTIME_ONLY)}")
    p.add_argument("--frameworks", type=choice_list(tuple(library_titles()), "library"), default=None,
                   help="all (default) or a comma list of " + ",".join(library_titles()))
    p.add_argument("--list", action="store_true", help="list the rows")
    p.add_argument("--html", metavar="PATH", help="write the side-by-side page to PATH")
    p.add_argument("--report", metavar="FILE", default=None, help=f"report JSON for the page's proof (default {DEFAULT_REPORT})")
    p.add_argument("--debug", action="store_true", help="show full tracebacks of failures")
    return p


def row_named(name: str) -> tuple[str, str]:
    """(the part it is in, the row): a lesson's function, or a runtime's."""
    if name.lower() == SURPRISES.lower():
        return "lesson", SURPRISES
    if name in ROWS:
        return "lesson", name
    if name in RUNTIME_ONLY:
        return "runtime", name
    raise UsageError(f"no function {name!r}; the rows are {', '.join(ROWS)} (the lessons) and {', '.join(RUNTIME_ONLY)} "
                     "(the runtimes)")


def load_report(path: str, required: bool = True) -> dict | None:
    """A compare.py JSON report, checked for what the page reads; None only if not required and absent."""
    where = path if required else str(ROOT / path)  # the default is the repository's, wherever this runs
    if not os.path.exists(where):
        if required:
            raise UsageError(f"--report {path}: no such file")
        return None
    try:
        with open(where) as handle:
            report = json.load(handle)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--report {path}: cannot read it as JSON ({exc.__class__.__name__})") from None
    ok = (isinstance(report, dict) and isinstance(report.get("runs"), list) and report["runs"]
          and all(isinstance(r, dict) for r in report["runs"])
          and all(isinstance(report.get(k), dict) for k in ("parity", "config", "environment")))
    if ok:
        try:
            return from_json_rows(report, "runs", RunRow)
        except TypeError:  # a row without the fields every run has
            pass
    raise UsageError(f"--report {path}: not a compare.py JSON report (runs, parity, config, environment)")


def load_parallel_report() -> dict | None:
    """The repository's data-parallel report, if there is one and it has what the page reads."""
    try:
        with open(ROOT / PARALLEL_REPORT) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    ok = isinstance(report, dict) and isinstance(report.get("rows"), list) and all(
        isinstance(report.get(k), dict) for k in ("config", "environment", "tolerance"))
    try:
        return from_json_rows(report, "rows", ParallelRow) if ok else None
    except TypeError:  # a row without the fields every data-parallel row has
        return None


def write_page(path: str, report_path: str | None) -> None:
    from shared.reports.files import write_atomically
    from shared.studies.sidebyside_html import page

    report = load_report(report_path or DEFAULT_REPORT, required=report_path is not None)
    try:
        text = page(report, report_path or DEFAULT_REPORT, load_parallel_report(), PARALLEL_REPORT)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--report {report_path or DEFAULT_REPORT}: a field the page needs is missing or malformed "
                         f"({exc.__class__.__name__}: {exc})") from None
    write_atomically(path, text)


def _renderable(cell: Cell):
    from rich.console import Group
    from rich.syntax import Syntax
    from rich.text import Text

    if not cell.pieces:
        return Text(cell.absent, style="italic dim")
    parts = []
    for piece in cell.pieces:
        parts += [Text(f"{piece.path}:{piece.first}–{piece.last}", style="dim"),
                  Syntax(piece.source, "python", word_wrap=True, background_color="default")]
    return Group(*parts)


def show(part: str, row: str, libraries: list[str], console) -> None:
    from rich.rule import Rule
    from rich.table import Table

    table_cells = cells(tuple(libraries), part=part)
    if console.width >= COLUMN_MIN * len(libraries):
        table = Table(title=row, title_justify="left", show_lines=True, expand=True)
        for library in libraries:
            table.add_column(library_titles()[library], ratio=1, overflow="fold")
        table.add_row(*(_renderable(table_cells[(lib, row)]) for lib in libraries))
        console.print(table)
        return
    for library in libraries:  # too narrow for columns: one below the other
        console.print(Rule(f"{library_titles()[library]} · {row}"))
        console.print(_renderable(table_cells[(library, row)]))


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.html:
        check_output_path("--html", args.html)
        write_page(args.html, args.report)
        print(f"wrote {args.html}")
        return 0
    if args.report:
        raise UsageError("--report goes with --html PATH")
    if args.list:
        print("\n".join([*ROWS, *RUNTIME_ONLY]))
        return 0
    if not args.function:
        raise UsageError("name a FUNCTION to show, or pass --list or --html PATH")
    part, row = row_named(args.function)
    from rich.console import Console

    show(part, row, list(args.frameworks or library_titles()), Console())
    return 0


def main(argv: list[str]) -> int:
    return guarded("compare.py code", _main, argv)
