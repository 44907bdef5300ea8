"""What Inductor makes of PyTorch's whole-schedule loop on the CPU, and what its options change.

For each task and dtype, in a fresh process per variant (Inductor's config is process-wide):
µs/step of implementations/torch/lesson.py's compiled loop as it ships ("default"), with
max-autotune allowed to pick Inductor's C++ GEMM template ("max_autotune"), with freezing
("freezing"), and with Inductor's Python wrapper instead of its C++ one ("python_wrapper");
each run checked against the NumPy reference by the shared judge. From the generated code of the
default: the extern matrix-product calls (ATen's addmm/mm, through the AOTI shim) and the
generated kernels in one training step. Then the loop's floor: µs per iteration of a compiled
`while_loop` that only counts and carries a tensor, then with one small matrix product, then with
one generated kernel more, so that a step's cost can be read as floor + calls × their price.

    .venv/bin/python benchmarks/inductor_loop.py [--tasks sine,digits] [--dtypes float64,float32]
        [--variants default,max_autotune,...] [--variants-for sine,digits] [--threads N] [--json FILE]

Every variant is tried on the --variants-for tasks; the others run the default only. A benchmark,
not a test: it prints figures (README, "What Inductor generates"). Run nothing else on the machine
meanwhile (on two cores another busy process slowed PyTorch's compiled sine several-fold, issue 22).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("default", "max_autotune", "freezing", "python_wrapper")
REPEATS = 5
FLOOR_STEPS = 20_000


def configure_inductor(variant: str) -> None:
    """The one process-wide switch a variant turns (the shipped file's own options stay as they are)."""
    import torch
    import torch._inductor.config as inductor

    if variant == "max_autotune":  # the C++ GEMM template may replace ATen's mm where it applies
        inductor.max_autotune = True
        inductor.max_autotune_gemm_backends = "CPP,ATEN"
    elif variant == "freezing":
        inductor.freezing = True
    elif variant == "python_wrapper":
        real = torch.compile

        def with_python_wrapper(fn, **kwargs):
            return real(fn, **{**kwargs, "options": {**kwargs.get("options", {}), "cpp_wrapper": False}})

        torch.compile = with_python_wrapper


def step_calls(code: str) -> dict | None:
    """Extern matrix products, generated kernels and allocations per training step, read from the
    C++ wrapper: the lines of the inner loop (a step, and its condition), whose buffers the wrapper
    names after both loops. None for a Python wrapper."""
    inner = re.compile(r"while_loop_body_graph_0_while_loop_(?:body|cond)_graph_0_")
    lines = [line for line in code.splitlines() if inner.search(line)]
    if "aoti_torch_" not in code or not lines:
        return None
    count = lambda pattern: sum(bool(re.search(pattern, line)) for line in lines)
    return {"extern_mm": count(r"aoti_torch_cpu_(?:add)?mm_out\("), "kernels": count(r"\bcpp_fused_\w+\("),
            "allocations": count(r"aoti_torch_empty_strided\(")}


def one(task: str, dtype: str, variant: str, threads: int | None) -> dict:
    """In a child process: prepare, check and time one (task, dtype, variant)."""
    configure_inductor(variant)
    import torch
    from torch._inductor.utils import run_and_get_code

    from implementations import numpy as numpy_library
    from implementations import torch as torch_library
    from shared.contract.parity import compare, in_parity
    from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset

    if threads:
        torch_library.set_threads(threads)
    t = TASKS[task]
    data = load_dataset(t)
    problem = build_problem(t, data, default_sizes(t, data), dtype=dtype)
    ref = numpy_library.prepare(problem, "eager", "cpu")()
    start = time.perf_counter()
    run = torch_library.prepare(problem, "compiled", "cpu")
    out, codes = run_and_get_code(run)
    first_s = time.perf_counter() - start
    per_step = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = run()
        per_step.append((time.perf_counter() - start) / problem.schedule.steps * 1e6)
    diff = compare(out, ref, dtype)
    code = "\n".join(codes)
    return {"task": task, "dtype": dtype, "variant": variant, "threads": torch.get_num_threads(),
            "first_call_s": first_s, "us_per_step": statistics.median(per_step), "parity_ok": in_parity(diff, dtype),
            "scaled_diff": diff["scaled"], "note": out.info.get("note"),
            "cpp_gemm_template": "micro_gemm" in code, "per_step": step_calls(code)}


def floor(threads: int | None) -> dict:
    """µs per iteration of a compiled while_loop that counts and carries a 20×16 tensor (`sine`'s
    hidden layer): as a copy, as one (20×16)·(16×16) matmul (an extern ATen call), and as that
    matmul with one generated kernel after it."""
    import torch
    from torch._higher_order_ops.while_loop import while_loop

    if threads:
        torch.set_num_threads(threads)
    x, w = torch.randn(20, 16, dtype=torch.float64), torch.randn(16, 16, dtype=torch.float64) * 0.1

    def build(body):
        def loop(s, h):
            return while_loop(lambda s, h: s < FLOOR_STEPS, lambda s, h: (s + 1, body(h)), (s, h))
        torch._dynamo.reset()
        return torch.compile(loop, fullgraph=True, dynamic=False, options={"cpp_wrapper": True})

    # Each body's step returns a new tensor: a copy kernel, an ATen matmul, the matmul and one
    # generated kernel after it (an extern call's output is not fused into).
    bodies = {"count and carry": lambda h: h.clone(), "one matmul": lambda h: h @ w,
              "one matmul + one kernel": lambda h: (h @ w) * 0.5}
    result = {}
    for name, body in bodies.items():
        program = build(body)
        program(torch.zeros((), dtype=torch.int64), x)
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            program(torch.zeros((), dtype=torch.int64), x)
            times.append((time.perf_counter() - start) / FLOOR_STEPS * 1e6)
        result[name] = statistics.median(times)
    return result


def child(argv: list[str]) -> dict:
    args = json.loads(argv[0])
    return floor(args["threads"]) if args["what"] == "floor" else one(args["task"], args["dtype"], args["variant"],
                                                                        args["threads"])


def in_fresh_process(request: dict) -> dict:
    """A child process with an empty Inductor cache of its own: every first call is cold, as in compare."""
    with tempfile.TemporaryDirectory(prefix="inductor-loop-") as cache:
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(request)], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
    if done.returncode != 0:
        return {**request, "failed": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2:])))
        return 0
    from shared.harness.environment import command_started

    command_started()  # the report's stamp: when, and how busy the machine was then
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="xor,linear,logistic,softmax,digits,sine")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="tried on --variants-for; the others run the default")
    parser.add_argument("--variants-for", default="sine,digits", help="the tasks every variant is tried on")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    header = f"{'task':<9} {'dtype':<8} {'variant':<15} {'µs/step':>8} {'first s':>8} {'parity':>7} {'mm':>3} {'kern':>4} {'alloc':>5}"
    print(header)
    for task in args.tasks.split(","):
        for dtype in args.dtypes.split(","):
            variants = args.variants.split(",") if task in args.variants_for.split(",") else ["default"]
            for variant in variants:
                row = in_fresh_process({"what": "one", "task": task, "dtype": dtype, "variant": variant,
                                        "threads": args.threads})
                rows.append(row)
                if "failed" in row:
                    print(f"{task:<9} {dtype:<8} {variant:<15} failed: {row['failed']}")
                    continue
                if row["per_step"] is None and variant != "python_wrapper":
                    row["unread"] = True  # Inductor's C++ wrapper changed shape: say so rather than print dashes
                    print(f"{task:<9} {dtype:<8} {variant:<15} could not read the step's calls from the generated code")
                calls = row["per_step"] or {}
                counts = " ".join(f"{calls.get(k, '–'):>{w}}" for k, w in (("extern_mm", 3), ("kernels", 4), ("allocations", 5)))
                print(f"{task:<9} {dtype:<8} {variant:<15} {row['us_per_step']:>8.2f} {row['first_call_s']:>8.1f} "
                      f"{'ok' if row['parity_ok'] else 'BROKEN':>7} {counts}"
                      + ("  C++ GEMM template" if row["cpp_gemm_template"] else "")
                      + (f"  {row['note']}" if row["note"] else ""), flush=True)
    floors = in_fresh_process({"what": "floor", "threads": args.threads})
    if "failed" in floors:
        print(f"compiled while_loop floor: failed: {floors['failed']}")
    else:
        print("compiled while_loop, µs per iteration:")
        for body, us in floors.items():  # a line each: the output fits an 80-column terminal
            print(f"  {body:<25} {us:6.2f}")
    if args.json:
        import numpy
        import torch

        from shared.harness.environment import describe, stamp

        environment = describe({"torch": torch.__version__, "numpy": numpy.__version__,
                                "torch_threads": str(rows[0].get("threads"))})
        Path(args.json).write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "stamp": stamp(),
                                               "environment": environment,
                                               "threads": args.threads, "rows": rows, "floor_us": floors}, indent=1) + "\n")
    return 0 if all(r.get("parity_ok") and not r.get("unread") for r in rows) and "failed" not in floors else 1


if __name__ == "__main__":
    sys.exit(main())
