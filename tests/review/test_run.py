"""The whole review: which posts it uses, and ``triage-ml review`` writing tables and report."""

from __future__ import annotations

import re

import pandas as pd

from triage_ml.contract.tables import write_table
from triage_ml.review.corrections import read_corrections
from triage_ml.review.run import review_scope

PII = " Reach me at jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111."
PII_RAW = ("jane.doe@example.com", "7946 0958", "4111 1111 1111 1111")


def test_review_scope_uses_held_out_posts_of_the_training_history(canonical_history, params):
    from triage_ml.contract.digest import fingerprint

    meta = {"data_fingerprint": fingerprint(canonical_history)}
    scoped, note = review_scope(canonical_history, params, meta)
    assert len(scoped) == round(len(canonical_history) * params.split.test_size)
    assert "held-out" in note
    scoped, note = review_scope(canonical_history.head(100), params, meta)
    assert len(scoped) == 100 and "all 100" in note


def test_cli_review_writes_tables_and_report(tmp_path, bundle_dir, canonical_history):
    from typer.testing import CliRunner

    from triage_ml.cli import app

    history = canonical_history.tail(300).copy()
    history["text"] = history["text"] + PII
    data_path = tmp_path / "posts.csv"
    write_table(history, data_path)
    out = tmp_path / "review"
    args = ["review", "--model", str(bundle_dir), "--data", str(data_path), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--top", "10"])
    assert result.exit_code == 0, result.output
    for name in (
        "label_summary",
        "worst_errors",
        "slice_errors",
        "suspected_mislabels",
        "urgency_underestimates",
        "relabel",
    ):
        table = pd.read_csv(out / f"{name}.csv")
        assert len(table) > 0, name
    page = (out / "report.html").read_text(encoding="utf-8")
    for heading in ("Worst errors", "Error rates by slice", "Suspected mislabelled rows"):
        assert f"<h2>{heading}</h2>" in page
    assert not re.search(r"https?://(?!www\.w3\.org)", page.split("<body>")[0])  # offline
    everything = page + "".join((out / f).read_text() for f in ("relabel.csv", "worst_errors.csv"))
    for raw in PII_RAW:
        assert raw not in everything
    relabel = read_corrections(out / "relabel.csv")
    assert relabel["id"].isin(history["id"]).all()

    missing = CliRunner().invoke(
        app,
        [
            "review",
            "--model",
            str(bundle_dir),
            "--data",
            str(tmp_path / "x.csv"),
            "--out",
            str(out),
        ],
    )
    assert missing.exit_code == 2
    assert "x.csv" in missing.output and "Traceback" not in missing.output
