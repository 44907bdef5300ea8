"""The project's shape: implementation files that read side by side, and a setup whose
pins agree and whose commands the README and CI use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from shared.contract.interface import LESSON, PARALLEL_CONTRACT, RUNTIME
from shared.contract.tolerances import tolerance_markdown
from shared.harness import registry

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
LESSON_NAMES = [f.name for f in LESSON]


def top_level_functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def parameters(node: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))


# What a runtime declares and a lesson never holds: the registry's module constants.
RUNTIME_CONSTANTS = ("NAME", "TITLE", "POSITION", "REQUIRES", "INSTALL", "MODES", "ABSENT", "STEP_CAPS", "LOAD_AFTER",
                     "DTYPE_SKIPS", "THREAD_ENV", "IMPORT_ENV", "CACHE_ENV", "RECORDED_ENV", "BACKENDS", "BACKEND_ENV")


def top_level_names(path: Path) -> set[str]:
    """Every name a file binds at its top level: functions, classes, assignments."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


ENVIRONMENT = ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv")


def environment_lines(path: Path) -> list[int]:
    """Lines where a file reads or sets environment variables (`os.environ` and the rest, under
    any name `os` is imported as, or imported from `os`): the runtime's business (IMPORT_ENV and
    the rest), never a lesson's."""
    tree = ast.parse(path.read_text())
    names = {"os"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                      if a.name == "os" and a.asname}

    def touches(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):  # os.environ, o.getenv
            return isinstance(node.value, ast.Name) and node.value.id in names and node.attr in ENVIRONMENT
        if isinstance(node, ast.ImportFrom):  # from os import environ
            return node.module == "os" and any(a.name in ENVIRONMENT for a in node.names)
        return False

    return sorted({node.lineno for node in ast.walk(tree) if touches(node)})


def part_problems(path: Path, contract, absent: dict[str, str]) -> list[str]:
    """A lesson's or runtime's functions against its part of the contract: the same names, in its
    order, with its parameters (a library's own helpers may stand between them)."""
    problems = []
    functions = top_level_functions(path)
    names = [f.name for f in contract]
    found = [f for f in functions if f in names]
    expected = [f for f in names if f not in absent]
    if found != expected:
        problems.append(f"{path.name}: contract functions {found}, expected {expected}")
    for f in contract:  # same name, same meaning: the contract's parameters, in its order
        if f.name in functions and parameters(functions[f.name]) != f.parameters:
            problems.append(f"{path.name}: {f.name}{parameters(functions[f.name])}, expected {f.name}{f.parameters}")
    return problems


def layout_problems(library: registry.Library) -> list[str]:
    """What is wrong with one library's folder, in words (nothing: an empty list). The lesson
    holds LESSON's functions and nothing of the runtime's (no function of RUNTIME's, no module
    constant the registry reads, no environment variable); the runtime holds RUNTIME's functions
    and the constants, and nothing of the lesson's. A lesson function a library has no counterpart for is named in its
    ABSENT, with the reason."""
    problems = part_problems(library.lesson, LESSON, library.absent) + part_problems(library.runtime, RUNTIME, {})
    runtime_names = {f.name for f in RUNTIME} | set(RUNTIME_CONSTANTS)
    in_lesson = sorted(top_level_names(library.lesson) & runtime_names)
    if in_lesson:
        problems.append(f"lesson.py holds the runtime's {in_lesson}")
    if environment_lines(library.lesson):
        problems.append(f"lesson.py touches environment variables on lines {environment_lines(library.lesson)}")
    in_runtime = sorted(top_level_names(library.runtime) & ({f.name for f in LESSON} | {"ACTIVATIONS"}))
    if in_runtime:
        problems.append(f"runtime.py holds the lesson's {in_runtime}")
    if not set(library.absent) <= set(LESSON_NAMES) or not all(library.absent.values()):
        problems.append(f"ABSENT names something outside the lesson or gives no reason: {library.absent}")
    c = registry.constants(library.runtime)
    if not (c.get("NAME") == library.name and c.get("TITLE") and str(c.get("INSTALL", "")).startswith("pip install ")
            and isinstance(c.get("POSITION"), int) and isinstance(c.get("MODES"), tuple) and c.get("REQUIRES")):
        problems.append(f"constants NAME, TITLE, INSTALL, POSITION, MODES, REQUIRES missing or malformed: {c}")
    return problems


