"""The simulated helpdesk of the load test; locust runs this file, ``benchmarks/load.py`` starts it.

Each user posts ``LOAD_BATCH`` posts per request to ``/v1/score`` at ``LOAD_PER_USER`` requests
per second (locust's constant throughput: the pause after a request shrinks as responses slow
down), over one keep-alive connection. Every attempt is kept as (start, latency, status, error,
attempt) and written to ``LOAD_RECORDS`` as CSV when locust quits, so that load.py can cut the
run by wall clock (reloads, the kill) and count every failure, not only locust's aggregates.

A request that got no response at all because its connection was closed (the worker holding the
keep-alive connection died) is sent once more on a new connection, as HTTP clients and
gateways do for a request that is safe to repeat (scoring changes nothing on the server). Both
attempts are recorded, so the failures are counted with and without that retry.

Settings come from the environment because locust imports this file itself:
``LOAD_POSTS`` (a JSON file of posts), ``LOAD_BATCH``, ``LOAD_PER_USER``, ``LOAD_KEY`` (the API
key), ``LOAD_RECORDS`` (the output CSV).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from locust import FastHttpUser, constant_throughput, events, task

_state: dict = {"posts": [], "batch": 1, "key": "", "next": 0}
_records: list[tuple[float, float, int, str, int]] = []
_CLOSED = {"HTTPConnectionClosed", "ConnectionResetError", "BrokenPipeError"}


@events.init.add_listener
def _load_settings(environment, **_kwargs) -> None:
    _state["posts"] = json.loads(Path(os.environ["LOAD_POSTS"]).read_text())
    _state["batch"] = int(os.environ.get("LOAD_BATCH", "1"))
    _state["key"] = os.environ.get("LOAD_KEY", "")


@events.request.add_listener
def _record(
    start_time, response_time, response=None, exception=None, context=None, **_kwargs
) -> None:
    status = getattr(response, "status_code", 0) or 0
    error = "" if exception is None else type(exception).__name__
    attempt = (context or {}).get("attempt", 1)
    _records.append((start_time, response_time, int(status), error, attempt))


@events.quitting.add_listener
def _write_records(environment, **_kwargs) -> None:
    with open(os.environ["LOAD_RECORDS"], "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["start", "ms", "status", "error", "attempt"])
        writer.writerows(_records)


class Helpdesk(FastHttpUser):
    """One helpdesk connection sending the sample posts in order, ``LOAD_BATCH`` at a time."""

    wait_time = constant_throughput(float(os.environ.get("LOAD_PER_USER", "5")))

    @task
    def score(self) -> None:
        posts, batch = _state["posts"], _state["batch"]
        start = _state["next"]
        _state["next"] = (start + batch) % (len(posts) - batch)
        body = {"posts": posts[start : start + batch]}
        for attempt in (1, 2):
            resp = self.client.post(
                "/v1/score",
                json=body,
                headers={"X-API-Key": _state["key"]},
                name=f"/v1/score ({batch} posts)",
                context={"attempt": attempt},
            )
            if resp.status_code or type(resp.error).__name__ not in _CLOSED:
                break
