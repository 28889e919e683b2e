#!/usr/bin/env bash
# The main job on a fresh machine: install, generate the sample history, train, evaluate, report.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIAGE_SKIP_APT="${TRIAGE_SKIP_APT:-1}" bash scripts/setup.sh
export DVC_NO_ANALYTICS=1
.venv/bin/triage-ml sample --rows 5000 --out data/sample.csv
.venv/bin/triage-ml train --data data/sample.csv --params params.yaml --out models/triage \
    --metrics-out reports/metrics.json --plots-dir reports/plots
echo "bundle: models/triage  metrics: reports/metrics.json  plots: reports/plots/"
