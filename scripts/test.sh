#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the whole test suite:
# Debian's Go + kcp-go + kcptun for the interop tests and a C compiler for the compiled fast
# path, a venv with pykcp and test tools, then ruff, mypy --strict, the docs build and pytest
# on every CPython >= 3.11 the machine has:
#   * the default python3 (.venv): compiled build, the whole suite;
#   * every other CPython >= 3.11 (.venv-3.X): the whole suite, alternately pure Python
#     (PYKCP_NO_EXTENSIONS=1, so the pure fallback runs everything too) and compiled; each
#     suite starts as soon as its venv is ready and runs beside the checks and the main
#     suite, logging to .test-logs/.
# Extra arguments go to every pytest run. The run fails if any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
mkdir -p .test-logs

# The other interpreters. Builds share the source tree, so venvs are set up one at a time:
# the pure ones first (nothing to compile; their suites start at once and run while the rest
# is built), then the main venv, then the other compiled ones in the background, each suite
# starting as soon as its venv is ready. Each logs to .test-logs/python-3.X.log and leaves
# its exit status in .test-logs/python-3.X.rc.
runs=()
pure=1
for python in $(bash scripts/pythons.sh --others); do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$pure" = 1 ]; then variant=python; else variant=compiled; fi
    runs+=("$version $variant $python")
    rm -f ".test-logs/python-$version.rc"
    pure=$((1 - pure))
done
set_up_and_start() { # VARIANT [pytest args]: set up its venvs in turn, start each suite
    local want=$1
    shift
    for run in "${runs[@]}"; do
        read -r version variant python <<<"$run"
        [ "$variant" = "$want" ] || continue
        if [ "$variant" = python ]; then export PYKCP_NO_EXTENSIONS=1; else unset PYKCP_NO_EXTENSIONS; fi
        local log=".test-logs/python-$version.log"
        if ! PYTHON="$python" VENV=".venv-$version" bash scripts/venv.sh test,docs >"$log" 2>&1; then
            echo "setting up the venv failed" >>"$log"
            echo 1 >".test-logs/python-$version.rc"
            continue
        fi
        (
            echo "== Python $version, $(".venv-$version/bin/python" -c 'import pykcp; print(pykcp.implementation)')"
            status=0
            ".venv-$version/bin/python" -m pytest -q -p no:cacheprovider "$@" || status=$?
            echo $status >".test-logs/python-$version.rc"
        ) >>"$log" 2>&1 &
    done
    unset PYKCP_NO_EXTENSIONS
}
# If a check below fails, the run stops there: take the background set-up and suites with it.
kill_tree() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
    kill "$1" 2>/dev/null || true
}
trap 'for job in $(jobs -p); do kill_tree "$job"; done' EXIT

set_up_and_start python "$@"
bash scripts/venv.sh test,docs
{
    set_up_and_start compiled "$@"
    wait
} &

.venv/bin/ruff check src tests benchmarks build_backend
.venv/bin/ruff format --check src tests benchmarks build_backend >/dev/null || {
    echo "ruff format: files need formatting (run .venv/bin/ruff format src tests benchmarks)" >&2
    .venv/bin/ruff format --check src tests benchmarks build_backend >&2 || true
    exit 1
}
.venv/bin/mypy --strict src
bash scripts/docs.sh
echo "== $(.venv/bin/python -c 'import sys, pykcp; print("Python", sys.version.split()[0] + ",", pykcp.implementation)')" >&2
status=0
.venv/bin/python -m pytest "$@" || status=1
wait || true  # the other suites
for run in "${runs[@]}"; do
    read -r version variant python <<<"$run"
    log=".test-logs/python-$version.log"
    if [ "$(cat ".test-logs/python-$version.rc" 2>/dev/null)" = 0 ]; then
        echo "passed: Python $version ($variant): $(tail -n 1 "$log")" >&2
    else
        echo "FAILED: Python $version ($variant), log in $log:" >&2
        tail -n 40 "$log" >&2
        status=1
    fi
done
exit $status
