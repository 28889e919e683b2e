"""Every client mistake becomes a 4xx whose ``detail`` says what to change.

One body shape for all errors, ``{"detail": "...", "errors": [{"loc", "msg", "type"}]}``:
``detail`` is a sentence for the person reading the integration's logs, ``errors`` locates
each problem (``["body", "posts", 3, "text"]``). Inputs are echoed only as short type or
value hints, never whole texts, and nothing about a request's content is logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve.schemas import POST_FIELDS
from triage_ml.contract import DataError

_SHOWN = 10
_STATUS_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "reload_refused",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "not_ready",
}
BODY_HINT = 'send a JSON object {"posts": [{"id": "p-1", "text": "..."}]}'


class ApiError(HTTPException):
    """An HTTP error with a metrics kind and, optionally, located problems.

    A FastAPI ``HTTPException``, so that one raised while the body is read (the size limit)
    reaches the handlers instead of becoming FastAPI's generic "error parsing the body".
    """

    def __init__(
        self,
        status_code: int,
        detail: str,
        kind: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.kind = kind or _STATUS_KINDS.get(status_code, f"http_{status_code}")
        self.errors = errors


def problem(
    status: int,
    detail: str,
    kind: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    from serve.metrics import get_metrics

    get_metrics().errors.labels(kind=kind).inc()
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def _where(loc: Sequence[Any]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request body"


def _hint(value: Any, field: str) -> str:
    if isinstance(value, str):
        if field == "text" or len(value) > 40:
            return f"a string of {len(value):,} characters"
        return f"the string {value!r}"
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    if value is None:
        return "null"
    return f"{json.dumps(value)[:40]} ({_json_type(value)})"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _message(err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    field = str(loc[-1]) if loc else ""
    in_post = len(loc) >= 3 and loc[:2] == ("body", "posts") and isinstance(loc[2], int)
    if kind == "extra_forbidden":
        if in_post:
            return f"unknown field; a post has only {', '.join(POST_FIELDS)}"
        return "unknown field; the body has only 'posts'"
    if kind == "missing":
        if loc in ((), ("body",)):
            return f"the request body is empty; {BODY_HINT}"
        return "required field is missing"
    if loc in ((), ("body",)):
        return f"the body must be a JSON object, got {_hint(err.get('input'), '')}; {BODY_HINT}"
    if kind == "too_short" and loc == ("body", "posts"):
        return "send at least one post"
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg}, got {_hint(err.get('input'), field)}"
    return msg


def _validation_errors(raw: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    items = [
        {"loc": list(e.get("loc", ())), "msg": _message(e), "type": str(e.get("type", ""))}
        for e in raw
    ]
    return _summary([(_where(i["loc"]), i["msg"]) for i in items]), items


def _summary(lines: list[tuple[str, str]]) -> str:
    if len(lines) == 1:
        where, msg = lines[0]
        return f"{where}: {msg}"
    shown = "; ".join(f"{where}: {msg}" for where, msg in lines[:_SHOWN])
    more = f"; and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return f"{len(lines)} problems: {shown}{more}"


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        e = next(e for e in raw if e.get("type") == "json_invalid")
        reason = (e.get("ctx") or {}).get("error", "JSON decode error")
        pos = e["loc"][-1] if e.get("loc") else "?"
        return problem(
            400,
            f"the request body is not valid JSON ({reason} at character {pos}); {BODY_HINT}",
            "invalid_json",
        )
    content_type = request.headers.get("content-type")
    if not _is_json(content_type) and any(tuple(e.get("loc", ())) == ("body",) for e in raw):
        got = f"got {content_type!r}" if content_type else "none was given"
        return problem(
            415,
            f"send the posts as JSON with the header Content-Type: application/json ({got})",
            "unsupported_media_type",
        )
    detail, items = _validation_errors(raw)
    return problem(422, detail, "invalid_request", items)


def posts_problem(err: DataError) -> ApiError:
    """A contract error from :func:`triage_ml.data.validate_posts` as a located 422."""
    lines: list[tuple[str, str]] = []
    items: list[dict[str, Any]] = []
    for p in err.problems or [err]:
        rows = p.rows or []
        column = p.column or "posts"
        where = ", ".join(f"posts[{r}].{column}" for r in rows[:5]) or column
        if len(rows) > 5:
            where += f" and {len(rows) - 5} more"
        reason = p.reason.replace("(0-based positions)", "").strip()
        lines.append((where, reason))
        locs = [["body", "posts", r, column] for r in rows[:5]] or [["body", "posts"]]
        items += [{"loc": loc, "msg": reason, "type": "invalid_post"} for loc in locs]
    return ApiError(422, _summary(lines), "invalid_posts", items)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = getattr(exc, "kind", None) or _STATUS_KINDS.get(exc.status_code, "http_error")
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; the API is described at /docs"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow")
        detail = f"{request.method} is not allowed on {request.url.path}" + (
            f"; use {allowed}" if allowed else ""
        )
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = f"the request body could not be parsed; {BODY_HINT}"
        kind = "invalid_json"
    elif exc.status_code == 413 and kind == "too_large":
        kind = "body_too_large"
    return problem(exc.status_code, str(detail), kind, getattr(exc, "errors", None), exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
