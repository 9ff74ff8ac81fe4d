#!/usr/bin/env bash
# Prints the CPython interpreters >= 3.11 this machine has, one path per minor version:
# those on PATH (python3.11, python3.12, ...) and pyenv's. With --others, leaves out the
# version of the default python3 (the one the main venv uses).
set -euo pipefail
default=""
if [ "${1:-}" = "--others" ]; then
    default=$(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])')
fi
candidates=()
for minor in $(seq 11 20); do
    if command -v "python3.$minor" >/dev/null 2>&1; then
        candidates+=("$(command -v "python3.$minor")")
    fi
done
root=${PYENV_ROOT:-$HOME/.pyenv}
for python in "$root"/versions/3.*/bin/python3.*; do
    case "$python" in *-config|*m) continue ;; esac
    [ -x "$python" ] && candidates+=("$python")
done
seen=" "
for python in "${candidates[@]}"; do
    version=$("$python" -c 'import sys, platform
if platform.python_implementation() == "CPython" and sys.version_info >= (3, 11):
    print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    [ -n "$version" ] || continue
    [ "$version" = "$default" ] && continue
    case "$seen" in *" $version "*) continue ;; esac
    seen="$seen$version "
    echo "$python"
done
