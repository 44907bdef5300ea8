"""Nothing the harness starts outlives it: `end_group` kills a worker's or host's group and what
carries the run's mark, and returns only when every one of them has exited and been reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from shared import processes

LEADER = """
import subprocess, sys, time
stubborn = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print(stubborn.pid, escaped.pid, flush=True)
time.sleep(600)
"""


def start_group(mark: str) -> tuple[subprocess.Popen, int, int]:
    """A group leader with a child that ignores SIGTERM and one that left for a session of its own."""
    leader = subprocess.Popen([sys.executable, "-c", LEADER], env=processes.marked_env(mark), stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    stubborn, escaped = map(int, leader.stdout.readline().split())
    return leader, stubborn, escaped


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
