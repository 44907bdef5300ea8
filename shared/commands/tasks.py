"""`compare.py tasks`: every task × library in one run, in both dtypes (the study itself is
shared/studies/every_task.py); each (task, dtype) is an ordinary compare.py run."""

from __future__ import annotations

import os
import shlex


def main(argv: list[str]) -> int:
    from shared.commands.args import guarded

    return guarded("compare.py tasks", _main, argv)


def build_parser():
    from shared.commands.args import Parser, add_report_flags, add_threads_flag, first_paragraph, positive_int, timeout
    from shared.contract.interface import DTYPES
    from shared.studies import every_task

    p = Parser(prog="compare.py tasks", description=first_paragraph(every_task.__doc__))
    p.add_argument("--frameworks", default="all", help="as for compare.py (default all)")
    p.add_argument("--dtype", choices=[*DTYPES, "all"], default="all", help="float64, float32 or all (default)")
    p.add_argument("--repeat", type=positive_int, default=3, help="timed runs after the first call (default 3)")
    add_threads_flag(p)
    add_report_flags(p, plots="write the matrix figure (every_task.png) into DIR")
    p.add_argument("--timeout", type=timeout, metavar="SECONDS", help="as for compare.py (default its own)")
    return p


def _main(argv: list[str]) -> int:
    from shared.commands.args import check_report_paths
    from shared.commands.compare import build_run
    from shared.commands.driver import run_interruptible, write_outputs
    from shared.contract.interface import DTYPES
    from shared.harness.environment import describe
    from shared.harness.runner import Harness
    from shared.reports.rows import SCHEMA
    from shared.reports.termtable import report_console
    from shared.studies import every_task
    from shared.studies.every_task import run_every_task

    args = build_parser().parse_args(argv)
    check_report_paths(args)
    dtypes = DTYPES if args.dtype == "all" else (args.dtype,)

    def compare_args(task: str, dtype: str) -> list[str]:
        extra = (["--threads", str(args.threads)] if args.threads else []) + (["--timeout", f"{args.timeout:g}"] if args.timeout else [])
        return ["--task", task, "--dtype", dtype, "--mode", "compiled", "--device", "cpu", "--frameworks", args.frameworks,
                "--repeat", str(args.repeat), *extra]

    for dtype in dtypes:  # every argument checked before anything trains (bad input: exit 2)
        build_run(compare_args("xor", dtype), check_reports=False)

    json_to_stdout = args.json == "-"
    console = report_console(json_to_stdout)
    cells: list = []
    reports: list[dict] = []
    config = {"dtypes": list(dtypes), "frameworks": args.frameworks, "repeat": args.repeat, "threads": args.threads,
              "mode": "compiled", "device": "cpu", "command": "python compare.py tasks " + " ".join(shlex.quote(a) for a in argv)}

    def work(live):
        def run(built) -> dict:
            return Harness(built.task, built.dataset, built.problem, built.request, built.config, progress=live).run()

        return run_every_task(lambda task, dtype: build_run(compare_args(task, dtype), check_reports=False), run, dtypes,
                              cells, reports)

    def print_partial(err) -> None:
        if cells:
            err.print("Interrupted; tasks that finished:", highlight=False)
            every_task.print_tables({"config": config, "cells": cells}, err, args.wide)

    stopped = run_interruptible("compare.py tasks", console, json_to_stdout, work, print_partial)
    if isinstance(stopped, int):
        return stopped
    versions: dict[str, str] = {}
    threads: dict[str, str] = {}
    for r in reports:
        versions |= r["environment"]["versions"]
        threads |= r["environment"]["threads"]
    environment = describe(versions) | {"threads": threads}
    report = {"schema": SCHEMA, "config": config, "environment": environment, "cells": cells, "runs": reports,
              "ok": all(r["ok"] for r in reports), "verdict": every_task.verdict(cells)}
    drawn = write_outputs("compare.py tasks", report, args, console, every_task.markdown, every_task.print_tables,
                          lambda report, folder: [every_task.figure(report, os.path.join(folder, "every_task.png"))])
    return 0 if report["ok"] and drawn else 1
