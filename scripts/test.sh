#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the whole test suite:
# Debian's Go + kcp-go + kcptun for the interop tests, a venv with pykcp and test tools,
# then ruff, mypy --strict and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/venv.sh test
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks >/dev/null || {
    echo "ruff format: files need formatting (run .venv/bin/ruff format src tests benchmarks)" >&2
    .venv/bin/ruff format --check src tests benchmarks >&2 || true
    exit 1
}
.venv/bin/mypy --strict src
bash scripts/docs.sh
.venv/bin/python -m pytest "$@"
