"""Shadow mode, and the work done after a scoring response is sent.

With ``TRIAGE_SHADOW_MODEL`` set, each worker also loads that challenger (verified like the
serving model, from the same model root or registry, and reloaded when it changes) and, after
each ``/v1/score`` response has been sent, scores the same posts with it and appends one JSON
line per post to ``TRIAGE_SHADOW_LOG``: the time, the post id, and each model's version,
predicted labels, tier and urgency. Never the text, the metadata or any key. The client only
ever sees the serving model's answer; a failing challenger is logged and skipped.
``triage-ml compare-shadow LOG`` reports how often the two agree (docs/monitoring.md).

:func:`after_scoring` is the one hook the scoring route calls: it returns the background task
that feeds the drift window (:mod:`serve.drift`) and the shadow log, or ``None``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.background import BackgroundTask

from serve.loader import ModelHolder, source_for
from serve.settings import Settings
from triage_ml.decide import score_posts

log = logging.getLogger("serve")
_state: dict[str, Any] = {}
_write_lock = threading.Lock()


def start(settings: Settings) -> ModelHolder | None:
    """This worker's shadow model holder (``None`` without ``TRIAGE_SHADOW_MODEL``)."""
    if not settings.shadow_model:
        _state.pop("holder", None)
        return None
    shadow_settings = settings.model_copy(update={"model": settings.shadow_model})
    holder = ModelHolder(source_for(shadow_settings), settings.playbook, False)
    _state["holder"] = holder
    _state["log"] = Path(settings.shadow_log)
    return holder


def stop() -> None:
    _state.clear()


def shadow_records(
    ids: list[str], champion: Any, challenger: Any, at: str | None = None
) -> list[dict[str, Any]]:
    """One record per post: both models' decisions, nothing of the post but its id."""
    at = at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    sides = {"champion": champion, "challenger": challenger}
    labels = {name: preds.predicted_labels() for name, preds in sides.items()}
    for i, post_id in enumerate(ids):
        record: dict[str, Any] = {"at": at, "id": post_id}
        for name, preds in sides.items():
            record[name] = {
                "model_version": preds.model_version,
                "labels": labels[name][i],
                "tier": str(preds.tier[i]),
                "urgency": round(float(preds.urgency[i]), 4),
            }
        out.append(record)
    return out


def append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Append records as JSON lines in one write (several threads of a worker share a lock;
    several workers rely on O_APPEND writes of whole lines)."""
    if not records:
        return
    data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _write_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data.encode("utf-8"))
        finally:
            os.close(fd)


def run_shadow(holder: ModelHolder, path: Path, posts: pd.DataFrame, champion: Any) -> None:
    """Score the posts with the challenger and log both decisions (after the response)."""
    current = holder.current
    if current is None:
        return
    try:
        challenger = score_posts(
            current.bundle, posts, current.playbook, validated=True, with_reasons=False
        )
        append_jsonl(path, shadow_records(list(champion.ids), champion, challenger))
    except Exception:  # the challenger never hurts serving; logged without post text
        log.exception("shadow model %s: scoring or logging failed", current.version)


def after_scoring(settings: Settings, model: Any, scored: list) -> BackgroundTask | None:
    """The work to run once the response is sent: the drift window, the shadow log.

    ``scored`` holds the canonical posts and their predictions, or the plain path's
    :class:`~triage_ml.decide.ScoredRecords`: its drift signals go into the window here, from
    the values it kept, and its posts and predictions are built (after the response) only for
    a shadow model.
    """
    if not scored:
        return None
    item = scored[0]
    posts, preds = item if isinstance(item, tuple) else (None, None)
    holder = _state.get("holder")
    drift = settings.drift_window > 0
    if drift and posts is None:  # nothing to build for a model without reference statistics
        drift = isinstance(getattr(model.bundle, "metadata", {}).get("reference"), dict)
        if drift and holder is None:
            from serve.drift import observe_plain

            # the plain path kept what the drift window reads: no frame to build
            drift = not observe_plain(model, item, settings.drift_window)
    if not drift and holder is None:
        return None

    def work() -> None:
        nonlocal posts, preds
        if posts is None:
            try:
                posts, preds = item.scored()
            except Exception:  # monitoring never hurts serving; logged without post text
                log.exception("drift window / shadow: could not rebuild the scored posts")
                return
        if drift:
            from serve.drift import observe

            observe(model, posts, preds, settings.drift_window)
        if holder is not None:
            run_shadow(holder, _state["log"], posts, preds)

    return BackgroundTask(work)


async def start_monitoring(settings: Settings, holder: ModelHolder) -> list[asyncio.Task]:
    """Start this worker's drift-gauge task and load its shadow model; the tasks to cancel."""
    tasks = []
    if settings.drift_window > 0:
        from serve.drift import watch

        interval = settings.drift_interval
        tasks.append(asyncio.create_task(watch(holder, settings.drift_window, interval)))
    shadow = start(settings)
    if shadow is not None:
        outcome = await asyncio.to_thread(shadow.reload, True)
        log.info("shadow model: %s", outcome.detail)
        if settings.reload_interval > 0:
            tasks.append(asyncio.create_task(shadow.watch(settings.reload_interval)))
    return tasks
