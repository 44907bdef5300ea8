"""`compare.py scale`: the scaling study's command line (the study itself is shared/studies/scale.py)."""

from __future__ import annotations

import os
import shlex

from shared.contract.interface import DEVICES, DTYPES
from shared.harness import registry
from shared.reports.rows import SCHEMA, ScaleRow
from shared.studies.scale import N_FEATURES, SWEEPS, crossovers, figure, growth, markdown, print_tables, run_sweep


def main(argv: list[str]) -> int:
    from shared.commands.args import guarded

    return guarded("compare.py scale", _main, argv)


def build_parser():
    from shared.commands.args import Parser, add_report_flags, add_threads_flag, choice_list, first_paragraph
    from shared.studies.scale import __doc__ as study

    p = Parser(prog="compare.py scale", description=first_paragraph(study))
    p.add_argument("--quick", action="store_true", help="a tiny sweep (for tests)")
    p.add_argument("--frameworks", type=choice_list((*registry.listed(), *registry.backend_targets()), "library",
                                                    registry.listed()), default=list(registry.listed()),
                   help=f"all (default) or a comma list of {','.join(registry.listed())} or of the targets "
                        f"{','.join(registry.backend_targets())} (a library on one backend)")
    p.add_argument("--device", choices=[*DEVICES, "all"], default="all", help="default all (a device no library sees is skipped)")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="default float32")
    add_report_flags(p, plots="write the step-time figure into DIR")
    add_threads_flag(p)
    return p


def _main(argv: list[str]) -> int:
    from shared.commands.args import check_report_paths

    args = build_parser().parse_args(argv)
    check_report_paths(args)
    from shared.commands.driver import run_interruptible, write_outputs
    from shared.harness.environment import describe
    from shared.reports.termtable import report_console

    sweep = SWEEPS["quick" if args.quick else "default"]
    devices = list(DEVICES) if args.device == "all" else [args.device]
    frameworks = args.frameworks
    json_to_stdout = args.json == "-"
    console = report_console(json_to_stdout)
    rows: list[ScaleRow] = []
    facts: dict[str, dict] = {}  # what each library's worker reported: versions, GPU
    config = {"sweep": "quick" if args.quick else "default", "dtype": args.dtype, "devices": devices,
              "steps": sweep["steps"], "repeat": sweep["repeat"], "threads": args.threads, "model": f"[{N_FEATURES}, W, W, 1] tanh, mse",
              "command": "python compare.py scale " + " ".join(shlex.quote(a) for a in argv), **sweep}

    def print_partial(err) -> None:
        if rows:
            err.print("Interrupted; sizes that finished:", highlight=False)
            print_tables({"config": config, "rows": rows, "crossovers": crossovers(rows), "growth": growth(rows)}, err,
                         args.wide)

    stopped = run_interruptible("compare.py scale", console, json_to_stdout,
                                lambda live: run_sweep(sweep, frameworks, devices, args.dtype, live, rows, facts,
                                                                       args.threads),
                                print_partial)
    if isinstance(stopped, int):
        return stopped
    versions: dict[str, str] = {}
    for loaded in facts.values():
        versions |= loaded["versions"]
    environment = describe(versions, next((f["gpu"] for f in facts.values() if f.get("gpu")), None))
    report = {"schema": SCHEMA, "config": config, "environment": environment, "rows": rows, "crossovers": crossovers(rows),
              "growth": growth(rows)}
    # nothing printed when the JSON goes to stdout: the console is quiet then
    drawn = write_outputs("compare.py scale", report, args, console, markdown, print_tables,
                          lambda report, folder: [figure(report, os.path.join(folder, "scale_step_time.png"))])
    failed = [r for r in rows if r.status == "failed" or r.parity_ok is False]
    return 1 if failed or not drawn else 0
