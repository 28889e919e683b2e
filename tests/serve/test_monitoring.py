"""Drift gauges over scored traffic and shadow mode: filled after the response, never text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.settings import Settings, get_settings

KEY = "k-" + "m" * 30
MARKER = "zqxj-private-customer-sentence"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def monitored_root(tmp_path_factory, triager, canonical_history, params) -> Path:
    """A model root with a bundle that has reference statistics, and a second one."""
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.decide.scoring import score_posts
    from triage_ml.monitor.signals import reference_profile
    from triage_ml.store.bundle import Bundle, save_bundle

    heldout = canonical_history.tail(300).reset_index(drop=True)
    book = load_playbook()
    preds = score_posts(Bundle(triager, book, {}), heldout, validated=True, with_reasons=False)
    profile = reference_profile(triager, canonical_history, heldout, preds)
    root = tmp_path_factory.mktemp("monitoring") / "models"
    for name in ("triage", "challenger"):
        save_bundle(
            root / name,
            triager,
            book,
            params.model_dump(mode="json"),
            extra_metadata={"reference": profile},
            key="",
        )
    return root


def _settings(root: Path, **overrides) -> Settings:
    values = {
        "model_root": root,
        "model": "triage",
        "api_keys": (KEY,),
        "reload_interval": 0,
        "bundle_key": "",
        "gc_freeze": False,
        "drift_interval": 3600,
    }
    if "allow_unsigned" in Settings.model_fields:
        values["allow_unsigned"] = True
    values.update(overrides)
    return Settings(**values)


def _client(settings: Settings) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


POSTS = [
    {"id": "d-1", "text": f"my order never arrived {MARKER}", "channel": "twitter"},
    {"id": "d-2", "text": "do you ship the pro plan to teams?", "channel": "tiktok"},
    {"id": "d-3", "text": "great battery, five stars", "author_followers": 120},
]


def test_drift_gauges_fill_from_scored_posts_without_text(monitored_root) -> None:
    from serve import drift

    drift.get_window.cache_clear()
    with _client(_settings(monitored_root, drift_window=50)) as client:
        answer = client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
        assert answer.status_code == 200
        window = drift.get_window(50)
        version, frame = window.frame()
        assert len(frame) == 3 and version == answer.json()["model_version"]
        assert "text" not in frame.columns
        assert MARKER not in frame.to_json()
        psi = drift.refresh(client.app.state.models.current, 50)
        assert psi["channel"] > 0
        metrics = client.get("/metrics").text
    assert 'triage_drift_psi{signal="channel"}' in metrics
    assert 'triage_drift_flagged{signal="channel"} 1.0' in metrics  # tiktok: never seen
    assert "triage_drift_window_posts 3.0" in metrics


def test_drift_window_is_bounded_and_off_at_zero(monitored_root) -> None:
    from serve import drift

    drift.get_window.cache_clear()
    with _client(_settings(monitored_root, drift_window=2)) as client:
        client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
        assert len(drift.get_window(2)) == 2
    drift.get_window.cache_clear()
    with _client(_settings(monitored_root, drift_window=0)) as client:
        client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
        assert len(drift.get_window(0)) == 0


def test_shadow_logs_both_decisions_without_text_or_keys(monitored_root, tmp_path) -> None:
    log = tmp_path / "shadow.jsonl"
    settings = _settings(monitored_root, shadow_model="challenger", shadow_log=log)
    with _client(settings) as client:
        answer = client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
        assert answer.status_code == 200
    raw = log.read_text()
    assert MARKER not in raw and KEY not in raw and "twitter" not in raw
    records = [json.loads(line) for line in raw.splitlines()]
    assert [r["id"] for r in records] == ["d-1", "d-2", "d-3"]
    for record in records:
        assert set(record) == {"at", "id", "champion", "challenger"}
        assert record["champion"]["tier"] == record["challenger"]["tier"]  # same model
        assert set(record["champion"]) == {"model_version", "labels", "tier", "urgency"}


def test_shadow_model_name_is_checked_like_the_model() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="shadow_model"):
        Settings(shadow_model="../elsewhere")
    assert Settings(shadow_model="  ").shadow_model is None


def test_compare_shadow_reports_agreement_and_who_was_right(monitored_root, tmp_path) -> None:
    from typer.testing import CliRunner

    from triage_ml.cli import app

    log = tmp_path / "shadow.jsonl"
    settings = _settings(monitored_root, shadow_model="challenger", shadow_log=log)
    with _client(settings) as client:
        client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
    feedback = tmp_path / "corrections.csv"
    feedback.write_text("id,text,labels\nd-1,x,complaint\nd-2,y,sales_lead\n")
    out = CliRunner().invoke(
        app, ["compare-shadow", str(log), "--feedback", str(feedback)], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    assert "same tier" in out.output and "100.0%" in out.output
    assert "who was right" in out.output and "2 of 3 shadow-scored posts" in out.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    out = CliRunner().invoke(app, ["compare-shadow", str(bad)])
    assert out.exit_code == 2 and "line 1 is not a shadow record" in out.output
