"""Adding a library is adding one folder (lesson.py, runtime.py, and the two-line __init__.py): the
registry, `compare.py`'s table and its `--frameworks all`, the side-by-side page and the layout
check all find it from that folder alone (docs/contributing.md, "Adding a library"). Shown with
tests/added/tiny/, a made-up library."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from conftest import LOADED
from test_layout import layout_problems

from shared.commands import cli
from shared.commands.compare import build_parser
from shared.harness import registry
from shared.harness.environment import describe
from shared.studies import sidebyside
from shared.studies.sidebyside_html import count_in_words, page

pytestmark = pytest.mark.quick  # the quick tier (bash test.sh --quick)

ROOT = Path(__file__).resolve().parent.parent
ADDED = ROOT / "tests" / "added" / "tiny"


@pytest.fixture
def tiny(monkeypatch) -> registry.Library:
    monkeypatch.setattr(registry, "LIBRARIES", dict(registry.LIBRARIES))  # gone again after the test
    return registry.add_folder(ADDED, "tests.added.tiny")


def test_the_registry_and_the_layout_check_find_it(tiny):
    assert (tiny.name, tiny.title, tiny.install, tiny.position) == ("tiny", "Tiny", "pip install numpy", 9)
    assert registry.listed() == (*registry.FRAMEWORKS, "tiny")  # POSITION 9: after the shipped ones
    assert layout_problems(tiny) == []
    assert build_parser().parse_args(["--frameworks", "all"]).frameworks == [*registry.FRAMEWORKS, "tiny"]
    assert registry.known()[:len(registry.listed())] == registry.listed()  # one order, whatever the insertion


def test_an_added_file_takes_its_place_by_position_and_cannot_replace_one(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "LIBRARIES", dict(registry.LIBRARIES))
    early = tmp_path / "early"
    early.mkdir()
    early.joinpath("runtime.py").write_text((ADDED / "runtime.py").read_text().replace('NAME = "tiny"', 'NAME = "early"')
                                            .replace("POSITION = 9", "POSITION = 1"))
    registry.add_folder(early, "early")
    assert registry.listed().index("early") == 1 == registry.known().index("early")
    with pytest.raises(ValueError, match="already"):
        registry.add_folder(early, "early")
    with pytest.raises(ValueError):
        registry.register("torch", "tests.fakes.raises")


def test_the_page_gives_it_a_column_with_every_row(tiny):
    assert sidebyside.library_titles()["tiny"] == "Tiny"
    table = sidebyside.cells()
    for row in sidebyside.ROWS:
        cell = table[("tiny", row)]
        assert cell.pieces and cell.pieces[0].path == "tests/added/tiny/lesson.py" or cell.absent == tiny.absent[row], row
    runtime = sidebyside.cells(part="runtime")
    assert all(runtime[("tiny", row)].pieces[0].path == "tests/added/tiny/runtime.py" for row in sidebyside.RUNTIME_ROWS)
    html = page(None, "no report")
    count = count_in_words(len(registry.listed()))  # one more than the shipped libraries, in words
    assert '<th data-lib="tiny">Tiny</th>' in html and f"the same network in {count} libraries" in html
    assert f'<button id="show-all" type="button">all {count}</button>' in html


def test_compare_runs_it_in_parity_and_shows_it_in_the_table(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINY_CACHE_FOLDER", "/the/users")  # IMPORT_ENV's None: its worker must not keep it
    path = tmp_path / "report.json"
    code = cli.main(["--frameworks", "numpy,tiny", "--steps", "20", "--repeat", "1", "--device", "cpu", "--json", str(path)])
    assert code == 0
    report = json.loads(path.read_text())
    seen = ast.literal_eval(report["environment"]["versions"]["tiny_environment"])  # as its worker saw them at import
    assert (seen["TINY_X64"], seen["TINY_CACHE"], seen["TINY_CACHE_FOLDER"]) == ("1", "off", None)  # float64, the default
    assert Path(seen["TINY_CACHE_DIR"]).parts[-2:] == ("run-import", "tiny")  # CACHE_ENV: an empty folder of its own
    rows = [r for r in report["runs"] if r["framework"] == "tiny"]
    assert [(r["mode"], r["status"]) for r in rows] == [("eager", "ok"), ("compiled", "skipped")]  # MODES: eager only
    assert rows[0]["parity_ok"] and rows[1]["reason"] == "tiny has no compiled mode"
    assert rows[0]["diff"]["scaled"] == 0.0  # it computes with NumPy: exactly the reference
    assert "tiny" in capsys.readouterr().out
    assert registry.import_environment("tiny", "float32") == {"TINY_X64": None, "TINY_CACHE": "off", "TINY_CACHE_FOLDER": None}


def test_loading_it_here_sets_its_fixed_import_variables_and_keeps_the_users(tiny, monkeypatch):
    """registry.load (the test processes' import) sets IMPORT_ENV's fixed values where unset, as
    its worker would have them; a per-dtype value, a removal or the user's own value it leaves."""
    for variable in ("TINY_CACHE", "TINY_X64"):
        monkeypatch.setenv(variable, "x")
        monkeypatch.delenv(variable)  # unset now, and unset again after the test
    monkeypatch.setenv("TINY_CACHE_FOLDER", "/the/users")
    registry.load("tiny")
    assert os.environ["TINY_CACHE"] == "off" and "TINY_X64" not in os.environ
    assert os.environ["TINY_CACHE_FOLDER"] == "/the/users"
    monkeypatch.setenv("TINY_CACHE", "the user's")
    registry.load("tiny")
    assert os.environ["TINY_CACHE"] == "the user's"
    if "torch" in LOADED:  # deterministic cuBLAS in the GPU parity tests, which run the lesson here
        assert os.environ.get("CUBLAS_WORKSPACE_CONFIG")


def test_a_library_on_a_backend_is_set_up_as_that_backend_and_the_users_variables_are_kept(monkeypatch):
    """keras:jax's worker gets Keras' backend variable and JAX's import-time variables, keras:torch
    PyTorch's cache folders (the files' constants, read here, not restated); RECORDED_ENV and
    THREAD_ENV variables the user set are kept with every result."""
    checked = []
    for library in registry.LIBRARIES.values():
        for target in library.targets if library.backends else ():
            checked.append(target)
            backend = registry.split(target)[1]
            for dtype in ("float32", "float64"):
                expected = {library.backend_env: backend, **registry.import_environment(backend, dtype)}
                assert registry.import_environment(target, dtype).items() >= expected.items(), (target, dtype)
            assert registry.cache_folders(target).items() >= registry.cache_folders(backend).items()
            assert registry.thread_environment(target, 2).items() >= registry.thread_environment(backend, 2).items()
    assert {"keras:jax", "keras:torch"} <= set(checked)
    assert registry.import_environment("jax", "float64")["JAX_ENABLE_X64"] == "1"  # the cases the loop above relies on
    assert registry.import_environment("jax", "float32")["JAX_ENABLE_X64"] is None
    assert set(registry.cache_folders("torch")) == {"TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"}
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert describe()["threads"].items() >= {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false", "OMP_NUM_THREADS": "3"}.items()


def test_the_docs_show_the_contract_as_written_once():
    from shared.contract.interface import LESSON, RUNTIME

    text = (ROOT / "docs" / "contributing.md").read_text()
    assert sidebyside.contract_markdown(LESSON) in text and sidebyside.contract_markdown(RUNTIME) in text
