"""PyTorch data-parallel: `DistributedDataParallel` over the gloo backend, one process per worker.

PyTorch's engine is processes, not devices: each worker is a process (started by `torchrun`,
or by the harness with `torch.multiprocessing.spawn` as `torchrun --nproc-per-node` would), and
the processes meet at torchrun's rendezvous (`env://`: a store at MASTER_ADDR, served by rank 0
or by torchrun's agent). Wrapping the model in
`DistributedDataParallel` makes `loss.backward()` all-reduce every gradient and divide it by
the number of workers: DDP *averages*, so each worker's loss is the mean over its own part of
the global batch, and the average of N equal parts' means is the global batch's mean.
Surprises: DDP broadcasts worker 0's parameters when it wraps the model (every worker starts
from the same weights even if they were drawn differently); the loop stays eager (compiling
a DDP model splits its graph at every gradient bucket); and each worker process takes every
core unless told otherwise, so `configure` shares them out.
"""

from __future__ import annotations

import datetime
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing
from torch.nn.parallel import DistributedDataParallel

from implementations.torch import lesson as single
from shared.contract.interface import Problem, Runner, TrainOutput

NAME = "torch"
TITLE = "PyTorch DistributedDataParallel (gloo)"
POSITION = 0
ENGINE = "DistributedDataParallel, gloo"
# versions() keys that differ between layouts (each row keeps its own), and how the engine
# chooses each, for the report's environment (configure)
PER_LAYOUT = {"torch_threads": "max(1, cores // workers) per worker process"}
PROCESSES = "worker"  # launch starts a process per worker (DDP's ranks), not one per host


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads()), "torch_backend": "gloo"}


def unsupported(layout, dtype: str) -> str | None:
    """Anything this engine cannot run, said before it starts: nothing here."""
    return None


def launch(serve, folder: str, layout) -> None:
    """A host starts one process per local worker; `serve` runs each one's training."""
    torch.multiprocessing.spawn(serve, args=(folder, layout), nprocs=layout.local_workers, join=True)


def configure(layout, dtype: str) -> None:
    """Before the runtime starts: the single-process settings, a share of the cores, and (where
    the harness, not torchrun, started this worker) what torchrun would have set for it."""
    single.configure(dtype)
    # The harness's "hosts" all share this one machine: N processes share its cores. Under
    # torchrun a node's own processes share its cores (torchrun's default is 1 thread).
    sharing = layout.local_workers if layout.launcher else layout.workers
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // sharing))
    if not layout.launcher:
        address, port = layout.coordinator.rsplit(":", 1)
        os.environ.update(MASTER_ADDR=address, MASTER_PORT=port, RANK=str(layout.rank), WORLD_SIZE=str(layout.workers))
        os.environ.pop("TORCHELASTIC_USE_AGENT_STORE", None)  # no torchrun agent serves the store here


def join(layout) -> dist.ProcessGroup:
    """The rendezvous, as every torchrun script joins: `env://` (MASTER_ADDR and MASTER_PORT,
    RANK, WORLD_SIZE; the store served by rank 0, or by torchrun's agent); bounded by the run's timeout."""
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=layout.timeout_s))
    return dist.group.WORLD


def build_model(problem: Problem, engine) -> DistributedDataParallel:
    """The single-process model, wrapped: DDP registers the hooks that average the gradients."""
    return DistributedDataParallel(single.build_model(problem, "cpu"))


def split_batches(problem: Problem, engine) -> np.ndarray:
    """This worker's rows of every global batch: its contiguous N-th (a sampler that drew
    samples per worker instead would change the global batches)."""
    part = problem.schedule.batch_size // dist.get_world_size(engine)
    rank = dist.get_rank(engine)
    return problem.schedule.indices[:, rank * part:(rank + 1) * part]


def train_step(model: DistributedDataParallel, spec, x: torch.Tensor, t: torch.Tensor, lr: float) -> DistributedDataParallel:
    """`backward()` through the DDP model all-reduces the gradients (mean over workers) while it
    runs (DDP's hooks fire on .grad, so not `torch.autograd.grad` as in the single-process
    step); then every worker takes the same SGD step."""
    model.zero_grad()
    single.loss(model, spec, x, t).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(lr * p.grad)
    return model


def train(model: DistributedDataParallel, problem: Problem, data: tuple[torch.Tensor, ...],
          program: None) -> tuple[DistributedDataParallel, torch.Tensor]:
    """The schedule, eagerly (`program` is always None: compiling a DDP model splits its graph
    at every gradient bucket); the training-set loss at the recorded steps, from this worker's
    replica (identical on every worker)."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, rows = data
    with torch.no_grad():
        history = [single.loss(model.module, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for mine in rows[step:step + chunk]:
            model = train_step(model, spec, x_all[mine], t_all[mine], schedule.lr)
        step += chunk
        with torch.no_grad():
            history.append(single.loss(model.module, spec, x_all, t_all))
    return model, torch.stack(history)


def prepare(problem: Problem, engine, layout) -> Runner:
    model = build_model(problem, engine)
    dtype = getattr(torch, problem.spec.dtype)
    data = (torch.as_tensor(problem.x_train, dtype=dtype), torch.as_tensor(problem.t_train, dtype=dtype),
            torch.as_tensor(split_batches(problem, engine)))
    x_eval = torch.as_tensor(problem.x_eval, dtype=dtype)

    def run() -> TrainOutput:
        single.set_weights(model.module, problem.weights)
        trained, history = train(model, problem, data, None)
        with torch.no_grad():
            predictions = single.predict(trained.module, problem.spec, x_eval)
        return TrainOutput(single.weights_of(trained.module), predictions.numpy(), history.numpy(),
                           str(predictions.dtype).removeprefix("torch."), {"engine": ENGINE})

    return run


def leave(engine) -> None:
    dist.destroy_process_group()
