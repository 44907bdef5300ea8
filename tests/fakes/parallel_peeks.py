"""A data-parallel engine (MLX's, one process per worker) that refuses to be imported where
scikit-learn can be found: each host and each worker process it starts must import it with what
its job hides hidden, as a worker of its library is (scikit-learn is one of the harness's own)."""

import importlib.util

if importlib.util.find_spec("sklearn") is not None:
    raise ImportError("test engine: scikit-learn could be found while the engine was imported")

from implementations.mlx.parallel import *  # noqa: F403 (the real engine)
