"""MLX data-parallel: `mx.distributed` over its "ring" backend (TCP), one process per worker.

MLX's engine is a communication group and a collective, nothing more: every worker is a
process of its own with a rank, `mx.distributed.init(backend="ring")` connects it to its two
neighbours in the ring, and the training step is the single-process one with one line added,
`nn.average_gradients(grads)`: `mx.distributed.all_sum` of the gradients (flattened into one
array, one all-sum per step), divided by the group's size. MLX *averages* only because that
line divides; `all_sum` alone would give N times the gradient. Each worker's loss is the mean
over its own part of the global batch, so the average of the N parts' gradients is the
global batch's. On one host the host process starts its workers (spawned processes, as
`mlx.launch -n N` starts N); across hosts each host starts its own.
Surprises:
- The ring has no other rendezvous: every rank *listens* on an address of its own, given to
  every rank as a JSON file of addresses per rank (`MLX_HOSTFILE`, [["ip:port"], ...]), and
  learns its place from `MLX_RANK`; it accepts from its left neighbour and connects to its
  right one. So the harness hands out one port per worker, not per host (`LISTENS`). A rank
  whose port is taken fails at once ("Couldn't bind socket"); a rank whose peer never comes
  waits with no timeout of its own (the harness's bounds it).
- A process holds one rank: the global group is made once per process from the environment,
  so several workers per host are several processes (as PyTorch's are), not devices.
- float64 runs on the CPU (as in the single-process file; Metal has none), and the ring's
  `all_sum` of float64 arrays stays float64. With one worker there is no ring: `init` gives a
  group of one, and `average_gradients` returns the gradients as they are.
- The loop stays eager, one `mx.eval` per step, as MLX's own distributed example trains.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from implementations.mlx import lesson as single
from shared.contract.interface import Problem, Runner, TrainOutput

NAME = "mlx"
TITLE = "MLX distributed (ring backend over TCP)"
POSITION = 4
ENGINE = "mx.distributed ring, nn.average_gradients"
LISTENS = "worker"  # every rank binds an address of its own: the harness hands out one port per worker
PROCESSES = "worker"  # launch starts a process per rank


def versions() -> dict[str, str]:
    return {"mlx": mx.__version__, "mlx_backend": "ring", "mlx_device": str(mx.default_device())}


def unsupported(layout, dtype: str) -> str | None:
    """Anything this engine cannot run, said before it starts: nothing here."""
    return None


def launch(serve, folder: str, layout) -> None:
    """A host writes the ring's hostfile (every rank's address, in the run's folder, which goes
    with the run) for its workers to find, then starts one process per local worker (one worker:
    this process itself); a worker that fails ends the host's others at once, which would wait
    for it in their next all-sum."""
    os.environ.pop("MLX_HOSTFILE", None)
    if layout.workers > 1:
        path = os.path.join(folder, f"mlx-ring-host-{layout.host}.json")
        with open(path, "w") as f:
            json.dump([[address] for address in layout.worker_addresses], f)
        os.environ["MLX_HOSTFILE"] = path  # inherited by the worker processes started below
    if layout.local_workers == 1:
        serve(0, folder, layout)
        return
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=serve, args=(rank, folder, layout)) for rank in range(layout.local_workers)]
    for worker in workers:
        worker.start()
    try:
        while True:
            failed = next((rank for rank, w in enumerate(workers) if w.exitcode), None)
            if failed is not None:
                raise RuntimeError(f"worker process {layout.host * layout.local_workers + failed} exited with status "
                                   f"{workers[failed].exitcode}")
            if all(w.exitcode == 0 for w in workers):
                return
            time.sleep(0.05)
    finally:
        for worker in workers:
            if worker.exitcode is None:
                worker.kill()
            worker.join()


def configure(layout, dtype: str) -> None:
    """Before the group is made: the single-process settings (the CPU for float64), and (where
    the harness, not mlx.launch, started this worker) what the ring reads when it starts besides
    the hostfile (`launch`): this worker's rank."""
    single.configure(dtype)
    if not layout.launcher:
        os.environ.pop("MLX_RANK", None)
        if layout.workers > 1:
            os.environ["MLX_RANK"] = str(layout.rank)


