"""Runs several tests read, made once per test process: each is a fixture, and every test that
reads one must carry that run's `xdist_group` mark, or test.sh's `--dist loadgroup` may send its
readers to both processes and the run is paid for twice. Checked when the tests are collected."""

from __future__ import annotations

import pytest

# fixture name → the xdist_group its readers carry
GROUPS = {
    "every_library_on_xor": "every_library_on_xor",
    "every_library_in_float64": "every_library_in_float64",
    "quick_report": "scale_quick",
}


def on(fixture: str) -> pytest.MarkDecorator:
    """The mark a reader of `fixture` carries."""
    return pytest.mark.xdist_group(GROUPS[fixture])


def unmarked_readers(items: list, groups: dict[str, str] = GROUPS) -> list[str]:
    """The tests that read a shared run without its group's mark."""
    wrong = []
    for item in items:
        marked = {m.args[0] if m.args else m.kwargs.get("name") for m in item.iter_markers("xdist_group")}
        wrong += [f"{item.nodeid} reads {name} without @xdist_group({groups[name]!r})"
                  for name in getattr(item, "fixturenames", ()) if name in groups and groups[name] not in marked]
    return wrong


def check_readers(items: list) -> None:
    """Stop the run, naming each reader without its mark."""
    wrong = unmarked_readers(items)
    if wrong:
        raise pytest.UsageError("; ".join(wrong))
