"""Which libraries and data-parallel engines exist, and how to load them: lazily, one at a
time, never breaking the others.

Nothing here lists a library by hand: every folder `implementations/<name>/` with a runtime.py
is a library (its lesson.py the study code, the package itself what the harness imports), and
every `implementations/<name>/parallel.py` an engine, each described by its own module constants
(a runtime's NAME, TITLE, REQUIRES, INSTALL, POSITION, ABSENT, STEP_CAPS, LOAD_AFTER, DTYPE_SKIPS,
THREAD_ENV, IMPORT_ENV, CACHE_ENV, RECORDED_ENV, BACKENDS, BACKEND_ENV; an engine's TARGET, LISTENS,
PER_LAYOUT, PROCESSES and HOST_ENV), read from the file without importing it.

The harness loads each library in a worker process of its own (shared/harness/worker.py), the
other libraries hidden while it imports (`foreign_packages`: each import is then the library's
own, as where it is installed alone). A process
that loads several (the test suite) loads them in the order of `FRAMEWORKS`, and a library loads
what its LOAD_AFTER names first (TensorFlow and Keras: PyTorch, since importing TensorFlow first
has crashed processes that later import PyTorch).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from shared.harness.native_stderr import quiet_native_stderr

IMPLEMENTATIONS = Path(__file__).resolve().parents[2] / "implementations"


@dataclass(frozen=True)
class Library:
    """One implementation, as its file declares it (module constants, read without importing
    it: a library that is not installed still has a name and an install command)."""

    name: str  # NAME: the --frameworks name
    title: str  # TITLE: how tables and the page name it
    module: str  # the module to import: the library's package (its runtime and its lesson), or a test's module
    requires: str  # REQUIRES: the package whose presence makes it runnable
    install: str  # INSTALL: the command that installs that package
    position: int = 99  # POSITION: its place in tables (NumPy, the reference, first)
    absent: dict[str, str] = field(default_factory=dict)  # ABSENT: contract functions it has no counterpart for, and why
    path: Path | None = None  # its folder (lesson.py, runtime.py); None for the tests' misbehaving libraries (not shown on the page)
    step_caps: dict[str, int] = field(default_factory=dict)  # STEP_CAPS: mode (or "mode on backend") → default steps
    load_after: tuple[str, ...] = ()  # LOAD_AFTER: packages imported first when one process loads several
    dtype_skips: dict[str, str] = field(default_factory=dict)  # DTYPE_SKIPS: "dtype" or "dtype on backend" → why skipped
    thread_env: dict[str, str] = field(default_factory=dict)  # THREAD_ENV: variables for --threads N ("{n}"), set before import
    backends: tuple[str, ...] = ()  # BACKENDS: libraries it runs on, each a target "name:backend" ("keras:jax")
    backend_env: str | None = None  # BACKEND_ENV: the variable that picks the backend, read when it is imported
    import_env: dict[str, str | None | dict[str, str]] = field(default_factory=dict)  # IMPORT_ENV: see import_environment
    cache_env: dict[str, str] = field(default_factory=dict)  # CACHE_ENV: its on-disk compilation caches → a folder name each
    recorded_env: tuple[str, ...] = ()  # RECORDED_ENV: the user's variables that change how it runs, kept with results
    imports: tuple[str, ...] = ()  # the packages its files import at their top level (never hidden from it: foreign_packages)

    @property
    def lesson(self) -> Path | None:
        """Its lesson.py: what the side-by-side page and the layout checks read."""
        return self.path / "lesson.py" if self.path else None

    @property
    def runtime(self) -> Path | None:
        """Its runtime.py: where its constants are read."""
        return self.path / "runtime.py" if self.path else None

    @property
    def targets(self) -> tuple[str, ...]:
        """What --frameworks can name for it: itself, or itself on each backend."""
        return tuple(f"{self.name}:{b}" for b in self.backends) or (self.name,)


@dataclass(frozen=True)
class Engine:
    """One data-parallel engine (implementations/<library>/parallel.py), as its file declares it."""

    name: str  # NAME: the library's name
    title: str  # TITLE: what the engine is, for reports
    module: str
    target: str  # TARGET: the library it runs on, as `missing` names it ("keras:jax"); default its NAME
    position: int = 99
    absent: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    listens: str = "host"  # LISTENS: who binds a port for its peers, each "host" process or each "worker" (MLX's ring)
    per_layout: dict[str, str | None] = field(default_factory=dict)  # PER_LAYOUT: versions() keys that differ by layout → how chosen
    processes: str = "host"  # PROCESSES: a process per "host" (its workers replicas inside it) or per "worker"
    host_env: dict[str, str] = field(default_factory=dict)  # HOST_ENV: variables its hosts start with, beyond its library's
    imports: tuple[str, ...] = ()  # the packages its file imports at its top level (never hidden from it: foreign_packages)


def top_level_imports(path: Path) -> tuple[str, ...]:
    """The packages a Python file imports unconditionally, at its top level (`import jax.numpy`,
    `from jax import lax`: "jax"), unimported; relative imports aside."""
    found: dict[str, None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= dict.fromkeys(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found[node.module.partition(".")[0]] = None
    return tuple(found)


def constants(path: Path) -> dict[str, object]:
    """The literal module-level constants of a Python file (NAME = "torch", ...), unimported."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
        if isinstance(target, ast.Name):
            with contextlib.suppress(ValueError, TypeError, SyntaxError):
                found[target.id] = ast.literal_eval(node.value)
    return found


