"""A bundle written before the subpackage layout (tests/fixtures/legacy-bundle, trained by the
flat-module code of commit a078189 on 400 synthetic posts) loads and scores exactly as it did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandas.testing as pdt

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
    got = pd.read_csv(__import__("io").StringIO(got.to_csv(index=False)), dtype={"id": str})
    assert len(got) == 30
    pdt.assert_frame_equal(got, want)
