"""A bundle written before the subpackage layout (tests/fixtures/legacy-bundle, trained by the
flat-module code of commit a078189 on 400 synthetic posts) loads and scores exactly as it did."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pandas.testing as pdt

from triage_ml.model.triager import readable_signal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_bundle_trained_before_the_move_gives_the_same_predictions():
    from triage_ml.contract import validate_posts
    from triage_ml.decide import score_posts
    from triage_ml.store import load_bundle

    bundle = load_bundle(FIXTURES / "legacy-bundle", key="")
    posts = pd.read_csv(FIXTURES / "legacy-posts.csv", dtype={"id": str})
    frame, _ = validate_posts(posts, label_set=bundle.labels)
    got = score_posts(bundle, frame).flat()
    want = pd.read_csv(FIXTURES / "legacy-expected.csv", dtype={"id": str})
    got = pd.read_csv(io.StringIO(got.to_csv(index=False)), dtype={"id": str})
    assert len(got) == 30
    pdt.assert_frame_equal(got.drop(columns="reasons"), want.drop(columns="reasons"))
    # reasons: the same labels, weights and n-grams; metadata signals now read as words
    # ("questions" -> "question marks"); an old bundle has no training means, so its weights
    # stay measured from zero (retrain for reasons measured from the average post)
    for new, old in zip(got["reasons"], want["reasons"], strict=True):
        new, old = json.loads(new), json.loads(old)
        assert [(r["label"], r["weight"]) for r in new] == [(r["label"], r["weight"]) for r in old]
        for n, o in zip(new, old, strict=True):
            assert n["signal"] == readable_signal(o["signal"], True) or (
                o["signal"] == "author_followers" and n["signal"].startswith("author followers")
            )