@pytest.mark.parametrize("name", registry.FRAMEWORKS)
def test_every_library_folder_has_the_contracts_shape(name):
    assert layout_problems(registry.LIBRARIES[name]) == []


@pytest.mark.parametrize("contract", [LESSON, RUNTIME], ids=["lesson", "runtime"])
def test_every_two_libraries_define_each_contract_function_with_the_same_parameters(contract):
    """Pairwise, as a reader compares two columns of the page: every library that defines a
    function of the contract gives it the same parameters as every other."""
    for f in contract:
        seen = {}
        for name in registry.FRAMEWORKS:
            library = registry.LIBRARIES[name]
            functions = top_level_functions(library.lesson if contract is LESSON else library.runtime)
            if f.name in functions:
                seen[name] = parameters(functions[f.name])
        assert len(set(seen.values())) == 1, f"{f.name}: {seen}"


def bad_copy(tmp_path: Path, lesson_edit, runtime_edit=lambda text: text) -> registry.Library:
    """JAX's folder copied with its files edited, as a library of its own."""
    folder = tmp_path / "bad"
    folder.mkdir()
    source = ROOT / "implementations" / "jax"
    (folder / "lesson.py").write_text(lesson_edit((source / "lesson.py").read_text()))
    (folder / "runtime.py").write_text(runtime_edit((source / "runtime.py").read_text()))
    return registry.Library("jax", "bad", "bad", "numpy", "pip install numpy", path=folder)


def test_the_layout_check_sees_a_file_out_of_shape(tmp_path):
    """The check above can fail: a swapped parameter, a missing function, a missing constant."""
    library = bad_copy(tmp_path, lambda text: text.replace(
        "def loss(model: list[jax.Array], spec: ModelSpec, x: jax.Array, t: jax.Array)",
        "def loss(model: list[jax.Array], x: jax.Array, spec: ModelSpec, t: jax.Array)").replace(
        "def weights_of(", "def _weights_of("), lambda text: text.replace('TITLE = "JAX"\n', ""))
    problems = layout_problems(library)
    assert len(problems) == 3, problems
    assert any("loss(" in p for p in problems) and any("weights_of" in p for p in problems)


def test_the_layout_check_sees_the_runtime_in_a_lesson_and_the_lesson_in_a_runtime(tmp_path):
    library = bad_copy(tmp_path, lambda text: text.replace("ACTIVATIONS = {", 'STEP_CAPS = {"eager": 1}\n\n\ndef gpu_name():\n'
                                                           '    return None\n\n\nACTIVATIONS = {').replace(
        "def configure(dtype: str) -> None:\n", "def configure(dtype: str) -> None:\n    import os\n    os.environ.setdefault('X', '1')\n"),
                       lambda text: text + "\n\ndef forward(model, spec, x):\n    return x\n")
    problems = layout_problems(library)
    assert "lesson.py holds the runtime's ['STEP_CAPS', 'gpu_name']" in problems
    assert any(p.startswith("lesson.py touches environment variables on lines") for p in problems), problems
    assert "runtime.py holds the lesson's ['forward']" in problems


@pytest.mark.parametrize("code", ["import os\nos.environ['X'] = '1'", "import os as o\no.getenv('X')",
                                  "from os import environ", "from os import putenv as p"])
def test_the_environment_check_sees_each_way_of_touching_a_variable(tmp_path, code):
    path = tmp_path / "lesson.py"
    path.write_text("x = 1\n" + code + "\n")
    assert environment_lines(path) == [1 + len(code.splitlines())]  # the line that touches it
    path.write_text("import os\nfrom os import path\nos.path.join('a', 'b')\n")
    assert environment_lines(path) == []


