"""A single post over HTTP takes the plain path (no pandas) and gets what score_posts gives;
anything unusual still goes the general way, with the same answer or the same error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import serve.app as app_module
from serve.app import create_app
from serve.settings import Settings, get_settings
from triage_ml.decide.scoring import score_posts

KEY = "k-" + "p" * 30
AUTH = {"X-API-Key": KEY}
POSTS = [
    {
        "id": "p-1",
        "text": "third time I'm asking, where is my refund?? @acme",
        "created_at": "2026-12-01T10:00:00Z",
        "channel": "Twitter",
        "author_followers": 48200,
        "author_verified": True,
    },
    {"id": 7, "text": "Do you ship the pro plan to teams of 20?", "created_at": "2026-12-01"},
    {"id": "p-3", "text": "great battery 😀😀", "created_at": "2026-12-01T11:00:00+01:00"},
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


def _service(root: Path):
    """The app serving ``root/triage`` (unsigned test bundle, no reload watcher)."""
    settings = Settings(
        model_root=root,
        model="triage",
        api_keys=(KEY,),
        reload_interval=0,
        bundle_key="",
        allow_unsigned=True,
        gc_freeze=False,
    )
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("plain") / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    with TestClient(_service(root)) as c:
        yield c


@pytest.fixture
def general(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests scored the general way (``score_payload``)."""
    calls: list[int] = []
    original = app_module.score_payload

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(app_module, "score_payload", spy)
    return calls


@pytest.mark.parametrize("count", [1, 3])
def test_small_requests_take_the_plain_path_with_the_same_records(
    client: TestClient, bundle, general, count: int
) -> None:
    posts = POSTS[:count]
    answer = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert general == []
    expected = score_posts(bundle, pd.DataFrame(posts)).records()
    assert answer.json()["results"] == expected
    plain = client.post(
        "/v1/score", params={"reasons": "false"}, json={"posts": posts}, headers=AUTH
    )
    assert general == []
    assert [r["labels"] for r in plain.json()["results"]] == [r["labels"] for r in expected]


@pytest.mark.parametrize(
    "posts",
    [
        [{"id": "u-1", "text": "refund please", "channel": "Fòrum"}],  # non-ASCII lower-casing
        [{"id": f"u-{i}", "text": "refund please"} for i in range(5)],  # not a small request
    ],
)
def test_other_requests_go_the_general_way_with_the_same_answer(
    client: TestClient, bundle, general, posts: list[dict]
) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("min")
    for post in posts:
        post["created_at"] = now.isoformat()
    answer = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert general == [1]
    expected = score_posts(bundle, pd.DataFrame(posts)).records()
    assert answer.json()["results"] == expected


def test_invalid_posts_get_the_general_paths_error(client: TestClient, general) -> None:
    posts = [{"id": "x-1", "text": "refund"}, {"id": "x-1", "text": "refund now"}]
    answer = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert general == [1] and "x-1" in answer.text


def test_loading_builds_the_plain_path_before_the_first_request(bundle_dir, tmp_path) -> None:
    root = tmp_path / "models"
    shutil.copytree(bundle_dir, root / "triage")
    with TestClient(_service(root)) as c:
        triager = c.app.state.models.current.bundle.triager
        assert "_plain_features" in triager.__dict__  # built by the load probe
