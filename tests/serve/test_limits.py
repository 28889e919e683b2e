"""Bounded work: characters per request (413), requests per worker (503), and an event loop that
keeps answering while a large request is scored. Plus the API's side of the input rules (float
ids, bounded dates, text length as sent), which match the files' and the schema's."""

from __future__ import annotations

import gc
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from serve.app import create_app, require_model
from serve.settings import Settings, get_settings
from triage_ml.contract import DATE_RANGE, ID_RULE, MAX_FLOAT_ID

KEY = "limits-key-" + "k" * 20
AUTH = {"X-API-Key": KEY}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("limits") / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    return root


def settings_for(root: Path, **overrides) -> Settings:
    values = {
        "model_root": root,
        "api_keys": (KEY,),
        "max_batch": 20,
        "max_body_bytes": 1_000_000,
        "max_chars": 200_000,
        "reload_interval": 0,
        "bundle_key": "",
        "gc_freeze": False,
    }
    if "allow_unsigned" in Settings.model_fields:  # the test bundle is unsigned
        values["allow_unsigned"] = True
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def open_client(root: Path):
    def make(**overrides) -> TestClient:
        app = create_app()
        settings = settings_for(root, **overrides)
        app.dependency_overrides[get_settings] = lambda: settings
        return TestClient(app)

    return make


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    app = create_app()
    settings = settings_for(root)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as c:
        yield c


def score(client: TestClient, *posts: dict):
    return client.post("/v1/score", json={"posts": list(posts)}, headers=AUTH)


# -- the input rules, as the API applies them ----------------------------------------------


@pytest.mark.parametrize("value", [1e30, 1.5, float(MAX_FLOAT_ID) * 2])
def test_a_float_id_without_exact_digits_is_422_with_the_files_rule(client, value) -> None:
    r = score(client, {"id": value, "text": "hello"})
    assert r.status_code == 422, r.text
    assert ID_RULE in r.json()["detail"] and "posts[0].id" in r.json()["detail"]


def test_a_whole_float_id_is_the_integer_as_in_files(client) -> None:
    r = score(client, {"id": 7.0, "text": "hello"}, {"id": float(MAX_FLOAT_ID), "text": "x"})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["results"]] == ["7", str(MAX_FLOAT_ID)]


@pytest.mark.parametrize(
    "value", ["9999-12-31T00:00:00Z", "1969-12-31T23:59:59Z", "2100-01-01", "0000-01-01"]
)
def test_created_at_out_of_range_is_422_naming_the_range(client, value) -> None:
    r = score(client, {"id": "a", "text": "hello", "created_at": value})
    assert r.status_code == 422, r.text
    assert DATE_RANGE in r.json()["detail"] and "posts[0].created_at" in r.json()["detail"]


@pytest.mark.parametrize("value", ["2099-12-31T23:59:59-05:00", "1970-01-01T00:00:00Z"])
def test_deadlines_at_the_date_bounds_are_valid_iso_8601(client, value) -> None:
    r = score(client, {"id": "a", "text": "where is my order??", "created_at": value})
    assert r.status_code == 200, r.text
    respond_by = r.json()["results"][0]["priority"]["respond_by"]
    assert datetime.fromisoformat(respond_by).year in (1970, 2100)


def test_text_length_counts_what_was_sent_as_the_schema_says(client) -> None:
    r = score(client, {"id": "a", "text": "a" * 9_999 + "  "})
    assert r.status_code == 422, r.text
    assert "10,001 characters as sent" in r.json()["detail"]
    assert score(client, {"id": "a", "text": " " + "a" * 9_999}).status_code == 200


# -- work per request ----------------------------------------------------------------------


def test_too_many_characters_in_one_request_is_413_naming_the_limit(open_client) -> None:
    with open_client(max_chars=20_000) as c:
        posts = [{"id": str(i), "text": "x" * 7_000} for i in range(3)]
        r = score(c, *posts)
        assert r.status_code == 413, r.text
        assert r.json()["detail"].startswith("21,000 characters of text in one request")
        assert "at most 20,000" in r.json()["detail"] and "TRIAGE_MAX_CHARS" in r.json()["detail"]
        assert score(c, *posts[:2]).status_code == 200


