"""The suite's own machinery: test.sh's two processes keep the tests that share one module-scoped
run together (`--dist loadgroup`), or that run would be paid for once per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
