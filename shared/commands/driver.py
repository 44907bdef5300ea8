"""The one flow every long sub-command (compare, scale, parallel) runs its work through: the
live progress line, Ctrl-C and SIGTERM handled alike (SIGTERM raises like Ctrl-C, so every
worker or host is stopped on the way out by the code that started it), the partial table of
what finished, and the exit status: 130 for Ctrl-C, 143 for SIGTERM, no report file written.
Report flags are checked before the work (shared/commands/args.py); after it, `write_outputs`
writes the figures, then every report whole (shared/reports/report.py), then prints the table."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console

from shared.contract.errors import Terminated, raise_terminated
from shared.reports.live import LiveLine
from shared.reports.termtable import report_console

T = TypeVar("T")


def run_interruptible(command: str, console: Console, json_to_stdout: bool, work: Callable[[LiveLine], T],
                      print_partial: Callable[[Console], None], stopped: str = "") -> T | int:
    """`work(live)`'s result, or the exit status of an interrupted run after `print_partial`
    has shown what finished (on stderr) and one line has said what happened. `stopped`: what
    the interruption stopped, for that line ("every host process stopped; ")."""
    live = LiveLine(console, enabled=console.is_terminal and not json_to_stdout)
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        with live:
            return work(live)
    except KeyboardInterrupt as stop:
        print_partial(report_console(stderr=True))
        print(f"{command}: interrupted; {stopped}no report files written", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_outputs(command: str, report: dict, args, console: Console, markdown: Callable[[dict], str],
                  print_tables: Callable[[dict, Console, bool], None],
                  figures: Callable[[dict, str], list[str]] | None = None) -> bool:
    """After the work: the figures where --plots asked (`figures(report, folder)` returns the
    files it wrote, which the reports then list), the reports (--json, --markdown), each
    written whole, and the terminal table, with where the figures went. A figure that fails
    costs only itself: the reports are still written (without `plots`) and one line on stderr
    says why; False then, and the command exits 1 (what --plots asked for was not made)."""
    from shared.contract.errors import one_line
    from shared.harness.environment import stamp
    from shared.reports.report import write_reports

    report["stamp"] = stamp()  # before the figures, which carry it too
    failed = None
    if args.plots and figures:
        os.makedirs(args.plots, exist_ok=True)
        try:
            report["plots"] = figures(report, args.plots)
        except Exception as exc:
            failed = one_line(exc)
    write_reports(report, args.json, args.markdown, markdown)
    print_tables(report, console, args.wide)
    if report.get("plots"):
        console.print(f"Figures: {', '.join(report['plots'])}")
    if failed:
        print(f"{command}: the figures could not be drawn ({failed}); the reports were written", file=sys.stderr)
    return failed is None
