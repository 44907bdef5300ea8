"""The project's shape: implementation files that read side by side, and a setup whose
pins agree and whose commands the README and CI use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from shared.contract.interface import CONTRACT, PARALLEL_CONTRACT
from shared.contract.tolerances import tolerance_markdown
from shared.harness import registry

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_NAMES = [f.name for f in CONTRACT]


def top_level_functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def parameters(node: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))


def layout_problems(library: registry.Library) -> list[str]:
    """What is wrong with one implementation file's shape, in words (nothing: an empty list).
    Helpers of one library (layer_outputs, pure_step, LossHistory...) may sit between the
    contract's functions; a function a library has no counterpart for is named in its ABSENT,
    with the reason."""
    problems = []
    functions = top_level_functions(library.path)
    found = [f for f in functions if f in CONTRACT_NAMES]
    expected = [f for f in CONTRACT_NAMES if f not in library.absent]
    if found != expected:
        problems.append(f"contract functions {found}, expected {expected}")
    if not set(library.absent) <= set(CONTRACT_NAMES) or not all(library.absent.values()):
        problems.append(f"ABSENT names something outside the contract or gives no reason: {library.absent}")
    for f in CONTRACT:  # same name, same meaning: the contract's parameters, in its order
        if f.name in functions and parameters(functions[f.name]) != f.parameters:
            problems.append(f"{f.name}{parameters(functions[f.name])}, expected {f.name}{f.parameters}")
    c = registry.constants(library.path)
    if not (c.get("NAME") == library.name and c.get("TITLE") and str(c.get("INSTALL", "")).startswith("pip install ")
            and isinstance(c.get("POSITION"), int) and isinstance(c.get("MODES"), tuple) and c.get("REQUIRES")):
        problems.append(f"constants NAME, TITLE, INSTALL, POSITION, MODES, REQUIRES missing or malformed: {c}")
    text = library.path.read_text()
    if "def configure" in text and "def build_model" in text and text.index("def configure") > text.index("def build_model"):
        problems.append("configure comes after build_model")  # precision set in one visible place, first
    return problems


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_every_implementation_file_has_the_contracts_shape(name):
    assert layout_problems(registry.LIBRARIES[name]) == []


def test_the_layout_check_sees_a_file_out_of_shape(tmp_path):
    """The check above can fail: a swapped parameter, a missing function, a missing constant."""
    text = (ROOT / "implementations" / "jax_backend.py").read_text()
    bad = tmp_path / "bad_backend.py"
    bad.write_text(text.replace("def loss(model: list[jax.Array], spec: ModelSpec, x: jax.Array, t: jax.Array)",
                                "def loss(model: list[jax.Array], x: jax.Array, spec: ModelSpec, t: jax.Array)")
                   .replace("def weights_of(", "def _weights_of(").replace('TITLE = "JAX"\n', ""))
    problems = layout_problems(registry.Library("bad", "bad", "bad_backend", "numpy", "pip install numpy", path=bad))
    assert len(problems) == 3, problems
    assert any("loss(" in p for p in problems) and any("weights_of" in p for p in problems)


def test_every_implementation_file_could_be_read():
    assert registry.BROKEN == {}


def test_a_bad_file_is_left_out_and_named_not_fatal(tmp_path, monkeypatch):
    """A syntax error, a missing NAME or a NAME already taken costs that file only."""
    monkeypatch.setattr(registry, "BROKEN", {})
    (tmp_path / "good_backend.py").write_text('NAME = "good"\nPOSITION = 1\n')
    (tmp_path / "annotated_backend.py").write_text('NAME: str = "annotated"\n')
    (tmp_path / "nameless_backend.py").write_text('TITLE = "No name"\n')
    (tmp_path / "syntax_backend.py").write_text('NAME = "syntax"\ndef (\n')
    (tmp_path / "twin_backend.py").write_text('NAME = "good"\n')
    found = registry._discover(tmp_path, "_backend", registry._library)
    assert list(found) == ["good", "annotated"]
    assert sorted(Path(p).name for p in registry.BROKEN) == ["nameless_backend.py", "syntax_backend.py", "twin_backend.py"]
    assert "already" in registry.BROKEN[str(tmp_path / "twin_backend.py")]


def test_the_registry_orders_by_position_with_numpy_first():
    positions = [registry.LIBRARIES[n].position for n in registry.FRAMEWORKS]
    assert registry.FRAMEWORKS[0] == "numpy" and positions == sorted(positions) and len(set(positions)) == len(positions)
    assert registry.FRAMEWORKS.index("torch") < registry.FRAMEWORKS.index("tensorflow")  # import order (registry.load)


def test_pins_agree_between_pyproject_and_lock():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    for dep in deps:
        # PEP 508: a pin may name extras ("mlx[cpu]==0.32.4"): the lock pins the package itself
        # (and, pip-freeze style, whatever the extra brings, as packages of their own).
        name, version = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[A-Za-z0-9._,\s-]+\])?==(\S+)", dep).groups()
        assert lock[name.lower().replace("_", "-")] == version, dep


def readme_layout() -> dict[tuple[str, str | None], str]:
    """The README's Layout block, as the text of each folder's lines: ("shared", "harness") → its lines."""
    block = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```", 2)[1]
    sections: dict[tuple[str, str | None], str] = {}
    top, sub = "", None
    for line in block.splitlines():
        if re.match(r"\S+/\s", line + " "):
            top, sub = line.split("/", 1)[0], None
        elif re.match(r"  \w+/\s", line + " "):
            sub = line.split("/", 1)[0].strip()
        sections[(top, sub)] = sections.get((top, sub), "") + line + "\n"
    return sections


def test_the_readme_layout_names_every_module_in_its_folder():
    sections = readme_layout()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "implementations").rglob("*.py")]:
        parts = path.relative_to(ROOT).parts
        if path.name == "__init__.py" or "__pycache__" in parts:
            continue
        section = (parts[0], parts[1] if len(parts) > 2 else None)
        assert re.search(rf"(?<![\w.]){re.escape(path.name)}", sections.get(section, "")), f"README's Layout: {'/'.join(parts)}"


def test_every_install_command_pins_its_package_as_pyproject_does():
    """A skipped row's install command (INSTALL) installs the versions the project tested."""
    pins = dict(re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", dep).groups()
                for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    for name in registry.FRAMEWORKS:
        library = registry.LIBRARIES[name]
        named = dict(re.findall(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s\"']+)", library.install))
        assert library.requires in named, f"{name}'s INSTALL does not pin {library.requires}: {library.install}"
        for package, version in named.items():
            assert pins.get(package) == version, f"{name}'s INSTALL: {package}=={version}, pyproject: {pins.get(package)}"


def test_the_readme_shows_the_tolerances_and_the_parallel_steps_as_written_once():
    readme = (ROOT / "README.md").read_text()
    assert tolerance_markdown() in readme
    steps = readme.split("with the same steps in the same order (", 1)[1].split(";", 1)[0]
    assert re.findall(r"`(\w+)`", steps) == [f.name for f in PARALLEL_CONTRACT]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash test.sh" in readme and "bash run.sh" in readme
    assert "bash test.sh" in (ROOT / ".ci" / "run").read_text()


# Which package may import which: the project's architecture in one table. Lower layers never
# import higher ones; the implementations see only the contract and one another (Keras its
# backend's file, an engine its library's); nothing imports the command line.
LAYERS = ["shared.contract", "implementations", "shared.reports", "shared.harness", "shared.studies", "shared.commands"]


def _package_of(module: str) -> str | None:
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (a lazy import is still a dependency)."""
    tree = ast.parse(path.read_text())
    found = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            found.add(n.module)
            found |= {f"{n.module}.{a.name}" for a in n.names}
    return {m for m in found if m.split(".")[0] in ("shared", "implementations")}


def _project_modules() -> dict[str, Path]:
    paths = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "implementations").rglob("*.py")]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in paths}


def test_every_shared_module_lives_in_a_package():
    loose = [p.name for p in (ROOT / "shared").glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the packages of shared/: {loose}"
    for package in (ROOT / "shared").iterdir():
        if package.is_dir() and package.name != "__pycache__":
            assert f"shared.{package.name}" in LAYERS, package
            assert ast.get_docstring(ast.parse((package / "__init__.py").read_text())), f"{package.name}/__init__.py says what it owns"


def test_imports_run_one_way():
    broken = []
    for module, path in _project_modules().items():
        own = _package_of(module)
        for target in _imports(path):
            other = _package_of(target)
            if other is None or other == own:
                continue
            if LAYERS.index(other) > LAYERS.index(own):
                broken.append(f"{module} imports {target}")
    assert not broken, "imports against the layers " + " < ".join(LAYERS) + ":\n" + "\n".join(broken)


def test_the_direction_check_sees_a_wrong_import(tmp_path):
    """The check above must be able to fail: an implementation importing the harness is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from shared.harness import registry\n")
    assert "shared.harness.registry" in _imports(bad)
    assert LAYERS.index(_package_of("shared.harness.registry")) > LAYERS.index(_package_of("implementations.bad"))


def test_no_import_cycle_between_modules():
    modules = _project_modules()
    graph = {m: {t for t in _imports(p) if t in modules and t != m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


PARALLEL_NAMES = [f.name for f in PARALLEL_CONTRACT]


@pytest.mark.parametrize("name", registry.SHIPPED_ENGINES)
def test_data_parallel_files_read_side_by_side(name):
    """implementations/parallel/: the same engine steps, in the same order, in every file."""
    path = ROOT / "implementations" / "parallel" / f"{name}_parallel.py"
    engine = registry.ENGINES[name]
    found = [f for f in top_level_functions(path) if f in PARALLEL_NAMES]
    assert found == [f for f in PARALLEL_NAMES if f not in engine.absent]
    constants = registry.constants(path)
    assert constants["NAME"] == name and constants["TITLE"] and "ENGINE" in constants
    assert constants.get("LISTENS", "host") in ("host", "worker")  # who binds a port: each host, or each worker


@pytest.mark.parametrize("name", registry.SHIPPED_ENGINES)
def test_data_parallel_steps_take_the_same_parameters(name):
    functions = top_level_functions(ROOT / "implementations" / "parallel" / f"{name}_parallel.py")
    for f in PARALLEL_CONTRACT:
        if f.name in functions:
            assert parameters(functions[f.name]) == f.parameters, f"{name}_parallel.{f.name}"
