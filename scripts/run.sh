#!/usr/bin/env bash
# Sets up pykcp on a fresh machine and runs its main job: a loopback demo of a KCP
# stream over a lossy link. Extra arguments go to `pykcp demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/pykcp demo "$@"
