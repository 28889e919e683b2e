"""Pure ASGI middleware: request metrics, a last-resort 500, and the request body limit.

Pure ASGI (not ``BaseHTTPMiddleware``) because they run on every request, and a single-post
score takes a few milliseconds: the per-request overhead has to stay in microseconds.
"""

from __future__ import annotations

import json
import logging
import time
import traceback

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.errors import ApiError

log = logging.getLogger("serve")


async def _send_json(
    send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class MetricsMiddleware:
    """Counts and times every request by route template, and answers unexpected errors.

    An exception that escapes the app is logged as its type and stack only (its message could
    quote input) and answered with a JSON 500, instead of the server's own traceback log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from serve.metrics import get_metrics

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_status(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        metrics = get_metrics()
        try:
            await self.app(scope, receive, send_with_status)
        except Exception as err:
            stack = "".join(traceback.format_tb(err.__traceback__))
            log.error(
                "internal error %s on %s %s\n%s",
                type(err).__name__,
                scope.get("method"),
                scope.get("path"),
                stack,
            )
            metrics.errors.labels(kind="internal").inc()
            status = 500
            if not response_started:
                await _send_json(
                    send,
                    500,
                    {"detail": "internal error; it has been logged (without the posts' text)"},
                )
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()
            metrics.latency.labels(template).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """Refuses request bodies over ``TRIAGE_MAX_BODY_BYTES`` with a 413.

    A declared Content-Length over the limit is refused before reading anything; a chunked
    body is counted as it arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = getattr(scope["app"].state, "settings", None) if "app" in scope else None
        if settings is None:
            await self.app(scope, receive, send)
            return
        limit = settings.max_body_bytes
        message = (
            f"the request body is larger than {limit:,} bytes (TRIAGE_MAX_BODY_BYTES); "
            "send fewer posts per request"
        )
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            from serve.metrics import get_metrics

            get_metrics().errors.labels(kind="body_too_large").inc()
            await _send_json(send, 413, {"detail": message})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > limit:
                    raise ApiError(413, message, "body_too_large")
            return incoming

        await self.app(scope, limited_receive, send)


UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))


class ConcurrencyLimitMiddleware:
    """Answers 503 with ``Retry-After`` when a worker already handles ``TRIAGE_MAX_CONCURRENT``
    requests, instead of queueing work it cannot finish soon.

    One event loop per worker, so a plain counter is exact. Health, readiness and metrics are
    not counted: a busy worker is alive, and its metrics are what shows it is busy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        settings = getattr(scope["app"].state, "settings", None) if "app" in scope else None
        limit = settings.max_concurrent if settings is not None else None
        if limit is not None and self.in_flight >= limit:
            from serve.metrics import get_metrics

            get_metrics().errors.labels(kind="overloaded").inc()
            await _send_json(
                send,
                503,
                {
                    "detail": f"this worker is already handling {limit:,} requests "
                    "(TRIAGE_MAX_CONCURRENT); retry in a second, or send posts in fewer, "
                    "larger requests"
                },
                headers=[(b"retry-after", b"1")],
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
