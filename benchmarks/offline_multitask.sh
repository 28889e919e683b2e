#!/usr/bin/env bash
# benchmarks/multitask_probe.py on a machine with torch and a CUDA GPU but no package index
# (a lent GPU machine). Here, first (no wheels needed: the probe imports nothing of triage_ml):
#   .venv/bin/python -m benchmarks.offline_pack pack --tasks severity,twitter-complaints --out .devpack
# (twitter-complaints brings the embedding rows of the non-complaints' tokens). There, from the
# repository root: bash benchmarks/offline_multitask.sh .devpack OUT_DIR
# Runs the four variants on tuning seeds 0 and 4 (5 folds, encoder seeds 0-2), one process per
# variant and seed, side by side; each saves its folds as it goes, so a run cut short by
# JOB_LIMIT keeps what it finished. Everything lands in one archive, OUT_DIR/runs.tgz: the lent
# machine's copy-back returns at most 8 files (2026-12-05: the 16 result files of a first run
# were left there, which cost the run's probabilities). Here, afterwards:
#   tar xzf OUT_DIR/runs.tgz -C reports/multitask-probe
#   .venv/bin/python -m benchmarks.multitask_probe summarise reports/multitask-probe/s{0,4}
set -euo pipefail
pack=${1:-.devpack}
out=${2:-/tmp/multitask-out}
job_limit=${JOB_LIMIT:-420}  # seconds per process
runs=/tmp/multitask-runs
mkdir -p "$out" "$runs"
[ -d /tmp/offline/site ] || python3 -m benchmarks.offline_pack unpack "$pack" /tmp/offline
export PYTHONPATH="$PWD:/tmp/offline/site" TRIAGE_DATASETS=/tmp/offline/datasets
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
python3 - <<'PY'
import importlib.metadata as m, torch
names = ["torch", "transformers", "tokenizers", "scikit-learn", "pandas", "numpy", "safetensors"]
print({n: m.version(n) for n in names}, "cuda:", torch.cuda.is_available() and torch.cuda.get_device_name(0))
PY
probe="python3 -m benchmarks.multitask_probe run --threads 2"
[ -n "${NO_SMOKE:-}" ] || $probe --limit 40 --folds 2 --seeds 0 --encoder-seeds 0 --epochs 1 \
    --variants levels+complaint+affect --out /tmp/multitask-smoke > "$runs/smoke.log" 2>&1 \
    || { cat "$runs/smoke.log"; exit 1; }
cat "$runs/smoke.log" 2>/dev/null || true
for v in levels levels+affect levels+complaint levels+complaint+affect; do
    for s in 0 4; do
        timeout "$job_limit" $probe --variants "$v" --seeds "$s" --folds 5 --encoder-seeds 0,1,2 \
            --out "$runs/s$s" > "$runs/${v//+/_}-s$s.log" 2>&1 &
    done
done
wait || true
tar czf "$out/runs.tgz" -C "$runs" .
for f in "$runs"/*-s?.log; do echo "== $f"; grep -c "macro-F1" "$f" || true; tail -1 "$f"; done
