"""benchmarks.language_gate on a small synthetic stand-in for the airline tweets."""

from __future__ import annotations

from benchmarks import language_gate
from triage_ml.synthetic import generate_sample


def test_the_gate_benchmark_reports_skips_and_flags_every_foreign_complaint(tmp_path, capsys):
    folder = tmp_path / "twitter-airline-sentiment"
    folder.mkdir()
    generate_sample(400, seed=1)[["text"]].to_csv(folder / "Tweets.csv", index=False)

    assert language_gate.main(["--datasets", str(tmp_path), "--runs", "1"]) == 0

    out = capsys.readouterr().out
    assert "held-out tweets: 80" in out
    assert "posts whose flag differs: 0" in out
    assert "foreign complaints: 6, sent to the identifier: 6" in out
    assert out.count("flagged as '") == 6  # each with a language, none with None


def test_a_missing_data_set_is_reported(tmp_path, capsys) -> None:
    assert language_gate.main(["--datasets", str(tmp_path)]) == 1
    assert "twitter-airline-sentiment not found" in capsys.readouterr().out
