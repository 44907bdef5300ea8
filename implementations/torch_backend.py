"""PyTorch: `nn.Linear` layers, gradients from autograd.

Eager mode is autograd step by step from Python: `torch.autograd.grad`, then plain SGD in
place, p ← p − lr·g (the contract's `train_step` takes the learning rate; `torch.optim.SGD`
fuses the same update as p.add_(g, alpha=−lr), which can round differently in the last bit).
Compiled mode puts the whole schedule in one program, as the JAX and TensorFlow files do:
`torch.compile(fullgraph=True)` of a `while_loop` (a higher-order op, still marked private) over
the stretches between recorded losses, each a `while_loop` over its steps, each step one pure
SGD step built with `torch.func` (`functional_call` + `grad`), compiled by Inductor (with its
C++ wrapper on the CPU). Where that is refused, it falls back to compiling the step alone and
calling it from Python, and says so. `loss.backward()` inside `torch.compile` breaks the graph and runs no
faster than eager.
Surprise for readers of the seed: `nn.Linear` stores its weight as (fan_out, fan_in) and the
bias apart, so the seed's W maps to weight = W[1:].T and bias = W[0].
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own convention)
from torch._higher_order_ops.while_loop import while_loop

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "torch"
TITLE = "PyTorch"
POSITION = 1  # loaded before TensorFlow and Keras when one process loads several (shared/harness/registry.py)
REQUIRES = "torch"
INSTALL = "pip install torch==2.13.0"
MODES = ("eager", "compiled")
# Inductor's and Triton's on-disk compilation caches, kept between processes: the harness points
# each run at empty folders of these names, so that a first call is cold.
CACHE_ENV = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}

ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=-1),
}


class Activation(torch.nn.Module):
    """One of ACTIVATIONS as a layer of an nn.Sequential."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.name](z)


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads()),
            "torch_interop_threads": str(torch.get_num_interop_threads())}


def set_threads(n: int) -> None:
    """Intra-op (its OpenMP pool) and inter-op threads; inter-op only before any parallel work."""
    torch.set_num_threads(n)
    torch.set_num_interop_threads(n)


def configure(dtype: str) -> None:
    """Precision and determinism, in one place. PyTorch keeps float32 matmuls in full FP32
    on NVIDIA GPUs unless told otherwise; we say so explicitly (TF32 off)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)


def device_unavailable(device: str) -> str | None:
    if device == "cpu":
        return None
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} sees no CUDA GPU (CPU build or no driver)"
    return None


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def reset_gpu_peak() -> bool:
    """The CUDA caching allocator keeps a high-water mark that can be reset."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    return True


def gpu_peak_bytes() -> int | None:
    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def _device(device: str) -> torch.device:
    return torch.device("cuda" if device == "gpu" else "cpu")


