"""POST /v1/feedback and DELETE /v1/feedback/{id} in process; X-Request-ID on responses."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.feedback import get_feedback_store
from serve.settings import Settings, get_settings
from triage_ml.feedback import open_store

KEY = "fb-key-" + "f" * 24
MARKER = "zqxj-private-customer-sentence"
GOOD = {
    "id": "p-1042",
    "text": "my order never arrived and nobody answers",
    "created_at": "2026-11-22T10:00:00Z",
    "channel": "twitter",
    "author_followers": 48200,
    "author_verified": True,
    "labels": ["complaint", "influencer"],
    "urgency": 0.9,
    "reviewer": "agent-17",
    "corrected_at": "2026-11-22T10:07:00Z",
    "model_version": "triage (sha256:3f2a9c1b7d4e)",
    "request_id": "6f1c0a9e2b7d4c3a",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Path:
    models = tmp_path_factory.mktemp("feedback-serve") / "models"
    models.mkdir()
    shutil.copytree(bundle_dir, models / "triage")
    return models


def settings_for(root: Path) -> Settings:
    values = {
        "model_root": root,
        "api_keys": (KEY,),
        "reload_interval": 0,
        "bundle_key": "",
        "gc_freeze": False,
    }
    if "allow_unsigned" in Settings.model_fields:  # the session's bundle is unsigned
        values["allow_unsigned"] = True
    return Settings(**values)


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield opened
    opened.close()


@pytest.fixture
def client(root: Path, store) -> Iterator[TestClient]:
    app = create_app()
    settings = settings_for(root)
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_feedback_store] = lambda: store
    with TestClient(app, headers={"X-API-Key": KEY}) as c:
        yield c


def send(client: TestClient, **changes):
    body = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return client.post("/v1/feedback", json=body)


def test_a_correction_is_stored_once_and_a_retry_says_so(client: TestClient, store) -> None:
    first = send(client)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "stored" and body["id"] == "p-1042"
    assert body["corrected_at"].startswith("2026-11-22T10:07:00")
    again = send(client, corrected_at="2026-11-22T11:07:00+01:00")  # the same instant
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["correction_id"] == body["correction_id"]
    rows = store.corrections()
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["labels"] == "complaint;influencer" and row["urgency"] == 0.9
    assert row["request_id"] == "6f1c0a9e2b7d4c3a" and row["model_version"] == GOOD["model_version"]
    assert send(client, labels=..., urgency="low", reviewer="lead").status_code == 201
    assert send(client, labels=[], urgency=..., id=7).status_code == 201  # int ids, no label
    assert len(store.corrections()) == 3


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"labels": ["refund"]}, 422, "labels: unknown label 'refund'; the declared labels are"),
        ({"urgency": 1.5}, 422, "urgency: found 1.5; urgency must be a number in [0, 1]"),
        ({"urgency": "asap"}, 422, "or one of low, medium, high, critical"),
        ({"text": "   "}, 422, "text: text is missing or empty"),
        ({"text": ...}, 422, "text: required field is missing"),
        ({"text": "x" * 10_001}, 422, "at most 10,000 characters"),
        ({"labels": ..., "urgency": ...}, 422, "a correction needs labels and/or urgency"),
        ({"reviewer": ...}, 422, "reviewer: required field is missing"),
        ({"reviewer": " "}, 422, "reviewer: is missing or empty"),
        ({"corrected_at": "yesterday"}, 422, "corrected_at: cannot read 'yesterday'"),
        ({"corrected_at": "0" * 20}, 422, "corrected_at: found '00000000000000000000'; corr"),
        ({"corrected_at": "9999-01-01T00:00:00Z"}, 422, "corrected_at must be a date from 1970"),
        ({"created_at": "2100-01-01"}, 422, "created_at must be a date from 1970"),
        ({"model_version": ...}, 422, "model_version: required field is missing"),
        ({"created_at": "soon"}, 422, "created_at: cannot read 'soon' as a date-time"),
        ({"author_followers": "many"}, 422, "got a string of 4 characters"),
        ({"priority": "P1"}, 422, "priority: unknown field; a correction has only id, text"),
        ({"labels": [3]}, 422, "labels"),
    ],
)
def test_bad_feedback_gets_a_4xx_that_says_why(client: TestClient, changes, status, words) -> None:
    r = send(client, **changes)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert r.json()["errors"][0]["loc"][0] == "body"


def test_malformed_requests(client: TestClient) -> None:
    r = client.post(
        "/v1/feedback", content=b'{"id": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/v1/feedback", content=b"id=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["detail"]
    r = client.post("/v1/feedback", json=[GOOD])
    assert r.status_code == 422 and "one JSON object" in r.json()["detail"]


def test_a_different_correction_under_the_same_key_is_a_conflict(client, store) -> None:
    assert send(client).status_code == 201
    r = send(client, labels=["sales_lead"])
    assert r.status_code == 409 and "send a new corrected_at" in r.json()["detail"]
    assert store.corrections()["labels"].tolist() == ["complaint;influencer"]


def test_feedback_takes_the_scoring_key(client: TestClient) -> None:
    for headers in ({"X-API-Key": ""}, {"X-API-Key": "wrong-" + "k" * 20}):
        r = client.post("/v1/feedback", json=GOOD, headers=headers)
        assert r.status_code == 401, r.text
        assert client.delete("/v1/feedback/p-1042", headers=headers).status_code == 401


def test_delete_erases_the_post_and_its_corrections(client: TestClient, store, tmp_path) -> None:
    assert send(client, text=f"{MARKER} call me").status_code == 201
    assert send(client, text=f"{MARKER} call me", reviewer="lead").status_code == 201
    assert send(client, id="other").status_code == 201
    r = client.delete("/v1/feedback/p-1042")
    assert r.status_code == 200
    assert r.json() == {"id": "p-1042", "corrections_deleted": 2, "post_deleted": True}
    assert store.corrections()["id"].tolist() == ["other"]
    for f in tmp_path.glob("feedback.db*"):
        assert MARKER.encode() not in f.read_bytes()
    again = client.delete("/v1/feedback/p-1042")
    assert again.json() == {"id": "p-1042", "corrections_deleted": 0, "post_deleted": False}


def test_scoring_writes_nothing_and_returns_a_request_id(root: Path, tmp_path: Path) -> None:
    app = create_app()
    settings = settings_for(root)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app, headers={"X-API-Key": KEY}) as c:
        posts = {"posts": [{"id": "a", "text": "where is my parcel?"}]}
        first, second = c.post("/v1/score", json=posts), c.post("/v1/score", json=posts)
        assert first.status_code == 200
        ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
        assert len(ids) == 2 and all(len(i) == 32 for i in ids)
        mine = c.post("/v1/score", json=posts, headers={"X-Request-ID": "inbox-42.a"})
        assert mine.headers["X-Request-ID"] == "inbox-42.a"
        odd = c.post("/v1/score", json=posts, headers={"X-Request-ID": "has spaces"})
        assert odd.headers["X-Request-ID"] != "has spaces"
        assert c.get("/healthz").headers["X-Request-ID"]
        assert getattr(app.state, "feedback_store", None) is None  # never opened
    assert not list(tmp_path.glob("*.db*")) and not list(root.parent.glob("*.db*"))


def test_an_unreachable_store_is_a_503_without_its_address(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_FEEDBACK_URL", "postgresql://u:s3cret@127.0.0.1:1/none")
    app = create_app()
    settings = settings_for(root)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app, headers={"X-API-Key": KEY}) as c:
        r = c.post("/v1/feedback", json=GOOD)
    assert r.status_code == 503, r.text
    assert "feedback store is unavailable" in r.json()["detail"]
    assert "s3cret" not in r.text and "127.0.0.1" not in r.text
    assert r.headers["Retry-After"] == "5"
