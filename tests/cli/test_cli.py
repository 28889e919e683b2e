"""The CLI end to end on a small sample, and its error contract (message, exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from triage_ml.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_params(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"calibration": {"cv": 2}}}))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_params):
    work = tmp_path_factory.mktemp("cli")
    data = work / "history.csv"
    result = runner.invoke(app, ["sample", "--rows", "600", "--out", str(data)])
    assert result.exit_code == 0, result.output
    model = work / "models" / "triage"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--params",
            str(small_params),
            "--out",
            str(model),
            "--metrics-out",
            str(work / "metrics.json"),
            "--plots-dir",
            str(work / "plots"),
        ],
    )
    assert result.exit_code == 0, result.output
    return work, data, model


def test_train_writes_bundle_metrics_and_plots(trained) -> None:
    work, _, model = trained
    assert (model / "metadata.json").is_file()
    metrics = json.loads((work / "metrics.json").read_text())
    assert 0 < metrics["macro_f1"] <= 1
    assert set(metrics["per_label"]) == {"complaint", "sales_lead", "product_review", "influencer"}
    assert {"mae", "spearman"} <= set(metrics["urgency"])
    assert "ndcg" in metrics["priority"]
    for name in ("confusion.png", "precision_recall.png", "calibration.png"):
        assert (work / "plots" / name).stat().st_size > 1000


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_predict_writes_records_or_flat_form(trained, suffix) -> None:
    work, data, model = trained
    posts = pd.read_csv(data, dtype={"id": str}).drop(columns=["labels", "urgency"]).head(50)
    src = work / "posts.csv"
    posts.to_csv(src, index=False)
    out = work / f"pred{suffix}"
    result = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(src), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    if suffix == ".jsonl":
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["id"] for r in records] == list(posts["id"])
        assert records[0]["priority"]["tier"] in {"P1", "P2", "P3", "P4"}
    else:
        flat = pd.read_csv(out, dtype={"id": str}) if suffix == ".csv" else pd.read_parquet(out)
        assert list(flat["id"]) == list(posts["id"])
        assert {"p_complaint", "is_influencer", "priority_tier", "reasons"} <= set(flat.columns)


def test_predict_with_another_playbook_changes_routes_only(trained, tmp_path) -> None:
    work, data, model = trained
    from triage_ml.decide.playbook import default_playbook_path

    raw = yaml.safe_load(default_playbook_path().read_text())
    raw["routing"]["default"] = "night-shift"
    book = tmp_path / "book.yaml"
    book.write_text(yaml.safe_dump(raw))
    outs = []
    for extra in ([], ["--playbook", str(book)]):
        out = tmp_path / f"p{len(extra)}.csv"
        res = runner.invoke(
            app, ["predict", "--model", str(model), "--data", str(data), "--out", str(out), *extra]
        )
        assert res.exit_code == 0, res.output
        outs.append(pd.read_csv(out, dtype={"id": str}))
    a, b = outs
    pd.testing.assert_series_equal(a["p_complaint"], b["p_complaint"])
    none = a["predicted_labels"].isna()
    assert (b.loc[none, "route"] == "night-shift").all() and none.any()


def test_predict_without_reasons_keeps_the_scores(trained, tmp_path) -> None:
    work, data, model = trained
    outs = []
    for flag in ("--reasons", "--no-reasons"):
        out = tmp_path / f"{flag}.csv"
        res = runner.invoke(
            app, ["predict", "--model", str(model), "--data", str(data), "--out", str(out), flag]
        )
        assert res.exit_code == 0, res.output
        outs.append(pd.read_csv(out, dtype={"id": str}))
    full, bare = outs
    pd.testing.assert_frame_equal(full.drop(columns="reasons"), bare.drop(columns="reasons"))
    assert (bare["reasons"] == "[]").all() and (full["reasons"] != "[]").any()


def test_unknown_model_family_is_one_clear_line(trained, tmp_path) -> None:
    work, data, _ = trained
    result = runner.invoke(
        app, ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--model", "bert"]
    )
    assert result.exit_code == 2
    assert "unknown model family 'bert'; choose 'linear' or 'encoder'" in result.output
    assert not (tmp_path / "m").exists()


def test_evaluate_command(trained, tmp_path) -> None:
    _, data, model = trained
    result = runner.invoke(
        app, ["evaluate", "--model", str(model), "--data", str(data), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "metrics.json").read_text())["n_posts"] == 600


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["text"]), "text"),
        (
            lambda f: f.assign(labels=f["labels"].where(f.index != 3, "refund_request")),
            "refund_request",
        ),
        (lambda f: f.assign(urgency=f["urgency"].where(f.index != 5, 3.0)), "urgency"),
        (lambda f: f.assign(id=f["id"].where(f.index != 7, f["id"][0])), "duplicate"),
        (lambda f: f.assign(text=f["text"].where(f.index != 2, "   ")), "text"),
    ],
)
def test_bad_history_is_a_clear_error_and_writes_nothing(
    trained, tmp_path, small_params, mutate, message
) -> None:
    _, data, _ = trained
    bad = tmp_path / "bad.csv"
    mutate(pd.read_csv(data, dtype={"id": str}, keep_default_na=False)).to_csv(bad, index=False)
    out = tmp_path / "models" / "x"
    result = runner.invoke(
        app, ["train", "--data", str(bad), "--params", str(small_params), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "bad.csv" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_model_directory_is_a_clear_error(tmp_path) -> None:
    src = tmp_path / "p.csv"
    pd.DataFrame({"id": ["1"], "text": ["hello"]}).to_csv(src, index=False)
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path / "nope"),
            "--data",
            str(src),
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert "no bundle directory" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("triage-ml")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("sample", "train", "evaluate", "predict"):
        assert command in out.stdout


def _float_id_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": pa.array([1.0, 1e30]), "text": ["hello", "late again"]}), path)


def _bytes_text_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pa.array([b"fine", b"\xff\xfe not utf-8"], pa.binary())
    pq.write_table(pa.table({"id": ["a", "b"], "text": text}), path)


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("float-id.parquet", _float_id_parquet, "column 'id', row 2"),
        ("float-id.jsonl", lambda p: p.write_text('{"id": 1e30, "text": "hi"}\n'), "1e+30"),
        ("bytes.parquet", _bytes_text_parquet, "column 'text', row 2"),
        (
            "late.csv",
            lambda p: p.write_text("id,text,created_at\na,hi,9999-12-31T00:00:00Z\n"),
            "1970-01-01 to 2099-12-31",
        ),
    ],
)
def test_predict_refuses_unfaithful_input_with_exit_2(trained, tmp_path, name, write, message):
    _, _, model = trained
    src = tmp_path / name
    write(src)
    out = tmp_path / "o.jsonl"
    result = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(src), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert name in result.output and message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()