def build_model(problem: Problem, device: str) -> torch.nn.Sequential:
    """Linear layers with the hidden activations between them; the model returns logits."""
    spec = problem.spec
    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(spec.sizes, spec.sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(spec.sizes) - 2:
            layers.append(Activation(spec.hidden_activation))
    model = torch.nn.Sequential(*layers).to(device=_device(device), dtype=getattr(torch, spec.dtype))
    set_weights(model, problem.weights)
    return model


def set_weights(model: torch.nn.Sequential, weights: tuple[np.ndarray, ...]) -> torch.nn.Sequential:
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, w in zip(linears, weights):
            layer.weight.copy_(torch.from_numpy(w[1:].T.copy()))
            layer.bias.copy_(torch.from_numpy(w[0].copy()))
    return model


def forward(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    """The output layer's logits: the model ends with a Linear layer (its layers come from the spec)."""
    return model(x)


def predict(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    return ACTIVATIONS[spec.output_activation](forward(model, spec, x))


def loss(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return loss_of_logits(spec, forward(model, spec, x), t)


def loss_of_logits(spec: ModelSpec, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The spec's loss from the logits z, with PyTorch's own fused losses where it has them."""
    if spec.loss == "binary_crossentropy":
        return F.binary_cross_entropy_with_logits(z, t)
    if spec.loss == "softmax_crossentropy":
        return F.cross_entropy(z, t)  # t holds class probabilities (one-hot)
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return 0.5 * ((t - y) ** 2).sum(dim=-1).mean()
    return F.mse_loss(y, t)


def gradients(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autograd, one tensor per parameter in `model.parameters()` order (`loss.backward()`
    would leave the same numbers in each parameter's .grad)."""
    return torch.autograd.grad(loss(model, spec, x, t), tuple(model.parameters()))


def train_step(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor, lr: float) -> torch.nn.Sequential:
    """In place, p ← p − lr·g: plain SGD, as `torch.optim.SGD` without momentum (an optimizer
    object would hold the learning rate; here it is the contract's argument)."""
    grads = gradients(model, spec, x, t)
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p.sub_(lr * g)
    return model


def pure_loss(model: torch.nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """`loss` as a pure function of the parameters (`torch.func.functional_call`): what
    `torch.func.grad` differentiates and `torch.compile` captures whole."""
    return loss_of_logits(spec, torch.func.functional_call(model, params, (x,)), t)


def pure_step(model: torch.nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor, lr: float) -> dict:
    """`train_step` without side effects: new parameters from `torch.func.grad`."""
    grads = torch.func.grad(lambda p: pure_loss(model, spec, p, x, t))(params)
    return {name: p - lr * grads[name] for name, p in params.items()}


def train(model: torch.nn.Sequential, problem: Problem, data: tuple[torch.Tensor, ...],
          program: Compiled | None) -> tuple[torch.nn.Sequential, torch.Tensor]:
    """Run the schedule. `program` (compiled mode) is a `Compiled`: the whole schedule
    (`training_loop`), or after a refusal the compiled `pure_step` called once per step;
    None runs `train_step` from a Python loop."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    if program is not None and program.whole:
        *params, history = program(*(p.detach() for p in model.parameters()))
        with torch.no_grad():
            for p, new in zip(model.parameters(), params):
                p.copy_(new)
        return model, history
    with torch.no_grad():
        history = [loss(model, spec, x_all, t_all)]
    if program is None:
        step = 0
        for chunk in schedule.chunks():
            for rows in indices[step:step + chunk]:
                model = train_step(model, spec, x_all[rows], t_all[rows], schedule.lr)
            step += chunk
            with torch.no_grad():
                history.append(loss(model, spec, x_all, t_all))
        return model, torch.stack(history)
    params = {name: p.detach() for name, p in model.named_parameters()}
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            params = program(model, spec, params, x_all[rows], t_all[rows], schedule.lr)
        step += chunk
        history.append(pure_loss(model, spec, params, x_all, t_all).detach())
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name])
    return model, torch.stack(history)


def training_loop(model: torch.nn.Sequential, problem: Problem, data: tuple[torch.Tensor, ...]):
    """The whole schedule as one compiled program. `while_loop` carries the step counter and the
    parameters; the counter picks its step's rows with `index_select` (indexing a tensor with
    the counter, `indices[s]`, is data-dependent and refused); the recorded losses go into a
    preallocated history with `torch.where` (no in-place writes inside the loop)."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    names = [name for name, _ in model.named_parameters()]
    every = schedule.record_every
    n_full, rest = divmod(schedule.steps, every)
    n_records = n_full + 1 + (rest > 0)

    def training_loss(params):
        return pure_loss(model, spec, dict(zip(names, params)), x_all, t_all)

    def run_steps(first, count, params):
        def more(s, *_):
            return s < first + count

        def one_step(s, *params):
            rows = indices.index_select(0, s.reshape(1))[0]
            new = pure_step(model, spec, dict(zip(names, params)), x_all.index_select(0, rows), t_all.index_select(0, rows),
                            schedule.lr)
            return (s + 1, *(new[n] for n in names))

        return while_loop(more, one_step, (first.clone(), *params))[1:]  # a copy: `more` reads `first` too

    def loop(*params):
        counter = torch.zeros((), dtype=torch.int64, device=x_all.device)
        marks = torch.arange(n_records, device=x_all.device)
        history = torch.where(marks == 0, training_loss(params), torch.zeros(n_records, dtype=x_all.dtype, device=x_all.device))

        def more(c, *_):
            return c < n_full

        def stretch(c, *carry):
            params = run_steps(c * every, every, carry[:-1])
            return (c + 1, *params, torch.where(marks == c + 1, training_loss(params), carry[-1]))

        *params, history = while_loop(more, stretch, (counter, *params, history))[1:]
        if rest:
            params = run_steps(counter + n_full * every, rest, params)
            history = torch.where(marks == n_records - 1, training_loss(params), history)
        return (*params, history)

    # Inductor's C++ wrapper runs the loops' iterations without Python (3.6 against 12.3 µs/step
    # on XOR, README); on CUDA it failed to compile on the one GPU machine tried (torch 2.11,
    # CppCompileError), so there the Python wrapper.
    return torch.compile(loop, fullgraph=True, dynamic=False, options={"cpp_wrapper": x_all.device.type == "cpu"})


def weights_of(model: torch.nn.Sequential) -> list[np.ndarray]:
    """Back to the seed's layout: [bias; weight.T]."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    return [np.vstack([m.bias.detach().cpu().numpy()[None, :], m.weight.detach().cpu().numpy().T]) for m in linears]


@functools.cache
def probe_machine() -> None:
    """Inductor's one-time checks of this machine, made before the first call is timed: which
    vector instruction sets g++ can build and load (six small C++ builds, ~11 s of a cold first
    call on the 2-core machine, README). Inductor keeps their results in its cache folder, so a
    run's empty folder (CACHE_ENV) would have every run pay them again; they are checked against
    Inductor's default folder instead, where they stay between processes as on any machine that
    has compiled once, and where Inductor keeps its precompiled headers whatever the variable
    says. Nothing of the program itself is compiled here: its first call stays cold. CPU only
    (on a GPU Inductor writes Triton, not C++). A probe that fails (no g++) is left to the
    compile, which meets the same problem on the first call and reports or falls back as before."""
    run_folder = os.environ.get("TORCHINDUCTOR_CACHE_DIR")  # before the imports, which set it (Inductor writes the folder it uses)
    from torch._inductor.cpu_vec_isa import valid_vec_isa_list  # cached for the process
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = default_cache_dir()
    try:
        valid_vec_isa_list()
    except Exception:  # left to the first call, which reports it (see the docstring)
        pass
    finally:
        if run_folder is None:
            del os.environ["TORCHINDUCTOR_CACHE_DIR"]
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = run_folder


class Compiled:
    """Compiled mode's program: the whole schedule, or (after a refusal) the step alone."""

    def __init__(self, model: torch.nn.Sequential, problem: Problem, data: tuple[torch.Tensor, ...]):
        if data[0].device.type == "cpu":
            probe_machine()
        # Dynamo caches compiled variants per function and gives up after 8; each problem
        # starts from an empty cache and a program specialised to its fixed shapes.
        torch._dynamo.reset()
        self.program, self.whole, self.note = training_loop(model, problem, data), True, None
        self.succeeded = False  # after one good call, an error is an error: no quiet change of program

    def __call__(self, *args):
        return self.program(*args)

    def fall_back(self, why: Exception) -> None:
        """Compile the step alone and call it from Python once per step, saying why (the root
        cause: Dynamo wraps it in exceptions of its own)."""
        while why.__cause__ is not None:
            why = why.__cause__
        torch._dynamo.reset()
        self.program, self.whole = torch.compile(pure_step, fullgraph=True, dynamic=False), False
        text = str(why).strip().splitlines()
        self.note = (f"whole-schedule compile refused ({why.__class__.__name__}: {text[0] if text else ''}); "
                     "ran one compiled step per Python call")


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    dev, dtype = _device(device), getattr(torch, problem.spec.dtype)
    data = (torch.as_tensor(problem.x_train, dtype=dtype, device=dev),
            torch.as_tensor(problem.t_train, dtype=dtype, device=dev),
            torch.as_tensor(problem.schedule.indices, device=dev))
    x_eval = torch.as_tensor(problem.x_eval, dtype=dtype, device=dev)
    compiled = Compiled(model, problem, data) if mode == "compiled" else None

    def run() -> TrainOutput:
        try:
            trained, history = train(set_weights(model, problem.weights), problem, data, compiled)
        except Exception as why:  # only the first call compiles: a refusal shows there
            if compiled is None or not compiled.whole or compiled.succeeded:
                raise
            compiled.fall_back(why)
            trained, history = train(set_weights(model, problem.weights), problem, data, compiled)
        if compiled is not None:
            compiled.succeeded = True
        with torch.no_grad():
            predictions = predict(trained, problem.spec, x_eval)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dtype = str(predictions.dtype).removeprefix("torch.")
        info = {"note": compiled.note} if compiled is not None and compiled.note else {}
        return TrainOutput(weights_of(trained), predictions.cpu().numpy(), history.cpu().numpy(), dtype, info)

    return run