def join(layout) -> mx.distributed.Group:
    """The ring: listen on this rank's address, connect to the next rank's (several workers);
    a group of one otherwise."""
    engine = mx.distributed.init(strict=layout.workers > 1, backend="ring")
    if engine.size() != layout.workers or engine.rank() != layout.rank:
        raise RuntimeError(f"MLX made rank {engine.rank()} of {engine.size()}, expected {layout.rank} of {layout.workers}")
    return engine


def build_model(problem: Problem, engine: mx.distributed.Group) -> single.MLP:
    """The single-process model, unchanged: every rank builds it from the same initial weights
    (nothing is broadcast; the ranks stay equal because they take the same averaged steps)."""
    return single.build_model(problem, "cpu")


def split_batches(problem: Problem, engine: mx.distributed.Group) -> np.ndarray:
    """This rank's rows of every global batch: its contiguous N-th."""
    part = problem.schedule.batch_size // engine.size()
    rank = engine.rank()
    return problem.schedule.indices[:, rank * part:(rank + 1) * part]


def train_step(model: single.MLP, spec, x: mx.array, t: mx.array, lr: float) -> single.MLP:
    """One step of the single-process SGD whose gradients are averaged over the group first
    (an optimizer made for the step, as in the single-process file; `train` keeps one)."""
    averaged_step(model, single.make_optimizer(model, lr), spec, x, t)
    return model


def averaged_step(model: single.MLP, optimizer, spec, x: mx.array, t: mx.array) -> mx.array:
    """The single-process step with MLX's one line for data parallelism: `nn.average_gradients`
    (all_sum over the global group, ÷ its size) between the gradients and the update."""
    value, grads = nn.value_and_grad(model, single.loss)(model, spec, x, t)
    optimizer.update(model, nn.average_gradients(grads))
    return value


def train(model: single.MLP, problem: Problem, data: tuple, program: None) -> tuple[single.MLP, mx.array]:
    """The schedule, eagerly (`program` is always None), each step computed by `mx.eval` before
    the next (its all-sum runs then); the training-set loss at the recorded steps, from this
    rank's copy (identical on every rank)."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, rows = data
    optimizer = single.make_optimizer(model, schedule.lr)
    state = [model.state, optimizer.state]
    history = [single.loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for mine in rows[step:step + chunk]:
            averaged_step(model, optimizer, spec, x_all[mine], t_all[mine])
            mx.eval(state)
        step += chunk
        history.append(single.loss(model, spec, x_all, t_all))
        mx.eval(history[-1])
    return model, mx.stack(history)


def _part(indices: np.ndarray, rows: np.ndarray) -> list[int] | None:
    """Where the rows this rank trains on sit in every global batch, [first, stop), or None
    when they are not one contiguous slice of each: what the report checks the ranks' parts by."""
    width = rows.shape[1]
    return next(([first, first + width] for first in range(indices.shape[1] - width + 1)
                 if np.array_equal(indices[:, first:first + width], rows)), None)


def prepare(problem: Problem, engine: mx.distributed.Group, layout) -> Runner:
    model = build_model(problem, engine)
    dtype = getattr(mx, problem.spec.dtype)
    rows = split_batches(problem, engine)
    data = (mx.array(problem.x_train, dtype=dtype), mx.array(problem.t_train, dtype=dtype),
            [mx.array(r) for r in rows])  # one small index array per step, made once
    x_eval = mx.array(problem.x_eval, dtype=dtype)
    info = {"engine": ENGINE, "batch_part": _part(problem.schedule.indices, rows)}

    def run() -> TrainOutput:
        trained, history = train(single.set_weights(model, problem.weights), problem, data, None)
        predictions = single.predict(trained, problem.spec, x_eval)
        mx.eval(predictions, history)
        return TrainOutput(single.weights_of(trained), np.asarray(predictions), np.asarray(history),
                           str(predictions.dtype).removeprefix("mlx.core."), info)

    return run


def leave(engine: mx.distributed.Group) -> None:
    """Nothing to close: MLX has no call that leaves a group; the ring's sockets end with the process."""
