"""Runs several tests read, made once per test process: each is a fixture, and every test that
reads one must carry that run's `xdist_group` mark, or test.sh's `--dist loadgroup` may send its
readers to both processes and the run is paid for twice. A reader without the mark fails, saying
so: `check_marks` (autouse, from conftest.py) sees the fixtures a test names, `read` the one a test
asks for while it runs."""

from __future__ import annotations

import pytest

# The shared runs' fixtures; each names the xdist_group its readers carry.
SHARED = ("every_library_on_xor", "every_library_in_float64", "quick_report", "every_engine_as_two_hosts")
# A reader's time limit (pytest-timeout; conftest.py gives it to every reader): the first reader in a
# process pays for the run, up to 90 s on the 2-core machine (the scaling study's quick sweep).
TIMEOUT_S = 600


def on(fixture: str) -> pytest.MarkDecorator:
    """The mark a reader of `fixture` carries."""
    assert fixture in SHARED, fixture
    return pytest.mark.xdist_group(fixture)


def unmarked(item, fixtures) -> list[str]:
    """What is wrong with `item` reading `fixtures`: each shared run it reads without the mark."""
    marked = {m.args[0] if m.args else m.kwargs.get("name") for m in item.iter_markers("xdist_group")}
    return [f"{item.nodeid} reads {name} without @xdist_group({name!r}) (tests/shared_runs.py)"
            for name in fixtures if name in SHARED and name not in marked]


@pytest.fixture(autouse=True)
def check_marks(request) -> None:
    """Every test: fail, saying why, if it names a shared run's fixture without the run's mark."""
    wrong = unmarked(request.node, request.fixturenames)
    if wrong:
        pytest.fail("; ".join(wrong), pytrace=False)


def read(request, fixture: str):
    """A shared run asked for while the test runs (`request.getfixturevalue`, which `check_marks`
    cannot see), after the same check."""
    wrong = unmarked(request.node, [fixture])
    if wrong:
        pytest.fail("; ".join(wrong), pytrace=False)
    return request.getfixturevalue(fixture)
