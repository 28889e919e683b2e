"""Posts worth labelling: near a threshold first, urgent before calm at equal doubt."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from triage_ml.contract.validation import validate_posts
from triage_ml.monitor.ranking import URGENCY_FLOOR, suggest
from triage_ml.synthetic.generator import generate_sample

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def test_ranking_prefers_uncertain_and_urgent(bundle) -> None:
    posts, _ = validate_posts(generate_sample(300, seed=41), label_set=LABELS)
    ranked = suggest(bundle, posts, n=300)
    assert len(ranked) == 300 and ranked["id"].is_unique
    assert list(ranked["rank"]) == list(range(1, 301))
    assert ranked["priority"].is_monotonic_decreasing
    expected = ranked["uncertainty"] * (URGENCY_FLOOR + ranked["urgency"])
    np.testing.assert_allclose(ranked["priority"], expected, atol=1e-3)
    top, bottom = ranked.head(30), ranked.tail(30)
    gap = (top["probability"] - top["threshold"]).abs().mean()
    assert gap < (bottom["probability"] - bottom["threshold"]).abs().mean()
    assert "text" not in ranked.columns


def test_suggest_command(bundle_dir, tmp_path) -> None:
    from triage_ml.cli import app

    data = tmp_path / "unlabelled.parquet"
    generate_sample(120, seed=42).drop(columns=["labels", "urgency"]).to_parquet(data)
    out = tmp_path / "next.csv"
    args = ["suggest", "--model", str(bundle_dir), "--data", str(data), "--n", "25"]
    result = CliRunner().invoke(
        app, [*args, "--out", str(out)], env={"TRIAGE_BUNDLE_KEY": "", "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) == 25 and written["rank"].tolist() == list(range(1, 26))
