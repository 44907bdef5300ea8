"""The project's shape: implementation files that read side by side, and a setup whose
pins agree and whose commands the README and CI use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from shared import registry

ROOT = Path(__file__).resolve().parent.parent
CANONICAL = ["versions", "configure", "device_unavailable", "build_model", "set_weights", "forward", "predict", "loss",
             "gradients", "train_step", "train", "weights_of", "prepare"]
# Keras' high-level API computes gradients and steps inside fit; it has neither of its own.
ABSENT = {"keras": {"gradients", "train_step"}}


def public_functions(name: str) -> list[str]:
    tree = ast.parse((ROOT / "implementations" / f"{name}_backend.py").read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_same_public_functions_in_the_same_order(name):
    """Helpers private to one library (training_loop, LossHistory...) may sit between them."""
    found = [f for f in public_functions(name) if f in CANONICAL]
    expected = [f for f in CANONICAL if f not in ABSENT.get(name, set())]
    assert found == expected


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_module_constants(name):
    text = (ROOT / "implementations" / f"{name}_backend.py").read_text()
    assert f'NAME = "{name}"' in text and "INSTALL = " in text and "MODES = (" in text
    assert text.index("def configure") < text.index("def build_model")  # precision set in one visible place


def test_pins_agree_between_pyproject_and_lock():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    for dep in deps:
        name, version = re.split(r"==", dep)
        assert lock[name.lower()] == version, dep


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


PARALLEL_CANONICAL = ["versions", "unsupported", "launch", "configure", "join", "build_model", "split_batches",
                      "train_step", "train", "prepare", "leave"]
PARALLEL_ABSENT = {"keras": {"train_step"}}  # fit takes the steps


@pytest.mark.parametrize("name", ["torch", "jax", "tensorflow", "keras"])
def test_data_parallel_files_read_side_by_side(name):
    """implementations/parallel/: the same engine steps, in the same order, in every file."""
    path = ROOT / "implementations" / "parallel" / f"{name}_parallel.py"
    tree = ast.parse(path.read_text())
    found = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in PARALLEL_CANONICAL]
    assert found == [f for f in PARALLEL_CANONICAL if f not in PARALLEL_ABSENT.get(name, set())]
    assert f'NAME = "{name}"' in path.read_text() and "ENGINE = " in path.read_text()