def _library(package: str, runtime: Path) -> Library:
    """A library's folder, from its runtime.py: the constants there, the imports of both files."""
    folder, lesson = runtime.parent, runtime.parent / "lesson.py"
    c = constants(runtime)
    return Library(c["NAME"], c.get("TITLE", c["NAME"]), package, c.get("REQUIRES", c["NAME"]),
                   c.get("INSTALL", f"pip install {c.get('REQUIRES', c['NAME'])}"), c.get("POSITION", 99),
                   c.get("ABSENT", {}), folder, c.get("STEP_CAPS", {}), tuple(c.get("LOAD_AFTER", ())),
                   c.get("DTYPE_SKIPS", {}), c.get("THREAD_ENV", {}), tuple(c.get("BACKENDS", ())), c.get("BACKEND_ENV"),
                   c.get("IMPORT_ENV", {}), c.get("CACHE_ENV", {}), tuple(c.get("RECORDED_ENV", ())),
                   tuple(dict.fromkeys([*top_level_imports(runtime), *(top_level_imports(lesson) if lesson.exists() else ())])))


def step_cap(target: str, mode: str) -> int | None:
    """The default schedule's length for a mode too slow per step for the full one, or None."""
    name, backend = split(target)
    caps = LIBRARIES[name].step_caps if name in LIBRARIES else {}
    return caps.get(f"{mode} on {backend}") or caps.get(mode)


def _engine(package: str, path: Path) -> Engine:
    """A data-parallel engine, from its file beside its library's (the module `<package>.parallel`)."""
    c = constants(path)
    return Engine(c["NAME"], c.get("TITLE", c["NAME"]), f"{package}.{path.stem}", c.get("TARGET", c["NAME"]), c.get("POSITION", 99),
                  c.get("ABSENT", {}), path, c.get("LISTENS", "host"), c.get("PER_LAYOUT", {}),
                  c.get("PROCESSES", "host"), c.get("HOST_ENV", {}), top_level_imports(path))


BROKEN: dict[str, str] = {}  # implementation files that could not be read, and why (tests/test_layout.py fails on any)


def _in_order(items: list) -> dict:
    return {item.name: item for item in sorted(items, key=lambda item: (item.position, item.name))}