def test_the_parameter_check_sees_two_libraries_that_differ(tmp_path, monkeypatch):
    library = bad_copy(tmp_path, lambda text: text.replace("def train_step(model: list[jax.Array], optimizer: tuple, spec",
                                                           "def train_step(model: list[jax.Array], lr: float, spec"))
    monkeypatch.setitem(registry.LIBRARIES, "jax", library)
    with pytest.raises(AssertionError, match="train_step"):
        test_every_two_libraries_define_each_contract_function_with_the_same_parameters(LESSON)


def test_every_implementation_file_could_be_read():
    assert registry.BROKEN == {}


def test_a_bad_file_is_left_out_and_named_not_fatal(tmp_path, monkeypatch):
    """A syntax error, a missing NAME or a NAME already taken costs that library only."""
    monkeypatch.setattr(registry, "BROKEN", {})
    for folder, text in {"good": 'NAME = "good"\nPOSITION = 1\n', "annotated": 'NAME: str = "annotated"\n',
                         "nameless": 'TITLE = "No name"\n', "syntax": 'NAME = "syntax"\ndef (\n', "twin": 'NAME = "good"\n'}.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "runtime.py").write_text(text)
    found = registry._discover(tmp_path, "runtime.py", registry._library)
    assert list(found) == ["good", "annotated"]
    assert sorted(Path(p).parent.name for p in registry.BROKEN) == ["nameless", "syntax", "twin"]
    assert "already" in registry.BROKEN[str(tmp_path / "twin" / "runtime.py")]


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


def layout_block() -> dict[tuple[str, str | None], str]:
    """docs/contributing.md's Layout block, as the text of each folder's lines: ("shared", "harness")
    → its lines; a library's folder is written once, as "<library>/"."""
    block = (ROOT / "docs" / "contributing.md").read_text().split("## Layout", 1)[1].split("```", 2)[1]
    sections: dict[tuple[str, str | None], str] = {}
    top, sub = "", None
    for line in block.splitlines():
        if re.match(r"\S+/\s", line + " "):
            top, sub = line.split("/", 1)[0], None
        elif re.match(r"  [\w<>]+/\s", line + " "):
            sub = line.split("/", 1)[0].strip()
        sections[(top, sub)] = sections.get((top, sub), "") + line + "\n"
    return sections


def test_the_layout_names_every_module_in_its_folder():
    sections = layout_block()
    libraries = {p.name for p in (ROOT / "implementations").iterdir() if (p / "runtime.py").exists()}
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "implementations").rglob("*.py")]:
        parts = path.relative_to(ROOT).parts
        if "__pycache__" in parts or (path.name == "__init__.py" and parts[1] not in libraries):
            continue
        folder = "<library>" if parts[0] == "implementations" and parts[1] in libraries else parts[1]
        section = (parts[0], folder if len(parts) > 2 else None)
        assert re.search(rf"(?<![\w.]){re.escape(path.name)}", sections.get(section, "")), f"docs' Layout: {'/'.join(parts)}"
    assert all(library in sections[("implementations", "<library>")] for library in libraries)


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


def test_the_docs_show_the_tolerances_and_the_parallel_steps_as_written_once():
    assert tolerance_markdown() in (ROOT / "docs" / "method.md").read_text()
    steps = (ROOT / "docs" / "parallel.md").read_text().split("with the same steps in the same order (", 1)[1].split(";", 1)[0]
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
    """implementations/<library>/parallel.py: the same engine steps, in the same order, in every file."""
    path = ROOT / "implementations" / name / "parallel.py"
    engine = registry.ENGINES[name]
    found = [f for f in top_level_functions(path) if f in PARALLEL_NAMES]
    assert found == [f for f in PARALLEL_NAMES if f not in engine.absent]
    constants = registry.constants(path)
    assert constants["NAME"] == name and constants["TITLE"] and "ENGINE" in constants
    assert constants.get("LISTENS", "host") in ("host", "worker")  # who binds a port: each host, or each worker


@pytest.mark.parametrize("name", registry.SHIPPED_ENGINES)
def test_data_parallel_steps_take_the_same_parameters(name):
    functions = top_level_functions(ROOT / "implementations" / name / "parallel.py")
    for f in PARALLEL_CONTRACT:
        if f.name in functions:
            assert parameters(functions[f.name]) == f.parameters, f"{name}_parallel.{f.name}"
