"""`compare.py` (no sub-command): parse, validate everything before training, run, report.

Exit status: 0 every requested run ok and in parity; 1 a run failed or parity broke;
2 bad usage or bad input (one line on stderr, no traceback); 130 interrupted by Ctrl-C, 143 by
SIGTERM (shared/commands/driver.py).
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.commands.args import (
    SUBCOMMANDS,
    Parser,
    add_report_flags,
    add_threads_flag,
    architecture,
    check_output_path,
    check_report_paths,
    choice_list,
    column_list,
    guarded,
    positive_float,
    positive_int,
    seed,
    timeout,
)
from shared.contract.csvdata import delimiter_from_flag
from shared.contract.errors import UsageError
from shared.contract.interface import DEVICES, DTYPES, HIDDEN_ACTIVATIONS, MODES
from shared.contract.tasks import TASKS, build_problem, check_sizes, default_sizes, load_dataset
from shared.contract.userstate import read_init, read_order
from shared.harness import registry
from shared.harness.worker import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from shared.contract.interface import Problem
    from shared.contract.tasks import Dataset, Task
    from shared.harness.runner import Request


def _either(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def add_problem_flags(p) -> None:
    """What fixes the run itself (the task and its data, the network, the schedule, the initial
    weights and sample order), the same in every command that trains one: compare, explain."""
    p.add_argument("--task", choices=list(TASKS), default="xor", help="what to train (default xor)")
    p.add_argument("--arch", type=architecture, help="layer sizes, inputs first, e.g. 2,4,3,1 (default: the task's)")
    p.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, help="hidden activation (default: the task's, tanh)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the task's)")
    p.add_argument("--steps", type=positive_int, help="training steps; always run in full when given")
    p.add_argument("--batch-size", type=positive_int, help="samples per step; 1 = per-sample SGD (default: the task's)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and sample order (default 0)")
    p.add_argument("--dtype", choices=DTYPES, default="float64", help="default float64")
    p.add_argument("--record-every", type=positive_int, help="steps between recorded training losses (default: steps/100)")
    p.add_argument("--data", help="CSV file with a header row (tasks linear, logistic, softmax)")
    p.add_argument("--target", help="the CSV column to predict")
    p.add_argument("--features", type=column_list, help="the CSV columns to learn from, e.g. age,bmi (default: every "
                   "column but the target); leaves ID and text columns out")
    p.add_argument("--delimiter", type=delimiter_from_flag, help="the CSV's separator: , ; | or tab "
                   "(default: detected from the file)")
    p.add_argument("--no-standardize", action="store_true", help="keep the features as they are")
    p.add_argument("--init", metavar="FILE.npz", help="initial weights in the seed's layout, one (fan_in + 1, fan_out) "
                   "array per layer, row 0 the bias, as np.savez(path, *weights) saves them (default: drawn from --seed)")
    p.add_argument("--order", metavar="FILE", help="every step's sample rows: a .npy array (steps, batch), or text with "
                   "one line per step (default: drawn from --seed); its steps and batch size are the run's")


def problem_of(args, steps: int | None, record_every: int | None) -> tuple[Task, Dataset, Problem]:
    """The task, its data and the run's `Problem` from `add_problem_flags`' arguments, every file
    read and checked (bad input: UsageError, before anything trains)."""
    for flag in ("target", "features", "delimiter"):
        if getattr(args, flag) is not None and not args.data:
            raise UsageError(f"--{flag} needs --data FILE.csv")
    task = TASKS[args.task]
    dataset = load_dataset(task, args.data, args.target, False if args.no_standardize else None, args.features, args.delimiter)
    sizes = args.arch or default_sizes(task, dataset)
    check_sizes(sizes, dataset, task)
    weights = read_init(args.init, sizes, args.dtype) if args.init else None
    order = read_order(args.order, dataset.x.shape[0], args.steps, args.batch_size) if args.order else None
    problem = build_problem(task, dataset, sizes, hidden_activation=args.activation, lr=args.lr, steps=steps,
                            batch_size=args.batch_size, seed=args.seed, dtype=args.dtype, record_every=record_every,
                            weights=weights, indices=order)
    return task, dataset, problem


def build_parser() -> Parser:
    titles = [registry.LIBRARIES[n].title for n in registry.listed()]
    p = Parser(prog="compare.py", description=f"Train the same network in {', '.join(titles[:-1])} and {titles[-1]} "
               "from identical initial weights and sample order; check parity with NumPy and time each library. "
               "Sub-commands (each with --help): "
               + "; ".join(f"`compare.py {name}` {sub.summary}" for name, sub in SUBCOMMANDS.items()) + ".")
    p.add_argument("--frameworks", type=choice_list((*registry.known(), *registry.backend_targets()), "library",
                                                    registry.listed()), default=None,
                   help=f"all (default: every installed library) or a comma list of {','.join(registry.listed())}"
                        + "".join(f"; {lib.name} means {lib.title} on each installed backend, {_either(lib.targets)} one"
                                  for lib in registry.LIBRARIES.values() if lib.backends))
    p.add_argument("--device", choices=[*DEVICES, "all", "auto"], default="auto",
                   help="cpu, gpu, all (a library that sees no GPU is reported as skipped), or auto (default: "
                        "the CPU, and the GPU too when any installed library sees one)")
    p.add_argument("--mode", choices=[*MODES, "all"], default="all", help="eager, compiled or all (default)")
    p.add_argument("--repeat", type=positive_int, default=3, help="timed runs after the first call (default 3)")
    add_problem_flags(p)
    p.add_argument("--book", action="store_true", help="the seed's own program: XOR, NumPy, its derivative quirk, 10 × 1000 steps")
    add_report_flags(p, plots="write PNG figures into DIR")
    p.add_argument("--save-weights", metavar="DIR", help="write into DIR the initial weights (initial.npz), the order "
                   "(order.npy) and every run's trained weights (LIBRARY-MODE-DEVICE.npz), each readable by --init and "
                   "--order")
    p.add_argument("--timeout", type=timeout, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"how long a library's worker process may take over one answer (importing, or one run with its "
                        f"repeats) before it is stopped and its row fails (default {DEFAULT_TIMEOUT_S:g})")
    add_threads_flag(p)
    p.add_argument("--debug", action="store_true", help="show full tracebacks of failures")
    return p


def resolve_frameworks(args) -> tuple[list[str], dict[str, str]]:
    """The targets that can run ("torch", "keras:jax", ...) and those to report as skipped, with why.

    `keras` means Keras on each of its installed backends; `keras:jax` names one. Naming a
    missing library is a usage error. A target its file's DTYPE_SKIPS leaves out in this dtype
    (Keras' torch backend in float64) is skipped with the reason unless named itself."""
    explicit = args.frameworks is not None and args.frameworks.explicit
    named = list(args.frameworks or registry.listed())
    if args.book:
        if explicit and named != ["numpy"]:
            raise UsageError("--book runs the seed's NumPy program only; drop --frameworks or use --frameworks numpy")
        return ["numpy"], {}
    if not registry.installed("numpy"):
        raise UsageError(registry.missing("numpy"))
    skipped: dict[str, str] = {}
    for target in registry.expand(named):
        reason = registry.missing(target)
        name = registry.split(target)[0]
        if reason and explicit and (target in named or not registry.installed(name)):
            raise UsageError(f"--frameworks {target if target in named else name}: {reason}")
        if not reason and target not in named:
            reason = registry.dtype_skip(target, args.dtype)
        if reason:
            skipped[target] = reason
    runnable = [t for t in registry.expand(named) if t not in skipped]
    return runnable, skipped


def check_book(args) -> None:
    if not args.book:
        return
    if args.task != "xor":
        raise UsageError(f"--book reproduces the seed's XOR program; it cannot run task {args.task}")
    for flag in ("lr", "steps", "batch_size", "activation", "data", "record_every", "init", "order"):
        if getattr(args, flag) is not None:
            raise UsageError(f"--book uses the seed's own settings; drop --{flag.replace('_', '-')}")
    if args.dtype != "float64":
        raise UsageError("--book computes in float64, as the seed does; drop --dtype")


def main(argv: list[str]) -> int:
    return guarded("compare.py", _main, argv)


@dataclass
class Run:
    """One compare.py run, checked and built from its arguments, not yet started."""

    args: argparse.Namespace
    task: Task
    dataset: Dataset
    problem: Problem
    request: Request
    config: dict


def _main(argv: list[str]) -> int:
    return execute(build_run(argv))


def build_run(argv: list[str], check_reports: bool = True) -> Run:
    """compare.py's arguments checked (bad input: UsageError, nothing trained) and the run built."""
    from shared.harness.runner import Request

    args = build_parser().parse_args(argv)
    check_book(args)
    if check_reports:
        check_report_paths(args, inputs={"--data": args.data, "--init": args.init, "--order": args.order})
        check_output_path("--save-weights", args.save_weights, folder=True)
    frameworks, missing = resolve_frameworks(args)
    task, dataset, problem = problem_of(args, steps=10_000 if args.book else args.steps,
                                        record_every=10_000 if args.book else args.record_every)
    devices = list(DEVICES) if args.device in ("all", "auto") else [args.device]
    modes = list(MODES) if args.mode == "all" else [args.mode]
    request = Request(frameworks, modes, devices, args.repeat, args.steps is not None or args.order is not None, args.book,
                      args.debug, missing,
                      gpu_if_seen=args.device == "auto", timeout=args.timeout, seed=args.seed, threads=args.threads)
    config = {"arch": list(problem.spec.sizes), "hidden_activation": problem.spec.hidden_activation,
              "output_activation": problem.spec.output_activation, "loss": problem.spec.loss,
              "lr": problem.schedule.lr, "steps": problem.schedule.steps, "batch_size": problem.schedule.batch_size,
              "record_every": problem.schedule.record_every, "seed": args.seed, "dtype": args.dtype,
              "devices": devices, "modes": modes, "frameworks": frameworks, "repeat": args.repeat, "book": args.book,
              "threads": args.threads,
              "init": args.init, "order": args.order,
              "data": dataset.source, "target": dataset.target_name, "features": list(dataset.feature_names),
              "classes": list(dataset.classes),
              "standardized": (not args.no_standardize) and task.standardize,
              "command": "python compare.py " + " ".join(shlex.quote(a) for a in argv)}
    return Run(args, task, dataset, problem, request, config)


def execute(run: Run) -> int:
    """Run it through the one command driver, print the table, write the reports; the exit status."""
    from shared.harness.runner import Harness

    args, task, dataset, problem, request, config = run.args, run.task, run.dataset, run.problem, run.request, run.config
    json_to_stdout = args.json == "-"
    from shared.commands.driver import run_interruptible
    from shared.reports.report import print_table
    from shared.reports.termtable import report_console

    console = report_console(json_to_stdout)
    started: list = []

    def work(live) -> dict:
        started.append(Harness(task, dataset, problem, request, config, progress=live))
        return started[0].run()

    def print_partial(err) -> None:
        if started and started[0].report["runs"]:
            started[0].finish()
            err.print("Interrupted; runs that finished:", highlight=False)
            print_table(started[0].report, err, args.wide)

    report = run_interruptible("compare.py", console, json_to_stdout, work, print_partial)
    if isinstance(report, int):
        return report
    return write_outputs(report, args, console, problem, dataset)


def write_outputs(report: dict, args, console, problem, dataset) -> int:
    from shared.commands import driver
    from shared.reports.plots import write_plots
    from shared.reports.report import markdown, print_table

    drawn = driver.write_outputs("compare.py", report, args, console, markdown, print_table,
                                 lambda report, folder: write_plots(report, problem, dataset, folder))
    if args.save_weights:
        written = save_weights(args.save_weights, report, problem)
        console.print(f"Weights: {len(written)} files in {args.save_weights}")
    return 0 if report["ok"] and drawn else 1


def save_weights(folder: str, report: dict, problem: Problem) -> list[str]:
    """--save-weights: the run's starting point (initial.npz, order.npy) and every finished run's
    trained weights, in the run's dtype and the seed's layout, each file written whole."""
    import os

    import numpy as np

    from shared.contract.userstate import INITIAL, ORDER, order_file, weights_file
    from shared.reports.files import write_atomically

    os.makedirs(folder, exist_ok=True)
    files = {INITIAL: weights_file(list(problem.weights)), ORDER: order_file(problem.schedule.indices)}
    for row in report["runs"]:
        if row.status == "ok" and row.weights is not None:
            name = f"{row.target.replace(':', '-')}-{row.mode}-{row.device}.npz"
            files[name] = weights_file([np.asarray(w, dtype=problem.dtype) for w in row.weights])
    for name, data in files.items():
        write_atomically(os.path.join(folder, name), data)
    return list(files)
