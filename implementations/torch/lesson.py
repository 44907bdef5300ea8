"""PyTorch: an `nn.Sequential` of `nn.Linear` layers, trained by `torch.optim.SGD`.

Eager mode is PyTorch's own training loop: per step `optimizer.zero_grad()`,
`loss.backward()`, `optimizer.step()`, from Python. Compiled mode puts the whole schedule in
one program: `torch.compile(fullgraph=True)` of a `torch.while_loop` (a prototype in torch 2.13)
over the stretches between recorded losses, each a `while_loop` over its steps. Inside the loop a step must be a pure
function of the parameters, since `while_loop` carries them as values: `torch.func`'s
`functional_call` and `grad`, with the SGD update written out (`optimizer.step()` and
`loss.backward()` mutate tensors, which the loop's body cannot; outside a loop `torch.compile`
splits the graph at `backward()` and runs no faster than eager). Inductor compiles it, with its
C++ wrapper on the CPU. Where that is refused, it falls back to compiling the step alone and
calling it from Python, and says so.
Surprises for readers of the seed:
- `nn.Linear` stores its weight as (fan_out, fan_in) and the bias apart, so the seed's W maps to
  weight = W[1:].T and bias = W[0]; `model.parameters()` yields weight, bias, weight, bias...
- On NVIDIA GPUs PyTorch's float32 matmuls are full precision by default, but one call anywhere
  in the process (`torch.set_float32_matmul_precision`) switches them to TF32: `configure` pins
  them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own convention)
from torch import nn

from shared.contract.interface import ModelSpec, Problem, Runner, TrainOutput

# The hidden activations, as layers of the model (the output activation is applied to its logits).
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "identity": nn.Identity,
}


def configure(dtype: str) -> None:
    """Full-precision float32 on NVIDIA GPUs (no TF32), and deterministic kernels (on CUDA these
    need the environment variable CUBLAS_WORKSPACE_CONFIG, which the harness sets from the
    runtime's IMPORT_ENV)."""
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.use_deterministic_algorithms(True)


def _device(device: str) -> torch.device:
    return torch.device("cuda" if device == "gpu" else "cpu")


def build_model(problem: Problem, device: str) -> nn.Sequential:
    """Linear layers with the hidden activation between them; the model returns logits."""
    spec = problem.spec
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(spec.sizes, spec.sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(spec.sizes) - 2:
            layers.append(ACTIVATIONS[spec.hidden_activation]())
    model = nn.Sequential(*layers).to(device=_device(device), dtype=getattr(torch, spec.dtype))
    return set_weights(model, problem.weights)


def set_weights(model: nn.Sequential, weights: tuple[np.ndarray, ...]) -> nn.Sequential:
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, w in zip(linears, weights):
            layer.weight.copy_(torch.from_numpy(w[1:].T.copy()))
            layer.bias.copy_(torch.from_numpy(w[0].copy()))
    return model


def load_data(problem: Problem, device: str) -> tuple[torch.Tensor, ...]:
    """Tensors on the device (the problem's arrays already have its dtype)."""
    dev = _device(device)
    return (torch.as_tensor(problem.x_train, device=dev), torch.as_tensor(problem.t_train, device=dev),
            torch.as_tensor(problem.schedule.indices, device=dev))


def forward(model: nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    """The output layer's logits: the model ends with a Linear layer."""
    return model(x)


def layer_outputs(model: nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """The model's modules one at a time: each Linear gives z, the activation after it a."""
    found = []
    with torch.no_grad():
        for module in model:
            x = module(x)
            if isinstance(module, nn.Linear):
                found.append([x.cpu().numpy(), None])
            else:
                found[-1][1] = x.cpu().numpy()
        found[-1][1] = _output_activation(spec, x).cpu().numpy()
    return [(z, a) for z, a in found]


def _output_activation(spec: ModelSpec, z: torch.Tensor) -> torch.Tensor:
    """The output layer's activation of the logits, as a function (no module needed)."""
    if spec.output_activation == "tanh":
        return torch.tanh(z)
    if spec.output_activation == "sigmoid":
        return torch.sigmoid(z)
    if spec.output_activation == "softmax":
        return torch.softmax(z, dim=-1)
    return z  # identity


def predict(model: nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    return _output_activation(spec, forward(model, spec, x))


def loss(model: nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _loss_of_logits(spec, forward(model, spec, x), t)


def _loss_of_logits(spec: ModelSpec, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The spec's loss from the logits z, with PyTorch's own fused losses where it has them."""
    if spec.loss == "binary_crossentropy":
        return F.binary_cross_entropy_with_logits(z, t)
    if spec.loss == "softmax_crossentropy":
        return F.cross_entropy(z, t)  # t holds class probabilities (one-hot)
    y = _output_activation(spec, z)
    if spec.loss == "half_sse":
        return 0.5 * ((t - y) ** 2).sum(dim=-1).mean()
    return F.mse_loss(y, t)


def gradients(model: nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor) -> list[torch.Tensor]:
    """`loss.backward()` leaves each parameter's gradient in its `.grad`."""
    model.zero_grad()
    loss(model, spec, x, t).backward()
    return [p.grad for p in model.parameters()]


def in_seed_layout(parameters: list[torch.Tensor]) -> list[np.ndarray]:
    """(weight, bias) pairs in `model.parameters()` order → [bias; weight.T] per layer."""
    arrays = [p.detach().cpu().numpy() for p in parameters]
    return [np.vstack([bias[None, :], weight.T]) for weight, bias in zip(arrays[::2], arrays[1::2])]


def make_optimizer(model: nn.Sequential, lr: float) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr)


def train_step(model: nn.Sequential, optimizer: torch.optim.SGD, spec: ModelSpec, x: torch.Tensor,
               t: torch.Tensor) -> tuple[nn.Sequential, torch.optim.SGD]:
    """PyTorch's step: clear the gradients, backpropagate, update in place."""
    optimizer.zero_grad()
    loss(model, spec, x, t).backward()
    optimizer.step()
    return model, optimizer


def train(model: nn.Sequential, optimizer: torch.optim.SGD, problem: Problem,
          data: tuple[torch.Tensor, ...]) -> tuple[nn.Sequential, torch.Tensor]:
    """The schedule from a Python loop of `train_step`s."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    with torch.no_grad():
        history = [loss(model, spec, x_all, t_all)]
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            model, optimizer = train_step(model, optimizer, spec, x_all[rows], t_all[rows])
        step += chunk
        with torch.no_grad():
            history.append(loss(model, spec, x_all, t_all))
    return model, torch.stack(history)


def compile_training(model: nn.Sequential, optimizer: torch.optim.SGD, problem: Problem,
                     data: tuple[torch.Tensor, ...]) -> Compiled:
    """The whole schedule as one compiled program (`_training_loop`), at the optimizer's learning
    rate, or after a refusal the compiled `_pure_step` called from Python (`Compiled.fall_back`)."""
    return Compiled(model, problem, data, optimizer.param_groups[0]["lr"])


def _pure_loss(model: nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """`loss` as a pure function of the parameters (`torch.func.functional_call`): what
    `torch.func.grad` differentiates and `torch.compile` captures whole."""
    return _loss_of_logits(spec, torch.func.functional_call(model, params, (x,)), t)


def _pure_step(model: nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor, lr: float) -> dict:
    """`train_step` without side effects: new parameters, p − lr·g, from `torch.func.grad` (what
    `torch.optim.SGD` computes in place)."""
    grads = torch.func.grad(lambda p: _pure_loss(model, spec, p, x, t))(params)
    return {name: p - lr * grads[name] for name, p in params.items()}


def _training_loop(model: nn.Sequential, problem: Problem, data: tuple[torch.Tensor, ...], lr: float):
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
        return _pure_loss(model, spec, dict(zip(names, params)), x_all, t_all)

    def run_steps(first, count, params):
        def more(s, *_):
            return s < first + count

        def one_step(s, *params):
            rows = indices.index_select(0, s.reshape(1))[0]
            new = _pure_step(model, spec, dict(zip(names, params)), x_all.index_select(0, rows),
                             t_all.index_select(0, rows), lr)
            return (s + 1, *(new[n] for n in names))

        return torch.while_loop(more, one_step, (first.clone(), *params))[1:]  # a copy: `more` reads `first` too

    def loop(*params):
        counter = torch.zeros((), dtype=torch.int64, device=x_all.device)
        marks = torch.arange(n_records, device=x_all.device)
        history = torch.where(marks == 0, training_loss(params), torch.zeros(n_records, dtype=x_all.dtype, device=x_all.device))

        def more(c, *_):
            return c < n_full

        def stretch(c, *carry):
            params = run_steps(c * every, every, carry[:-1])
            return (c + 1, *params, torch.where(marks == c + 1, training_loss(params), carry[-1]))

        *params, history = torch.while_loop(more, stretch, (counter, *params, history))[1:]
        if rest:
            params = run_steps(counter + n_full * every, rest, params)
            history = torch.where(marks == n_records - 1, training_loss(params), history)
        return (*params, history)

    # Inductor's C++ wrapper runs the loops' iterations without Python (12.5 against 45.5 µs/step
    # on sine in float64, docs/findings.md); on CUDA it failed to compile on the one GPU machine
    # tried (torch 2.11, CppCompileError; not tried since), so there the Python wrapper.
    return torch.compile(loop, fullgraph=True, dynamic=False, options={"cpp_wrapper": x_all.device.type == "cpu"})


class Compiled:
    """Compiled mode's program: the whole schedule, or (after a refusal) the step alone.
    `program(model, optimizer)` trains the model it was compiled for, at the learning rate it was
    compiled with, and returns (model, history) as `train` does."""

    def __init__(self, model: nn.Sequential, problem: Problem, data: tuple[torch.Tensor, ...], lr: float):
        self.problem, self.data, self.lr = problem, data, lr
        # Dynamo caches compiled variants per function and gives up after 8; each problem
        # starts from an empty cache and a program specialised to its fixed shapes.
        torch.compiler.reset()
        self.program, self.whole, self.note = _training_loop(model, problem, data, lr), True, None
        self.succeeded = False  # after one good call, an error is an error: no quiet change of program

    def __call__(self, model: nn.Sequential, optimizer: torch.optim.SGD) -> tuple[nn.Sequential, torch.Tensor]:
        start = None if self.succeeded else weights_of(model)  # for a fallback after a half-done first call
        try:
            trained = self._run(model, optimizer)
        except Exception as why:  # only the first call compiles: a refusal shows there
            if not self.whole or self.succeeded:
                raise
            self.fall_back(why)
            trained = self._run(set_weights(model, start), optimizer)
        self.succeeded = True
        return trained

    def _run(self, model: nn.Sequential, optimizer: torch.optim.SGD) -> tuple[nn.Sequential, torch.Tensor]:
        spec, schedule = self.problem.spec, self.problem.schedule
        x_all, t_all, indices = self.data
        if self.whole:
            *params, history = self.program(*(p.detach() for p in model.parameters()))
        else:
            lr = self.lr
            params = {name: p.detach() for name, p in model.named_parameters()}
            history, step = [_pure_loss(model, spec, params, x_all, t_all).detach()], 0
            for chunk in schedule.chunks():
                for rows in indices[step:step + chunk]:
                    params = self.program(model, spec, params, x_all[rows], t_all[rows], lr)
                step += chunk
                history.append(_pure_loss(model, spec, params, x_all, t_all).detach())
            params, history = list(params.values()), torch.stack(history)
        with torch.no_grad():
            for p, new in zip(model.parameters(), params):
                p.copy_(new)
        return model, history

    def fall_back(self, why: Exception) -> None:
        """Compile the step alone and call it from Python once per step, saying why (the root
        cause: Dynamo wraps it in exceptions of its own)."""
        while why.__cause__ is not None:
            why = why.__cause__
        torch.compiler.reset()
        self.program, self.whole = torch.compile(_pure_step, fullgraph=True, dynamic=False), False
        text = str(why).strip().splitlines()
        self.note = (f"whole-schedule compile refused ({why.__class__.__name__}: {text[0] if text else ''}); "
                     "ran one compiled step per Python call")


def weights_of(model: nn.Sequential) -> list[np.ndarray]:
    return in_seed_layout(list(model.parameters()))


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype)
    model = build_model(problem, device)
    optimizer = make_optimizer(model, problem.schedule.lr)
    data = load_data(problem, device)
    dev = data[0].device
    x_eval = torch.as_tensor(problem.x_eval, device=dev)
    program = compile_training(model, optimizer, problem, data) if mode == "compiled" else None

    def run() -> TrainOutput:
        model_0 = set_weights(model, problem.weights)
        trained, history = program(model_0, optimizer) if program else train(model_0, optimizer, problem, data)
        with torch.no_grad():
            predictions = predict(trained, problem.spec, x_eval)
        info = {"note": program.note} if program is not None and program.note else {}
        return TrainOutput(weights_of(trained), predictions.cpu().numpy(), history.detach().cpu().numpy(),
                           str(predictions.dtype).removeprefix("torch."), info)

    return run
