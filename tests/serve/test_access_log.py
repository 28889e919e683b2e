"""The access log written off the event loop: redacted first, every line written, in order."""

from __future__ import annotations

import logging

from serve.logs import (
    ACCESS_LOGGER,
    access_log_off_the_loop,
    install_redaction,
    restore_access_log,
)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_access_lines_go_through_a_queue_redacted_with_their_arguments() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    saved = (logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
    keep = _Keep()
    logger.handlers[:] = [keep]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        install_redaction()
        listener = access_log_off_the_loop()
        assert listener is not None and keep not in logger.handlers
        assert access_log_off_the_loop() is None  # once per process
        for i in range(50):
            target = f"/v1/score?api_key=secret-{i}&reasons=false"
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "POST", target, "1.1", 200)
        restore_access_log(listener)  # writes what is still queued
        assert logger.handlers == [keep]
        assert len(keep.records) == 50
        # uvicorn's formatter reads the five arguments: they arrive as they were, redacted
        args = [r.args for r in keep.records]
        assert all(len(a) == 5 and a[4] == 200 for a in args)
        assert {a[2] for a in args} == {"/v1/score?reasons=false&[1 hidden parameter]"}
        assert not any("secret" in r.getMessage() for r in keep.records)
    finally:
        logger.handlers[:], logger.filters[:] = saved[0], saved[1]
        logger.setLevel(saved[2])
        logger.propagate = saved[3]
