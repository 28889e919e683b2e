"""``GET /v1/review-queue``: the posts most worth an agent's label, ranked by the serving model.

A deployment names a file of unlabelled posts (``TRIAGE_REVIEW_POOL``: CSV, JSONL or Parquet
in the posts contract, e.g. yesterday's inbox). Each worker reads and ranks it with
:func:`triage_ml.monitor.suggest` (uncertainty near a label's threshold x (0.1 + predicted
urgency)) off the request path: a background task ranks it when the worker starts, again after
every model reload and when the file changes, and keeps the ranking (ids and numbers, never
text) for that model version. A request only filters the cached ranking: it leaves out posts
that already have a correction in the feedback store, when one is configured, and answers the
first ``n``. Scoring is untouched: ``POST /v1/score`` writes and reads nothing of this.

Until the first ranking of a worker is ready the route answers 503 with ``Retry-After``; while a
new model's ranking is computed, the previous one keeps being served under its own
``model_version``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from serve.errors import ApiError
from serve.schemas import Problem
from serve.settings import Settings

log = logging.getLogger("serve")

POOL_SETTING = "TRIAGE_REVIEW_POOL"
MAX_N = 1000
DEFAULT_N = 50
REFRESH_SECONDS = 2.0
"""How often a worker checks whether its model or the pool file changed (a ``stat`` call)."""
FEEDBACK_URL_SETTING = "TRIAGE_FEEDBACK_URL"


class ReviewItem(BaseModel):
    id: str = Field(description="The post id, as in the pool file.")
    rank: int = Field(ge=1, description="1 = the post most worth labelling.")
    priority: float = Field(description="uncertainty x (0.1 + urgency): the ranking's key.")
    uncertainty: float = Field(
        description="1 on a label's decision threshold, 0 once clearly on one side (for an "
        "exclusive label set: 1 - the margin between the two most likely labels)."
    )
    urgency: float = Field(description="The model's predicted urgency in [0, 1].")
    nearest_label: str = Field(description="The label whose threshold the post is nearest.")
    probability: float = Field(description="The model's probability of that label.")
    threshold: float | None = Field(
        description="That label's decision threshold (null for an exclusive label set)."
    )


class ReviewQueue(BaseModel):
    model_version: str = Field(description="The model that ranked the pool.")
    ranked_at: datetime = Field(description="When this worker ranked the pool (UTC).")
    pool_size: int = Field(ge=0, description="Posts in the pool file.")
    corrected_excluded: int | None = Field(
        description="Ranked posts left out because the feedback store holds a correction of "
        "them; null when no feedback store is configured."
    )
    items: list[ReviewItem]


@dataclass(frozen=True)
class Ranking:
    """The pool ranked for one model version (no text)."""

    model_version: str
    fingerprint: str
    table: pd.DataFrame
    pool_size: int
    ranked_at: datetime


def _file_fingerprint(path: Path) -> str:
    try:
        s = path.stat()
    except OSError:
        return "missing"
    return f"{s.st_ino}:{s.st_size}:{s.st_mtime_ns}"


class ReviewPool:
    """One worker's ranking of the review pool, recomputed when the model or the file changes.

    :meth:`refresh` runs in a thread of the background task; requests read :attr:`ranking`
    (one assignment swaps it, so a request never sees half a ranking).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.ranking: Ranking | None = None
        self.error: str | None = None
        self._failed: str | None = None
        self._lock = threading.Lock()

    def refresh(self, loaded: Any) -> bool:
        """Rank the pool with ``loaded`` (a ``serve.loader.LoadedModel``) unless this model
        version and file were ranked already (or failed already). Never raises; True when a
        new ranking was made."""
        if loaded is None:
            return False
        key = f"{loaded.version}|{_file_fingerprint(self.path)}"
        with self._lock:
            current = self.ranking
            if (current is not None and current.fingerprint == key) or key == self._failed:
                return False
            started = time.perf_counter()
            try:
                ranking = self._rank(loaded, key)
            except Exception as err:  # report and keep the previous ranking, if any
                self._failed = key
                self.error = _reason(err)
                log.warning("review pool %s not ranked: %s", self.path, self.error)
                return False
            self.ranking, self.error, self._failed = ranking, None, None
            log.info(
                "review pool: ranked %d posts for %s in %.2f s",
                ranking.pool_size,
                ranking.model_version,
                time.perf_counter() - started,
            )
            return True

    def _rank(self, loaded: Any, key: str) -> Ranking:
        from triage_ml.contract import read_table, validate_posts
        from triage_ml.monitor import suggest

        bundle = loaded.bundle
        frame, _ = validate_posts(
            read_table(self.path),
            label_set=bundle.labels,
            require_labels=False,
            source=str(self.path),
        )
        # the service's playbook (TRIAGE_PLAYBOOK or the bundle's), as /v1/score scores with
        scorer = dataclasses.replace(bundle, playbook=loaded.playbook)
        table = suggest(scorer, frame, n=len(frame))
        table["id"] = table["id"].astype(str)
        return Ranking(loaded.version, key, table, len(frame), datetime.now(UTC))

    async def watch(self, holder: Any, interval: float = REFRESH_SECONDS) -> None:
        """Rank now, then check every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.refresh, holder.current)
            except Exception:  # keep watching whatever happens
                log.exception("review pool: refresh failed")
            await asyncio.sleep(interval)


def _reason(err: Exception) -> str:
    from triage_ml.contract import DataError

    if isinstance(err, DataError):  # names the file, rows and column; never a post's text
        return str(err)[:500]
    return type(err).__name__


def start_review_pool(state: Any, settings: Settings, holder: Any) -> list[asyncio.Task]:
    """Keep ``state.review_pool`` ranked when ``TRIAGE_REVIEW_POOL`` is set: the task to cancel
    at shutdown (none when no pool is configured)."""
    if settings.review_pool is None:
        state.review_pool = None
        return []
    pool = ReviewPool(settings.review_pool)
    state.review_pool = pool
    return [asyncio.create_task(pool.watch(holder))]


def feedback_configured() -> bool:
    """Whether the service has a feedback store to consult: ``TRIAGE_FEEDBACK_URL`` is set,
    or the default SQLite file (what ``POST /v1/feedback`` writes without it) exists. An
    unconfigured service never creates a store for a review-queue request."""
    if os.environ.get(FEEDBACK_URL_SETTING, "").strip():
        return True
    from triage_ml.feedback import resolve_feedback_url

    url = resolve_feedback_url()
    return url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).is_file()


async def review_feedback_store(request: Request) -> Any:
    """The feedback routes' store when one is configured, else ``None`` (tests override)."""
    from serve.feedback import get_feedback_store

    if getattr(request.app.state, "feedback_store", None) is None and not feedback_configured():
        return None
    return await get_feedback_store(request)


