"""Keeping secrets and post text out of the access log.

uvicorn writes each request's target, query string included, to ``uvicorn.access``. A client
that puts its API key in the URL (``?api_key=...``) or calls a path that does not exist with a
post's text in it would leave them in the log. :class:`RedactTarget` rewrites the target of
every access record before it is formatted: known routes keep their path, anything else becomes
``/[unknown path]``, and a query keeps only the parameters the API defines with values it reads
(``reasons=false``); every other parameter is counted, never shown.

uvicorn writes the access line when a response starts, on the event loop, before the body is
sent: :func:`access_log_off_the_loop` makes that an enqueue, and a thread formats and writes
the line (about 0.1 ms a request over HTTP: ``benchmarks/serving.py``). Redaction still
happens on the record before it is queued.
"""

from __future__ import annotations

import logging
import queue
from logging.handlers import QueueHandler, QueueListener
from urllib.parse import parse_qsl

ACCESS_LOGGER = "uvicorn.access"
KNOWN_PATHS = frozenset(
    (
        "/v1/score",
        "/v1/model",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/review-queue",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    )
)
_SHOWN_VALUES = {
    "reasons": frozenset(("true", "false", "1", "0", "yes", "no", "on", "off")),
    "n": frozenset(str(i) for i in range(1, 1001)),  # GET /v1/review-queue?n=50
}


def redact_target(target: str) -> str:
    """A request target as it may be logged: known path, known parameters, the rest counted."""
    path, has_query, query = target.partition("?")
    shown_path = path if path in KNOWN_PATHS else "/[unknown path]"
    if not has_query:
        return shown_path
    shown: list[str] = []
    hidden = 0
    for name, value in parse_qsl(query, keep_blank_values=True):
        if value.lower() in _SHOWN_VALUES.get(name, ()):
            shown.append(f"{name}={value.lower()}")
        else:
            hidden += 1
    if not shown and not hidden and query:
        hidden = 1  # a query that is not name=value pairs
    if hidden:
        shown.append(f"[{hidden} hidden parameter{'s' if hidden > 1 else ''}]")
    return f"{shown_path}?{'&'.join(shown)}"


class RedactTarget(logging.Filter):
    """Rewrites the target in uvicorn's access records (``'%s - "%s %s HTTP/%s" %d'``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def install_redaction() -> None:
    """Add the filter to uvicorn's access logger once (each worker calls this at startup)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactTarget) for f in logger.filters):
        logger.addFilter(RedactTarget())


class _KeepArgs(QueueHandler):
    """Queues the record as it is: uvicorn's access formatter reads the record's arguments
    (client, method, target, version, status), which a plain ``QueueHandler`` would merge into
    the message first."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def access_log_off_the_loop() -> QueueListener | None:
    """Move the access logger's handlers behind a queue and a writer thread (each worker at
    startup); the listener to stop at shutdown, which writes what is still queued. ``None``
    when they already are, or there is nothing to move."""
    logger = logging.getLogger(ACCESS_LOGGER)
    handlers = [h for h in logger.handlers if not isinstance(h, _KeepArgs)]
    if not handlers or len(handlers) != len(logger.handlers):
        return None
    lines: queue.SimpleQueue = queue.SimpleQueue()
    listener = QueueListener(lines, *handlers, respect_handler_level=True)
    for handler in handlers:
        logger.removeHandler(handler)
    logger.addHandler(_KeepArgs(lines))
    listener.start()
    return listener


def restore_access_log(listener: QueueListener | None) -> None:
    """Write what is queued and give the access logger its handlers back."""
    if listener is None:
        return
    listener.stop()
    logger = logging.getLogger(ACCESS_LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _KeepArgs)]:
        logger.removeHandler(handler)
    for handler in listener.handlers:
        logger.addHandler(handler)
