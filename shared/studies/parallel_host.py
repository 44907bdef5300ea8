"""One host of a data-parallel run: `python -m shared.studies.parallel_host RUN_FOLDER HOST`.

Started by the harness (shared/studies/parallel.py) as a separate host of a cluster would be. It reads
the run's job, lets its engine start the host's workers (`launch`: PyTorch and MLX one process per
worker, the others this process itself), and each worker goes through the engine's steps in
the order every implementations/<library>/parallel.py defines them: `unsupported`, `configure`
(before the runtime starts), `join` (the rendezvous), `prepare`, the timed runs, `leave`.
Every worker process writes its result into the run's folder (host 0's first worker's is the
one compared with the reference; the others must agree with it).
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import signal
import sys
import time
import traceback
from dataclasses import replace

from shared.contract.errors import one_line
from shared.harness.processes import PARENT_MARK, die_with_parent
from shared.harness.registry import hidden
from shared.reports.files import write_atomically
from shared.studies.parallel import HostJob, HostResult, Layout


def load_job(folder: str) -> HostJob:
    with open(os.path.join(folder, "job.pickle"), "rb") as f:
        return pickle.load(f)


def write_result(folder: str, result: HostResult) -> None:
    """One file per worker process (`result-HOST-RANK`), and `result-HOST-host` when a host's
    launch itself failed."""
    rank = "host" if result.local_rank is None else result.local_rank
    path = os.path.join(folder, f"result-{result.host}-{rank}.pickle")
    write_atomically(path, pickle.dumps(result))  # the harness never reads half a result


def _import(job: HostJob):
    """The engine's module, imported as a worker imports its library: the other libraries hidden."""
    with hidden(job.hide):
        return importlib.import_module(job.module)


def serve(local_rank: int, folder: str, layout: Layout) -> None:
    """One worker process's whole run (for an engine that drives all its host's workers from one
    process: the host's own)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None:  # a worker process started by its host (PyTorch's, MLX's)
        die_with_parent(parent.pid)
    job = load_job(folder)
    layout = replace(layout, local_rank=local_rank)
    problem = job.problem
    try:
        module = _import(job)  # in the try: a worker process that cannot import its engine says why
        reason = module.unsupported(layout, problem.spec.dtype)
        result = HostResult("skipped", reason, versions=module.versions()) if reason else train(module, job, layout)
    except Exception as exc:
        if job.debug:
            traceback.print_exc()
        result = HostResult("failed", one_line(exc))
    result.host, result.local_rank = layout.host, local_rank
    write_result(folder, result)
    if result.status == "failed":
        raise SystemExit(1)


def train(module, job: HostJob, layout: Layout, joined=lambda: None) -> HostResult:
    """One worker's run through its engine's steps; `joined()` is called once the rendezvous is
    done (a launched process says so: shared/studies/launched.py)."""
    from shared.contract.tolerances import scaled_diff
    from shared.harness.timing import time_runner

    problem = job.problem
    module.configure(layout, problem.spec.dtype)
    engine = module.join(layout)
    joined_at = time.time()
    joined()
    runner = None
    try:
        runner = module.prepare(problem, engine, layout)
        timed = time_runner(runner, problem.schedule.steps, job.repeat)
    finally:
        del runner  # the model goes before the engine: a DDP model freed after its process group can hang
        gc.collect()
        module.leave(engine)
    first, last = timed.first, timed.last
    repeats = max(map(scaled_diff, [last.predictions, *last.weights], [first.predictions, *first.weights]))
    return HostResult("ok", output=first, first_call_s=timed.first_call_s, step_s=timed.step_s, joined_at=joined_at,
                      info={**first.info, "repeatable": repeats == 0.0, "repeats_max_diff": repeats},
                      versions=module.versions())


def main(argv: list[str]) -> int:
    folder, host = argv[0], int(argv[1])
    die_with_parent(int(os.environ[PARENT_MARK]) if os.environ.get(PARENT_MARK) else None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle; it stops the hosts
    job = load_job(folder)
    layout = replace(job.layout, host=host)
    try:
        module = _import(job)
        module.launch(serve, folder, layout)
    except SystemExit as stop:
        return int(stop.code or 0)
    except BaseException as exc:  # a worker of PyTorch's failed, or the import did: say so if nobody has
        if job.debug:
            traceback.print_exc()
        write_result(folder, HostResult("failed", _root_cause(exc), host=host, local_rank=None))
        return 1
    return 0


def _root_cause(exc: BaseException) -> str:
    """One line for an exception; for a worker's failure relayed by torch.multiprocessing, the
    last line of that worker's traceback (the error itself) rather than the relay's preamble."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and "terminated with" in lines[0]:
        return f"{lines[0].rstrip(':')}: {lines[-1]}"
    return one_line(exc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
