"""triage-ml feedback export | delete, and training on a history plus exported corrections."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from triage_ml.cli import app
from triage_ml.contract import read_table
from triage_ml.feedback import open_store, validate_correction

runner = CliRunner()
LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
MODEL = "triage (sha256:3f2a9c1b7d4e)"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("feedback-cli")
    result = runner.invoke(app, ["sample", "--rows", "400", "--out", str(folder / "history.csv")])
    assert result.exit_code == 0, result.output
    (folder / "params.yaml").write_text(yaml.safe_dump({"train": {"calibration": {"cv": 2}}}))
    return folder


@pytest.fixture(scope="module")
def store_url(work: Path) -> str:
    """A store holding corrections of 30 history posts (now sales leads), 5 urgency-only
    corrections, 2 posts the history lacks and one correction older than --since."""
    url = f"sqlite:///{work / 'feedback.db'}"
    history = pd.read_csv(work / "history.csv", dtype={"id": str})
    store = open_store(url)

    def put(post: dict, when: str, **fields) -> None:
        record = {
            "id": post["id"],
            "text": post["text"],
            "reviewer": "agent-1",
            "corrected_at": when,
            "model_version": MODEL,
            **fields,
        }
        assert store.record(validate_correction(record, label_set=LABELS)).status == "stored"

    rows = history.to_dict("records")
    for post in rows[:30]:
        put(post, "2026-11-20T09:00:00Z", labels=["sales_lead"])
    for post in rows[30:35]:
        put(post, "2026-11-20T10:00:00Z", urgency="critical")
    put({"id": "new-1", "text": "want to buy 40 seats"}, "2026-11-21T10:00Z", labels=["sales_lead"])
    put({"id": "new-2", "text": "refund me now"}, "2026-11-21T11:00Z", labels=["complaint"])
    put(rows[40], "2026-10-01T09:00:00Z", labels=["influencer"])  # before --since
    store.close()
    return url


def test_export_writes_the_history_contract_with_provenance(work: Path, store_url: str) -> None:
    out = work / "corrections.csv"
    result = runner.invoke(
        app,
        ["feedback", "export", "--since", "2026-11-01", "--out", str(out), "--url", store_url],
    )
    assert result.exit_code == 0, result.output
    frame = read_table(out)
    assert len(frame) == 37
    assert {"id", "text", "labels", "urgency", "reviewer", "corrected_at", "model_version"} <= set(
        frame.columns
    )
    assert set(frame["model_version"]) == {MODEL}
    assert frame["corrected_at"].str.endswith("Z").all()
    assert sorted(frame["corrected_fields"].unique()) == ["labels", "urgency"]
    everything = work / "all.jsonl"
    result = runner.invoke(
        app, ["feedback", "export", "--out", str(everything), "--url", store_url]
    )
    assert result.exit_code == 0 and len(read_table(everything)) == 38


def test_training_on_history_and_corrections_lets_the_corrections_win(
    work: Path, store_url: str
) -> None:
    corrections = work / "corrections-train.csv"
    args = ["feedback", "export", "--since", "2026-11-01", "--out", str(corrections)]
    assert runner.invoke(app, [*args, "--url", store_url]).exit_code == 0
    model, holdout = work / "models" / "triage", work / "holdout.csv"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(work / "history.csv"),
            "--data",
            str(corrections),
            "--params",
            str(work / "params.yaml"),
            "--out",
            str(model),
            "--holdout-out",
            str(holdout),
            "--track",
            "--tracking-uri",
            f"sqlite:///{work / 'mlflow.db'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "from feedback" in result.output
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["n_feedback"] == 37
    assert meta["feedback"]["new_posts"] == 2 and meta["feedback"]["history_rows_corrected"] == 35
    assert meta["data_source"] == f"{work / 'history.csv'} + {corrections}"
    assert meta["n_train"] + meta["n_test"] == 402

    # the posts the run held out carry the labels it trained and evaluated with
    history = pd.read_csv(work / "history.csv", dtype={"id": str}).set_index("id")
    held = pd.read_csv(holdout, dtype={"id": str}, keep_default_na=False).set_index("id")
    corrected = [i for i in history.index[:30] if i in held.index]
    urgency_only = [i for i in history.index[30:35] if i in held.index]
    assert (held.loc[corrected, "labels"] == "sales_lead").all()
    for i in urgency_only:
        assert held.loc[i, "labels"] == (
            history.loc[i, "labels"] if isinstance(history.loc[i, "labels"], str) else ""
        )
        assert float(held.loc[i, "urgency"]) == 1.0

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("triage").experiment_id])[0]
    assert run.data.params["data.n_feedback"] == "37"
    assert run.data.metrics["feedback_rows"] == 37.0


def test_delete_erases_a_post_and_says_when_there_was_nothing(work: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    store = open_store(url)
    record = {
        "id": "p-9",
        "text": "call me on 555 0100",
        "labels": "complaint",
        "reviewer": "a",
        "corrected_at": "2026-11-22T10:00:00Z",
        "model_version": MODEL,
    }
    store.record(validate_correction(record, label_set=LABELS))
    store.close()
    result = runner.invoke(app, ["feedback", "delete", "p-9", "--url", url])
    assert result.exit_code == 0 and "erased post 'p-9'" in result.output
    assert "1 correction" in result.output
    result = runner.invoke(app, ["feedback", "delete", "p-9", "--url", url])
    assert result.exit_code == 0 and "nothing stored for post 'p-9'" in result.output
    assert b"555 0100" not in (tmp_path / "fb.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["feedback", "export", "--since", "last week", "--out", "x.csv"], "--since 'last week'"),
        (["feedback", "export", "--out", "x.txt"], "x.txt"),
        (["feedback", "delete", "p-1", "--url", "nosuchdb://h/db"], "TRIAGE_FEEDBACK_URL"),
    ],
)
def test_bad_feedback_commands_exit_2_with_one_line(args, words, tmp_path: Path) -> None:
    url = ["--url", f"sqlite:///{tmp_path / 'fb.db'}"] if "--url" not in args else []
    args = [a if a not in ("x.csv", "x.txt") else str(tmp_path / a) for a in args]
    result = runner.invoke(app, [*args, *url])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("hidden", ["sqlalchemy", "alembic"])
def test_without_the_feedback_extra_the_command_names_it(
    hidden: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, hidden, None)  # what an absent package looks like
    result = runner.invoke(
        app, ["feedback", "delete", "p-1", "--url", f"sqlite:///{tmp_path}/f.db"]
    )
    assert result.exit_code == 2, result.output
    assert "needs the 'feedback' extra" in result.output
    assert "pip install 'triage-ml[feedback]'" in result.output
