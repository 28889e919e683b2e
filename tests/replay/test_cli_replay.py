"""`triage-ml replay` end to end on the session's small trained bundle, and its errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from triage_ml.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def history_file(tmp_path_factory, sample_history):
    path = tmp_path_factory.mktemp("replay") / "history.csv"
    sample_history.tail(250).to_csv(path, index=False)
    return path


def test_replay_command_writes_json_csv_and_plots(bundle_dir, history_file, tmp_path) -> None:
    out = tmp_path / "replay"
    args = ["replay", "--model", str(bundle_dir), "--data", str(history_file)]
    args += ["--agents", "1-3", "--handling-minutes", "20", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "complaint within 60 by agents" in result.output
    assert "keyword" in result.output and "oracle" in result.output
    info = json.loads((out / "replay.json").read_text())["info"]
    assert info["posts"] == 250 and info["agents"] == [1, 2, 3]
    assert info["handling_minutes"] == 20
    for name in ("replay_summary.csv", "replay_waits.csv", "waits.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "within_deadline_by_agents.png").stat().st_size > 5000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--agents", "0", "--handling-minutes", "5"], "agents: give a number"),
        (["--agents", "2", "--handling-minutes", "5", "--keywords", "nope.yaml"], "not found"),
    ],
)
def test_replay_errors_are_one_line_and_exit_2(bundle_dir, history_file, extra, message):
    args = ["replay", "--model", str(bundle_dir), "--data", str(history_file), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
