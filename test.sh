#!/usr/bin/env bash
# Set up (once), lint, and run the whole test suite; `bash test.sh --quick` runs the quick tier
# (tests marked quick, tests/conftest.py), other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh
.venv/bin/ruff check .
# Two test processes (pytest-xdist): the suite is mostly single-threaded compilation and worker
# start-up, so two keep a 2-core machine busy. NN_ROSETTA_TEST_PROCESSES=0 runs it in one.
# loadgroup: tests marked with one xdist_group (those reading one shared run, tests/shared_runs.py) go to one process.
exec .venv/bin/python -m pytest -n "${NN_ROSETTA_TEST_PROCESSES:-2}" --dist loadgroup "$@"