def test_the_loop_keeps_answering_while_a_large_request_is_scored(open_client) -> None:
    """64 posts of 10,000 characters (about a second of scoring): meanwhile the event loop
    stays responsive (a 1 ms timer on it fires late by a small fraction of the scoring time)
    and /healthz keeps being answered, not only once the scoring ends. (With 16 posts the
    scoring took 0.25 s on the CI machine, and two /healthz round trips fitted into it, not
    three: the request is made long enough for the count to mean something.)

    The loop is timed by a task on it rather than by /healthz round trips, whose GIL hand-overs
    between this test's client threads and the scoring thread would be timed too. The worker
    runs as served (``gc_freeze`` on): otherwise a full collection over this test session's
    heap (>100 ms, measured) pauses every thread. The timed posts differ from the warm-up's,
    so that no cache shortens the scoring being timed."""
    words = "my order never arrived and nobody answers the phone, refund me now please "
    n_posts, chars = 64, 10_000

    def posts(tag: str) -> list[dict]:
        return [
            {"id": f"{tag}{i}", "text": (f"{tag}{i} " + words * 150)[:chars]}
            for i in range(n_posts)
        ]

    lateness: list[float] = []
    probing = threading.Event()

    async def probe_the_loop() -> None:
        while probing.is_set():
            t0 = time.perf_counter()
            await anyio.sleep(0.001)
            lateness.append(time.perf_counter() - t0 - 0.001)

    try:
        large = {"max_batch": n_posts, "max_chars": n_posts * chars, "max_body_bytes": 2_000_000}
        with open_client(gc_freeze=True, **large) as c:
            assert score(c, *posts("warm")).status_code == 200  # models, thread pool
            started, done = threading.Event(), threading.Event()
            big: dict[str, float] = {}

            def send_big() -> None:
                started.set()
                t0 = time.perf_counter()
                assert score(c, *posts("timed")).status_code == 200
                big["seconds"] = time.perf_counter() - t0
                done.set()

            probing.set()
            probe = c.portal.start_task_soon(probe_the_loop)
            sender = threading.Thread(target=send_big)
            sender.start()
            started.wait()
            answered = 0
            while not done.is_set():
                assert c.get("/healthz").status_code == 200
                answered += not done.is_set()  # answered while the scoring was still going on
            sender.join()
            probing.clear()
            probe.result(timeout=5)
    finally:
        gc.unfreeze()  # the rest of the session collects as before
    assert answered >= 3, (answered, big)
    assert len(lateness) >= 20, (len(lateness), big)
    assert max(lateness) < big["seconds"] / 4, (max(lateness), big)


def test_requests_beyond_the_worker_limit_are_503_with_retry_after(open_client) -> None:
    entered, gate = threading.Event(), threading.Event()

    async def held(request: Request) -> object:  # require_model, after a wait
        entered.set()
        await anyio.to_thread.run_sync(gate.wait)
        return request.app.state.models.current

    with open_client(max_concurrent=1) as c:
        c.app.dependency_overrides[require_model] = held
        first: dict[str, int] = {}
        sender = threading.Thread(
            target=lambda: first.update(status=score(c, {"id": "a", "text": "hi"}).status_code)
        )
        sender.start()
        assert entered.wait(30)
        try:
            r = score(c, {"id": "b", "text": "hi"})
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            assert "TRIAGE_MAX_CONCURRENT" in r.json()["detail"]
            assert c.get("/healthz").status_code == 200  # operations routes are not counted
            assert c.get("/readyz").status_code == 200
            assert 'triage_errors_total{kind="overloaded"}' in c.get("/metrics").text
        finally:
            gate.set()
            sender.join()
        assert first["status"] == 200
        assert score(c, {"id": "c", "text": "hi"}).status_code == 200  # the slot is free again


def test_openapi_states_the_deployments_batch_limit(open_client) -> None:
    with open_client(max_batch=7) as c:
        spec = c.get("/openapi.json").json()
    posts = spec["components"]["schemas"]["ScoreRequest"]["properties"]["posts"]
    assert posts["maxItems"] == 7
    assert "TRIAGE_MAX_CHARS" in posts["description"]
