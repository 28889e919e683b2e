"""The scoring API in process (TestClient): one section per route, every client error a 4xx."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from serve.app import create_app, require_model
from serve.settings import Settings, get_settings
from triage_ml.decide.playbook import load_playbook
from triage_ml.store.bundle import Bundle, save_bundle

KEY, KEY2, ADMIN = "k-" + "a" * 30, "k-" + "b" * 30, "adm-" + "c" * 30
MARKER = "zqxj-private-customer-sentence"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


def make_settings(root: Path, **overrides) -> Settings:
    values = {
        "model_root": root,
        "model": "triage",
        "api_keys": (KEY, KEY2),
        "admin_keys": (ADMIN,),
        "max_batch": 20,
        "max_body_bytes": 100_000,
        "reload_interval": 0,
        "bundle_key": "",
        "allow_unsigned": True,  # the session's bundle is unsigned
        "gc_freeze": False,  # the process tests keep the default
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def model_root(tmp_path: Path, bundle_dir: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    return root


def open_client(settings: Settings) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("serve") / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    return root


@pytest.fixture(scope="module")
def client(shared_root: Path) -> Iterator[TestClient]:
    """A read-only service shared by the tests that do not change the model."""
    with open_client(make_settings(shared_root)) as c:
        yield c


AUTH = {"X-API-Key": KEY}


def post(text: str = "my order never arrived and nobody answers", **fields) -> dict:
    return {"id": fields.pop("id", "p-1"), "text": text, **fields}


def other_model(triager) -> object:
    """The same model with other thresholds: a different model.npz, a new version."""
    changed = copy.copy(triager)
    changed.thresholds_ = triager.thresholds_ * 0.9
    return changed


def replace_bundle(root: Path, triager, params, key: str = "") -> None:
    save_bundle(root / "triage", triager, load_playbook(), params.model_dump(mode="json"), key=key)


# -- POST /v1/score ------------------------------------------------------------------------


def test_score_returns_one_contract_record_per_post_in_order(client: TestClient) -> None:
    posts = [
        post("third time I'm asking, where is my refund??", id="b-2", channel="twitter"),
        post("do you offer a discount for teams of 50?", id=17, author_followers=120),
        post("love the new headphones, 5 stars", id="a-1", author_verified=True),
    ]
    r = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"model_version", "results"}
    assert [x["id"] for x in body["results"]] == ["b-2", "17", "a-1"]  # ids echoed as strings
    labels = ["complaint", "sales_lead", "product_review", "influencer"]
    for record in body["results"]:
        assert list(record["labels"]) == labels
        assert set(record) == {
            "id",
            "labels",
            "predicted_labels",
            "urgency",
            "priority",
            "route",
            "escalate",
            "needs_human",
            "reasons",
            "model_version",
        }
        assert record["model_version"] == body["model_version"]
        assert record["priority"]["tier"] in {"P1", "P2", "P3", "P4"}
        assert record["priority"]["respond_by"].endswith("Z")
        assert 0 <= record["urgency"] <= 1
    info = client.get("/v1/model", headers=AUTH).json()
    assert info["model_version"] == body["model_version"]


def test_score_gives_the_same_records_as_triage_ml_predict(
    tmp_path: Path, model_root: Path, sample_history
) -> None:
    """Same input and playbook: the API and the CLI return identical records."""
    from typer.testing import CliRunner

    from triage_ml.cli import app as cli

    playbook = yaml.safe_load(_playbook_path().read_text())
    playbook["routing"] = {"rules": [{"label": "sales_lead", "route": "sales"}], "default": "desk"}
    book = tmp_path / "playbook.yaml"
    book.write_text(yaml.safe_dump(playbook))
    columns = ["id", "text", "created_at", "channel", "author_followers", "author_verified"]
    sample = sample_history[columns].head(15).copy()
    sample["created_at"] = sample["created_at"].astype(str)
    posts = [
        {k: v for k, v in row.items() if v is not None and v == v}
        for row in sample.astype(object).to_dict("records")
    ]
    for p in posts:
        if "author_followers" in p:
            p["author_followers"] = int(p["author_followers"])
        if "author_verified" in p:
            p["author_verified"] = bool(p["author_verified"])
    data = tmp_path / "posts.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in posts))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli,
        ["predict", "--model", str(model_root / "triage"), "--data", str(data), "--out", str(out)]
        + ["--playbook", str(book)],
    )
    assert result.exit_code == 0, result.output
    expected = [json.loads(line) for line in out.read_text().splitlines()]

    with open_client(make_settings(model_root, playbook=book)) as c:
        r = c.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == expected
    assert {rec["route"] for rec in expected} <= {"sales", "desk"}


def _playbook_path() -> Path:
    from triage_ml.decide.playbook import default_playbook_path

    return default_playbook_path()


def test_reasons_can_be_turned_off_without_changing_the_scores(client: TestClient) -> None:
    # a fixed created_at: without one each deadline counts from its own scoring time
    posts = [
        post(
            "third time I'm asking, where is my refund??",
            id="r-1",
            created_at="2026-12-01T10:00:00Z",
        )
    ]
    full = client.post("/v1/score", json={"posts": posts}, headers=AUTH).json()["results"][0]
    bare = client.post(
        "/v1/score", params={"reasons": "false"}, json={"posts": posts}, headers=AUTH
    ).json()["results"][0]
    assert full["reasons"] and bare["reasons"] == []
    assert bare["labels"] == full["labels"] and bare["priority"] == full["priority"]
    bad = client.post("/v1/score", params={"reasons": "maybe"}, json={"posts": posts}, headers=AUTH)
    assert bad.status_code == 422 and "reasons" in bad.text


def test_text_of_exactly_10000_characters_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/score", json={"posts": [post("a" * 10_000)]}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_batch_at_the_limit_is_accepted(client: TestClient) -> None:
    posts = [post(f"post number {i}", id=f"p{i}") for i in range(20)]
    r = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert r.status_code == 200
    assert len(r.json()["results"]) == 20


def _raw(body: str, content_type: str = "application/json") -> dict:
    return {"content": body.encode("utf-8"), "headers": {**AUTH, "content-type": content_type}}


def _body(payload: object) -> dict:
    return {
        "content": json.dumps(payload).encode(),
        "headers": {**AUTH, "content-type": "application/json"},
    }


BAD_REQUESTS = [
    ("invalid JSON", _raw('{"posts": [}'), 400, "not valid JSON"),
    ("truncated JSON", _raw('{"posts": [{"id": "a"'), 400, "not valid JSON"),
    ("empty body", _raw(""), 422, "request body is empty"),
    ("body is an array", _body([post()]), 422, "must be a JSON object"),
    ("body is a string", _body("hello"), 422, "must be a JSON object"),
    ("no posts field", _body({}), 422, "posts: required field is missing"),
    ("posts is not a list", _body({"posts": post()}), 422, "posts"),
    ("no posts", _body({"posts": []}), 422, "send at least one post"),
    ("post is not an object", _body({"posts": ["hello"]}), 422, "posts[0]"),
    ("post without text", _body({"posts": [{"id": "a"}]}), 422, "posts[0].text: required"),
    ("post without id", _body({"posts": [{"text": "hi"}]}), 422, "posts[0].id: required"),
    ("text is a number", _body({"posts": [post(5)]}), 422, "posts[0].text"),
    ("text is null", _body({"posts": [post(None)]}), 422, "posts[0].text"),
    ("id is a list", _body({"posts": [post(id=["a"])]}), 422, "posts[0].id"),
    ("id is a float", _body({"posts": [post(id=1.5)]}), 422, "posts[0].id"),
    ("id too long", _body({"posts": [post(id="x" * 513)]}), 422, "at most 512"),
    ("followers is text", _body({"posts": [post(author_followers="many")]}), 422, "integer"),
    ("followers negative", _body({"posts": [post(author_followers=-1)]}), 422, "greater than"),
    ("followers huge", _body({"posts": [post(author_followers=10**13)]}), 422, "less than"),
    ("verified is text", _body({"posts": [post(author_verified="yes")]}), 422, "boolean"),
    ("channel is a number", _body({"posts": [post(channel=3)]}), 422, "posts[0].channel"),
    ("unknown post field", _body({"posts": [post(labels="complaint")]}), 422, "unknown field"),
    ("unknown top field", _body({"posts": [post()], "playbook": "x"}), 422, "unknown field"),
    ("empty text", _body({"posts": [post("")]}), 422, "text is missing or empty"),
    ("whitespace text", _body({"posts": [post(" \n\t ")]}), 422, "text is missing or empty"),
    ("text too long", _body({"posts": [post("a" * 10_001)]}), 422, "too long (10,001"),
    ("empty id", _body({"posts": [post(id="  ")]}), 422, "id is missing or empty"),
    (
        "duplicate ids",
        _body({"posts": [post(id="a"), post(id="b"), post(id="a")]}),
        422,
        "duplicate ids: 'a'",
    ),
    ("bad created_at", _body({"posts": [post(created_at="yesterday")]}), 422, "ISO-8601"),
    ("surrogate", _raw('{"posts": [{"id": "a", "text": "bad \\ud800 text"}]}'), 422, "surrogate"),
    (
        "over the batch limit",
        _body({"posts": [post(id=f"p{i}") for i in range(21)]}),
        413,
        "at most 20",
    ),
    ("text/plain", _raw(json.dumps({"posts": [post()]}), "text/plain"), 415, "application/json"),
    ("form body", _raw("posts=1", "application/x-www-form-urlencoded"), 415, "application/json"),
]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [row[1:] for row in BAD_REQUESTS],
    ids=[row[0] for row in BAD_REQUESTS],
)
def test_client_mistakes_are_4xx_with_an_actionable_message(
    client: TestClient, request_kwargs: dict, status: int, message: str
) -> None:
    r = client.post("/v1/score", **request_kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["detail"]


def test_several_problems_are_reported_together(client: TestClient) -> None:
    posts = [post("", id="a"), post("ok", id="b"), post(" ", id="c", created_at="soon")]
    r = client.post("/v1/score", json={"posts": posts}, headers=AUTH)
    assert r.status_code == 422
    body = r.json()
    assert "posts[0].text" in body["detail"] and "posts[2].text" in body["detail"]
    assert "posts[2].created_at" in body["detail"]
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "posts", 0, "text"] in locs and ["body", "posts", 2, "created_at"] in locs


def test_errors_do_not_echo_the_text(client: TestClient) -> None:
    r = client.post("/v1/score", json={"posts": [post(MARKER * 400)]}, headers=AUTH)
    assert r.status_code == 422
    assert MARKER not in r.text


def test_declared_body_over_the_limit_is_413_before_reading(client: TestClient) -> None:
    r = client.post("/v1/score", **_raw(" " * 100_001))
    assert r.status_code == 413
    assert "100,000 bytes" in r.json()["detail"]


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b" " * 10_000

    r = client.post(
        "/v1/score", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "TRIAGE_MAX_BODY_BYTES" in r.json()["detail"]


# -- API keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/score", "/v1/model"])
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-API-Key"),
        ({"X-API-Key": "wrong"}, "invalid API key"),
        ({"X-API-Key": ""}, "missing"),
    ],
)
def test_scoring_needs_a_valid_key(
    client: TestClient, route: str, headers: dict, message: str
) -> None:
    if route == "/v1/score":
        r = client.post(route, json={"posts": [post()]}, headers=headers)
    else:
        r = client.get(route, headers=headers)
    assert r.status_code == 401
    assert message in r.json()["detail"]
    assert r.headers["www-authenticate"] == "ApiKey"


def test_every_configured_key_works_and_admin_keys_do_not_score(client: TestClient) -> None:
    ok = client.post("/v1/score", json={"posts": [post()]}, headers={"X-API-Key": KEY2})
    assert ok.status_code == 200
    admin = client.post("/v1/score", json={"posts": [post()]}, headers={"X-API-Key": ADMIN})
    assert admin.status_code == 401


def test_without_keys_scoring_is_open(model_root: Path) -> None:
    with open_client(make_settings(model_root, api_keys=())) as c:
        assert c.post("/v1/score", json={"posts": [post()]}).status_code == 200


@pytest.mark.parametrize("route", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_operations_routes_need_no_key(client: TestClient, route: str) -> None:
    assert client.get(route).status_code == 200


# -- GET /v1/model, /healthz, /readyz --------------------------------------------------------


def test_model_info_describes_the_serving_model(client: TestClient, shared_root: Path) -> None:
    info = client.get("/v1/model", headers=AUTH).json()
    assert info["labels"] == ["complaint", "sales_lead", "product_review", "influencer"]
    assert set(info["thresholds"]) == set(info["labels"])
    assert info["source"] == str(shared_root / "triage")
    assert info["playbook"] == "bundle"
    assert info["signed"] is False
    assert info["model_version"].startswith("triage (sha256:")


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["model_version"].startswith("triage")


def test_not_ready_until_a_model_is_loaded(tmp_path: Path, triager, params) -> None:
    root = tmp_path / "models"
    root.mkdir()
    with open_client(make_settings(root, reload_interval=0.2)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "no bundle directory" in r.json()["detail"]
        s = c.post("/v1/score", json={"posts": [post()]}, headers=AUTH)
        assert s.status_code == 503
        assert s.headers["retry-after"] == "5"
        assert "no model is loaded yet" in s.json()["detail"]
        replace_bundle(root, triager, params)  # the watcher finds it
        assert _wait_for(lambda: c.get("/readyz").status_code == 200)
        assert c.post("/v1/score", json={"posts": [post()]}, headers=AUTH).status_code == 200


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


# -- reloads ---------------------------------------------------------------------------------


def test_admin_reload_swaps_in_a_new_bundle(model_root: Path, triager, params) -> None:
    admin = {"X-API-Key": ADMIN}
    with open_client(make_settings(model_root)) as c:
        before = c.get("/v1/model", headers=AUTH).json()["model_version"]
        replace_bundle(model_root, other_model(triager), params)
        assert c.get("/v1/model", headers=AUTH).json()["model_version"] == before  # no watcher
        r = c.post("/v1/admin/reload", headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["reloaded"] and body["changed"]
        assert body["previous_version"] == before and body["model_version"] != before
        assert c.get("/v1/model", headers=AUTH).json()["model_version"] == body["model_version"]
        scored = c.post("/v1/score", json={"posts": [post()]}, headers=AUTH).json()
        assert scored["model_version"] == body["model_version"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "model.npz").open("ab").write(b"\0"), "checksum of model.npz"),
        (lambda d: (d / "metadata.json").unlink(), "metadata.json is missing"),
        (lambda d: shutil.rmtree(d), "no bundle directory"),
    ],
    ids=["tampered", "incomplete", "missing"],
)
def test_a_refused_bundle_keeps_the_old_model_serving(model_root: Path, damage, reason) -> None:
    with open_client(make_settings(model_root)) as c:
        before = c.get("/v1/model", headers=AUTH).json()["model_version"]
        damage(model_root / "triage")
        r = c.post("/v1/admin/reload", headers={"X-API-Key": ADMIN})
        assert r.status_code == 409
        body = r.json()
        assert body["reloaded"] is False and reason in body["detail"]
        assert f"still serving {before}" in body["detail"]
        scored = c.post("/v1/score", json={"posts": [post()]}, headers=AUTH)
        assert scored.status_code == 200 and scored.json()["model_version"] == before
        assert c.get("/readyz").status_code == 200


def test_unsigned_bundle_is_refused_when_a_signing_key_is_set(model_root: Path) -> None:
    with open_client(make_settings(model_root, bundle_key="s3cret")) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "not signed" in r.json()["detail"]


def test_signed_bundle_loads_with_its_key(model_root: Path, triager, params) -> None:
    replace_bundle(model_root, triager, params, key="s3cret")
    with open_client(make_settings(model_root, bundle_key="s3cret")) as c:
        assert c.get("/readyz").status_code == 200
        assert c.get("/v1/model", headers=AUTH).json()["signed"] is True
    with open_client(make_settings(model_root, bundle_key="another")) as c:
        assert "signature does not match" in c.get("/readyz").json()["detail"]


@pytest.mark.parametrize(
    ("settings", "headers", "status"),
    [
        ({"admin_keys": ()}, {"X-API-Key": ADMIN}, 403),
        ({}, {}, 401),
        ({}, {"X-API-Key": KEY}, 401),
    ],
    ids=["disabled", "no key", "scoring key"],
)
def test_admin_reload_needs_an_admin_key(model_root: Path, settings, headers, status) -> None:
    with open_client(make_settings(model_root, **settings)) as c:
        r = c.post("/v1/admin/reload", headers=headers)
        assert r.status_code == status
        assert r.json()["detail"]


def test_the_watcher_reloads_a_replaced_bundle(model_root: Path, triager, params) -> None:
    with open_client(make_settings(model_root, reload_interval=0.2)) as c:
        before = c.get("/v1/model", headers=AUTH).json()["model_version"]
        replace_bundle(model_root, other_model(triager), params)
        assert _wait_for(lambda: c.get("/v1/model", headers=AUTH).json()["model_version"] != before)


def test_the_watcher_reloads_a_changed_playbook(model_root: Path, tmp_path: Path) -> None:
    book = tmp_path / "playbook.yaml"
    playbook = yaml.safe_load(_playbook_path().read_text())
    book.write_text(yaml.safe_dump(playbook))
    with open_client(make_settings(model_root, playbook=book, reload_interval=0.2)) as c:
        first = c.post("/v1/score", json={"posts": [post()]}, headers=AUTH).json()
        assert first["results"][0]["route"] == "support"
        playbook["routing"] = {"rules": [], "default": "night-shift"}
        book.write_text(yaml.safe_dump(playbook))
        assert _wait_for(
            lambda: (
                c.post("/v1/score", json={"posts": [post()]}, headers=AUTH).json()["results"][0][
                    "route"
                ]
                == "night-shift"
            )
        )


def test_bundle_symlinked_outside_the_root_is_refused(tmp_path: Path, bundle_dir: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / "triage").symlink_to(bundle_dir, target_is_directory=True)
    with open_client(make_settings(root)) as c:
        detail = c.get("/readyz").json()["detail"]
        assert "outside the model root" in detail


def test_registry_alias_is_loaded_and_followed(
    monkeypatch: pytest.MonkeyPatch, bundle: Bundle, triager
) -> None:
    """models:/NAME@ALIAS goes through triage_ml.store.registry (faked here: no MLflow needed)."""
    versions = {"now": "3"}
    calls: list[tuple[str, str | None]] = []

    def registered_version(uri: str) -> str:
        return versions["now"]

    def load_registered(uri: str, key: str | None = None) -> Bundle:
        calls.append((uri, key))
        model = triager if versions["now"] == "3" else other_model(triager)
        return Bundle(
            model, bundle.playbook, bundle.metadata, version_label=f"triage@{versions['now']}"
        )

    fake = types.ModuleType("triage_ml.store.registry")
    fake.registered_version = registered_version
    fake.load_registered = load_registered
    monkeypatch.setitem(sys.modules, "triage_ml.store.registry", fake)
    settings = make_settings(Path("unused"), model="models:/triage@champion", reload_interval=0.2)
    with open_client(settings) as c:
        info = c.get("/v1/model", headers=AUTH).json()
        assert info["model_version"].startswith("triage@3 (sha256:")
        assert info["source"] == "models:/triage@champion"
        versions["now"] = "4"
        assert _wait_for(
            lambda: c.get("/v1/model", headers=AUTH).json()["model_version"].startswith("triage@4")
        )
    assert calls[0] == ("models:/triage@champion", None)


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../triage",
        "a/b",
        "/etc/triage",
        "a\\b",
        ".hidden",
        "..",
        "tri..age",
        "",
        "models:/x",
        "models:/a@b/c",
    ],
)
def test_model_names_that_could_leave_the_root_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="TRIAGE_MODEL_ROOT|registered model URI"):
        Settings(model=name)


@pytest.mark.parametrize(
    "name", ["triage", "triage-v2.1", "models:/triage@champion", "models:/triage/3"]
)
def test_valid_model_names(name: str) -> None:
    assert Settings(model=name).model == name


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_API_KEYS", f" {KEY}, {KEY2},, ")
    monkeypatch.setenv("TRIAGE_ADMIN_KEYS", json.dumps([ADMIN]))
    monkeypatch.setenv("TRIAGE_MAX_BATCH", "50")
    monkeypatch.setenv("TRIAGE_WORKERS", "2")
    monkeypatch.setenv("TRIAGE_MODEL", "models:/triage@champion")
    s = Settings()
    assert [k.get_secret_value() for k in s.api_keys] == [KEY, KEY2]
    assert [k.get_secret_value() for k in s.admin_keys] == [ADMIN]
    assert (s.max_batch, s.workers, s.from_registry) == (50, 2, True)
    assert KEY not in repr(s) and ADMIN not in repr(s)


def test_invalid_settings_stop_the_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_MODEL", "../elsewhere")
    app = create_app()
    with pytest.raises(RuntimeError, match="TRIAGE_MODEL_ROOT"), TestClient(app):
        pass


# -- metrics, logs, internal errors ------------------------------------------------------------


def test_metrics_count_requests_posts_and_errors(client: TestClient) -> None:
    client.post("/v1/score", json={"posts": [post(id="m1"), post(id="m2")]}, headers=AUTH)
    client.post("/v1/score", json={"posts": []}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert 'triage_http_requests_total{method="POST",route="/v1/score",status="422"}' in text
    assert "triage_http_request_duration_seconds_bucket" in text
    assert "triage_posts_scored_total" in text
    assert 'triage_errors_total{kind="invalid_request"}' in text
    assert 'triage_model_info{model_version="triage (sha256:' in text


def test_an_unexpected_error_is_a_json_500_without_the_text_in_logs(
    model_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken():
        raise ValueError(f"something quoted the post: {MARKER}")

    caplog.set_level(logging.DEBUG)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: make_settings(model_root)
    app.dependency_overrides[require_model] = broken
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/score", json={"posts": [post(MARKER)]}, headers=AUTH)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; it has been logged (without the posts' text)"}
    assert "ValueError" in caplog.text
    assert MARKER not in caplog.text


def test_post_text_never_reaches_the_logs(
    model_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with open_client(make_settings(model_root)) as c:
        for body in (
            {"posts": [post(MARKER)]},
            {"posts": [post(MARKER, id="a"), post(MARKER, id="a")]},
            {"posts": [post(MARKER * 1000)]},
            {"posts": [post(MARKER, author_followers="x")]},
        ):
            c.post("/v1/score", json=body, headers=AUTH)
        c.post("/v1/score", content=f'{{"posts": [{{"text": "{MARKER}"'.encode(), headers=AUTH)
    assert caplog.records  # something was logged (the load), just never the text
    assert MARKER not in caplog.text


def test_openapi_documents_examples_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/score"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    assert {"one post", "a batch"} <= set(examples)
    assert {"200", "400", "401", "413", "415", "422", "503"} <= set(op["responses"])
    assert op["responses"]["200"]["content"]["application/json"]["example"]["results"]
    assert "X-API-Key" in json.dumps(spec["components"]["securitySchemes"])
