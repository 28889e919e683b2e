"""Bundle persistence: same predictions after a round trip, checksums, signatures, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from triage_ml.decide.playbook import load_playbook
from triage_ml.decide.scoring import score_posts
from triage_ml.store.bundle import BundleError, load_bundle, save_bundle, verify_bundle


def test_round_trip_gives_identical_predictions(triager, bundle, canonical_history) -> None:
    from triage_ml.store.bundle import Bundle

    posts = canonical_history.head(200)
    in_memory = score_posts(
        Bundle(triager, bundle.playbook, bundle.metadata), posts, validated=True
    )
    loaded = score_posts(bundle, posts, validated=True)
    np.testing.assert_array_equal(in_memory.probabilities, loaded.probabilities)
    np.testing.assert_array_equal(in_memory.urgency, loaded.urgency)
    assert in_memory.reasons == loaded.reasons
    _same_scores(triager.score(posts), bundle.triager.score(posts))
    pd.testing.assert_frame_equal(
        in_memory.flat().drop(columns="model_version"), loaded.flat().drop(columns="model_version")
    )


def _same_scores(a, b) -> None:
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.predicted, b.predicted)
    np.testing.assert_array_equal(a.needs_human, b.needs_human)
    if a.urgency is None:
        assert b.urgency is None
    else:
        np.testing.assert_array_equal(a.urgency, b.urgency)
    assert a.reasons == b.reasons


@pytest.mark.parametrize(
    "train",
    [
        {"calibration": {"cv": 2}, "features": {"char_weight": 0}},
        {
            "calibration": {"cv": 2, "holdout": 0.25},
            "classifier": {"exclusive_solver": "linear_svc", "C": 1.0},
            "features": {"metadata_weight": 0.1, "word_ngrams": [1, 1]},
        },
    ],
    ids=["softmax", "linear_svc"],
)
def test_exclusive_model_round_trip_is_bit_identical(sample_history, tmp_path, train) -> None:
    from triage_ml.contract.params import Params
    from triage_ml.contract.validation import validate_posts
    from triage_ml.model.train import fit

    frame = sample_history.head(300).copy()
    frame["labels"] = np.where(
        frame["labels"].str.contains("complaint"),
        "complaint",
        np.where(frame["labels"] == "", "other", "praise"),
    )
    params = Params.model_validate(
        {"labels": {"names": ["complaint", "praise", "other"], "exclusive": True}, "train": train}
    )
    canon, _ = validate_posts(frame, label_set=params.labels.names, exclusive=True)
    triager = fit(canon, params)
    out = save_bundle(
        tmp_path / "exclusive", triager, load_playbook(), params.model_dump(mode="json"), key=""
    )
    loaded = load_bundle(out, key="").triager
    assert loaded.exclusive and loaded.labels == triager.labels
    _same_scores(triager.score(canon), loaded.score(canon))


def test_a_model_without_urgency_round_trips(sample_history, tmp_path) -> None:
    from triage_ml.contract.params import Params
    from triage_ml.contract.validation import validate_posts
    from triage_ml.model.train import fit

    params = Params.model_validate({"train": {"calibration": {"cv": 2}}})
    canon, _ = validate_posts(
        sample_history.head(250).drop(columns=["urgency"]), label_set=params.labels.names
    )
    triager = fit(canon, params)
    assert triager.urgency_coef_ is None
    out = save_bundle(tmp_path / "b", triager, load_playbook(), params.model_dump(mode="json"))
    _same_scores(triager.score(canon), load_bundle(out, key="").triager.score(canon))


def test_metadata_records_checksums_and_versions(bundle_dir) -> None:
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert set(meta["files"]) == {"model.json", "model.npz", "playbook.yaml", "params.yaml"}
    assert meta["format_version"] == 2
    assert meta["labels"] == ["complaint", "sales_lead", "product_review", "influencer"]
    assert "scikit-learn" in meta["packages"]
    assert all(0 < t < 1 for t in meta["thresholds"].values())


def _copy(bundle_dir, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(bundle_dir, dst)
    return dst


@pytest.mark.parametrize("name", ["model.json", "model.npz", "params.yaml"])
def test_tampered_model_is_refused(bundle_dir, tmp_path, name) -> None:
    dst = _copy(bundle_dir, tmp_path)
    with (dst / name).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match=f"checksum of {name} does not match"):
        load_bundle(dst, key="")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "metadata.json").unlink(), "metadata.json is missing"),
        (lambda d: (d / "playbook.yaml").unlink(), "playbook.yaml is missing"),
        (lambda d: (d / "metadata.json").write_text("{"), "unreadable metadata"),
    ],
)
def test_incomplete_bundle_is_refused(bundle_dir, tmp_path, damage, message) -> None:
    dst = _copy(bundle_dir, tmp_path)
    damage(dst)
    with pytest.raises(BundleError, match=message):
        verify_bundle(dst, key="")


def test_missing_directory_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(BundleError, match="no bundle directory"):
        load_bundle(tmp_path / "nope", key="")


def test_signed_bundle_needs_the_right_key(triager, params, tmp_path) -> None:
    out = tmp_path / "signed"
    save_bundle(out, triager, load_playbook(), params.model_dump(mode="json"), key="s3cret")
    assert load_bundle(out, key="s3cret").metadata["signed"] is True
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(out, key="other")


def test_unsigned_bundle_refused_when_key_configured(bundle_dir, monkeypatch) -> None:
    monkeypatch.setenv("TRIAGE_BUNDLE_KEY", "s3cret")
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(bundle_dir)


def test_failed_write_leaves_previous_bundle_intact(triager, params, tmp_path, monkeypatch) -> None:
    out = tmp_path / "b"
    save_bundle(out, triager, load_playbook(), params.model_dump(mode="json"), key="")
    before = (out / "metadata.json").read_text()

    def disk_full(data, key):
        raise OSError("disk full")

    monkeypatch.setattr("triage_ml.store.bundle._sign", disk_full)  # fails halfway through
    with pytest.raises(OSError, match="disk full"):
        save_bundle(out, triager, load_playbook(), params.model_dump(mode="json"), key="k")
    assert (out / "metadata.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no temporary directory left behind
