#!/usr/bin/env bash
# Create .venv and install the pinned dependencies; a second run with an unchanged
# requirements.lock does no work. Needs only Python 3.11+ and pip.
#
# The install is uv's (pinned below, fetched by pip into .venv/.setup, outside the environment's
# own packages): it downloads in parallel and unpacks the wheels and compiles their bytecode on
# every core, where pip does each in turn on one (on the 2-core machine, fresh .venvs, every wheel
# downloaded: 59 and 64 s against pip's 138 s, README "Two commands").
# uv reads no pip configuration, so pip's own settings (`pip config list`: its files and PIP_*
# variables; here a find-links folder with the CPU build of torch, local indexes and a
# constraints file) are handed to it as flags; where they hold anything it cannot be told, or uv
# fails, pip installs as before, saying why.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
UV=uv==0.13.9
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing pinned dependencies into .venv (about a minute, 3.7 GB)…" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

with_uv() {
  local args
  args=$(.venv/bin/python - <<'PY'
import ast, subprocess, sys

# pip's settings for an install, the later section winning as in pip: its files' [global], then
# [install], then PIP_* variables (shown as ":env:"); `pip config list` prints each value as a
# Python literal, and an empty one sets nothing.
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
settings = {}
for section in ("global", "install", ":env:"):
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.startswith(section + ".") and ast.literal_eval(value).strip():
            settings[key[len(section) + 1:]] = ast.literal_eval(value)
FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
         "constraint": "--constraint"}
HARMLESS = {"config-file", "cert", "default-timeout", "timeout", "disable-pip-version-check", "no-input", "progress-bar",
            "retries", "root-user-action", "no-warn-script-location", "quiet", "verbose"}
other = sorted(set(settings) - set(FLAGS) - HARMLESS)
if other:
    sys.exit(f"setup: pip's settings {', '.join(other)} have no uv flag here")
for name, flag in FLAGS.items():
    for value in settings.get(name, "").split():
        print(flag, value, sep="\n")
if "cert" in settings:
    print(f"SSL_CERT_FILE={settings['cert']}")
PY
) || return 1
  if [ "$(.venv/.setup/bin/uv --version 2>/dev/null | cut -d' ' -f1-2)" != "uv ${UV#uv==}" ]; then
    .venv/bin/python -m pip install -qq --disable-pip-version-check --upgrade --target .venv/.setup "$UV" || return 1
  fi
  # One argument a line (paths and URLs hold no newline); SSL_CERT_FILE=... lines are the environment.
  local -a flags=() environ=()
  while IFS= read -r line; do
    case "$line" in
      SSL_CERT_FILE=*) environ+=("$line") ;;
      ?*) flags+=("$line") ;;
    esac
  done <<< "$args"
  env "${environ[@]}" .venv/.setup/bin/uv pip install --quiet --python .venv/bin/python --compile-bytecode \
    --index-strategy unsafe-best-match "${flags[@]}" -r requirements.lock
}

if ! with_uv; then
  echo "setup: installing with pip instead of uv" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
fi
echo "$want" > "$stamp"
echo "setup: done" >&2
