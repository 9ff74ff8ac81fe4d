#!/usr/bin/env bash
# Builds the documentation site into docs/_build/html (Sphinx + MyST-Parser + autodoc), with
# warnings as errors. Creates .venv and installs pykcp with its docs extra when needed; extra
# arguments go to sphinx-build.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -c "import sphinx, myst_parser, furo, prometheus_client, matplotlib" 2>/dev/null ||
    bash scripts/venv.sh docs
exec .venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html "$@"
