"""Rolling drift of the scored traffic, as Prometheus gauges, computed off the request path.

The posts of every ``/v1/score`` request leave their numeric signals (label probabilities,
predicted labels, tier, urgency, length, out-of-vocabulary share, channel, followers, verified;
never the text) in a bounded window of the last ``TRIAGE_DRIFT_WINDOW`` posts of this worker:
for the few posts of the plain path, from the values scoring kept (microseconds, before the
response); for other batches in a Starlette background task after the response, which builds
the posts' frame first. Every ``TRIAGE_DRIFT_INTERVAL`` seconds a task of the worker compares the
window with the serving model's reference (:func:`triage_ml.monitor.compare`, in a thread) and
sets the gauges:

- ``triage_drift_psi{signal}``: the PSI of each signal against the training history;
- ``triage_drift_flagged{signal}``: 1 when that PSI passes its threshold (0.1 plus sampling
  noise, docs/monitoring.md);
- ``triage_drift_window_posts``: how many posts the window holds.

With several workers each keeps its own window (each sees a share of the traffic) and the
gauges report the largest value over live workers. A model without reference statistics (an
older bundle) gets no gauges; a new model empties the window.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from functools import lru_cache
from typing import Any

import pandas as pd

log = logging.getLogger("serve")


class DriftWindow:
    """The last ``size`` posts' signal rows for one model version (thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.model_version: str | None = None
        self._rows: deque[dict[str, Any]] = deque(maxlen=max(size, 1))
        self._lock = threading.Lock()

    def observe(self, model_version: str, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            if model_version != self.model_version:
                self._rows.clear()
                self.model_version = model_version
            self._rows.extend(rows)

    def frame(self) -> tuple[str | None, pd.DataFrame]:
        with self._lock:
            return self.model_version, pd.DataFrame(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)


@lru_cache
def get_window(size: int) -> DriftWindow:
    """This worker's window (one per process)."""
    return DriftWindow(size)


@lru_cache
def _gauges() -> tuple[Any, Any, Any]:
    from prometheus_client import Gauge

    return (
        Gauge(
            "triage_drift_psi",
            "Population-stability index of each signal of the recent scored posts against the "
            "serving model's training history (docs/monitoring.md).",
            ["signal"],
            multiprocess_mode="livemax",
        ),
        Gauge(
            "triage_drift_flagged",
            "1 when a signal's PSI passes its threshold (0.1 plus sampling noise).",
            ["signal"],
            multiprocess_mode="livemax",
        ),
        Gauge(
            "triage_drift_window_posts",
            "Scored posts in the drift window of a worker.",
            multiprocess_mode="livemax",
        ),
    )


def observe(model: Any, posts: pd.DataFrame, preds: Any, size: int) -> None:
    """Add a scored batch's signals to the window (runs after the response is sent)."""
    from triage_ml.monitor import post_signal_rows

    bundle = model.bundle
    if not isinstance(bundle.metadata.get("reference"), dict):
        return
    try:
        rows = post_signal_rows(bundle.triager, posts, preds)
        get_window(size).observe(model.version, rows)
    except Exception:  # monitoring must never hurt serving; logged without post text
        log.exception("drift window: could not record a scored batch")


def observe_plain(model: Any, scored: Any, size: int) -> bool:
    """Add the signals of posts scored by the plain path, from the values it kept (a few
    microseconds a post: done before the response, no frame built); ``False`` when it kept none
    and the caller has to build the posts and predictions for :func:`observe`."""
    from triage_ml.monitor import plain_signal_rows

    try:
        rows = plain_signal_rows(model.bundle.triager, scored)
    except Exception:  # monitoring must never hurt serving; logged without post text
        log.exception("drift window: could not record a scored batch")
        return True
    if rows is None:
        return False
    get_window(size).observe(model.version, rows)
    return True


def refresh(model: Any, size: int) -> dict[str, float]:
    """Compare the window with the model's reference and set the gauges; the PSI by signal."""
    from triage_ml.monitor import compare

    psi_gauge, flagged_gauge, posts_gauge = _gauges()
    version, frame = get_window(size).frame()
    posts_gauge.set(len(frame))
    profile = model.bundle.metadata.get("reference") if model is not None else None
    if not isinstance(profile, dict) or frame.empty or version != model.version:
        return {}
    result = compare(profile, frame, list(model.bundle.labels))
    out = {}
    for signal in result.signals:
        psi_gauge.labels(signal=signal.name).set(signal.psi)
        flagged_gauge.labels(signal=signal.name).set(1.0 if signal.flagged else 0.0)
        out[signal.name] = signal.psi
    return out


async def watch(holder: Any, size: int, interval: float) -> None:
    """Refresh the gauges every ``interval`` seconds, in a thread, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(refresh, holder.current, size)
        except Exception:
            log.exception("drift gauges: refresh failed")
