"""The scoring API: a thin typed shell over :func:`triage_ml.predict.score_posts`.

``uvicorn serve.app:app`` (or ``triage-ml serve``) starts it. The lifespan reads the settings,
loads the model once and starts the watcher that picks up new bundles or registry aliases;
routes read the current model through the ``ModelDep`` dependency, which tests override.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import SecretStr, ValidationError

from serve import errors
from serve.errors import ApiError
from serve.feedback import RequestIdMiddleware, feedback_router
from serve.loader import LoadedModel, ModelHolder, source_for
from serve.logs import access_log_off_the_loop, install_redaction, restore_access_log
from serve.middleware import BodyLimitMiddleware, ConcurrencyLimitMiddleware, MetricsMiddleware
from serve.review import review_router, start_review_pool
from serve.schemas import (
    EXAMPLE_POST,
    EXAMPLE_RESULT,
    POST_FIELDS,
    Health,
    ModelInfo,
    Post,
    Problem,
    Readiness,
    ReloadResult,
    ScoreRequest,
    ScoreResponse,
)
from serve.settings import Settings, get_settings
from serve.shadow import start_monitoring
from triage_ml import __version__
from triage_ml.contract import DataError, format_validation_error, validate_posts
from triage_ml.decide import score_posts, score_records

log = logging.getLogger("serve")

# A request this small is scored on the event loop (a linear model needs a few ms for it); any
# larger one goes to a thread, so that health checks and small requests keep being answered
# while it is scored. Characters, not only posts: 16 posts of 10,000 characters took 300 ms.
INLINE_POSTS = 4
INLINE_CHARS = 1_000


async def current_settings(request: Request) -> Settings:
    """The settings the lifespan started with (``get_settings``, or its test override).

    Dependencies here are ``async`` on purpose: a plain ``def`` dependency runs in the
    thread pool, which costs more than everything else the request does before scoring.
    """
    settings = getattr(request.app.state, "settings", None)
    return settings if settings is not None else get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]
_api_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="One of TRIAGE_API_KEYS (not needed when none is configured).",
    auto_error=False,
)
_admin_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="AdminKey",
    description="One of TRIAGE_ADMIN_KEYS.",
    auto_error=False,
)


def _matches(given: str, keys: Sequence[SecretStr]) -> bool:
    """Constant-time comparison against every key (no early exit on the first match)."""
    raw = given.encode("latin-1", errors="replace")
    found = False
    for key in keys:
        found |= hmac.compare_digest(raw, key.get_secret_value().encode("utf-8"))
    return found


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, "unauthorized", headers={"WWW-Authenticate": "ApiKey"})


async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key)] = None
) -> None:
    if not settings.api_keys:
        return
    if not key:
        raise _unauthorized("missing X-API-Key header; ask the service operator for a key")
    if not _matches(key, settings.api_keys):
        raise _unauthorized("invalid API key in X-API-Key")


async def require_admin_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_admin_key)] = None
) -> None:
    if not settings.admin_keys:
        raise ApiError(403, "admin endpoints are disabled; set TRIAGE_ADMIN_KEYS to enable them")
    if not key:
        raise _unauthorized("missing X-API-Key header with an admin key")
    if not _matches(key, settings.admin_keys):
        raise _unauthorized("invalid admin key in X-API-Key")


async def get_holder(request: Request) -> ModelHolder:
    holder = getattr(request.app.state, "models", None)
    if holder is None:
        raise ApiError(503, "the service is starting; retry in a few seconds", "not_ready")
    return holder


HolderDep = Annotated[ModelHolder, Depends(get_holder)]


async def require_model(holder: HolderDep) -> LoadedModel:
    """The serving model, read once per request so a reload never changes it mid-request."""
    current = holder.current
    if current is None:
        raise ApiError(
            503,
            f"no model is loaded yet ({holder.last_error}); retry in a few seconds",
            "not_ready",
            headers={"Retry-After": "5"},
        )
    return current


ModelDep = Annotated[LoadedModel, Depends(require_model)]


def posts_frame(posts: Sequence[Post]) -> pd.DataFrame:
    """The request's posts as a frame with the contract's column names."""
    return pd.DataFrame({name: [getattr(p, name) for p in posts] for name in POST_FIELDS})


def score_payload(
    model: LoadedModel, frame: pd.DataFrame, reasons: bool = True, scored: list | None = None
) -> bytes:
    """Validate like ``triage-ml predict`` does, score, and encode the response body
    (``scored`` receives the posts and predictions, for the work after the response)."""
    try:
        canonical, _ = validate_posts(frame, label_set=model.bundle.labels, source="<request>")
    except DataError as err:
        raise errors.posts_problem(err) from None
    preds = score_posts(
        model.bundle, canonical, model.playbook, validated=True, with_reasons=reasons
    )
    if scored is not None:
        scored.append((canonical, preds))
    body = {"model_version": preds.model_version, "results": preds.records()}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def plain_payload(
    model: LoadedModel, posts: Sequence[Post], reasons: bool, scored: list
) -> bytes | None:
    """``score_payload`` for a few ordinary posts, without pandas (the same bytes: the same
    records, tested); ``None`` where that path does not apply. ``scored`` receives the
    :class:`~triage_ml.decide.ScoredRecords`, which keep what the drift window reads and
    build the canonical posts and predictions only when a shadow model needs them."""
    values = [{name: getattr(p, name) for name in POST_FIELDS} for p in posts]
    result = score_records(model.bundle, values, model.playbook, with_reasons=reasons)
    if result is None:
        return None
    scored.append(result)
    body = {"model_version": result.model_version, "results": result.records}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in codes}


router = APIRouter()

_SCORE_EXAMPLES = {
    "one post": {"summary": "A single post", "value": {"posts": [EXAMPLE_POST]}},
    "a batch": {
        "summary": "Several posts, some without metadata",
        "value": {
            "posts": [
                EXAMPLE_POST,
                {"id": "p-1043", "text": "Is the premium plan available for teams of 20?"},
                {
                    "id": "p-1044",
                    "text": "Battery lasts two days, sound is great. 5 stars",
                    "channel": "review_site",
                },
            ]
        },
    },
}


@router.post(
    "/v1/score",
    response_model=ScoreResponse,
    summary="Label, score and prioritise posts",
    tags=["scoring"],
    dependencies=[Depends(require_api_key)],
    responses={
        200: {
            "description": "One result per post, in request order.",
            "content": {
                "application/json": {
                    "example": {
                        "model_version": EXAMPLE_RESULT["model_version"],
                        "results": [EXAMPLE_RESULT],
                    }
                }
            },
        },
        **_problems(400, 401, 413, 415, 422, 503),
    },
)
async def score(
    request: Annotated[ScoreRequest, Body(openapi_examples=_SCORE_EXAMPLES)],
    model: ModelDep,
    settings: SettingsDep,
    reasons: Annotated[
        bool,
        Query(
            description="Explain each predicted label (``reasons``). With an encoder model the "
            "reasons cost one extra encoder pass per word of the post: a client that only "
            "sorts its inbox can turn them off (``reasons`` is then an empty list)."
        ),
    ] = True,
) -> Response:
    """Same records as ``triage-ml predict`` for the same posts and playbook. A post without
    ``created_at`` gets its deadline from the time of scoring."""
    n = len(request.posts)
    if n > settings.max_batch:
        raise ApiError(
            413,
            f"{n:,} posts in one request; at most {settings.max_batch:,} are accepted "
            "(TRIAGE_MAX_BATCH): split them into several requests",
            "batch_too_large",
        )
    chars = sum(len(p.text) for p in request.posts)
    if chars > settings.max_chars:
        raise ApiError(
            413,
            f"{chars:,} characters of text in one request; at most {settings.max_chars:,} are "
            "accepted (TRIAGE_MAX_CHARS): send fewer or shorter posts per request",
            "too_many_characters",
        )
    scored: list = []
    if n <= INLINE_POSTS and chars <= INLINE_CHARS and model.bundle.triager.family == "linear":
        payload = plain_payload(model, request.posts, reasons, scored)
        if payload is None:
            payload = score_payload(model, posts_frame(request.posts), reasons, scored)
    else:  # an encoder spends milliseconds per post: never on the event loop
        frame = posts_frame(request.posts)
        payload = await run_in_threadpool(score_payload, model, frame, reasons, scored)
    from serve.metrics import get_metrics
    from serve.shadow import after_scoring

    get_metrics().posts.inc(n)
    after = after_scoring(settings, model, scored)  # drift window, shadow log: after sending
    return Response(payload, media_type="application/json", background=after)


@router.get(
    "/v1/model",
    response_model=ModelInfo,
    summary="The model serving in this worker",
    tags=["model"],
    dependencies=[Depends(require_api_key)],
    responses=_problems(401, 503),
)
async def model_info(model: ModelDep) -> ModelInfo:
    meta = model.bundle.metadata
    triager = model.bundle.triager
    return ModelInfo(
        model_version=model.version,
        source=model.source,
        labels=list(triager.labels),
        exclusive=bool(triager.exclusive),
        thresholds={k: float(v) for k, v in zip(triager.labels, triager.thresholds_, strict=True)},
        abstain_band=float(triager.abstain_band),
        has_urgency_model=triager.urgency_coef_ is not None,
        trained_at=meta.get("created_at"),
        data_fingerprint=meta.get("data_fingerprint"),
        signed=bool(meta.get("signed", False)),
        metrics=meta.get("metrics") or {},
        playbook=model.playbook_source,
        loaded_at=model.loaded_at,
        worker_pid=os.getpid(),
    )


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResult,
    summary="Load the configured model again, now",
    tags=["admin"],
    dependencies=[Depends(require_admin_key)],
    responses={
        409: {"model": ReloadResult, "description": "Refused; the old model keeps serving."},
        **_problems(401, 403, 503),
    },
)
async def reload_model(holder: HolderDep, settings: SettingsDep) -> JSONResponse:
    """Verifies and loads the bundle (or registry alias) the settings name, and swaps it in
    if it can score. This reaches one worker; the others pick a new bundle up themselves
    within TRIAGE_RELOAD_INTERVAL seconds."""
    outcome = await asyncio.to_thread(holder.reload, True)
    detail = outcome.detail
    if settings.workers > 1:
        detail += (
            f"; this answer is from one of {settings.workers} workers, the others check for a "
            f"new model every {settings.reload_interval:g} s"
        )
    result = ReloadResult(
        reloaded=outcome.loaded,
        changed=outcome.changed,
        model_version=outcome.model_version,
        previous_version=outcome.previous_version,
        detail=detail,
        worker_pid=os.getpid(),
    )
    if not outcome.loaded:
        from serve.metrics import get_metrics

        get_metrics().errors.labels(kind="reload_refused").inc()
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if outcome.loaded else 409)


@router.get("/healthz", response_model=Health, summary="Liveness", tags=["operations"])
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: 503 until a model is loaded",
    tags=["operations"],
    responses={503: {"model": Readiness}},
)
async def readyz(request: Request) -> JSONResponse:
    holder: ModelHolder | None = getattr(request.app.state, "models", None)
    current = holder.current if holder else None
    if current is None:
        reason = holder.last_error if holder else "the service is starting"
        return JSONResponse(Readiness(ready=False, detail=reason).model_dump(), status_code=503)
    return JSONResponse(Readiness(ready=True, model_version=current.version).model_dump())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    from serve.metrics import render

    payload, content_type = render()
    return Response(payload, media_type=content_type)


def _settings_for(app: FastAPI) -> Settings:
    provider = app.dependency_overrides.get(get_settings, get_settings)
    try:
        return provider()
    except ValidationError as err:
        message = f"invalid TRIAGE_* settings\n{format_validation_error(err)}"
        log.error("%s", message)
        raise RuntimeError(message) from None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once per worker, then watch for new ones until shutdown."""
    from serve.metrics import worker_exited

    settings = _settings_for(app)
    holder = ModelHolder(source_for(settings), settings.playbook, settings.gc_freeze)
    app.state.settings = settings
    app.state.models = holder
    install_redaction()
    access_log = access_log_off_the_loop()
    if not settings.api_keys:
        log.warning("TRIAGE_API_KEYS is not set: anyone who can reach the service can score")
    await asyncio.to_thread(holder.reload, True)
    watcher = None
    if settings.reload_interval > 0:
        watcher = asyncio.create_task(holder.watch(settings.reload_interval))
    monitors = await start_monitoring(settings, holder)  # drift gauges, shadow model
    monitors += start_review_pool(app.state, settings, holder)  # GET /v1/review-queue
    try:
        yield
    finally:
        for task in [watcher, *monitors]:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        worker_exited(os.getpid())
        restore_access_log(access_log)


