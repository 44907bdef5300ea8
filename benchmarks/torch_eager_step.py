"""What PyTorch's idiomatic eager step costs on a tiny network: `python benchmarks/torch_eager_step.py`.

The lesson's step (implementations/torch/lesson.py) is PyTorch's own: `optimizer.zero_grad()`,
`loss.backward()`, `optimizer.step()` with `torch.optim.SGD`. Before, the project wrote plain SGD
out: `torch.autograd.grad`, then `p.sub_(lr * g)` under `no_grad`. Both compute the same update
(the weights they end on are compared here); this prints µs per step of each, and of the middle
way (`loss.backward()` with the update written out), on XOR's 2-2-1 network and digits'
64-32-10, median of alternating repeats in one process. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = ("torch.optim.SGD + backward", "backward + written-out update", "autograd.grad + written-out update")


def steps_of(variant: str, model, lesson, spec, lr: float):
    """One training step of `variant` on `model`, as a function of a batch."""
    import torch

    if variant == VARIANTS[0]:
        optimizer = lesson.make_optimizer(model, lr)
        return lambda x, t: lesson.train_step(model, optimizer, spec, x, t)

    def backward(x, t):
        for p in model.parameters():
            p.grad = None
        lesson.loss(model, spec, x, t).backward()
        with torch.no_grad():
            for p in model.parameters():
                p.sub_(lr * p.grad)

    def autograd(x, t):
        grads = torch.autograd.grad(lesson.loss(model, spec, x, t), tuple(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p.sub_(lr * g)

    return backward if variant == VARIANTS[1] else autograd


def measure(task: str, steps: int, repeats: int) -> dict[str, tuple[float, list]]:
    from implementations.torch import lesson
    from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset

    t = TASKS[task]
    data = load_dataset(t)
    problem = build_problem(t, data, default_sizes(t, data), steps=steps)
    lesson.configure(problem.spec.dtype)
    x, y, indices = lesson.load_data(problem, "cpu")
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    weights: dict[str, list] = {}
    for _ in range(repeats):
        for variant in VARIANTS:  # alternating, so that a slow moment of the machine costs every variant alike
            model = lesson.build_model(problem, "cpu")
            step = steps_of(variant, model, lesson, problem.spec, problem.schedule.lr)
            start = time.perf_counter()
            for rows in indices:
                step(x[rows], y[rows])
            times[variant].append((time.perf_counter() - start) / steps * 1e6)
            weights[variant] = lesson.weights_of(model)
    return {v: (statistics.median(times[v]), weights[v]) for v in VARIANTS}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import numpy as np
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, µs per step (median of {args.repeats})")
    same = True
    for task in ("xor", "digits"):
        found = measure(task, args.steps, args.repeats)
        reference = found[VARIANTS[0]][1]
        for variant, (us, weights) in found.items():
            equal = max(float(np.max(np.abs(a - b))) for a, b in zip(weights, reference))
            same &= equal < 1e-12
            print(f"  {task:<7} {variant:<36} {us:8.1f}   weights within {equal:.1e} of torch.optim's")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
