#!/usr/bin/env bash
# Create .venv and install the pinned dependencies; a second run with an unchanged
# requirements.lock does no work. Needs only Python 3.11+ and pip.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing pinned dependencies into .venv (2-3 minutes, about 3.7 GB)…" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
echo "$want" > "$stamp"
echo "setup: done" >&2
