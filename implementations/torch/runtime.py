"""PyTorch, for the harness: its name and install line, threads, the CUDA device and its memory,
Inductor's caches and its one-time machine probes."""

from __future__ import annotations

import functools
import os

import torch

NAME = "torch"
TITLE = "PyTorch"
POSITION = 1  # loaded before TensorFlow and Keras when one process loads several (shared/harness/registry.py)
REQUIRES = "torch"
INSTALL = "pip install torch==2.13.0"
MODES = ("eager", "compiled")
# Inductor's and Triton's on-disk compilation caches, kept between processes: the harness points
# each run at empty folders of these names, so that a first call is cold.
CACHE_ENV = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}
# Deterministic cuBLAS (the lesson's `torch.use_deterministic_algorithms`) needs a fixed workspace,
# read when cuBLAS starts: set in every process that runs the lesson (a worker, a host or a launched
# process: registry.import_environment; a process that loads it itself: registry.load).
IMPORT_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads()),
            "torch_interop_threads": str(torch.get_num_interop_threads())}


def set_threads(n: int) -> None:
    """Intra-op (its OpenMP pool) and inter-op threads; inter-op only before any parallel work."""
    torch.set_num_threads(n)
    torch.set_num_interop_threads(n)


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


def probe_machine(device: str) -> None:
    """Inductor's one-time checks of this machine, made before a compiled run's first call is
    timed: which vector instruction sets g++ can build and load (six small C++ builds, ~11 s of a
    cold first call on the 2-core machine, docs/findings.md). Inductor keeps their results in its
    cache folder, so a run's empty folder (CACHE_ENV) would have every run pay them again; they
    are checked against Inductor's default folder instead, where they stay between processes as
    on any machine that has compiled once, and where Inductor keeps its precompiled headers
    whatever the variable says. Nothing of the program itself is compiled here: its first call
    stays cold. CPU only (on a GPU Inductor writes Triton, not C++). A probe that fails (no g++)
    is left to the compile, which meets the same problem on the first call and reports or falls
    back as before."""
    if device == "cpu":
        _probe_cpu()


@functools.cache
def _probe_cpu() -> None:
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
