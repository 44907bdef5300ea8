"""PyTorch: `nn.Linear` layers, gradients from autograd.

Eager mode is PyTorch as most people write it: `loss.backward()` and `torch.optim.SGD`.
Compiled mode is `torch.compile(fullgraph=True)` of one pure SGD step built with `torch.func`
(`functional_call` + `grad`); `loss.backward()` inside `torch.compile` breaks the graph and
runs no faster than eager.
Surprise for readers of the seed: `nn.Linear` stores its weight as (fan_out, fan_in) and the
bias apart, so the seed's W maps to weight = W[1:].T and bias = W[0].
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own convention)

from shared.interface import ModelSpec, Problem, Runner, TrainOutput

NAME = "torch"
INSTALL = "pip install torch==2.13.0"
MODES = ("eager", "compiled")

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
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}


def configure(dtype: str, device: str) -> None:
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


def set_weights(model: torch.nn.Sequential, weights: tuple[np.ndarray, ...]) -> None:
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, w in zip(linears, weights):
            layer.weight.copy_(torch.from_numpy(w[1:].T.copy()))
            layer.bias.copy_(torch.from_numpy(w[0].copy()))


def forward(model: torch.nn.Sequential, x: torch.Tensor, params: dict | None = None) -> torch.Tensor:
    """Output-layer logits; given `params`, the same model as a pure function of them."""
    return model(x) if params is None else torch.func.functional_call(model, params, (x,))


def predict(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    return ACTIVATIONS[spec.output_activation](forward(model, x))


def loss(model: torch.nn.Sequential, spec: ModelSpec, x: torch.Tensor, t: torch.Tensor, params: dict | None = None) -> torch.Tensor:
    z = forward(model, x, params)
    if spec.loss == "binary_crossentropy":
        return F.binary_cross_entropy_with_logits(z, t)
    if spec.loss == "softmax_crossentropy":
        return F.cross_entropy(z, t)  # t holds class probabilities (one-hot)
    y = ACTIVATIONS[spec.output_activation](z)
    if spec.loss == "half_sse":
        return 0.5 * ((t - y) ** 2).sum(dim=-1).mean()
    return F.mse_loss(y, t)


def gradients(model: torch.nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor) -> dict:
    """d loss / d params as a pure function of the parameters (torch.func.grad)."""
    return torch.func.grad(lambda p: loss(model, spec, x, t, p))(params)


def train_step(model: torch.nn.Sequential, spec: ModelSpec, params: dict, x: torch.Tensor, t: torch.Tensor, lr: float) -> dict:
    """One SGD step without side effects: the form that torch.compile captures whole."""
    grads = gradients(model, spec, params, x, t)
    return {name: p - lr * grads[name] for name, p in params.items()}


def train(model: torch.nn.Sequential, problem: Problem, mode: str, data: tuple[torch.Tensor, ...], step_fn=train_step) -> torch.Tensor:
    """Run the schedule; return the training-set loss at the recorded steps. Compiled mode
    passes `step_fn`, the compiled `train_step`."""
    spec, schedule = problem.spec, problem.schedule
    x_all, t_all, indices = data
    history = []
    with torch.no_grad():
        history.append(loss(model, spec, x_all, t_all))
    if mode == "eager":
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.lr)
        step = 0
        for chunk in schedule.chunks():
            for rows in indices[step:step + chunk]:
                optimizer.zero_grad()
                loss(model, spec, x_all[rows], t_all[rows]).backward()
                optimizer.step()
            step += chunk
            with torch.no_grad():
                history.append(loss(model, spec, x_all, t_all))
        return torch.stack(history)
    params = {name: p.detach() for name, p in model.named_parameters()}
    step = 0
    for chunk in schedule.chunks():
        for rows in indices[step:step + chunk]:
            params = step_fn(model, spec, params, x_all[rows], t_all[rows], schedule.lr)
        step += chunk
        history.append(loss(model, spec, x_all, t_all, params).detach())
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name])
    return torch.stack(history)


def weights_of(model: torch.nn.Sequential) -> list[np.ndarray]:
    """Back to the seed's layout: [bias; weight.T]."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    return [np.vstack([m.bias.detach().cpu().numpy()[None, :], m.weight.detach().cpu().numpy().T]) for m in linears]


def prepare(problem: Problem, mode: str, device: str) -> Runner:
    configure(problem.spec.dtype, device)
    model = build_model(problem, device)
    dev, dtype = _device(device), getattr(torch, problem.spec.dtype)
    data = (torch.as_tensor(problem.x_train, dtype=dtype, device=dev),
            torch.as_tensor(problem.t_train, dtype=dtype, device=dev),
            torch.as_tensor(problem.schedule.indices, device=dev))
    x_eval = torch.as_tensor(problem.x_eval, dtype=dtype, device=dev)
    step_fn = train_step
    if mode == "compiled":
        # Dynamo caches compiled variants per function and gives up after 8; each problem
        # starts from an empty cache and a step specialised to its fixed shapes.
        torch._dynamo.reset()
        step_fn = torch.compile(train_step, fullgraph=True, dynamic=False)

    def run() -> TrainOutput:
        set_weights(model, problem.weights)
        history = train(model, problem, mode, data, step_fn)
        with torch.no_grad():
            predictions = predict(model, problem.spec, x_eval)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dtype = str(predictions.dtype).removeprefix("torch.")
        return TrainOutput(weights_of(model), predictions.cpu().numpy(), history.cpu().numpy(), dtype)

    return run
