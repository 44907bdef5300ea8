"""Nothing the harness starts outlives it: `end_group` kills a worker's or host's group and what
carries the run's mark, and returns only when every one of them has exited and been reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.harness import processes
from tests.fakes import FOREVER_S

LEADER = f"""
import subprocess, sys, time
stubborn = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep({FOREVER_S})"])
escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep({FOREVER_S})"], start_new_session=True)
print(stubborn.pid, escaped.pid, flush=True)
time.sleep({FOREVER_S})
"""


def start_group(mark: str) -> tuple[subprocess.Popen, int, int]:
    """A group leader with a child that ignores SIGTERM and one that left for a session of its own."""
    leader = subprocess.Popen([sys.executable, "-c", LEADER], env=processes.marked_env(mark), stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    stubborn, escaped = map(int, leader.stdout.readline().split())
    return leader, stubborn, escaped


def zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def gone(pid: int) -> bool:
    """Exited and reaped: not even a zombie is left in /proc."""
    return not os.path.exists(f"/proc/{pid}")


def test_a_group_and_its_marked_escapee_are_gone_and_reaped_when_end_group_returns():
    assert processes.become_subreaper()
    mark = processes.new_mark()
    leader, stubborn, escaped = start_group(mark)
    leader.kill()  # the leader goes first, as a crashed host would: its children become ours
    leader.wait()
    assert processes.end_group(leader.pid, mark) == []
    assert gone(stubborn) and gone(escaped)  # checked at once: nothing to wait for


def test_without_the_mark_a_process_that_left_the_group_would_survive():
    """The mark is what finds it: the group alone does not (so the test above can fail)."""
    assert processes.become_subreaper()
    leader, stubborn, escaped = start_group(processes.new_mark())
    leader.kill()
    leader.wait()
    try:
        assert processes.end_group(leader.pid, None) == []
        assert gone(stubborn) and not gone(escaped)
    finally:
        os.kill(escaped, signal.SIGKILL)
        processes.end_group(escaped, None)
        os.waitpid(escaped, 0)
    assert gone(escaped)


def test_other_leaders_sharing_the_mark_keep_their_exit_status():
    """The hosts of one run share a mark: ending one host's group must not reap the others,
    whose Popen objects would then read exit status 0 instead of how they really ended."""
    assert processes.become_subreaper()
    mark = processes.new_mark()
    first, second = (start_group(mark)[0] for _ in range(2))
    for leader in (first, second):
        os.killpg(leader.pid, signal.SIGKILL)
    leaders = [first.pid, second.pid]
    for leader in (first, second):
        assert processes.end_group(leader.pid, mark, keep=leaders) == []
    assert [first.wait(), second.wait()] == [-signal.SIGKILL, -signal.SIGKILL]


def test_a_marked_process_that_exited_before_the_end_is_still_reaped():
    """A helper in a session of its own that exits with its worker has an unreadable environment
    afterwards: `seen` (found while it lived) is what lets it be reaped, not left a zombie."""
    assert processes.become_subreaper()
    mark = processes.new_mark()
    leader, stubborn, escaped = start_group(mark)
    seen = [pid for pid, _, _ in processes.members(leader.pid, mark)]
    assert escaped in seen
    leader.kill()
    leader.wait()
    os.kill(escaped, signal.SIGKILL)  # it ends by itself, before end_group looks
    while not zombie(escaped):
        time.sleep(0.01)
    assert processes.end_group(leader.pid, mark, seen=seen) == []
    assert gone(stubborn) and gone(escaped)


def test_without_what_was_seen_that_process_would_stay_a_zombie():
    assert processes.become_subreaper()
    mark = processes.new_mark()
    leader, stubborn, escaped = start_group(mark)
    leader.kill()
    leader.wait()
    os.kill(escaped, signal.SIGKILL)
    while not zombie(escaped):
        time.sleep(0.01)
    assert processes.end_group(leader.pid, mark) == []
    assert gone(stubborn) and not gone(escaped)
    os.waitpid(escaped, 0)
