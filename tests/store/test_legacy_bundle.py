"""A bundle of format 1 (tests/fixtures/legacy-bundle: a pickled model.joblib, trained by the
flat-module code of commit a078189 on 400 synthetic posts) is refused with a "retrain or
convert" message; converted on purpose, it scores exactly as it did."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from triage_ml.model.triager import readable_signal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY = FIXTURES / "legacy-bundle"


def test_a_format_1_bundle_is_refused_with_retrain_or_convert(monkeypatch) -> None:
    from triage_ml.store import BundleError, load_bundle

    unpickled = []
    monkeypatch.setattr("pickle.Unpickler", lambda *a, **k: unpickled.append(a))
    monkeypatch.setattr("joblib.load", lambda *a, **k: unpickled.append(a))
    with pytest.raises(BundleError) as caught:
        load_bundle(LEGACY, key="")
    message = str(caught.value)
    assert "Retrain the model ('triage-ml train')" in message
    assert f"triage-ml convert {LEGACY} NEW_BUNDLE" in message
    assert unpickled == []


def test_converted_bundle_gives_the_same_predictions(tmp_path) -> None:
    from triage_ml.contract import validate_posts
    from triage_ml.decide import score_posts
    from triage_ml.store import convert_bundle, load_bundle

    out = convert_bundle(LEGACY, tmp_path / "converted", key="")
    assert not list(out.glob("*.joblib")) and not list(out.glob("*.pkl"))
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["format_version"] == 2
    assert (
        metadata["converted_from"]["model.joblib"]
        == json.loads((LEGACY / "metadata.json").read_text())["files"]["model.joblib"]
    )

    bundle = load_bundle(out, key="")
    posts = pd.read_csv(FIXTURES / "legacy-posts.csv", dtype={"id": str})
    frame, _ = validate_posts(posts, label_set=bundle.labels)
    got = score_posts(bundle, frame).flat()
    want = pd.read_csv(FIXTURES / "legacy-expected.csv", dtype={"id": str})
    got = pd.read_csv(io.StringIO(got.to_csv(index=False)), dtype={"id": str})
    assert len(got) == 30
    pdt.assert_frame_equal(
        got.drop(columns=["reasons", "model_version"]),
        want.drop(columns=["reasons", "model_version"]),
    )
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


def test_convert_checks_the_old_checksums_before_unpickling(tmp_path, monkeypatch) -> None:
    import shutil

    from triage_ml.store import BundleError, convert_bundle

    old = tmp_path / "old"
    shutil.copytree(LEGACY, old)
    with (old / "model.joblib").open("ab") as fh:
        fh.write(b"\0")
    unpickled = []
    monkeypatch.setattr("joblib.load", lambda *a, **k: unpickled.append(a))
    with pytest.raises(BundleError, match="checksum of model.joblib does not match"):
        convert_bundle(old, tmp_path / "new", key="")
    assert unpickled == [] and not (tmp_path / "new").exists()