def _corrected_ids(store: Any) -> set[str]:
    from triage_ml.feedback import FeedbackStoreError

    try:
        return {str(i) for i in store.corrected_ids()}
    except FeedbackStoreError as err:
        log.error("feedback store unavailable: %s", err)
        raise ApiError(
            503,
            "the feedback store is unavailable (the reason is in the service log); retry later",
            "feedback_store",
            headers={"Retry-After": "5"},
        ) from None


def select(ranking: Ranking, n: int, corrected: set[str] | None) -> pd.DataFrame:
    """The first ``n`` ranked posts without a correction, ranked 1..n again."""
    table = ranking.table
    if corrected:
        table = table[~table["id"].isin(corrected)]
    table = table.head(n).copy()
    table["rank"] = range(1, len(table) + 1)
    return table


def _items(table: pd.DataFrame) -> list[ReviewItem]:
    out = []
    for row in table.itertuples(index=False):
        threshold = None if pd.isna(row.threshold) else float(row.threshold)
        out.append(
            ReviewItem(
                id=row.id,
                rank=int(row.rank),
                priority=float(row.priority),
                uncertainty=float(row.uncertainty),
                urgency=float(row.urgency),
                nearest_label=str(row.nearest_label),
                probability=float(row.probability),
                threshold=threshold,
            )
        )
    return out


def review_router(api_key: Callable[..., Any]) -> APIRouter:
    """The route, guarded like scoring: ``api_key`` is the scoring routes' key check."""
    router = APIRouter(tags=["feedback"], dependencies=[Depends(api_key)])

    @router.get(
        "/v1/review-queue",
        response_model=ReviewQueue,
        summary="The posts most worth labelling next",
        responses={
            409: {"model": Problem, "description": "No review pool is configured."},
            **{code: {"model": Problem} for code in (401, 422, 503)},
        },
    )
    async def review_queue(
        request: Request,
        store: Annotated[Any, Depends(review_feedback_store)],
        n: Annotated[
            int, Query(ge=1, le=MAX_N, description=f"How many posts (1 to {MAX_N:,}).")
        ] = DEFAULT_N,
    ) -> ReviewQueue:
        """The pool of ``TRIAGE_REVIEW_POOL`` ranked by the serving model as ``triage-ml
        suggest`` ranks it (uncertain near a label's threshold, weighted by predicted urgency),
        best first, without the posts the feedback store already holds a correction of. Ids
        and numbers only: send the chosen posts to your labelling tool by id."""
        unknown = sorted(set(request.query_params) - {"n"})
        if unknown:
            raise ApiError(
                422,
                f"query.{unknown[0][:40]}: unknown query parameter; the only one is n "
                f"(how many posts, 1 to {MAX_N:,})",
                "invalid_request",
            )
        pool: ReviewPool | None = getattr(request.app.state, "review_pool", None)
        if pool is None:
            raise ApiError(
                409,
                f"no review pool is configured: set {POOL_SETTING} to a CSV, JSONL or Parquet "
                "file of unlabelled posts (id, text and optionally the posts' metadata) and "
                "restart the service",
                "review_pool_not_configured",
            )
        ranking = pool.ranking
        if ranking is None:
            why = (
                f"the review pool ({POOL_SETTING}) could not be read or ranked (the reason is "
                "in the service log); the service ranks it again once the file changes"
                if pool.error
                else "the review pool is being ranked; retry in a few seconds"
            )
            raise ApiError(503, why, "review_pool_not_ready", headers={"Retry-After": "5"})
        corrected = None if store is None else await run_in_threadpool(_corrected_ids, store)
        table = select(ranking, n, corrected)
        excluded = None
        if corrected is not None:
            excluded = int(ranking.table["id"].isin(corrected).sum())
        return ReviewQueue(
            model_version=ranking.model_version,
            ranked_at=ranking.ranked_at,
            pool_size=ranking.pool_size,
            corrected_excluded=excluded,
            items=_items(table),
        )

    return router
