"""The project's shape: implementation files that read side by side, and a setup whose
pins agree and whose commands the README and CI use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from shared import registry
from shared.interface import CONTRACT, PARALLEL_CONTRACT

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_NAMES = [f.name for f in CONTRACT]


def top_level_functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def parameters(node: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_same_contract_functions_in_the_same_order(name):
    """Helpers of one library (layer_outputs, pure_step, LossHistory...) may sit between them;
    a function a library has no counterpart for is named in its ABSENT, with the reason."""
    library = registry.LIBRARIES[name]
    found = [f for f in top_level_functions(ROOT / "implementations" / f"{name}_backend.py") if f in CONTRACT_NAMES]
    assert found == [f for f in CONTRACT_NAMES if f not in library.absent]
    assert set(library.absent) <= set(CONTRACT_NAMES) and all(library.absent.values())


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_same_parameters_under_the_same_name(name):
    """Same name, same meaning: every contract function takes the contract's parameters, in
    its order, in every file (a library that needs something else has a helper of its own)."""
    functions = top_level_functions(ROOT / "implementations" / f"{name}_backend.py")
    for f in CONTRACT:
        if f.name in functions:
            assert parameters(functions[f.name]) == f.parameters, f"{name}_backend.{f.name}"


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_module_constants(name):
    """What the registry reads from each file, without importing it."""
    path = ROOT / "implementations" / f"{name}_backend.py"
    found = registry.constants(path)
    assert found["NAME"] == name and found["TITLE"] and found["INSTALL"].startswith("pip install ")
    assert isinstance(found["POSITION"], int) and isinstance(found["MODES"], tuple) and found["REQUIRES"]
    text = path.read_text()
    assert text.index("def configure") < text.index("def build_model")  # precision set in one visible place


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


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash test.sh" in readme and "bash run.sh" in readme
    assert "bash test.sh" in (ROOT / ".ci" / "run").read_text()


def test_sub_commands_never_import_the_dispatcher():
    """shared/cli.py dispatches to shared/commands/; nothing imports it back (no import cycle)."""
    for path in [*(ROOT / "shared").glob("*.py"), *(ROOT / "shared" / "commands").glob("*.py")]:
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
        imported |= {f"{n.module}.{a.name}" if n.module else a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "shared.cli" not in imported, path.name


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


@pytest.mark.parametrize("name", registry.SHIPPED_ENGINES)
def test_data_parallel_steps_take_the_same_parameters(name):
    functions = top_level_functions(ROOT / "implementations" / "parallel" / f"{name}_parallel.py")
    for f in PARALLEL_CONTRACT:
        if f.name in functions:
            assert parameters(functions[f.name]) == f.parameters, f"{name}_parallel.{f.name}"
