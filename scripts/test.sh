#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the whole test suite:
# Debian's Go + kcp-go + kcptun for the interop tests and a C compiler for the compiled fast
# path, a venv with pykcp and test tools, then ruff, mypy --strict, the docs build and pytest
# on every CPython >= 3.11 the machine has:
#   * the default python3 (.venv): compiled build, the whole suite;
#   * every other CPython >= 3.11 (.venv-3.X): the whole suite, alternately pure Python
#     (PYKCP_NO_EXTENSIONS=1, so the pure fallback runs everything too) and compiled; these
#     are set up while the checks run and tested side by side, each logging to .test-logs/.
# Extra arguments go to every pytest run. The run fails if any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/venv.sh test,docs
mkdir -p .test-logs

# The other interpreters' venvs, one after the other (their builds share the source tree).
runs=()
pure=1
for python in $(bash scripts/pythons.sh --others); do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$pure" = 1 ]; then variant=python; else variant=compiled; fi
    runs+=("$version $variant $python")
    pure=$((1 - pure))
done
(
    for run in "${runs[@]}"; do
        read -r version variant python <<<"$run"
        if [ "$variant" = python ]; then export PYKCP_NO_EXTENSIONS=1; else unset PYKCP_NO_EXTENSIONS; fi
        PYTHON="$python" VENV=".venv-$version" bash scripts/venv.sh test,docs
    done
) >.test-logs/setup.log 2>&1 &
setup=$!

.venv/bin/ruff check src tests benchmarks build_backend
.venv/bin/ruff format --check src tests benchmarks build_backend >/dev/null || {
    echo "ruff format: files need formatting (run .venv/bin/ruff format src tests benchmarks)" >&2
    .venv/bin/ruff format --check src tests benchmarks build_backend >&2 || true
    exit 1
}
.venv/bin/mypy --strict src
bash scripts/docs.sh
if ! wait $setup; then
    echo "setting up the other Pythons failed:" >&2
    tail -n 40 .test-logs/setup.log >&2
    exit 1
fi

# All suites side by side: the main one here, the others in the background.
pids=()
for run in "${runs[@]}"; do
    read -r version variant python <<<"$run"
    (
        if [ "$variant" = python ]; then export PYKCP_NO_EXTENSIONS=1; fi
        echo "== Python $version, $(".venv-$version/bin/python" -c 'import pykcp; print(pykcp.implementation)')"
        ".venv-$version/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ) >".test-logs/python-$version.log" 2>&1 &
    pids+=($!)
done
echo "== $(.venv/bin/python -c 'import sys, pykcp; print("Python", sys.version.split()[0] + ",", pykcp.implementation)')" >&2
status=0
.venv/bin/python -m pytest "$@" || status=1
for i in "${!pids[@]}"; do
    read -r version variant python <<<"${runs[$i]}"
    log=".test-logs/python-$version.log"
    if wait "${pids[$i]}"; then
        echo "passed: Python $version ($variant): $(tail -n 1 "$log")" >&2
    else
        echo "FAILED: Python $version ($variant), log in $log:" >&2
        tail -n 40 "$log" >&2
        status=1
    fi
done
exit $status
