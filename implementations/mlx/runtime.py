"""MLX, for the harness: its name and install line, threads (it has no setting), the GPU and its
memory."""

from __future__ import annotations

import mlx.core as mx

NAME = "mlx"
TITLE = "MLX"
POSITION = 5
REQUIRES = "mlx"
INSTALL = 'pip install "mlx[cpu]==0.32.4"'
MODES = ("eager", "compiled")


def versions() -> dict[str, str]:
    return {"mlx": mx.__version__, "mlx_device": str(mx.default_device()), **_threads}


_threads: dict[str, str] = {}


def set_threads(n: int) -> None:
    """MLX (0.32) has no thread setting of its own: the report says so rather than claim n."""
    _threads["mlx_threads"] = f"MLX default ({n} asked: MLX has no thread setting)"


def device_unavailable(device: str) -> str | None:
    if device == "cpu" or mx.is_available(mx.gpu):
        return None
    return (f"MLX {mx.__version__} sees no GPU: this build (mlx[cpu] on Linux) runs on the CPU only; MLX's GPU is "
            "Apple silicon's Metal (or, on Linux, the CUDA build mlx[cuda12]/[cuda13])")


def gpu_name() -> str | None:
    name = mx.device_info(mx.gpu).get("device_name") if mx.is_available(mx.gpu) else None
    return str(name) if name else None


def reset_gpu_peak() -> bool:
    """MLX's allocator keeps one peak for what it holds (on Apple silicon, in memory the CPU shares)."""
    mx.reset_peak_memory()
    return True


def gpu_peak_bytes() -> int | None:
    return int(mx.get_peak_memory()) if mx.is_available(mx.gpu) else None


def probe_machine(device: str) -> None:
    """Nothing to probe: `mx.compile` traces and fuses in process."""
