"""Business hours in the playbook reach the API and `triage-ml predict` alike: respond_by
counts open time only, the same in both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serve.app import create_app
from serve.settings import Settings, get_settings
from triage_ml.cli import app as cli
from triage_ml.decide.hours import BusinessHours, add_business_minutes
from triage_ml.decide.playbook import default_playbook_path

KEY = "k-" + "h" * 30
HOURS = {
    "time_zone": "Europe/London",
    "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-28"],
}
POSTS = [
    {
        "id": "fri",
        "text": "my order never arrived and nobody answers",
        "created_at": "2026-12-25T16:30:00Z",
    },
    {
        "id": "sat",
        "text": "thinking of buying the pro plan, price?",
        "created_at": "2026-12-26T11:00:00Z",
    },
    {"id": "tue", "text": "love the new app update", "created_at": "2026-12-29T10:00:00Z"},
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_"):
            monkeypatch.delenv(name)


def test_api_and_predict_count_business_time_only(tmp_path: Path, bundle_dir: Path) -> None:
    raw = yaml.safe_load(default_playbook_path().read_text())
    raw["business_hours"] = HOURS
    book = tmp_path / "playbook.yaml"
    book.write_text(yaml.safe_dump(raw))
    data = tmp_path / "posts.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in POSTS))
    out = tmp_path / "out.jsonl"
    args = ["predict", "--model", str(bundle_dir), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--playbook", str(book)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]

    created = pd.Series(pd.to_datetime([p["created_at"] for p in POSTS], utc=True))
    minutes = [r["priority"]["respond_within_minutes"] for r in records]
    due = add_business_minutes(BusinessHours.model_validate(HOURS), created, minutes)
    assert [r["priority"]["respond_by"] for r in records] == list(
        due.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    # Christmas Day is a Friday, the 28th a holiday: nothing is due before Tuesday's opening
    assert all(r["priority"]["respond_by"] >= "2026-12-29T09:00:00Z" for r in records)

    root = tmp_path / "models"
    shutil.copytree(bundle_dir, root / "triage")
    settings = Settings(
        model_root=root,
        model="triage",
        api_keys=(KEY,),
        reload_interval=0,
        bundle_key="",
        allow_unsigned=True,
        playbook=book,
    )
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        r = client.post("/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == records
