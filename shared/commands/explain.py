"""`compare.py explain`: where one library leaves NumPy, the first step and in it the first
quantity (a layer's pre-activation or activation, the loss, a weight or bias gradient, the
updated weights), with its layer, its relative difference and the dtype each library produced.
The study itself is shared/studies/explain.py.

Exit status: 0 in parity (nothing to explain), 1 a first step found or the library failed, 2 bad
usage, 130/143 interrupted.
"""

from __future__ import annotations

import json
import shlex
import sys

from shared.commands.args import Parser, check_output_path, check_report_paths, choice_list, first_paragraph, guarded, timeout
from shared.commands.compare import add_problem_flags, problem_of
from shared.contract.errors import UsageError
from shared.contract.interface import MODES
from shared.contract.tolerances import STEP_TOLERANCES, TOLERANCES
from shared.harness import registry
from shared.harness.worker import DEFAULT_TIMEOUT_S


def build_parser() -> Parser:
    targets = tuple(n for n in registry.known() if not registry.LIBRARIES[n].backends) + registry.backend_targets()
    p = Parser(prog="compare.py explain", description=first_paragraph(__doc__))
    p.add_argument("--frameworks", required=True, type=choice_list(tuple(t for t in targets if t != "numpy"), "library"),
                   metavar="LIBRARY", help=f"the one library to explain: {', '.join(t for t in targets if t != 'numpy')}")
    add_problem_flags(p)
    p.add_argument("--mode", choices=MODES, help="how the library trains between the checkpoints (default: compiled "
                   "where it has a compiled mode, else eager); the step itself is taken apart with its lesson's functions")
    p.add_argument("--json", metavar="PATH", help="write the explanation as JSON (- for stdout)")
    p.add_argument("--timeout", type=timeout, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"how long the library's worker may take over one answer (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--debug", action="store_true", help="show full tracebacks of failures")
    return p


def main(argv: list[str]) -> int:
    return guarded("compare.py explain", _main, argv)


def _main(argv: list[str]) -> int:
    from shared.commands.driver import run_interruptible
    from shared.reports.files import write_atomically
    from shared.reports.termtable import report_console
    from shared.studies.explain import explain

    args = build_parser().parse_args(argv)
    if len(args.frameworks) != 1:
        raise UsageError(f"--frameworks {','.join(args.frameworks)}: explain takes one library at a time")
    target = args.frameworks[0]
    missing = registry.missing(target)
    if missing:
        raise UsageError(f"--frameworks {target}: {missing}")
    check_output_path("--json", args.json, stdout_ok=True)
    args.markdown = args.plots = None
    check_report_paths(args, inputs={"--data": args.data, "--init": args.init, "--order": args.order})
    if args.mode and args.mode not in _modes(target):
        raise UsageError(f"--mode {args.mode}: {target} has no {args.mode} mode (it has {', '.join(_modes(target))})")
    _, _, problem = problem_of(args, steps=args.steps, record_every=args.record_every)
    mode = args.mode or ("compiled" if "compiled" in _modes(target) else "eager")
    json_to_stdout = args.json == "-"
    console = report_console(json_to_stdout)

    def work(live):
        return explain(target, problem, mode, args.timeout, args.debug,
                       live.phases(f"explain {target} ({mode}, {problem.schedule.steps} steps)", "", mode == "compiled"))

    found = run_interruptible("compare.py explain", console, json_to_stdout, work, lambda err: None)
    if isinstance(found, int):
        return found
    from shared.harness.environment import stamp

    report = {**found.as_json(), "stamp": stamp(), "tolerance_reason": STEP_TOLERANCES[problem.spec.dtype].reason,
              "run_tolerance": TOLERANCES[problem.spec.dtype].value,
              "config": {"task": args.task, "arch": list(problem.spec.sizes), "dtype": problem.spec.dtype,
                         "lr": problem.schedule.lr, "steps": problem.schedule.steps,
                         "batch_size": problem.schedule.batch_size, "seed": args.seed, "init": args.init,
                         "order": args.order, "data": args.data,
                         "command": "python compare.py explain " + " ".join(shlex.quote(a) for a in argv)}}
    if args.json:
        text = json.dumps(report, indent=1) + "\n"
        if json_to_stdout:
            sys.stdout.write(text)
        else:
            write_atomically(args.json, text)
    print_explanation(report, console)
    return 0 if found.status == "ok" and found.verdict == "in parity" else 1


def _modes(target: str) -> tuple[str, ...]:
    """A library's modes, from its runtime's constants (read without importing it)."""
    from shared.harness.registry import constants

    library = registry.LIBRARIES[registry.split(target)[0]]
    return tuple(constants(library.runtime).get("MODES", ("eager",))) if library.runtime else ("eager",)


def print_explanation(report: dict, console) -> None:
    """The verdict in a sentence, then every compared quantity as a short table."""
    from rich.table import Table

    library, steps = report["library"], report["config"]["steps"]
    if report["status"] != "ok":
        console.print(f"{library}: could not be explained: {report['reason']}", highlight=False)
        return
    tolerance = f"{report['tolerance']:g}"
    if report["verdict"] == "in parity":
        console.print(f"{library} ({report['mode']}) stays with NumPy: after all {steps} steps its weights are "
                      f"{report['whole_run_diff']:.1e} from NumPy's, within the run tolerance {report['run_tolerance']:g}.",
                      highlight=False)
        return
    if report["first_step"] is None:
        console.print(f"{library} ({report['mode']}) ends {report['whole_run_diff']:.1e} from NumPy after {steps} steps, "
                      f"out of the run tolerance {report['run_tolerance']:g}, but {report['verdict']}.", highlight=False)
        return
    where = f"step {report['first_step']} of {steps}"
    if report["quantity"] is None:
        console.print(f"{library} ({report['mode']}) leaves NumPy at {where} (single-step tolerance {tolerance}): "
                      f"{report['verdict']}.", highlight=False)
    else:
        layer = f" of layer {report['layer']}" if report["layer"] is not None else ""
        dtypes = report["dtypes"]
        precision = " (a float64 result off by float32's rounding: computed in float32 on the way)" \
            if report["computed_in"] == "float32" and dtypes.get(library) == "float64" else ""
        console.print(f"{library} ({report['mode']}) leaves NumPy at {where}: the {report['quantity']}{layer} differs by "
                      f"{report['max_rel_diff']:.1e} (relative; tolerance {tolerance}); {library} computed it in "
                      f"{dtypes.get(library)}, NumPy in {dtypes.get('numpy')}{precision}.", highlight=False)
    table = Table(title=f"{where}, from NumPy's weights just before it", title_justify="left")
    for column in ("quantity", "layer", "max rel diff", library, "numpy"):
        table.add_column(column, justify="right" if column in ("layer", "max rel diff") else "left")
    for q in report["quantities"]:
        diff = "nan" if q["max_rel_diff"] is None else f"{q['max_rel_diff']:.1e}"
        marked = diff if q["max_rel_diff"] is not None and q["max_rel_diff"] <= report["tolerance"] else f"[bold]{diff}[/bold]"
        table.add_row(q["quantity"], "" if q["layer"] is None else str(q["layer"]), marked, q["dtype"], q["numpy_dtype"])
    console.print(table)