def _discover(folder: Path, file: str, make) -> dict:
    """Every `<name>/<file>` in a folder, in POSITION order: adding a library is adding a folder.
    A file that cannot be read (a syntax error, no NAME, a NAME already taken) is left out and
    named in BROKEN, so that one bad file never breaks every command. `make(package, path)`: the
    library or engine from the folder's package and the file found there."""
    package = ".".join(folder.relative_to(IMPLEMENTATIONS.parent).parts) if folder.is_relative_to(IMPLEMENTATIONS.parent) \
        else folder.name
    found: dict[str, object] = {}
    for path in sorted(folder.glob(f"*/{file}")):
        try:
            item = make(f"{package}.{path.parent.name}", path)
        except (SyntaxError, KeyError, OSError) as exc:
            BROKEN[str(path)] = f"cannot read its constants ({exc.__class__.__name__}: {exc})"
            continue
        if item.name in found:
            BROKEN[str(path)] = f"NAME {item.name!r} is already {found[item.name].path}'s"
            continue
        found[item.name] = item
    return _in_order(list(found.values()))


LIBRARIES: dict[str, Library] = _discover(IMPLEMENTATIONS, "runtime.py", _library)
ENGINES: dict[str, Engine] = _discover(IMPLEMENTATIONS, "parallel.py", _engine)
FRAMEWORKS = tuple(LIBRARIES)  # the shipped libraries, in table order
SHIPPED_ENGINES = tuple(ENGINES)  # the shipped engines (the tests register more)


def register(name: str, module: str, requires: str = "numpy") -> None:
    """Add a library that is not shipped (the tests' libraries that crash, hang or lie on
    purpose; after every shipped one, never in place of one); `requires`: the package it needs."""
    if name in LIBRARIES and LIBRARIES[name].path:
        raise ValueError(f"{name!r} is an implementation file's library")
    LIBRARIES[name] = Library(name, name, module, requires, f"pip install {requires}")


def register_engine(name: str, module: str, like: str) -> None:
    """Add a data-parallel engine that is not shipped (the tests' engines that hang or fail on
    purpose), a variant of the shipped engine `like` that wraps its file: every fact but its
    name and module is that engine's (TARGET, ABSENT, LISTENS, PER_LAYOUT, PROCESSES, HOST_ENV, and
    its file's imports, which the variant's own file takes in with the engine's)."""
    if name in ENGINES and ENGINES[name].path:
        raise ValueError(f"{name!r} is an implementation file's engine")
    ENGINES[name] = replace(ENGINES[like], name=name, title=f"a test variant of {ENGINES[like].title}", module=module,
                            position=99, path=None)


def add_folder(folder: Path, package: str) -> Library:
    """Add a library's folder from elsewhere (a test's), exactly as a folder in implementations/
    is found: from its runtime's constants, in POSITION order. It then shows everywhere a shipped
    one does (tables, the page, the layout checks)."""
    library = _library(package, folder / "runtime.py")
    if library.name in LIBRARIES:
        raise ValueError(f"NAME {library.name!r} is already {LIBRARIES[library.name].path}'s")
    ordered = _in_order([*LIBRARIES.values(), library])
    LIBRARIES.clear()
    LIBRARIES.update(ordered)
    return library


def known() -> tuple[str, ...]:
    return tuple(LIBRARIES)


def listed() -> tuple[str, ...]:
    """The libraries that have an implementation folder, in table order: what `--frameworks all`,
    the side-by-side page and the layout checks cover."""
    return tuple(sorted((n for n, lib in LIBRARIES.items() if lib.path), key=lambda n: (LIBRARIES[n].position, n)))


def listed_engines() -> tuple[str, ...]:
    return tuple(sorted((n for n, e in ENGINES.items() if e.path), key=lambda n: (ENGINES[n].position, n)))


def backend_targets() -> tuple[str, ...]:
    """Every "name:backend" target, of the libraries that run on several (their file's BACKENDS)."""
    return tuple(t for library in LIBRARIES.values() if library.backends for t in library.targets)


