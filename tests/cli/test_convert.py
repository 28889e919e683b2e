"""``triage-ml convert`` and ``predict`` on bundles of an older version (a pickled model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage_ml.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY = FIXTURES / "legacy-bundle"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_BUNDLE_KEY", raising=False)


def _predict(model: Path, out: Path):
    args = ["predict", "--model", str(model), "--data", str(FIXTURES / "legacy-posts.csv")]
    return runner.invoke(app, [*args, "--out", str(out)])


def test_predict_on_an_old_bundle_says_retrain_or_convert(tmp_path: Path) -> None:
    result = _predict(LEGACY, tmp_path / "out.csv")
    assert result.exit_code == 2, result.output
    assert "Retrain the model" in result.output and "triage-ml convert" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_convert_then_predict(tmp_path: Path) -> None:
    new = tmp_path / "converted"
    result = runner.invoke(app, ["convert", str(LEGACY), str(new)])
    assert result.exit_code == 0, result.output
    assert "unpickling" in result.output and "no pickle in it" in result.output
    assert json.loads((new / "metadata.json").read_text())["format_version"] == 2
    result = _predict(new, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text().count("\n") == 31

    again = runner.invoke(app, ["convert", str(new), str(tmp_path / "twice")])
    assert again.exit_code == 2
    assert "already a format 2 bundle" in again.output


def test_convert_signs_with_the_configured_key(tmp_path: Path, monkeypatch) -> None:
    from triage_ml.store import BundleError, load_bundle

    monkeypatch.setenv("TRIAGE_BUNDLE_KEY", "k-convert")
    result = runner.invoke(app, ["convert", str(LEGACY), str(tmp_path / "signed")])
    assert result.exit_code == 0, result.output
    assert load_bundle(tmp_path / "signed").metadata["signed"] is True
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(tmp_path / "signed", key="another")
