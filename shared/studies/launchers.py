"""Where a process started by its library's own launcher sits in the run, read from what that
launcher hands it: `compare.py parallel --launched` (shared/studies/launched.py).

One reader per library, each reading exactly what its launcher sets and nothing the harness
invents:
- PyTorch, `torchrun`: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
  (the engine then joins with `init_process_group`'s default `env://`, as torchrun's users do);
- MLX, `mlx.launch`: MLX_RANK and MLX_HOSTFILE (a JSON list, one list of "ip:port" per rank;
  empty with one rank), which `mx.distributed.init` reads itself;
- TensorFlow: TF_CONFIG, `{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}`,
  which `MultiWorkerMirroredStrategy` reads itself;
- JAX and Keras on JAX: the arguments of `jax.distributed.initialize` (coordinator address,
  number of processes, process id), given as flags (`--coordinator` may come from JAX's own
  JAX_COORDINATOR_ADDRESS).
Whatever is missing, malformed or out of range is a usage error naming it, before any library
is imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from shared.contract.errors import UsageError
from shared.harness import registry
from shared.studies.parallel import Layout


@dataclass(frozen=True)
class Launch:
    """What the flags of `compare.py parallel --launched` add to the launcher's environment."""

    timeout_s: float
    workers: int | None = None  # --workers: JAX's and Keras' devices over all processes; elsewhere a check
    coordinator: str | None = None  # JAX and Keras: --coordinator, --num-processes, --process-id
    num_processes: int | None = None
    process_id: int | None = None


# The launcher of each library (its name in reports, and how to start it, for the errors).
LAUNCHERS = {
    "torch": ("torchrun", "torchrun --nnodes H --node-rank R --nproc-per-node N --master-addr A --master-port P "
                          "compare.py parallel --launched --frameworks torch"),
    "mlx": ("mlx.launch", "mlx.launch --hostfile hosts.json -- python compare.py parallel --launched --frameworks mlx"),
    "tensorflow": ("TF_CONFIG", "TF_CONFIG='{\"cluster\": {\"worker\": [\"A:P\", \"B:P\"]}, \"task\": "
                                "{\"type\": \"worker\", \"index\": I}}' python compare.py parallel --launched "
                                "--frameworks tensorflow"),
    "jax": ("coordinator", "python compare.py parallel --launched --frameworks jax --coordinator A:P "
                           "--num-processes H --process-id I"),
}
LAUNCHERS["keras"] = ("coordinator", LAUNCHERS["jax"][1].replace("--frameworks jax", "--frameworks keras"))


def read_layout(target: str, environ: Mapping[str, str], launch: Launch) -> Layout:
    """This process's place in the run, from its launcher's environment (and, for JAX and Keras,
    the coordinator flags)."""
    library = registry.split(target)[0]  # "keras:jax": Keras' launcher
    if library not in READERS:
        raise UsageError(f"--launched: the {library} engine has no launcher here")
    layout = READERS[library](environ, launch)
    if launch.workers is not None and library not in ("jax", "keras") and launch.workers != layout.workers:
        raise UsageError(f"--workers {launch.workers}, but {LAUNCHERS[library][0]} started {layout.workers} "
                         f"worker{'s' * (layout.workers > 1)}: leave --workers out, or start {launch.workers}")
    return layout


def _needs(environ: Mapping[str, str], library: str, names: tuple[str, ...]) -> list[str]:
    missing = [n for n in names if not environ.get(n)]
    if missing:
        launcher, how = LAUNCHERS[library]
        raise UsageError(f"--launched: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: start "
                         f"each process with {launcher} ({how})")
    return [environ[n] for n in names]


