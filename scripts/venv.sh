#!/usr/bin/env bash
# Creates a venv (once) and installs pykcp into it, editable, with the given extras.
# PYTHON picks the interpreter (python3), VENV the directory (.venv). The compiled fast path
# is built in place when a C compiler is there; PYKCP_NO_EXTENSIONS=1 builds pure Python.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
extras=${1:-}
spec="."
[ -n "$extras" ] && spec=".[$extras]"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-compile -e "$spec"
