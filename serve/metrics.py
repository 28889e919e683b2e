"""Prometheus metrics: requests, latency, posts scored, errors by kind, model reloads.

Created on first use (not at import) so that ``PROMETHEUS_MULTIPROC_DIR``, which
prometheus-client reads when it is imported, is already set by the launcher. With several
workers that directory is mandatory: each worker writes its own files and ``/metrics``
aggregates them, so a scrape that lands on any worker reports the whole service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# single posts take a few milliseconds: the default buckets (from 5 ms) would hide them
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1)
LATENCY_BUCKETS += (0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    requests: Any
    latency: Any
    posts: Any
    errors: Any
    reloads: Any
    model_info: Any


@lru_cache
def get_metrics() -> Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        requests=Counter(
            "triage_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
        ),
        latency=Histogram(
            "triage_http_request_duration_seconds",
            "Time from request to complete response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
        ),
        posts=Counter("triage_posts_scored", "Posts scored by /v1/score."),
        errors=Counter(
            "triage_errors",
            "Requests answered with an error, by kind (invalid_json, invalid_request, "
            "invalid_posts, batch_too_large, body_too_large, unsupported_media_type, "
            "unauthorized, forbidden, not_ready, not_found, method_not_allowed, internal).",
            ["kind"],
        ),
        reloads=Counter(
            "triage_model_reloads", "Model loads by outcome (loaded, refused).", ["outcome"]
        ),
        model_info=Gauge(
            "triage_model_info",
            "1 for the model version a worker serves.",
            ["model_version"],
            multiprocess_mode="livemax",
        ),
    )


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics, aggregated over workers in multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    get_metrics()  # a scrape before any request still lists every metric
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        forget_dead_workers(os.environ[MULTIPROC_ENV])
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a stopped worker's live gauges (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges of workers that died without shutting down (kill -9, out of
    memory): the supervisor starts a replacement, but nothing else removes the dead process's
    files, and its last model version would be reported as served forever."""
    from prometheus_client import multiprocess

    pids = {f.stem.rsplit("_", 1)[-1] for f in Path(path).glob("gauge_live*_*.db")}
    for pid in sorted(int(p) for p in pids if p.isdigit()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:  # alive, another user's process
            pass