def backend_environment(target: str) -> dict[str, str]:
    """The variable that picks a target's backend (its file's BACKEND_ENV), for its process."""
    name, backend = split(target)
    library = LIBRARIES.get(name)
    return {library.backend_env: backend} if backend and library and library.backend_env else {}


def dtype_skip(target: str, dtype: str) -> str | None:
    """Why a default run leaves a target out in this dtype (its file's DTYPE_SKIPS), or None.
    Naming the target runs it anyway, so that the failure can be seen."""
    name, backend = split(target)
    skips = LIBRARIES[name].dtype_skips if name in LIBRARIES else {}
    reason = skips.get(f"{dtype} on {backend}") or skips.get(dtype)
    return f"{reason}; name {target} to run it anyway" if reason else None


def _files_of(target: str) -> list[Library]:
    """The implementation files a target's process loads: its library's, and a backend's."""
    return [LIBRARIES[name] for name in split(target) if name and name in LIBRARIES]


def thread_environment(target: str, threads: int | None) -> dict[str, str]:
    """The environment variables --threads N sets in a target's worker before it imports its
    library (a BLAS sizes its pool when loaded): its file's THREAD_ENV, and for Keras its
    backend's file's too."""
    if threads is None:
        return {}
    return {k: v.format(n=threads) for library in _files_of(target) for k, v in library.thread_env.items()}


def import_environment(target: str, dtype: str) -> dict[str, str | None]:
    """The variables a target's process sets before it imports its library, which reads them only
    then: the variable that picks its backend (BACKEND_ENV), and its files' IMPORT_ENV (a Keras
    target: Keras' file's and its backend's). A value is a string, None (removed, whatever the
    user's environment says) or a {dtype: value} table, removed for a dtype it does not name
    (JAX's x64: on for float64 runs, off otherwise)."""
    env: dict[str, str | None] = dict(backend_environment(target))
    for library in _files_of(target):
        for variable, value in library.import_env.items():
            env[variable] = value.get(dtype) if isinstance(value, dict) else value
    return env


def cache_folders(target: str) -> dict[str, str]:
    """A target's on-disk compilation caches (its files' CACHE_ENV): variable → the folder's name
    within a run's cache folder."""
    return {variable: name for library in _files_of(target) for variable, name in library.cache_env.items()}


def recorded_variables() -> tuple[str, ...]:
    """The environment variables kept with every result, as the user set them: those that size
    a library's threads (THREAD_ENV), pick a backend (BACKEND_ENV) or change how it runs (RECORDED_ENV)."""
    found: dict[str, None] = {}
    for library in LIBRARIES.values():
        found |= dict.fromkeys([*library.thread_env, *([library.backend_env] if library.backend_env else []),
                                *library.recorded_env])
    return tuple(found)


def apply_environment(env: MutableMapping[str, str], changes: dict[str, str | None]) -> None:
    """Set (a string) or remove (None) each variable of `changes` in `env` (os.environ, or a child's)."""
    for variable, value in changes.items():
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value


def split(target: str) -> tuple[str, str | None]:
    """"keras:jax" → ("keras", "jax"); "torch" → ("torch", None)."""
    name, _, backend = target.partition(":")
    return name, backend or None


def expand(targets: list[str]) -> list[str]:
    """"keras" means Keras on each of its backends (a library's BACKENDS); everything else is itself."""
    out: list[str] = []
    for target in targets:
        for t in (LIBRARIES[target].targets if target in LIBRARIES else (target,)):
            if t not in out:
                out.append(t)
    return out


def missing(target: str) -> str | None:
    """Why a target cannot run here (a package to install), or None."""
    name, backend = split(target)
    for package in (name, backend) if backend else (name,):
        if not installed(package):
            library = LIBRARIES[package]
            return f"{library.requires} is not installed; install it with: {library.install}"
    return None


def engine_missing(engine: str) -> str | None:
    """Why a data-parallel engine cannot run here (its library's install command), or None."""
    return missing(ENGINES[engine].target)


