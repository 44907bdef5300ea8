"""`compare.py parallel`: the same training on each library's own data-parallel engine, proven
equal to the single-process NumPy run on the same global batches, and timed.

Exit status: 0 every requested run ok (or skipped with its reason) and in parity; 1 a run
failed or broke parity; 2 bad usage, before anything starts; 130 Ctrl-C, 143 SIGTERM (every
host process is stopped on the way out).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from shared.commands.args import (
    Parser,
    add_report_flags,
    check_report_paths,
    choice_list,
    first_paragraph,
    guarded,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
    timeout,
)
from shared.contract.errors import UsageError
from shared.contract.interface import DTYPES
from shared.contract.tasks import TASKS
from shared.harness import registry
from shared.studies.parallel import check_layout

DEFAULT_TASK = "digits"  # a real minibatch task whose batch of 32 splits over 1, 2, 4, 8... workers
DEFAULT_TIMEOUT_S = 600.0  # per run of one engine and layout: start-up, rendezvous, first call and repeats


def worker_counts(text: str) -> list[int]:
    """`2` or a comma list `1,2,4` (of workers, or of hosts)."""
    counts = []
    for part in (p.strip() for p in text.split(",")):
        if not part.lstrip("-").isdigit():
            raise argparse.ArgumentTypeError(f"{text!r}: expected a worker count or a comma list of them, e.g. 2 or 1,2,4")
        counts.append(int(part))
    return list(dict.fromkeys(counts))


def build_parser() -> Parser:
    p = Parser(prog="compare.py parallel", description=first_paragraph(__doc__))
    p.add_argument("--workers", type=worker_counts, default=None,
                   help="data-parallel workers N, or a comma list (default 2); one worker always runs too, as the "
                        "single-device baseline")
    p.add_argument("--hosts", type=worker_counts, default=None,
                   help="run the N workers as H separate host processes that coordinate over 127.0.0.1 as hosts "
                        "of a cluster would, or a comma list of host counts (default 1; each H must divide each N)")
    p.add_argument("--task", choices=[t for t in TASKS], default=DEFAULT_TASK, help=f"what to train (default {DEFAULT_TASK})")
    p.add_argument("--frameworks", type=choice_list(tuple(registry.ENGINES), "engine", registry.listed_engines()), default=None,
                   help=f"all (default) or a comma list of {','.join(registry.listed_engines())}"
                        + "".join(f"; {e.name} runs on {e.target}" for e in registry.ENGINES.values() if e.target != e.name))
    p.add_argument("--dtype", choices=DTYPES, default="float64", help="default float64")
    p.add_argument("--steps", type=positive_int, help="training steps (default: the task's)")
    p.add_argument("--batch-size", type=positive_int, help="the global batch, split across the workers (default: the task's)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the task's)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and sample order (default 0)")
    p.add_argument("--repeat", type=positive_int, default=3, help="timed runs after the first call (default 3)")
    add_report_flags(p, plots="write the timing figure into DIR")
    p.add_argument("--timeout", type=timeout, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"the longest one engine's run (every host, start to finish) may take before all its processes "
                        f"are stopped and its row fails (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--debug", action="store_true", help="show the hosts' full tracebacks (on stderr)")
    launched = p.add_argument_group(
        "started by the library's own launcher",
        "--launched: this process is one of the run's processes, started with its place in the run by the engine's "
        "launcher (torchrun, mlx.launch, TF_CONFIG, or JAX's coordinator flags below) instead of by the harness; rank "
        "0 checks against NumPy and writes the report, the others print one line (docs/parallel.md)")
    launched.add_argument("--launched", action="store_true", help="read this process's rank, the world size and the "
                          "rendezvous from the launcher; one engine in --frameworks")
    launched.add_argument("--coordinator", metavar="HOST:PORT", help="JAX and Keras: jax.distributed.initialize's "
                          "coordinator address (default: $JAX_COORDINATOR_ADDRESS)")
    launched.add_argument("--num-processes", type=positive_int, metavar="H", help="JAX and Keras: the number of processes")
    launched.add_argument("--process-id", type=non_negative_int, metavar="I", help="JAX and Keras: this process's id, "
                          "0 to H-1")
    return p


def main(argv: list[str]) -> int:
    return guarded("compare.py parallel", _main, argv)


def _config(args, argv: list[str], problem, engines: list[str]) -> dict:
    return {"task": args.task, "arch": list(problem.spec.sizes), "loss": problem.spec.loss, "dtype": args.dtype,
            "lr": problem.schedule.lr, "steps": problem.schedule.steps, "batch_size": problem.schedule.batch_size,
            "record_every": problem.schedule.record_every, "seed": args.seed, "workers": args.workers,
            "hosts": args.hosts, "repeat": args.repeat, "engines": engines, "timeout_s": args.timeout,
            "command": "python compare.py parallel " + " ".join(shlex.quote(a) for a in argv)}


def _problem(args):
    from shared.contract.tasks import build_problem, default_sizes, load_dataset

    task = TASKS[args.task]
    dataset = load_dataset(task, None, None, None, None, None)
    problem = build_problem(task, dataset, default_sizes(task, dataset), lr=args.lr, steps=args.steps,
                            batch_size=args.batch_size, seed=args.seed, dtype=args.dtype)  # checks the batch fits the data
    return task, dataset, problem


def _launched(args, argv: list[str], started: float, started_wall: float) -> int:
    """One process of a run its engine's launcher started (shared/studies/launched.py)."""
    from shared.studies.launchers import LAUNCHERS, Launch, read_layout

    engines = args.frameworks or []
    if len(engines) != 1:
        raise UsageError("--launched runs one engine: give --frameworks ENGINE (one of "
                         f"{', '.join(registry.listed_engines())})")
    if args.hosts is not None:
        raise UsageError("--hosts goes without --launched: the launcher says how many hosts there are")
    if args.workers is not None and len(args.workers) != 1:
        raise UsageError("--launched takes one --workers count, not a list")
    (engine,) = engines
    missing = registry.engine_missing(engine)
    if missing:
        raise UsageError(f"--launched --frameworks {engine}: {missing}")
    target = registry.ENGINES[engine].target
    layout = read_layout(target, os.environ, Launch(args.timeout, args.workers[0] if args.workers else None,
                                                    args.coordinator, args.num_processes, args.process_id))
    _, _, problem = _problem(args)
    batch = problem.schedule.batch_size
    if batch % layout.workers:
        raise UsageError(f"{layout.workers} workers ({LAUNCHERS[registry.split(target)[0]][0]}) do not divide the global batch "
                         f"of {batch} sample{'s' * (batch > 1)}: give --batch-size a multiple of {layout.workers}, or "
                         f"start a number of workers that divides {batch}")
    args.workers, args.hosts = [layout.workers], [layout.hosts]
    config = _config(args, argv, problem, engines) | {"launcher": layout.launcher}
    from shared.studies.launched import run

    def write(report: dict) -> int:
        from shared.reports.termtable import report_console

        drawn = _write_report(report, args, report_console(args.json == "-"))
        if "launched" in report:
            print(f"rank 0 of {layout.workers} ({layout.launcher}): weights and predictions sha256 "
                  f"{report['launched']['fingerprint']}", file=sys.stderr)
        return 0 if report["ok"] and drawn else 1

    return run(engine, problem, layout, config, args, started, started_wall, write)


