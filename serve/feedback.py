"""Agents' corrections over HTTP: ``POST /v1/feedback`` and ``DELETE /v1/feedback/{id}``.

Scoring stays stateless: nothing here runs on the scoring path, and the store is opened on the
first feedback request of each worker (``TRIAGE_FEEDBACK_URL``, default ``feedback.db`` in the
project folder; see docs/feedback.md). The routes take the same API key as ``/v1/score``.
A correction is checked with the project's contract (the serving model's label set, urgency
in [0, 1] or a level name, 1..10,000 characters of text) and every refusal is a 4xx saying why.

Every response carries ``X-Request-ID`` (:class:`RequestIdMiddleware`): the client's own when
it sends a well-formed one, else a new one. An inbox stores it with the scores and sends it
back with a correction, so a correction can be traced to the scoring request it corrects.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.errors import ApiError
from serve.schemas import CREATED_AT_PATTERN, EXAMPLE_POST, Problem, check_time
from triage_ml.contract import MAX_TEXT_CHARS, DataError
from triage_ml.feedback import FeedbackStore, FeedbackStoreError, open_store, validate_correction

log = logging.getLogger("serve")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
CORRECTION_FIELDS = (
    "id",
    "text",
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
    "reviewer",
    "corrected_at",
    "model_version",
    "request_id",
)
EXAMPLE_CORRECTION = {
    **EXAMPLE_POST,
    "labels": ["complaint", "influencer"],
    "urgency": 0.9,
    "reviewer": "agent-17",
    "corrected_at": "2026-11-22T10:07:00Z",
    "model_version": "triage (sha256:3f2a9c1b7d4e)",
    "request_id": "6f1c0a9e2b7d4c3a8e5f1b2c3d4e5f60",
}


class RequestIdMiddleware:
    """Adds ``X-Request-ID`` to every response (pure ASGI: a few microseconds per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class Correction(BaseModel):
    """An agent's correction of a scored post: the post as the inbox has it (the history's
    field names), the corrected ``labels`` and/or ``urgency``, and its provenance."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [EXAMPLE_CORRECTION]}
    )

    id: str | int = Field(description="The post id, as sent to /v1/score.")
    text: str = Field(
        description=f"The post: 1 to {MAX_TEXT_CHARS:,} characters after trimming spaces.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS},
    )
    created_at: str | None = Field(
        None,
        max_length=64,
        description="ISO-8601 time of the post, as in /v1/score.",
        json_schema_extra={"pattern": CREATED_AT_PATTERN},
    )
    channel: str | None = Field(None, max_length=100)
    author_followers: int | None = Field(None, ge=0, le=10**12)
    author_verified: bool | None = None
    labels: list[str] | str | None = Field(
        None,
        description="The correct labels of the model's label set (GET /v1/model); [] = none of "
        "them; absent = the labels are not corrected. A ';'-separated string also works.",
    )
    urgency: float | str | None = Field(
        None,
        description="The correct urgency: a number in [0, 1] or low/medium/high/critical; "
        "absent = not corrected. At least one of labels and urgency is needed.",
    )
    reviewer: str = Field(max_length=256, description="Who corrected: an agent id or e-mail.")
    corrected_at: str = Field(
        max_length=64,
        description="ISO-8601 time of the correction (no offset = UTC), same form and years as "
        "created_at. With id and reviewer it identifies the correction: sending it again stores "
        "nothing new.",
        json_schema_extra={"pattern": CREATED_AT_PATTERN},
    )
    model_version: str = Field(
        max_length=256, description="The model_version of the scoring response corrected."
    )
    request_id: str | None = Field(
        None, max_length=128, description="The X-Request-ID of that scoring response."
    )

    @field_validator("created_at", "corrected_at")
    @classmethod
    def _times(cls, value: str | None, info) -> str | None:
        return check_time(value, info.field_name)


class FeedbackResult(BaseModel):
    status: Literal["stored", "duplicate"] = Field(
        description="stored (201): new; duplicate (200): already stored, nothing changed."
    )
    id: str
    reviewer: str
    corrected_at: datetime
    correction_id: int


class Erased(BaseModel):
    id: str
    corrections_deleted: int = Field(description="Corrections of the post that were removed.")
    post_deleted: bool = Field(description="The post's text and metadata were stored and removed.")


_store_lock = threading.Lock()


def _open_app_store(request: Request):
    state = request.app.state
    with _store_lock:
        store = getattr(state, "feedback_store", None)
        if store is None:
            store = open_store()
            state.feedback_store = store
        return store


async def get_feedback_store(request: Request):
    """The worker's feedback store, opened (and migrated) on first use; tests override this."""
    store = getattr(request.app.state, "feedback_store", None)
    if store is not None:
        return store
    try:
        return await run_in_threadpool(_open_app_store, request)
    except FeedbackStoreError as err:
        raise _unavailable(err) from None


StoreDep = Annotated[FeedbackStore, Depends(get_feedback_store)]


def _unavailable(err: FeedbackStoreError) -> ApiError:
    """A 503 for the client; the store's URL (without password) and reason go to the log."""
    log.error("feedback store unavailable: %s", err)
    return ApiError(
        503,
        "the feedback store is unavailable (the reason is in the service log); retry later",
        "feedback_store",
        headers={"Retry-After": "5"},
    )


def _field_message(err: dict[str, Any]) -> str:
    kind, msg = str(err.get("type", "")), str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
    if kind == "extra_forbidden":
        return f"unknown field; a correction has only {', '.join(CORRECTION_FIELDS)}"
    if kind == "missing":
        return "required field is missing"
    value = err.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        if isinstance(value, str):
            got = f"a string of {len(value):,} characters"
        elif isinstance(value, dict | list):
            got = f"a JSON {'object' if isinstance(value, dict) else 'array'}"
        else:
            got = json.dumps(value)[:40] if value is not None else "null"
        return f"{msg}, got {got}"
    return msg


def _refuse(items: list[dict[str, Any]], kind: str = "invalid_feedback") -> ApiError:
    lines = [f"{'.'.join(str(p) for p in i['loc'][1:]) or 'body'}: {i['msg']}" for i in items]
    detail = lines[0] if len(lines) == 1 else f"{len(lines)} problems: " + "; ".join(lines[:10])
    return ApiError(422, detail, kind, items)


async def _correction_body(request: Request) -> dict[str, Any]:
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        got = f"got {media!r}" if media else "none was given"
        raise ApiError(
            415,
            f"send the correction as JSON with the header Content-Type: application/json ({got})",
        )
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" at character {err.pos}" if isinstance(err, json.JSONDecodeError) else ""
        raise ApiError(
            400,
            f"the request body is not valid JSON ({type(err).__name__}{where}); send one JSON "
            'object: {"id", "text", "labels" and/or "urgency", "reviewer", "corrected_at", '
            '"model_version"}',
            "invalid_json",
        ) from None
    try:
        return Correction.model_validate(body).model_dump(exclude_none=True)
    except ValidationError as err:
        items = [
            {"loc": ["body", *err_["loc"]], "msg": _field_message(err_), "type": err_["type"]}
            for err_ in err.errors(include_url=False)
        ]
        if not isinstance(body, dict):
            items = [
                {
                    "loc": ["body"],
                    "msg": "the body must be one JSON object (a correction)",
                    "type": "model_type",
                }
            ]
        raise _refuse(items) from None


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in codes}


