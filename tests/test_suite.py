"""The suite's own machinery: test.sh's two processes keep the tests that share one run together
(`--dist loadgroup`), or that run would be paid for once per process; and a test that reads a
shared run without its group's mark fails, saying so (tests/shared_runs.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

GROUPED = textwrap.dedent("""
    import os
    from pathlib import Path

    import pytest

    OUT = Path(__file__).parent / "seen"


    def note(what):
        with open(OUT / f"{what}-{os.environ['PYTEST_XDIST_WORKER']}-{os.getpid()}", "w"):
            pass


    @pytest.fixture(scope="module")
    def shared_run():
        note("setup")


    @pytest.mark.xdist_group("shared")
    @pytest.mark.parametrize("i", range(4))
    def test_grouped(i, shared_run):
        note(f"grouped{i}")


    @pytest.mark.xdist_group("shared")
    def test_also_grouped(shared_run):
        note("grouped_too")


    @pytest.mark.parametrize("i", range(8))
    def test_free(i):
        note(f"free{i}")
""")


def test_test_sh_keeps_each_group_in_one_process(tmp_path):
    assert "--dist loadgroup" in (ROOT / "test.sh").read_text()
    (tmp_path / "seen").mkdir()
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
                           "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    seen = [name.split("-", 1) for name in sorted(p.name for p in (tmp_path / "seen").iterdir())]
    assert [what for what, _ in seen].count("setup") == 1  # the module-scoped run was set up once
    workers = dict(seen)
    assert len(workers) == 1 + 4 + 1 + 8  # and every test ran
    grouped = {where for what, where in workers.items() if what.startswith(("grouped", "setup"))}
    assert len(grouped) == 1, workers  # the group and its one set-up in one process


UNMARKED = textwrap.dedent("""
    import pytest
    import shared_runs


    @pytest.fixture(scope="session")
    def every_library_on_xor():
        return 1


    @pytest.mark.xdist_group("every_library_on_xor")
    def test_marked(every_library_on_xor):
        pass


    @pytest.mark.xdist_group("every_library_on_xor")
    def test_marked_asks_while_it_runs(request):
        assert shared_runs.read(request, "every_library_on_xor") == 1


    def test_unmarked(every_library_on_xor):
        pass


    def test_unmarked_asks_while_it_runs(request):
        shared_runs.read(request, "every_library_on_xor")
""")


def test_a_reader_of_a_shared_run_without_its_mark_fails_saying_so(tmp_path):
    """As test.sh runs the suite (two processes, loadgroup), with the project's check."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import shared_runs
        check_marks = shared_runs.check_marks
    """))
    (tmp_path / "test_readers.py").write_text(UNMARKED)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-rA", "-p", "no:cacheprovider",
                           "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "1 failed, 2 passed, 1 error" in out, out[-3000:]  # the error: at set-up
    for name in ("test_unmarked", "test_unmarked_asks_while_it_runs"):
        assert f"test_readers.py::{name} reads every_library_on_xor without @xdist_group('every_library_on_xor')" in out
    assert "test_marked reads" not in out and "test_marked_asks_while_it_runs reads" not in out


def test_the_project_runs_that_check_on_every_test(request):
    """conftest.py's autouse `check_marks` is the check above (this test is checked too)."""
    assert "check_marks" in request.fixturenames


def test_only_the_processes_that_collect_tests_load_the_libraries():
    """conftest.py loads every library where tests are collected (its `pytest_collectstart`), so
    in this process; under xdist, not in the controller that started it, where the imports only
    held up the start of test.sh's two test processes: no native library of theirs is in the
    controller's memory."""
    from conftest import LOADED

    assert "numpy" in LOADED  # this process collected tests: it loaded them
    if not os.environ.get("PYTEST_XDIST_WORKER") or not Path(f"/proc/{os.getppid()}/maps").exists():
        pytest.skip("not started by pytest-xdist's controller on Linux (test.sh's two test processes are)")
    found = [importlib.util.find_spec(p) for p in ("torch", "tensorflow", "jaxlib", "mlx")]
    folders = [os.path.realpath(spec.submodule_search_locations[0]) for spec in found if spec and spec.submodule_search_locations]
    if not folders:
        pytest.skip("no library with native code is installed")
    maps = Path(f"/proc/{os.getppid()}/maps").read_text()  # the files the controller has mapped
    assert [f for f in folders if f + os.sep in maps] == []