def create_app() -> FastAPI:
    """The application; nothing is read or loaded until its lifespan starts."""
    app = FastAPI(
        title="triage-ml scoring API",
        version=__version__,
        summary="Labels, urgency, priority, route and escalation for customer-service posts.",
        description=(
            "Send posts to `POST /v1/score` and sort your inbox by `priority.tier` and "
            "`priority.respond_by`. Errors are 4xx with a `detail` that says what to change. "
            "With TRIAGE_API_KEYS set, send one of the keys in `X-API-Key`."
        ),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(ConcurrencyLimitMiddleware)
    app.add_middleware(MetricsMiddleware)  # outermost: sees every request, even a 413
    errors.install(app)
    app.include_router(router)
    app.include_router(feedback_router(require_api_key, require_model))
    app.include_router(review_router(require_api_key))
    app.add_middleware(RequestIdMiddleware)  # X-Request-ID on every response
    app.openapi = _openapi_with_limits(app)  # type: ignore[method-assign]
    return app


def _openapi_with_limits(app: FastAPI):
    """FastAPI's schema, plus the deployment's batch limit as ``maxItems`` of ``posts``, so
    that a request valid by the schema is not a 413 by the settings."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            settings = getattr(app.state, "settings", None)
            if settings is not None:
                posts = schema["components"]["schemas"]["ScoreRequest"]["properties"]["posts"]
                posts["maxItems"] = settings.max_batch
        return app.openapi_schema

    return openapi


app = create_app()