def _main(argv: list[str]) -> int:
    started, started_wall = time.monotonic(), time.time()
    args = build_parser().parse_args(argv)
    check_report_paths(args)
    if args.launched:
        return _launched(args, argv, started, started_wall)
    jax_flags = [f for f, v in (("--coordinator", args.coordinator), ("--num-processes", args.num_processes),
                                ("--process-id", args.process_id)) if v is not None]
    if jax_flags:
        raise UsageError(f"{jax_flags[0]} goes with --launched (a process started by a launcher, not the harness)")
    args.workers, args.hosts = args.workers or [2], args.hosts or [1]
    task, dataset, problem = _problem(args)
    for hosts in args.hosts:
        for workers in args.workers:
            check_layout(workers, hosts, problem.schedule.batch_size, dataset.x.shape[0],
                         per_sample_task=args.batch_size is None and task.batch_size == 1)
    engines = list(args.frameworks or registry.listed_engines())
    config = _config(args, argv, problem, engines)
    from shared.commands.driver import run_interruptible
    from shared.reports.termtable import report_console
    from shared.studies.parallel_report import Study, print_table

    json_to_stdout = args.json == "-"
    console = report_console(json_to_stdout)
    study = Study(problem, config, debug=args.debug)

    def work(live) -> dict:
        study.progress = live
        return study.run()

    def print_partial(err) -> None:
        if study.report["rows"]:
            err.print("Interrupted; runs that finished:", highlight=False)
            print_table(study.finish(), err, args.wide)

    report = run_interruptible("compare.py parallel", console, json_to_stdout, work, print_partial,
                               stopped="every host process stopped; ")
    if isinstance(report, int):
        return report
    return 0 if report["ok"] and _write_report(report, args, console) else 1


def _write_report(report: dict, args, console) -> bool:
    """The figure (--plots), the reports (--json, --markdown) and the table; False when the figure failed."""
    from shared.commands.driver import write_outputs
    from shared.studies.parallel_report import figure, markdown, print_table

    return write_outputs("compare.py parallel", report, args, console, markdown, print_table,
                         lambda report, folder: [figure(report, os.path.join(folder, "parallel_step_time.png"))])

