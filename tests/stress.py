"""The process tests under load: `python tests/stress.py [--rounds 20] [--busy N]`.

Not part of the default suite (it takes hours on two cores). It keeps every core busy with
other work (`--busy` processes spinning, one per usable core by default), then runs, ROUNDS
times in a row, every test of tests/test_parallel.py (the two acceptance runs, bad layouts,
engines that fail, crash, hang, linger or lose their port, Ctrl-C and SIGTERM),
tests/test_workers.py (library workers that crash, exit, are killed or hang),
tests/test_processes.py, tests/test_launchers.py (launched ranks that are missing, doubled or
killed, each against its --timeout) and tests/test_harness.py (Ctrl-C, SIGINT ignored). A test
that passes or fails by timing shows up here; the default suite, run on a quiet machine, would
miss it. Prints one line per round and a closing 'N passed, N failed' line of rounds; exits 1 if
any round failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["tests/test_parallel.py", "tests/test_workers.py", "tests/test_processes.py", "tests/test_launchers.py",
         "tests/test_harness.py"]
SPIN = "while True: pass"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests/stress.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--busy", type=int, default=len(os.sched_getaffinity(0)), help="spinning processes (default: one per core)")
    parser.add_argument("--log", default=None, help="folder for each round's pytest output (default: a temporary one)")
    args = parser.parse_args(argv)
    # Started as a background job (`... &`), a shell hands us SIGINT ignored, and every process we
    # start would inherit that and ignore Ctrl-C: the interrupt tests could not pass. Restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log = Path(args.log or subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    log.mkdir(parents=True, exist_ok=True)
    busy = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    passed = failed = 0
    start = time.monotonic()
    print(f"stress: {args.rounds} rounds of {', '.join(FILES)} with {args.busy} busy processes; logs in {log}", flush=True)
    try:
        for n in range(1, args.rounds + 1):
            t = time.monotonic()
            out = log / f"round-{n:02d}.txt"
            with out.open("w") as f:
                code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES], cwd=ROOT,
                                       stdout=f, stderr=subprocess.STDOUT)
            summary = next((line for line in reversed(out.read_text().splitlines()) if line.strip()), "")
            passed, failed = passed + (code == 0), failed + (code != 0)
            print(f"round {n:2d}: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - t:5.0f} s: {summary}", flush=True)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"stress: {time.monotonic() - start:.0f} s in all", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
