"""The suite's own machinery: test.sh's two processes keep the tests that share one run together
(`--dist loadgroup`), or that run would be paid for once per process; and a test that reads a
shared run without its group's mark fails, saying so (tests/shared_runs.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import time
import tomllib
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


# ---------------------------------------------------------------- a suite that cannot hang

SIGNAL_TESTS = ["tests/test_harness.py::test_interrupt_exits_130_and_writes_nothing",
                "tests/test_tables.py::test_an_interrupted_scale_study_still_prints_its_partial_table"]


@pytest.mark.timeout(420)
def test_the_ctrl_c_tests_pass_when_the_suite_starts_with_sigint_ignored():
    """Started as a shell's background job (`bash .ci/run &`), under nohup or a job runner, the
    suite starts with SIGINT ignored; the tests that press Ctrl-C set up the handler they rely on
    (conftest's `ctrl_c`) and pass anyway. Without it they waited for their fake's sleep and failed."""
    ignored = ["bash", "-c", 'trap "" INT; exec "$@"', "-"]  # what a non-interactive shell's `cmd &` does
    seen = subprocess.run([*ignored, sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"],
                          capture_output=True, text=True, timeout=60)
    assert seen.stdout.strip() == "True"  # the child really starts with SIGINT ignored
    start = time.monotonic()
    done = subprocess.run([*ignored, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SIGNAL_TESTS],
                          cwd=ROOT, capture_output=True, text=True, timeout=360)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "3 passed" in out, out[-3000:]
    assert time.monotonic() - start < 240  # not the fakes' "forever" (tests/fakes/__init__.py) after each Ctrl-C


HANGS = textwrap.dedent("""
    import time


    def test_hangs():
        time.sleep(60)


    def test_after_it():
        pass
""")


def test_a_test_that_hangs_fails_at_its_limit_with_its_stack_and_the_others_run(tmp_path):
    """The project's pytest-timeout settings (pyproject.toml), with the limit cut to 2 s."""
    (tmp_path / "test_hangs.py").write_text(HANGS)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
                           "--rootdir", str(tmp_path), "--timeout", "2", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "1 failed, 1 passed" in out, out[-3000:]
    assert "Timeout (>2.0s)" in out and "time.sleep(60)" in out  # the test that hung, and where it stood
    assert time.monotonic() - start < 30


def test_every_test_has_a_time_limit_and_every_fake_sleep_ends_before_it():
    """pyproject.toml gives every test a limit; no sleep in tests/ (a fake's "forever" included) is
    longer than tests/fakes' FOREVER_S, and that is shorter than the limit."""
    from tests.fakes import FOREVER_S

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert options["timeout_method"] == "signal" and options["timeout"] > FOREVER_S
    long = []
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text()
        for found in re.finditer(r"""sleep(?:\(|\s+|", ")(\d+(?:\.\d+)?)""", text):
            if float(found.group(1)) > FOREVER_S:
                long.append(f"{path.relative_to(ROOT)}: {found.group(0)}")
    assert long == []
