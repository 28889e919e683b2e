"""Training with bounded memory: vocabulary from a sample, features in chunks, SGD.

Small synthetic histories only; the figures at scale are in docs/scale.md.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.params import Params
from triage_ml.model.bounded import NOT_HELD_OUT, fold_calibration, validation_fold
from triage_ml.model.train import fit, resolve_scale, split_history


def _params(**bounded) -> Params:
    """Bounded training forced on; quick settings (two SGD passes) unless told otherwise."""
    settings = {"chunk_rows": 300, "vocabulary_rows": 700, "epochs": 2, "min_updates": 0}
    settings.update(bounded)
    return Params.model_validate(
        {"train": {"calibration": {"cv": 3}, "scale": "bounded", "bounded": settings}}
    )


@pytest.fixture(scope="module")
def split(canonical_history, params):
    train, test, _ = split_history(canonical_history, params)
    return train, test


@pytest.fixture(scope="module")
def bounded(split):
    """As trained for real: enough SGD passes to converge on this small history."""
    return fit(split[0], _params(chunk_rows=600, min_updates=100_000))


@pytest.fixture(scope="module")
def in_memory(split, params):
    """Today's model on the same training posts."""
    return fit(split[0], params)


def _macro_f1(triager, test: pd.DataFrame) -> float:
    from sklearn.metrics import f1_score

    from triage_ml.contract.labels import label_matrix

    predicted, _ = triager.decide(triager.predict_proba(test))
    truth = label_matrix(test, triager.labels)
    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def test_forced_on_it_trains_a_triager_that_scores(bounded, split) -> None:
    _, test = split
    assert bounded.scale_["mode"] == "bounded"
    assert bounded.scale_["requested"] == "bounded"
    scores = bounded.score(test)
    assert scores.probabilities.shape == (len(test), len(bounded.labels))
    assert np.all((scores.probabilities >= 0) & (scores.probabilities <= 1))
    assert scores.predicted.any(axis=0).all()  # every label is predicted somewhere
    assert scores.urgency is not None and np.all((scores.urgency >= 0) & (scores.urgency <= 1))


def test_quality_is_close_to_the_in_memory_model(bounded, split, in_memory) -> None:
    """The same history, the same held-out posts: the bounded path may lose a little (SGD,
    vocabulary from a sample), not a lot. The margin is generous for 1,000 training posts;
    the 1-point criterion is measured at scale (docs/scale.md)."""
    _, test = split
    assert in_memory.scale_["mode"] == "in_memory"
    ours, theirs = _macro_f1(bounded, test), _macro_f1(in_memory, test)
    assert ours >= theirs - 0.05, (ours, theirs)  # averaged SGD from the start: 0.67 vs 0.91
    assert ours > 0.6  # far above chance on this sample


def test_vocabulary_comes_from_a_sample_and_is_capped(split) -> None:
    train, _ = split
    capped = fit(train, _params(vocabulary_rows=200, max_features=300))
    for name, step in _tfidf_blocks(capped.features):
        assert 0 < len(step.vocabulary_) <= 300, name
        assert not hasattr(step, "stop_words_")  # the pruned terms are not kept
    wide = fit(train, _params(vocabulary_rows=700, max_features=None))
    assert sum(len(s.vocabulary_) for _, s in _tfidf_blocks(wide.features)) > 600


def _tfidf_blocks(features):
    from sklearn.feature_extraction.text import TfidfVectorizer

    union = features.named_transformers_["text"].named_steps["ngrams"]
    return [(n, s) for n, s in union.transformer_list if isinstance(s, TfidfVectorizer)]


def test_reasons_are_real_words_and_ngrams(bounded, split) -> None:
    """Each reason is a term of the post itself (a word, a word pair, a ``~character n-gram~``
    of its normalised text) or a metadata signal in words, never a hash bucket's number."""
    _, test = split
    scores = bounded.score(test)
    normalised = bounded.features.named_transformers_["text"].named_steps["normalise"]
    texts = normalised.transform(test["text"])
    names = bounded.feature_names_
    kinds = {str(s): str(f).split("__")[1] for s, f in zip(bounded.signals_, names, strict=True)}
    seen = {"word": 0, "char": 0, "meta": 0}
    for text, reasons in zip(texts, scores.reasons, strict=True):
        tokens = text.split()
        for reason in reasons:
            signal = reason["signal"]
            if reason["label"] == "needs_human":
                continue
            kind = kinds.get(signal)
            if kind == "word":
                gram = signal.split()
                assert any(tokens[i : i + len(gram)] == gram for i in range(len(tokens))), signal
            elif kind == "char":
                assert signal[1:-1].strip() in text, signal
            else:  # a metadata signal, read out ("author followers: 48k", "long post")
                assert re.fullmatch(r"[a-z][a-z ]+(: .+)?", signal), signal
                kind = "meta"
            seen[kind] += 1
    assert seen["word"] > 20 and seen["char"] > 0, seen


