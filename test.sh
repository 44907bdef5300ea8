#!/usr/bin/env bash
# Set up (once), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
