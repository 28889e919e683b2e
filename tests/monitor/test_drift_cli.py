"""`triage-ml drift` end to end, and training recording what drift and promotion need."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from triage_ml.cli import app
from triage_ml.synthetic.generator import generate_sample

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("drift-cli")
    history = work / "history.csv"
    generate_sample(400, seed=31).to_csv(history, index=False)
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"calibration": {"cv": 2}}}))
    model = work / "models" / "triage"
    args = ["train", "--data", str(history), "--params", str(params), "--out", str(model)]
    out = runner.invoke(app, [*args, "--no-track"], env={"TRIAGE_BUNDLE_KEY": "", "COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    return work, model


def test_training_records_reference_and_time_range(trained) -> None:
    _, model = trained
    meta = json.loads((model / "metadata.json").read_text())
    window = meta["data_time_range"]
    assert window["first"] < window["last"] and window["rows"] == 400
    reference = meta["reference"]
    assert reference["n_history"] == 400 and reference["n_heldout"] == meta["n_test"]
    assert {"channel", "oov_share", "p_complaint"} <= set(reference["signals"])


def test_drift_command_writes_the_report(trained) -> None:
    work, model = trained
    recent = work / "recent.jsonl"
    frame = generate_sample(300, seed=32).drop(columns=["labels", "urgency"])
    frame.loc[:90, "channel"] = "email"
    frame.to_json(recent, orient="records", lines=True)
    out_dir = work / "report"
    args = ["drift", "--model", str(model), "--data", str(recent), "--out", str(out_dir)]
    out = runner.invoke(
        app, [*args, "--fail-on-drift"], env={"TRIAGE_BUNDLE_KEY": "", "COLUMNS": "200"}
    )
    assert out.exit_code == 1, out.output
    assert "channel" in out.output and "flagged" in out.output
    for name in ("drift.json", "drift.png", "drift.html"):
        assert (out_dir / name).stat().st_size > 500
    assert "channel" in json.loads((out_dir / "drift.json").read_text())["flagged"]


def test_drift_on_an_old_bundle_says_to_retrain(bundle_dir, tmp_path) -> None:
    recent = tmp_path / "recent.csv"
    generate_sample(20, seed=1).to_csv(recent, index=False)
    args = ["drift", "--model", str(bundle_dir), "--data", str(recent)]
    out = runner.invoke(app, args, env={"TRIAGE_BUNDLE_KEY": "", "COLUMNS": "200"})
    assert out.exit_code == 2
    assert "no reference statistics" in out.output and "retrain" in out.output
