#!/usr/bin/env bash
# Sets up a fresh machine for httprecap: a .venv with the project and its dev tools, and, with
# --system (run as root), the Debian packages the tests use (chromium for the HTML report).
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system" ]]; then
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: ${need[*]} missing and not root; HTML report tests will be skipped" >&2
    else
      echo "setup: installing ${need[*]} (apt)" >&2
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
  fi
fi

python_bin="${HTTPRECAP_PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for candidate in python3.12 python3.11 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      python_bin=$candidate
      break
    fi
  done
fi
[[ -n "$python_bin" ]] || { echo "setup: Python 3.10+ is required" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $python_bin" >&2
  "$python_bin" -m venv .venv
fi

stamp=.venv/.httprecap-installed
want=$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing httprecap and its dev dependencies into .venv (pip)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c 'import httprecap, awslambdaric' || { echo "setup: install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
