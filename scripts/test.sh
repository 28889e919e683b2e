#!/usr/bin/env bash
# The test command: sets up what is missing, then lint, format check, the layer contract
# (import-linter, configured in pyproject.toml) and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== lint-imports (layers)"; .venv/bin/lint-imports --no-logo
echo "== pytest"; .venv/bin/python -m pytest "$@"