def test_the_bundle_round_trip_keeps_the_scores_and_records_the_mode(tmp_path, split) -> None:
    """Through `triage-ml train`'s run: a model.json + model.npz bundle (no pickle) that loads
    and scores the same, and whose metadata says how it was trained."""
    from triage_ml.evaluation.run import run_training
    from triage_ml.store.bundle import load_bundle

    train, test = split
    data = tmp_path / "history.csv"
    train.assign(labels=train["labels"].fillna("")).to_csv(data, index=False)
    result = run_training(data, _params(), tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert "model.json" in files and "model.npz" in files
    assert not any(f.endswith((".pkl", ".pickle", ".joblib")) for f in files)
    loaded = load_bundle(tmp_path / "model", key="")
    record = loaded.metadata["train_scale"]
    assert record["mode"] == "bounded" and record["requested"] == "bounded"
    assert record["rows"] == result.n_train
    before = result.triager.score(test)
    after = loaded.triager.score(test)
    np.testing.assert_array_equal(before.probabilities, after.probabilities)
    np.testing.assert_array_equal(before.urgency, after.urgency)
    assert before.reasons == after.reasons


def test_auto_picks_the_path_by_size(split) -> None:
    train, _ = split
    auto = {"scale": "auto", "calibration": {"cv": 3}}
    small = Params.model_validate({"train": {**auto, "bounded": {"auto_rows": len(train)}}})
    large = Params.model_validate(
        {"train": {**auto, "bounded": {"auto_rows": len(train) - 1, "min_updates": 0}}}
    )
    assert resolve_scale(len(train), small) == "in_memory"
    assert resolve_scale(len(train), large) == "bounded"
    assert fit(train, large).scale_ == {
        "mode": "bounded",
        "requested": "auto",
        "rows": len(train),
        "auto_rows": len(train) - 1,
    }
    encoder = Params.model_validate({"train": {**auto, "model": "encoder"}})
    assert resolve_scale(10**9, encoder) == "in_memory"
    forced = Params.model_validate({"train": {"scale": "in_memory"}})
    assert resolve_scale(10**9, forced) == "in_memory"


def test_the_encoder_family_cannot_be_forced_into_bounded_memory(split) -> None:
    params = Params.model_validate({"train": {"scale": "bounded", "model": "encoder"}})
    with pytest.raises(ValueError, match="linear family only"):
        fit(split[0], params)


def test_large_histories_calibrate_on_the_latest_posts(canonical_history) -> None:
    from triage_ml.contract.labels import label_matrix

    params = _params(cv_max_rows=100, holdout=0.1)
    Y = label_matrix(canonical_history, params.labels.names)
    fold = validation_fold(canonical_history, Y, params, exclusive=False)
    held = fold != NOT_HELD_OUT
    assert held.sum() == round(0.1 * len(canonical_history))
    times = canonical_history["created_at"]
    assert times[held].min() >= times[~held].max()
    capped = validation_fold(
        canonical_history, Y, _params(cv_max_rows=100, max_holdout_rows=25), False
    )
    assert (capped != NOT_HELD_OUT).sum() == 25
    small = validation_fold(canonical_history, Y, _params(), exclusive=False)
    assert set(np.unique(small)) == {0, 1, 2}  # every row held out once: calibration.cv folds


def test_the_holdout_path_trains_and_thresholds_differ(split) -> None:
    train, test = split
    triager = fit(train, _params(cv_max_rows=100, holdout=0.2, epochs=5))
    assert len(set(np.round(triager.thresholds_, 3))) > 1
    assert _macro_f1(triager, test) > 0.6


def test_exclusive_label_sets(canonical_history) -> None:
    """One label per post: the softmax temperature is fitted on the validation scores."""
    frame = canonical_history.copy()
    frame["labels"] = frame["labels"].fillna("").str.split(";").str[0].replace("", "other")
    names = ["complaint", "sales_lead", "product_review", "influencer", "other"]
    params = Params.model_validate(
        {
            "labels": {"names": names, "exclusive": True},
            "train": {
                "calibration": {"cv": 3},
                "scale": "bounded",
                "bounded": {"chunk_rows": 1200, "min_updates": 30_000},
            },
        }
    )
    triager = fit(frame, params)
    proba = triager.predict_proba(frame.iloc[:50])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert triager.calibration_.shape == (1, 1)
    predicted, _ = triager.decide(triager.predict_proba(frame))
    from triage_ml.contract.labels import label_matrix

    truth = label_matrix(frame, names).argmax(axis=1)
    majority = np.bincount(truth).max() / len(truth)
    assert (predicted.argmax(axis=1) == truth).mean() > majority + 0.15


@pytest.mark.parametrize("exclusive", [False, True])
def test_folding_the_calibration_keeps_the_probabilities(exclusive) -> None:
    from scipy.special import expit, softmax

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 8))
    coef, intercept = rng.normal(size=(3, 8)) * 40, rng.normal(size=3) * 40
    calibration = np.array([[2.5]]) if exclusive else np.array([[0.02, 0.3], [0.05, -1.0], [1, 0]])
    w, c, identity = fold_calibration(coef, intercept, calibration, exclusive)
    z = X @ coef.T + intercept
    before = (
        softmax(z / 2.5, axis=1) if exclusive else expit(z * calibration[:, 0] + calibration[:, 1])
    )
    after = softmax(X @ w.T + c, axis=1) if exclusive else expit(X @ w.T + c)
    np.testing.assert_allclose(after, before, rtol=1e-10, atol=1e-12)
    assert identity.shape == calibration.shape
    assert np.allclose(identity, 1.0) if exclusive else np.allclose(identity, [[1, 0]] * 3)


def test_reason_weights_are_on_the_in_memory_models_scale(bounded, split, in_memory) -> None:
    """Calibrated logits: the calibration is folded into the coefficients, and the typical
    reason weighs about what it weighs in memory (raw SGD logits: twice as much on this small
    history, 40-60 times at 100,000 posts and more)."""
    _, test = split
    k = len(bounded.labels)
    np.testing.assert_array_equal(bounded.calibration_, np.column_stack([np.ones(k), np.zeros(k)]))

    def typical(triager) -> float:
        weights = [r["weight"] for post in triager.score(test).reasons for r in post]
        return float(np.median([w for w in weights if w > 0]))

    ratio = typical(bounded) / typical(in_memory)
    assert 0.6 < ratio < 1.6, ratio  # 1.16 when written; 2.06 without the folding
