"""Where training's memory goes: the training run with its resident memory sampled every 0.2 s,
the peak reported per stage (the stages are the run's progress messages).

    .venv/bin/python -m benchmarks.train_memory --data history.csv              # params defaults
    .venv/bin/python -m benchmarks.train_memory --data history.csv --params bounded.yaml

RSS is read from ``/proc/self/statm`` (Linux); ``ru_maxrss`` is printed too. The bundle is
written to a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_memory", description=__doc__)
    parser.add_argument("--data", required=True, help="a labelled history (CSV/JSONL/Parquet)")
    parser.add_argument("--params", help="params.yaml (defaults when absent)")
    args = parser.parse_args(argv)

    from triage_ml.contract import load_params
    from triage_ml.evaluation import run_training

    stage = ["start"]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_mb())
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    started = time.perf_counter()
    times: dict[str, float] = {}

    def progress(message: str) -> None:
        key = f"{len(times):03d} {message}"
        times[key] = time.perf_counter() - started
        stage[0] = key
        print(f"{times[key]:8.1f} s  {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="triage-train-memory-") as tmp:
        run_training(args.data, load_params(args.params), Path(tmp) / "model", progress)
    done.set()
    peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_mb())
    total = time.perf_counter() - started
    print(f"\nload average: {os.getloadavg()[0]:.1f}; total {total:,.0f} s")
    for key, peak in peaks.items():
        print(f"peak RSS {peak:8,.0f} MB  during {key[4:] if key[:3].isdigit() else key}")
    print(f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
