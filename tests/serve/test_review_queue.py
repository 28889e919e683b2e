"""GET /v1/review-queue in process: suggest()'s order, corrected posts left out, bounds, auth."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.feedback import get_feedback_store
from serve.review import ReviewPool, feedback_configured, review_feedback_store
from serve.settings import Settings, get_settings
from triage_ml.contract import validate_posts
from triage_ml.feedback import open_store
from triage_ml.monitor import suggest
from triage_ml.synthetic import generate_sample

KEY = "rq-key-" + "r" * 24
MARKER = "zqxj-private-review-sentence"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Path:
    models = tmp_path_factory.mktemp("review-serve") / "models"
    models.mkdir()
    shutil.copytree(bundle_dir, models / "triage")
    return models


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    posts = generate_sample(120, seed=77).drop(columns=["labels", "urgency"])
    posts.loc[5, "text"] = f"my order never arrived {MARKER}"
    path = tmp_path_factory.mktemp("review-pool") / "inbox.parquet"
    posts.to_parquet(path)
    return path


def settings_for(root: Path, pool: Path | None) -> Settings:
    values = {
        "model_root": root,
        "api_keys": (KEY,),
        "reload_interval": 0,
        "bundle_key": "",
        "gc_freeze": False,
        "drift_window": 0,
        "review_pool": pool,
    }
    if "allow_unsigned" in Settings.model_fields:  # the session's bundle is unsigned
        values["allow_unsigned"] = True
    return Settings(**values)


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield opened
    opened.close()


@contextmanager
def serving(root: Path, pool: Path | None, store) -> Iterator[TestClient]:
    app = create_app()
    settings = settings_for(root, pool)
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_feedback_store] = lambda: store
    app.dependency_overrides[review_feedback_store] = lambda: store
    with TestClient(app, headers={"X-API-Key": KEY}) as c:
        if pool is not None:  # the background task may not have finished: rank now (cached)
            c.app.state.review_pool.refresh(c.app.state.models.current)
        yield c


@pytest.fixture
def client(root: Path, pool_file: Path, store) -> Iterator[TestClient]:
    with serving(root, pool_file, store) as c:
        yield c


def expected(client: TestClient, pool_file: Path) -> pd.DataFrame:
    bundle = client.app.state.models.current.bundle
    frame, _ = validate_posts(
        pd.read_parquet(pool_file), label_set=bundle.labels, require_labels=False
    )
    return suggest(bundle, frame, n=len(frame))


def test_the_queue_is_suggests_ranking_of_the_pool(client: TestClient, pool_file: Path) -> None:
    response = client.get("/v1/review-queue", params={"n": 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    want = expected(client, pool_file)
    assert [i["id"] for i in body["items"]] == want["id"].astype(str).tolist()
    assert body["pool_size"] == 120 and body["corrected_excluded"] == 0
    assert body["model_version"] == client.app.state.models.current.version
    first = body["items"][0]
    assert first["rank"] == 1
    for key in ("priority", "uncertainty", "urgency", "probability", "threshold"):
        assert first[key] == pytest.approx(float(want.iloc[0][key]))
    assert first["nearest_label"] == want.iloc[0]["nearest_label"]
    assert set(first) == {
        "id",
        "rank",
        "priority",
        "uncertainty",
        "urgency",
        "nearest_label",
        "probability",
        "threshold",
    }
    assert MARKER not in response.text
    short = client.get("/v1/review-queue").json()["items"]  # n defaults to 50
    assert [i["id"] for i in short] == [i["id"] for i in body["items"][:50]]


def test_posts_with_a_correction_are_left_out(client: TestClient, pool_file: Path) -> None:
    top = client.get("/v1/review-queue", params={"n": 5}).json()["items"]
    corrected = top[0]["id"], top[2]["id"]
    for post_id in corrected:
        stored = client.post(
            "/v1/feedback",
            json={
                "id": post_id,
                "text": "the post as the inbox has it",
                "labels": ["complaint"],
                "reviewer": "agent-3",
                "corrected_at": "2026-11-22T10:07:00Z",
                "model_version": client.app.state.models.current.version,
            },
        )
        assert stored.status_code == 201, stored.text
    body = client.get("/v1/review-queue", params={"n": 3}).json()
    assert [i["id"] for i in body["items"]] == [top[1]["id"], top[3]["id"], top[4]["id"]]
    assert [i["rank"] for i in body["items"]] == [1, 2, 3]
    assert body["corrected_excluded"] == 2


@pytest.mark.parametrize("n", ["0", "1001", "-3", "ten"])
def test_n_out_of_bounds_is_a_clear_422(client: TestClient, n: str) -> None:
    response = client.get("/v1/review-queue", params={"n": n})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("query.n: "), response.text


def test_an_unknown_query_parameter_is_refused(client: TestClient) -> None:
    response = client.get("/v1/review-queue", params={"n": 3, "limit": 3})
    assert response.status_code == 422
    assert "limit" in response.json()["detail"] and "the only one is n" in response.text


def test_without_a_pool_the_answer_names_the_setting(root: Path, store) -> None:
    with serving(root, None, store) as c:
        response = c.get("/v1/review-queue")
        assert response.status_code == 409
        assert "TRIAGE_REVIEW_POOL" in response.json()["detail"]


def test_the_api_key_is_required(client: TestClient) -> None:
    assert client.get("/v1/review-queue", headers={"X-API-Key": ""}).status_code == 401
    wrong = client.get("/v1/review-queue", headers={"X-API-Key": "not-the-key"})
    assert wrong.status_code == 401


def test_a_pool_that_cannot_be_read_is_a_503_and_its_reason_stays_in_the_log(
    root: Path, store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "inbox.csv"
    broken.write_text(f"id,text\np-1,{MARKER} my order\np-1,a duplicate id\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="serve"), serving(root, broken, store) as c:
        response = c.get("/v1/review-queue")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "TRIAGE_REVIEW_POOL" in response.json()["detail"]
        assert str(tmp_path) not in response.text
    assert "not ranked" in caplog.text and MARKER not in caplog.text


def test_the_ranking_is_cached_per_model_version_and_redone_after_a_reload(
    client: TestClient, pool_file: Path
) -> None:
    pool: ReviewPool = client.app.state.review_pool
    loaded = client.app.state.models.current
    before = pool.ranking
    assert pool.refresh(loaded) is False and pool.ranking is before  # cached
    bundle = loaded.bundle
    other = dataclasses.replace(
        loaded, bundle=dataclasses.replace(bundle, version_label="triage@8")
    )
    assert other.version != loaded.version
    assert pool.refresh(other) is True
    assert pool.ranking is not before and pool.ranking.model_version == other.version
    body = client.get("/v1/review-queue", params={"n": 2}).json()
    assert body["model_version"] == other.version


def test_no_store_is_consulted_or_created_when_none_is_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # the project folder of the default SQLite file
    assert feedback_configured() is False
    assert not (tmp_path / "feedback.db").exists()
    (tmp_path / "feedback.db").write_bytes(b"")
    assert feedback_configured() is True
    (tmp_path / "feedback.db").unlink()
    monkeypatch.setenv("TRIAGE_FEEDBACK_URL", "sqlite:////elsewhere/feedback.db")
    assert feedback_configured() is True


def _query_only(case) -> bool:
    """Cases whose headers are valid: the key is sent with every case (which would turn a
    'missing key' case valid); the query is what is under test."""
    from schemathesis import GenerationMode
    from schemathesis.core.parameters import ParameterLocation

    components = case.meta.components if case.meta is not None else {}
    return all(
        info.mode == GenerationMode.POSITIVE
        for location, info in components.items()
        if location != ParameterLocation.QUERY
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_the_schema_of_the_route_tells_the_truth(root: Path, pool_file: Path, mode: str) -> None:
    """schemathesis on GET /v1/review-queue (every check): what the schema calls a valid ``n``
    is answered 200 with a body that matches it, an invalid one is refused, nothing is a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS, load_all_checks

    from benchmarks.api_fuzz import CONFIG

    with serving(root, pool_file, None) as c:
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", c.app, config=schemathesis.Config.from_path(CONFIG)
        )
        operation = schema["/v1/review-queue"]["GET"]
        load_all_checks()
        checks = list(CHECKS.get_all())
        # schemathesis runs the app's lifespan a second time on its first call (new state, a new
        # pool ranked in the background): start it, then rank that pool before generating
        operation.Case(query={"n": 1}).call(headers={"X-API-Key": KEY})
        c.app.state.review_pool.refresh(c.app.state.models.current)
        assert c.app.state.review_pool.ranking is not None
        statuses: list[int] = []

        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(GenerationMode(mode)).filter(_query_only))
        def run(case) -> None:
            response = case.call(headers={"X-API-Key": KEY})
            statuses.append(response.status_code)
            case.validate_response(response, checks=checks, headers={"X-API-Key": KEY})

        run()
        assert all(s < 500 for s in statuses), statuses
        if mode == "positive":
            assert statuses.count(200) >= 10, statuses


def test_the_access_log_shows_the_route_and_n_but_nothing_else() -> None:
    from serve.logs import redact_target

    assert redact_target("/v1/review-queue?n=50") == "/v1/review-queue?n=50"
    shown = redact_target(f"/v1/review-queue?n=5000&api_key=secret&q={MARKER}")
    assert shown == "/v1/review-queue?[3 hidden parameters]"


def test_a_pool_file_broken_after_a_good_ranking_leaves_that_ranking(
    client: TestClient, pool_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "inbox.parquet"
    shutil.copy(pool_file, path)
    pool = ReviewPool(path)
    loaded = client.app.state.models.current
    assert pool.refresh(loaded) is True
    good = pool.ranking
    path.write_bytes(b"not parquet")
    assert pool.refresh(loaded) is False
    assert pool.ranking is good and pool.error
    assert pool.refresh(loaded) is False  # the same broken file is not read again
