"""`triage-ml promote` on a real (SQLite) MLflow registry: first model as before, a worse
challenger refused with the two scores, --force recorded on the version."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from typer.testing import CliRunner

from triage_ml.cli import app

pytest.importorskip("mlflow")
runner = CliRunner()
WINDOW = {"first": "2026-01-05T08:00:00Z", "last": "2026-06-30T00:00:00Z"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, triager, params):
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import save_bundle
    from triage_ml.store.tracking import log_bundle

    work = tmp_path_factory.mktemp("promote")
    store = f"sqlite:///{work / 'mlflow.db'}"
    worse = copy.copy(triager)
    worse.thresholds_ = np.where(np.arange(len(triager.labels)) % 2 == 1, 0.97, 0.5)
    mp = pytest.MonkeyPatch()
    mp.delenv("TRIAGE_BUNDLE_KEY", raising=False)
    for name, model in (("good", triager), ("worse", worse)):
        out = save_bundle(
            work / name,
            model,
            load_playbook(),
            params.model_dump(mode="json"),
            extra_metadata={"data_time_range": WINDOW},
            key="",
        )
        log_bundle(out, tracking_uri=store, register=True, model_name="p")
    yield work, store
    mp.undo()


def test_promote_checks_the_challenger(registry, monkeypatch) -> None:
    from mlflow import MlflowClient

    from triage_ml.synthetic.generator import generate_sample

    work, store = registry
    monkeypatch.delenv("TRIAGE_BUNDLE_KEY", raising=False)
    env = {"MLFLOW_TRACKING_URI": store, "COLUMNS": "200"}
    out = runner.invoke(app, ["promote", "1", "--name", "p"], env=env)
    assert out.exit_code == 0, out.output
    assert "p@champion: nothing -> version 1" in out.output

    out = runner.invoke(app, ["promote", "2", "--name", "p"], env=env)
    assert out.exit_code == 2 and "pass --data" in out.output

    newer = work / "newer.csv"
    generate_sample(300, seed=21, start="2026-07-02T00:00:00Z").to_csv(newer, index=False)
    older = work / "older.csv"
    generate_sample(300, seed=22, start="2026-06-01T00:00:00Z").to_csv(older, index=False)
    out = runner.invoke(app, ["promote", "2", "--name", "p", "--data", str(older)], env=env)
    assert out.exit_code == 2 and "inside the training data" in out.output

    out = runner.invoke(app, ["promote", "2", "--name", "p", "--data", str(newer)], env=env)
    assert out.exit_code == 1, out.output
    assert "refused" in out.output and "champion (version 1)" in out.output
    assert "challenger (version 2)" in out.output and "95% interval" in out.output
    client = MlflowClient(store)
    assert str(client.get_model_version_by_alias("p", "champion").version) == "1"

    args = ["promote", "2", "--name", "p", "--data", str(newer), "--force"]
    out = runner.invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert str(client.get_model_version_by_alias("p", "champion").version) == "2"
    tags = client.get_model_version("p", "2").tags
    assert tags["promotion.forced"] == "true"
    assert tags["promotion.champion_before"] == "1"
    assert tags["promotion.passed"] == "false"


def test_promote_an_unknown_version(registry) -> None:
    _, store = registry
    out = runner.invoke(
        app, ["promote", "9", "--name", "p"], env={"MLFLOW_TRACKING_URI": store, "COLUMNS": "200"}
    )
    assert out.exit_code == 2 and "no version 9" in out.output