def feedback_router(api_key: Callable[..., Any], model: Callable[..., Any]) -> APIRouter:
    """The feedback routes, guarded like scoring: ``api_key`` is the scoring routes' key check
    and ``model`` their dependency on the loaded model (its label set checks corrections)."""
    router = APIRouter(tags=["feedback"], dependencies=[Depends(api_key)])

    @router.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackResult,
        summary="Store an agent's correction of a scored post",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Correction.model_json_schema()}},
            }
        },
        responses={
            200: {"model": FeedbackResult, "description": "Already stored: nothing changed."},
            201: {"description": "Stored."},
            409: {
                "model": Problem,
                "description": "Another correction with the same id, reviewer and corrected_at "
                "but other content is stored.",
            },
            **_problems(400, 401, 413, 415, 422, 503),
        },
    )
    async def post_feedback(
        request: Request, store: StoreDep, loaded: Any = Depends(model)
    ) -> JSONResponse:
        """Idempotent on (id, reviewer, corrected_at): a retry is answered 200 ``duplicate``.
        Nothing about scoring changes; the corrections are exported for the next training
        (``triage-ml feedback export``)."""
        body = await _correction_body(request)
        triager = loaded.bundle.triager
        try:
            correction = validate_correction(
                body, label_set=list(triager.labels), exclusive=bool(triager.exclusive)
            )
        except DataError as err:
            items = [
                {"loc": ["body", p.column or "body"], "msg": p.reason, "type": "invalid_feedback"}
                for p in err.problems or [err]
            ]
            raise _refuse(items) from None
        try:
            result = await run_in_threadpool(store.record, correction)
        except DataError as err:  # a different correction under the same key
            raise ApiError(409, err.reason, "feedback_conflict") from None
        except FeedbackStoreError as err:
            raise _unavailable(err) from None
        out = FeedbackResult(
            status=result.status,  # type: ignore[arg-type]
            id=correction["id"],
            reviewer=correction["reviewer"],
            corrected_at=correction["corrected_at"],
            correction_id=result.correction_id,
        )
        status = 201 if result.status == "stored" else 200
        return JSONResponse(out.model_dump(mode="json"), status_code=status)

    @router.delete(
        "/v1/feedback/{post_id}",
        response_model=Erased,
        summary="Erase a post: its text, metadata and every correction of it",
        responses=_problems(401, 422, 503),
    )
    async def delete_feedback(
        post_id: Annotated[str, Path(max_length=512, description="The post id to erase.")],
        store: StoreDep,
    ) -> Erased:
        """Answers 200 whether or not anything was stored (erasure is idempotent); the counts
        say what was removed. Exported files and trained models are not touched: see
        docs/feedback.md."""
        try:
            deleted = await run_in_threadpool(store.delete_post, post_id)
        except FeedbackStoreError as err:
            raise _unavailable(err) from None
        return Erased(
            id=post_id,
            corrections_deleted=deleted["corrections"],
            post_deleted=deleted["posts"] > 0,
        )

    return router
