#!/usr/bin/env bash
# Set up (once) and run compare.py; arguments go to compare.py (default: XOR, every library, every mode).
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh
exec .venv/bin/python compare.py "$@"
