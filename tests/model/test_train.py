"""Training recipe: split, out-of-fold thresholds, calibration, exclusive sets, urgency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.params import ConfigError, Params, load_params
from triage_ml.contract.validation import validate_posts
from triage_ml.model.train import best_f1_thresholds, fit, split_history


def test_time_ordered_split_holds_out_the_latest_posts(canonical_history, params) -> None:
    train, test, how = split_history(canonical_history, params)
    assert how.startswith("time-ordered")
    assert train["created_at"].max() <= test["created_at"].min()
    assert len(test) == round(len(canonical_history) * params.split.test_size)
    assert set(train["id"]).isdisjoint(test["id"])


def test_split_without_timestamps_is_stratified(canonical_history, params) -> None:
    frame = canonical_history.assign(created_at=pd.NaT)
    train, test, how = split_history(frame, params)
    assert how == "stratified random"
    share = test["labels"].value_counts(normalize=True)
    overall = frame["labels"].value_counts(normalize=True)
    for combo in overall.index[:3]:
        assert abs(share.get(combo, 0) - overall[combo]) < 0.03


@pytest.mark.parametrize(
    ("proba", "truth", "lo", "hi"),
    [
        ([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0], 0.3, 0.8),  # perfect separation: cut between
        ([0.9, 0.6, 0.55, 0.1], [1, 1, 1, 0], 0.1, 0.55),  # F1 favours taking all positives
    ],
)
def test_threshold_maximises_f1_on_validation_scores(proba, truth, lo, hi) -> None:
    t = best_f1_thresholds(np.array(proba)[:, None], np.array(truth)[:, None])[0]
    assert lo < t < hi


def test_thresholds_are_per_label_not_a_global_half(triager) -> None:
    assert len(set(np.round(triager.thresholds_, 3))) > 1
    assert not np.allclose(triager.thresholds_, 0.5)


@pytest.mark.parametrize("method", ["encoder_logits", "encoder_alone", "quantized"])
def test_a_linear_model_asked_for_its_encoder_says_it_has_none(
    triager, canonical_history, method
) -> None:
    args = () if method == "quantized" else (canonical_history.head(3),)
    with pytest.raises(ValueError, match="linear model: it has no encoder"):
        getattr(triager, method)(*args)


def test_probabilities_are_calibrated_on_posts_the_model_never_saw(triager, params) -> None:
    """Out-of-fold Platt scaling, checked where it matters: on fresh posts, bin by bin
    (expected calibration error over ten equal-width bins), and far better than the base rate."""
    from sklearn.metrics import brier_score_loss

    from triage_ml.contract.labels import label_matrix
    from triage_ml.evaluation.metrics import expected_calibration_error
    from triage_ml.synthetic.generator import generate_sample

    fresh, _ = validate_posts(
        generate_sample(1500, seed=99), label_set=params.labels.names, require_labels=True
    )
    proba = triager.predict_proba(fresh)
    Y = label_matrix(fresh, triager.labels)
    for k, label in enumerate(triager.labels):
        assert expected_calibration_error(Y[:, k], proba[:, k]) < 0.06, label
        base_rate = np.full(len(Y), Y[:, k].mean())
        assert brier_score_loss(Y[:, k], proba[:, k]) < 0.5 * brier_score_loss(
            Y[:, k], base_rate
        ), label


@pytest.mark.parametrize(("slope", "offset"), [(0.5, -1.0), (2.0, 0.5), (1.0, 0.0)])
def test_platt_scaling_recovers_a_known_miscalibration(slope, offset) -> None:
    """Logits whose true probability is sigmoid(slope * z + offset): the fitted calibration
    finds slope and offset, and the calibrated probabilities match the true ones."""
    from scipy.special import expit

    from triage_ml.model.train import fit_platt

    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=(20_000, 1))
    y = (rng.random(20_000) < expit(slope * z[:, 0] + offset)).astype(int)[:, None]
    ((a, b),) = fit_platt(z, y)
    assert a == pytest.approx(slope, rel=0.1)
    assert b == pytest.approx(offset, abs=0.1)


def test_softmax_temperature_recovers_a_known_temperature() -> None:
    from scipy.special import softmax

    from triage_ml.model.train import fit_temperature

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(20_000, 4))
    proba = softmax(logits / 2.5, axis=1)
    y = (proba.cumsum(axis=1) < rng.random((20_000, 1))).sum(axis=1)
    assert fit_temperature(logits, y)[0, 0] == pytest.approx(2.5, rel=0.1)


@pytest.mark.parametrize(
    "train",
    [
        {"calibration": {"cv": 3, "holdout": None}},  # the temperature from 3 folds
        # the fast options for large exclusive sets: LinearSVC, temperature on one holdout
        {
            "calibration": {"cv": 3, "holdout": 0.25},
            "classifier": {"exclusive_solver": "linear_svc", "C": 1.0},
            "features": {"metadata_weight": 0.1},
        },
    ],
)
def test_exclusive_label_set_trains_a_multiclass_model(sample_history, train) -> None:
    frame = sample_history.head(400).copy()
    frame["labels"] = np.where(
        frame["labels"].str.contains("complaint"),
        "complaint",
        np.where(frame["labels"] == "", "other", "praise"),
    )
    params = Params.model_validate(
        {
            "labels": {"names": ["complaint", "praise", "other"], "exclusive": True},
            "train": {**train, "features": {"char_weight": 0, **train.get("features", {})}},
        }
    )
    canon, _ = validate_posts(frame, label_set=params.labels.names, exclusive=True)
    tri = fit(canon, params)
    proba = tri.predict_proba(canon)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    predicted, _ = tri.decide(proba)
    assert (predicted.sum(axis=1) == 1).all()
    # a sensible temperature (fitted on validation rows only, never on zero logits)
    assert 0.05 < tri.calibration_[0, 0] < 20
    truth = canon["labels"].to_numpy()
    accuracy = (np.array(tri.labels)[predicted.argmax(axis=1)] == truth).mean()
    assert accuracy > 0.7


def test_history_without_urgency_trains_no_urgency_model(sample_history) -> None:
    frame = sample_history.head(300).drop(columns=["urgency"])
    params = Params.model_validate({"train": {"calibration": {"cv": 2}}})
    canon, _ = validate_posts(frame, label_set=params.labels.names)
    tri = fit(canon, params)
    assert tri.urgency_coef_ is None
    assert tri.score(canon.head(5)).urgency is None


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("train:\n  classifer:\n    C: 1\n", "train.classifer: unknown setting"),
        ("train:\n  classifier:\n    C: -1\n", "train.classifier.C"),
        ("labels:\n  names: [a, a]\n", "declared twice"),
        ("train:\n  features:\n    word_ngrams: [2, 1]\n", "word_ngrams"),
        ("train:\n  encoder:\n    cross_fit: true\n", r"train.encoder: .*ensemble to 2"),
        ("train:\n  encoder:\n    distil: true\n", r"train.encoder: .*distil needs .*ensemble"),
        ("train:\n  encoder:\n    distil_weight: 0\n", "train.encoder.distil_weight"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_params_file_names_the_setting(tmp_path, yaml_text, message) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_repository_params_file_is_valid() -> None:
    from pathlib import Path

    params = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
    assert params.labels.names == ("complaint", "sales_lead", "product_review", "influencer")


def test_held_out_ridge_predicts_each_post_from_the_splits_that_held_it_out() -> None:
    from sklearn.linear_model import Ridge

    from triage_ml.model.train import _held_out_ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    urgency = np.clip(0.5 + 0.1 * X[:, 0], 0, 1)
    urgency[[3, 25]] = np.nan  # unknown urgency: never fitted on
    splits = [(np.arange(0, 20), np.arange(20, 30)), (np.arange(10, 25), np.r_[0:10, 25:30])]
    rows = np.r_[0:3, 20:25, 26:30]  # known urgency, held out by split 1, split 0, both

    def ridge(fit_rows):
        fit_rows = fit_rows[~np.isnan(urgency[fit_rows])]
        return Ridge(alpha=2.0).fit(X[fit_rows], urgency[fit_rows])

    first, second = (np.clip(ridge(f).predict(X[rows]), 0, 1) for f, _ in splits)
    expected = np.r_[second[:3], first[3:8], (first[8:] + second[8:]) / 2]
    np.testing.assert_allclose(_held_out_ridge(X, urgency, splits, rows, 2.0), expected)
