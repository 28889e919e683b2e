#!/usr/bin/env bash
# The quality benchmark's encoder runs on a machine with torch and a CUDA GPU but no package
# index (a lent GPU machine; docs/quality.md quotes its figures as such). Here, first:
#   .venv/bin/python -m benchmarks.offline_pack pack --tasks severity,banking77 --out .devpack \
#       --wheels DIR   # DIR: wheels of the packages that machine lacks, for its Python 3.12:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d DIR \
#       spacy==3.8.18 thinc==8.3.14 blis==1.3.4 cymem==2.0.16 preshed==3.0.15 \
#       murmurhash==1.0.16 srsly==2.5.6 catalogue==2.0.10 wasabi==1.1.3 weasel==1.0.1 \
#       confection==1.3.4 spacy-legacy==3.0.12 spacy-loggers==1.0.5 smart-open==9.0.4 \
#       cloudpathlib==0.26.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
#       typing-extensions==4.16.0 typing-inspection==0.4.5 py3langid==0.4.0
#   (the H200 machine lent on 2026-12-04 had the rest: torch, transformers, onnxruntime, ...)
# There, from the repository root: bash benchmarks/offline_quality.sh .devpack OUT_DIR
# Runs side by side (one CPU thread each), each saving its predictions: severity on CV seeds
# 1, 2, 3 (10 folds, the frozen params) with the encoder seeded 0, 1, 2, and banking77's
# official split with the encoder seeded 0, 1, 2 (--set train.encoder.seed=N; seed 0 is
# the frozen config); then benchmarks.quality.ensemble scores the average of each task's
# runs beside each run alone. A smoke run first, so that a broken install fails in a minute.
set -euo pipefail
pack=${1:-.devpack}
out=${2:-/tmp/offline-out}
job_limit=${JOB_LIMIT:-330}  # seconds per run; a run cut short still leaves its fold lines
mkdir -p "$out" /tmp/runs
python3 -m benchmarks.offline_pack unpack "$pack" /tmp/offline
export PYTHONPATH="$PWD:$PWD/src:/tmp/offline/site" TRIAGE_DATASETS=/tmp/offline/datasets
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
python3 - <<'PY'
import importlib.metadata as m, torch
names = ["torch", "transformers", "onnxruntime", "onnx", "scikit-learn", "pandas", "numpy", "spacy"]
print({n: m.version(n) for n in names}, "cuda:", torch.cuda.is_available() and torch.cuda.get_device_name(0))
PY
bench="python3 -m benchmarks.quality --no-peers --save-predictions --set train.encoder.threads=1"
$bench --tasks severity --folds 2 --limit 120 --systems ours-encoder --out /tmp/runs/smoke \
    > /tmp/runs/smoke.log 2>&1 || { cat /tmp/runs/smoke.log; exit 1; }
grep -h "fold" /tmp/runs/smoke.log
for s in 1 2 3; do
    for e in 0 1 2; do
        timeout "$job_limit" $bench --tasks severity --folds 10 --seeds "$s" \
            --systems ours-encoder,encoder-only --set "train.encoder.seed=$e" \
            --out "/tmp/runs/severity-s$s-e$e" > "/tmp/runs/severity-s$s-e$e.log" 2>&1 &
    done
done
for e in 0 1 2; do
    timeout "$job_limit" $bench --tasks banking77 --seeds 0 --systems ours-encoder,encoder-only \
        --set "train.encoder.seed=$e" --out "/tmp/runs/banking77-e$e" \
        > "/tmp/runs/banking77-e$e.log" 2>&1 &
done
wait || true
python3 - <<'PY'
import glob, json
for path in sorted(glob.glob("/tmp/runs/*/*.json")):
    if path.endswith("summary.json"):
        continue
    d = json.load(open(path))
    cells = {k: round(e["score"]["mean"], 4) for k, e in d["systems"].items()}
    sp = {k: round(e["spearman"]["mean"], 4) for k, e in d["systems"].items() if "spearman" in e}
    secs = {k: round(float(e["train_seconds"]), 1) for k, e in d["systems"].items()}
    run = path.split("/")[3]
    print(run, d["seeds"], d["overrides"], cells, sp, "train s", secs, d["environment"]["accelerator"])
PY
for s in 1 2 3; do
    python3 -m benchmarks.quality.ensemble --task severity /tmp/runs/severity-s$s-e{0,1,2} \
        --json "/tmp/runs/ensemble-severity-s$s.json" || true
done
python3 -m benchmarks.quality.ensemble --task banking77 /tmp/runs/banking77-e{0,1,2} \
    --json /tmp/runs/ensemble-banking77.json || true
tar czf "$out/runs.tgz" -C /tmp/runs .
for f in /tmp/runs/*.log; do echo "== $f"; grep -E "fold|Error|error" "$f" | tail -2 || true; done