# Installed beside the libraries for the harness alone, never used by one: scikit-learn (data sets,
# the digits' outside reference) and matplotlib (the figures), though Keras imports both wherever
# they are installed (its scikit-learn wrappers; its image-gallery plot, matplotlib.pyplot 0.6 s).
HARNESS_ONLY = ("sklearn", "matplotlib")


def foreign_packages(target: str, imports: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What a target's process keeps out while it imports its library, so that the import is the
    library's own, as where it is installed alone: the other shipped libraries and HARNESS_ONLY,
    but never NumPy (every file computes with it at its edges), nor what the target's files
    require or import themselves (a library built on another, Flax on JAX, keeps it), nor
    `imports` (a data-parallel engine's file's own, Engine.imports). Each is an
    optional import where a library reaches for it: TensorFlow imports Keras 3 (as tf.keras), JAX
    (for TFLite's converter) and, through Keras, scikit-learn and matplotlib, about 3 of its 6
    CPU-s on the 2-core machine (README); Keras imports JAX for its Orbax callback, scikit-learn
    and matplotlib on every backend."""
    own = {package for library in _files_of(target) for package in (library.requires, *library.imports)} | set(imports)
    shipped = {library.requires for library in LIBRARIES.values() if library.path}
    return tuple(sorted((shipped | set(HARNESS_ONLY)) - own - {"numpy"}))


@contextlib.contextmanager
def hidden(packages: tuple[str, ...]) -> Iterator[None]:
    """In the block, importing any of `packages` fails with ImportError (None in sys.modules), as
    if it were not installed; one already imported is left alone, and afterwards each imports
    again as usual (a library that tried one keeps its own note that it was absent)."""
    hide = [p for p in packages if p not in sys.modules]
    sys.modules.update(dict.fromkeys(hide, None))
    try:
        yield
    finally:
        for p in hide:
            if p in sys.modules and sys.modules[p] is None:
                del sys.modules[p]


def import_implementation(module_path: str, threads: int | None = None, target: str | None = None) -> ModuleType:
    """Import an implementation module as `load` does, for a worker that was told its path, with
    the `target`'s foreign packages hidden meanwhile; with `threads`, its `set_threads` runs at
    once, before anything can start the library's runtime."""
    with quiet_native_stderr():
        with hidden(foreign_packages(target) if target else ()):
            module = importlib.import_module(module_path)
        if threads is not None:
            module.set_threads(threads)
        module.device_unavailable("gpu")  # device discovery logs natively (e.g. XLA's failed cuInit): do it here
    return module


class MissingLibraryError(Exception):
    """The library behind an implementation is not installed; the message says how to install it."""


def installed(name: str) -> bool:
    library = LIBRARIES.get(name)
    return importlib.util.find_spec(library.requires if library else name) is not None




def load(name: str) -> ModuleType:
    """Import `implementations/<name>/` (its runtime and lesson) in this process; MissingLibraryError
    if its library is absent. The fixed values of its IMPORT_ENV (not the per-dtype ones, nor those
    it removes) are set first where this process has not set them, as its worker would have them:
    PyTorch's deterministic cuBLAS needs CUBLAS_WORKSPACE_CONFIG in a test process too."""
    if name not in LIBRARIES:
        raise KeyError(name)
    if not installed(name):
        raise MissingLibraryError(missing(name))
    for variable, value in LIBRARIES[name].import_env.items():
        if isinstance(value, str):
            os.environ.setdefault(variable, value)
    for first in LIBRARIES[name].load_after:
        if importlib.util.find_spec(first) is not None:
            importlib.import_module(first)
    return import_implementation(LIBRARIES[name].module)


def ordered_targets(targets: list[str]) -> list[str]:
    """Targets in the registry's order, a library's backends in its BACKENDS order."""
    order = [t for name in known() for t in (LIBRARIES[name].targets if name in LIBRARIES else (name,))]
    return [t for t in order if t in targets]


def ordered(names: list[str]) -> list[str]:
    return [name for name in known() if name in names]
