"""Shared test setup: libraries loaded once, in the registry's order (PyTorch before
TensorFlow), and small problems built from the shared contract."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import shared_runs

from shared.commands import cli
from shared.contract.parity import dtype_problem
from shared.contract.tasks import TASKS, build_problem, default_sizes, load_dataset
from shared.contract.tolerances import scaled_diff
from shared.harness import registry

LOADED = {}  # filled by load_libraries, before the first test module is collected
MISSING = {}


def load_libraries() -> None:
    """Every library, in the registry's order, once per process."""
    if LOADED or MISSING:
        return
    for name in registry.FRAMEWORKS:
        try:
            LOADED[name] = registry.load(name)
        except registry.MissingLibraryError as exc:
            MISSING[name] = str(exc)


def pytest_collectstart(collector) -> None:
    """The libraries are loaded where tests are collected, when collection reaches tests/ (before
    any test module is imported): in each test process, and not in pytest-xdist's controller,
    which in test.sh's runs only hands the tests out. There the imports (TensorFlow, PyTorch, JAX,
    Keras; ~8 CPU-s) only delayed the start of both test processes (a one-file run on two
    processes: 22-24 s with them, 10-11.5 s without)."""
    load_libraries()


def pytest_addoption(parser) -> None:
    parser.addoption("--quick", action="store_true",
                     help="run only the quick tier (the tests marked quick): parity of every library and mode on XOR and "
                          "linear in both dtypes, the contract and layout, bad input, the page and the terminal table")


def pytest_collection_modifyitems(config, items) -> None:
    """--quick keeps the tests marked `quick`; every reader of a shared run gets that run's time limit
    (the first reader in a process pays for the run), unless it names its own."""
    for item in items:
        groups = {m.args[0] if m.args else m.kwargs.get("name") for m in item.iter_markers("xdist_group")}
        if groups & set(shared_runs.SHARED) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(shared_runs.TIMEOUT_S))
    if config.getoption("--quick"):
        kept = [item for item in items if item.get_closest_marker("quick")]
        config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker("quick")])
        items[:] = kept


@pytest.fixture
def ctrl_c():
    """Ctrl-C as at a terminal, for one test that presses it: Python's KeyboardInterrupt handler on
    SIGINT, whatever this process was started with (a shell's background job, `nohup` and many job
    runners start it with SIGINT ignored, and then the harness rightly ignores Ctrl-C too); the
    handler that was there is put back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


LIBRARIES = [n for n in registry.FRAMEWORKS if n != "numpy"]

# The real library beside NumPy where what a test checks is the harness, not the library: its
# failure paths (the other library's rows untouched), the JSON shape of the non-XOR tasks, the
# every-task matrix, the figures. MLX, because its worker is the cheapest to start and run: about
# 0.4 CPU-s a worker against JAX's 2.5 (the mean over a full suite's workers, 2-core machine,
# 2026-12-03). Tests of something JAX has (its step cap, its GPU, its weight in memory) name JAX.
BESIDE = "mlx"


def library_mode_params(modes=("eager", "compiled")):
    """(library, mode) for every library and mode; a missing library is skipped with its install command."""
    params = []
    for name in LIBRARIES:
        for mode in modes:
            marks = [pytest.mark.skip(reason=MISSING[name])] if name in MISSING else []
            params.append(pytest.param(name, mode, id=f"{name}-{mode}", marks=marks))
    return params


def random_targets(rng: np.random.RandomState, loss: str, n: int, n_out: int) -> np.ndarray:
    """Targets that suit a loss: one-hot classes, 0/1 labels, or real values."""
    if loss == "softmax_crossentropy":
        return np.eye(n_out)[rng.randint(n_out, size=n)]
    if loss == "binary_crossentropy":
        return rng.randint(2, size=(n, 1)).astype(float)
    return rng.randn(n, n_out)


def problem_for(task: str, dtype: str = "float64", steps: int | None = None, record_every: int | None = None, **kw):
    t = TASKS[task]
    data = load_dataset(t)
    return build_problem(t, data, kw.pop("sizes", None) or default_sizes(t, data), dtype=dtype, steps=steps,
                         record_every=record_every, **kw)


def reference(problem):
    return LOADED["numpy"].prepare(problem, "eager", "cpu")()


def assert_matches(out, ref, dtype: str, tol: float) -> float:
    """Dtype first, then predictions, every weight matrix and the loss history; returns the worst."""
    wrong_dtype = dtype_problem(out, dtype)
    assert wrong_dtype is None, wrong_dtype
    assert len(out.weights) == len(ref.weights)
    for w, r in zip(out.weights, ref.weights):
        assert w.shape == r.shape
    diffs = {"predictions": scaled_diff(out.predictions, ref.predictions),
             "weights": max(scaled_diff(w, r) for w, r in zip(out.weights, ref.weights)),
             "loss_history": scaled_diff(out.loss_history, ref.loss_history)}
    assert np.isfinite(ref.loss_history).all()
    for what, d in diffs.items():
        assert d <= tol, f"{what} differ from NumPy by {d:.3g} > {tol:g}"
    return max(diffs.values())


@pytest.fixture
def fake_library(monkeypatch):
    """Register a test-only library from tests/fakes/ for the length of one test."""
    def register(name: str) -> str:
        for table in ("LIBRARIES",):
            monkeypatch.setattr(registry, table, getattr(registry, table).copy())
        registry.register(name, f"tests.fakes.{name}")
        return name
    return register


def run_compare(tmp_path, *args: str) -> tuple[int, dict | None]:
    """compare.py in this process, its JSON report read back (None if it wrote none)."""
    path = tmp_path / "report.json"
    code = cli.main([*args, "--json", str(path)])
    return code, (json.loads(path.read_text()) if path.exists() else None)


# Runs that several tests read (each library's worker costs seconds; Keras' and TensorFlow's
# imports alone ~8 s each on the 2-core machine), made once per test process. Their readers carry
# the run's xdist_group (tests/shared_runs.py), so that test.sh's `--dist loadgroup` sends them all
# to one process; a reader without it fails (check_marks, autouse).
SHARED_RUN_STEPS = 60  # XOR steps of both runs below (the Keras tests' own runs are as long)
ON_EVERY_LIBRARY_ON_XOR = shared_runs.on("every_library_on_xor")
ON_EVERY_LIBRARY_IN_FLOAT64 = shared_runs.on("every_library_in_float64")
check_marks = shared_runs.check_marks


@pytest.fixture(scope="session")
def every_library_on_xor(tmp_path_factory):
    """Every library (Keras on each backend), mode and device on XOR in float32: read by the XOR
    JSON-shape, all-modes and Keras float32 tests."""
    return run_compare(tmp_path_factory.mktemp("xor"), "--steps", str(SHARED_RUN_STEPS), "--repeat", "2", "--dtype", "float32",
                       "--device", "all")


@pytest.fixture(scope="session")
def every_library_in_float64(tmp_path_factory):
    """Every library in eager mode on the CPU in float64 (the default dtype), on XOR, with
    --threads 1: read by the threads test and the Keras float64 test."""
    # Every installed library named, as a user would ("keras": the family, each backend a row;
    # keras:torch skipped in float64); `all` and the default list are other tests'.
    named = ",".join(n for n in registry.FRAMEWORKS if n not in MISSING)
    return run_compare(tmp_path_factory.mktemp("float64"), "--frameworks", named, "--mode", "eager", "--steps", str(SHARED_RUN_STEPS),
                       "--repeat", "1", "--device", "cpu", "--threads", "1")
