"""/metrics with several workers after one died without shutting down (kill -9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEAD_WORKER = """
from serve.metrics import get_metrics
m = get_metrics()
m.model_info.labels(model_version="old").set(1)
m.posts.inc(5)
"""  # exits without worker_exited(), as a killed worker does

LIVE_WORKER = """
from serve.metrics import get_metrics, render
m = get_metrics()
m.model_info.labels(model_version="new").set(1)
m.posts.inc(2)
print(render()[0].decode())
"""


def _run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_dead_workers_gauges_leave_the_scrape_and_its_counts_stay(tmp_path: Path) -> None:
    _run(DEAD_WORKER, tmp_path)
    text = _run(LIVE_WORKER, tmp_path)
    assert 'triage_model_info{model_version="new"} 1.0' in text
    assert 'model_version="old"' not in text  # the dead worker serves nothing any more
    assert "triage_posts_scored_total 7.0" in text  # what it did still counts