def _int(name: str, text: str, low: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--launched: {name}={text!r} is not an integer") from None
    if value < low:
        raise UsageError(f"--launched: {name}={value} must be at least {low}")
    return value


def _below(name: str, value: int, limit: int, what: str) -> None:
    """`value` must be below `limit`, which `what` says in words."""
    if value >= limit:
        raise UsageError(f"--launched: {name}={value} is out of range 0 to {limit - 1} ({what})")


def torchrun(environ: Mapping[str, str], launch: Launch) -> Layout:
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    rank, world, local_rank, local_world, addr, port = _needs(environ, "torch", names)
    world, local_world = _int("WORLD_SIZE", world, 1), _int("LOCAL_WORLD_SIZE", local_world, 1)
    rank, local_rank = _int("RANK", rank), _int("LOCAL_RANK", local_rank)
    _int("MASTER_PORT", port, 1)
    _below("RANK", rank, world, f"WORLD_SIZE={world}")
    _below("LOCAL_RANK", local_rank, local_world, f"LOCAL_WORLD_SIZE={local_world}")
    if world % local_world or rank % local_world != local_rank:
        raise UsageError(f"--launched: RANK={rank}, LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world} and "
                         f"WORLD_SIZE={world} do not fit together (torchrun gives every node the same number of "
                         "processes, numbered in turn)")
    return Layout(world, world // local_world, (f"{addr}:{port}",), launch.timeout_s, host=rank // local_world,
                  local_rank=local_rank, launcher="torchrun")


def mlx_launch(environ: Mapping[str, str], launch: Launch) -> Layout:
    rank_text, path = _needs(environ, "mlx", ("MLX_RANK", "MLX_HOSTFILE"))
    rank = _int("MLX_RANK", rank_text)
    try:
        with open(path) as f:
            text = f.read().strip()
        ranks = json.loads(text) if text else []
    except OSError as exc:
        raise UsageError(f"--launched: MLX_HOSTFILE={path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--launched: MLX_HOSTFILE={path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not text:  # mlx.launch writes an empty hostfile for one rank: a group of one, no ring
        _below("MLX_RANK", rank, 1, "an empty hostfile: one rank")
        return Layout(1, 1, ("127.0.0.1:0",), launch.timeout_s, launcher="mlx.launch")
    if not (isinstance(ranks, list) and ranks and all(isinstance(r, list) and r and all(isinstance(a, str) and ":" in a
                                                                                       for a in r) for r in ranks)):
        raise UsageError(f"--launched: MLX_HOSTFILE={path} is not a list of [\"ip:port\", ...] per rank")
    _below("MLX_RANK", rank, len(ranks), f"the hostfile's {len(ranks)} ranks")
    addresses = tuple(r[0] for r in ranks)
    ips = list(dict.fromkeys(a.rsplit(":", 1)[0] for a in addresses))
    per_ip = [[a for a in addresses if a.rsplit(":", 1)[0] == ip] for ip in ips]
    contiguous = [a for group in per_ip for a in group] == list(addresses) and len({len(g) for g in per_ip}) == 1
    hosts = len(ips) if contiguous else len(addresses)  # the ranks of one machine as one host, where they are in turn
    local = len(addresses) // hosts
    return Layout(len(addresses), hosts, addresses[::local], launch.timeout_s, host=rank // local,
                  local_rank=rank % local, worker_addresses=addresses, launcher="mlx.launch")


def tf_config(environ: Mapping[str, str], launch: Launch) -> Layout:
    (text,) = _needs(environ, "tensorflow", ("TF_CONFIG",))
    try:
        config = json.loads(text)
        workers, task = config["cluster"]["worker"], config["task"]
        kind, index = task["type"], task["index"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UsageError(f"--launched: TF_CONFIG is not {{\"cluster\": {{\"worker\": [...]}}, \"task\": {{\"type\": "
                         f"\"worker\", \"index\": i}}}} ({exc.__class__.__name__}: {exc})") from None
    others = sorted(set(config["cluster"]) - {"worker"})
    if others or kind != "worker":
        raise UsageError(f"--launched: TF_CONFIG has {', '.join(others) or kind} tasks; this engine runs workers only "
                         "(MultiWorkerMirroredStrategy with no chief: worker 0 reports)")
    if not (isinstance(workers, list) and workers and all(isinstance(a, str) and ":" in a for a in workers)):
        raise UsageError("--launched: TF_CONFIG's cluster.worker must be a list of \"host:port\"")
    if not isinstance(index, int) or isinstance(index, bool):
        raise UsageError(f"--launched: TF_CONFIG's task.index {index!r} is not an integer")
    if index < 0:
        raise UsageError(f"--launched: TF_CONFIG's task.index={index} must be at least 0")
    _below("TF_CONFIG's task.index", index, len(workers), f"its {len(workers)} workers")
    if len(set(workers)) != len(workers):
        raise UsageError("--launched: TF_CONFIG's cluster.worker names one address twice")
    return Layout(len(workers), len(workers), tuple(workers), launch.timeout_s, host=index, launcher="TF_CONFIG")


def coordinator(environ: Mapping[str, str], launch: Launch, library: str = "jax") -> Layout:
    address = launch.coordinator or environ.get("JAX_COORDINATOR_ADDRESS")
    missing = [flag for flag, value in (("--coordinator", address), ("--num-processes", launch.num_processes),
                                        ("--process-id", launch.process_id)) if value is None]
    if missing:
        raise UsageError(f"--launched: {library} needs {', '.join(missing)} (jax.distributed.initialize's coordinator "
                         f"address, number of processes and process id): {LAUNCHERS[library][1]}")
    if ":" not in address or not address.rsplit(":", 1)[1].isdigit():
        raise UsageError(f"--coordinator {address}: expected host:port")
    processes = launch.num_processes
    _below("--process-id", launch.process_id, processes, f"--num-processes {processes}")
    workers = launch.workers or processes  # one CPU device per process unless --workers asks for more
    if workers % processes:
        raise UsageError(f"--workers {workers} is not a multiple of --num-processes {processes}: every process drives "
                         "the same number of devices")
    return Layout(workers, processes, (address,), launch.timeout_s, host=launch.process_id, launcher="coordinator")


READERS = {"torch": torchrun, "mlx": mlx_launch, "tensorflow": tf_config, "jax": coordinator,
           "keras": lambda environ, launch: coordinator(environ, launch, "keras")}
