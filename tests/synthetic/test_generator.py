"""The synthetic history: contract, determinism, and that it is neither trivial nor noise."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier

from triage_ml.synthetic import generator as sample
from triage_ml.synthetic.generator import (
    CHANNELS,
    COLUMNS,
    LABELS,
    NOISE_RATE,
    URGENCY_MISSING_RATE,
    generate_sample,
)


def _label_matrix(frame: pd.DataFrame) -> np.ndarray:
    sets = [set(s.split(";")) if s else set() for s in frame["labels"]]
    return np.array([[lab in s for lab in LABELS] for s in sets])


def _best_threshold_accuracy(followers: np.ndarray, positive: np.ndarray) -> float:
    """Accuracy of the best rule `followers >= t` over every possible t."""
    order = np.argsort(followers, kind="stable")
    f, y = followers[order], positive[order]
    pos_below = np.concatenate([[0], np.cumsum(y)])
    neg_from = (~y).sum() - np.concatenate([[0], np.cumsum(~y)])
    acc = 1.0 - (pos_below + neg_from) / len(f)
    cut_ok = np.concatenate([[True], f[1:] != f[:-1], [True]])  # only cut between values
    return float(acc[cut_ok].max())


@pytest.fixture(scope="module")
def history() -> tuple[pd.DataFrame, pd.Series]:
    return generate_sample(5000, seed=42, return_noise_mask=True)


@pytest.fixture(scope="module")
def frame(history: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    return history[0]


@pytest.fixture(scope="module")
def labels(frame: pd.DataFrame) -> np.ndarray:
    return _label_matrix(frame)


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frame() -> None:
    pd.testing.assert_frame_equal(generate_sample(400, seed=7), generate_sample(400, seed=7))


def test_different_seed_gives_different_frame() -> None:
    a, b = generate_sample(400, seed=7), generate_sample(400, seed=8)
    assert (a["text"] != b["text"]).mean() > 0.9
    assert not a["labels"].equals(b["labels"])


# ---------------------------------------------------------------------------- contract


def test_columns_and_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 5000
    assert frame["author_followers"].dtype == np.int64
    assert frame["author_verified"].dtype == bool
    assert frame["urgency"].dtype == np.float64
    for col in ("id", "text", "created_at", "channel", "labels"):
        assert all(isinstance(v, str) for v in frame[col]), col


def test_ids_unique_and_follow_time(frame: pd.DataFrame) -> None:
    assert frame["id"].is_unique
    assert frame["id"].iloc[0] == "s-000001"
    assert frame["id"].str.fullmatch(r"s-\d{6}").all()


def test_text_is_nonempty_and_bounded(frame: pd.DataFrame) -> None:
    lengths = frame["text"].str.strip().str.len()
    assert lengths.min() >= 1
    assert lengths.max() <= 10_000
    assert frame["text"].nunique() > 0.95 * len(frame)


def test_created_at_is_increasing_utc_over_months(frame: pd.DataFrame) -> None:
    assert frame["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    times = pd.to_datetime(frame["created_at"], utc=True)
    assert times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp("2026-01-05T08:00:00Z")
    assert (times.max() - times.min()).days >= 60
    hours = times.dt.hour.value_counts(normalize=True)
    assert hours.reindex(range(2, 6), fill_value=0).sum() < hours.reindex(range(10, 14)).sum() / 3


def test_start_is_respected() -> None:
    frame = generate_sample(50, start="2030-06-01T12:00:00Z")
    times = pd.to_datetime(frame["created_at"], utc=True)
    assert times.min() >= pd.Timestamp("2030-06-01T12:00:00Z")


def test_channels_authors_and_verified(frame: pd.DataFrame) -> None:
    assert set(frame["channel"]) == set(CHANNELS)
    followers = frame["author_followers"]
    assert (followers >= 0).all()
    # heavy tail: the mean is pulled far above the median by a few large accounts
    assert followers.mean() > 5 * followers.median()
    assert followers.max() > 100 * followers.median()
    assert 0.0 < frame["author_verified"].mean() < 0.15


def test_labels_are_declared_and_in_canonical_order(frame: pd.DataFrame) -> None:
    for value in frame["labels"]:
        if value:
            parts = value.split(";")
            assert parts == [lab for lab in LABELS if lab in parts], value


def test_urgency_range_precision_and_missingness(frame: pd.DataFrame) -> None:
    urgency = frame["urgency"]
    present = urgency.dropna()
    assert present.between(0.0, 1.0).all()
    assert np.allclose(present, present.round(2))
    assert abs(urgency.isna().mean() - URGENCY_MISSING_RATE) < 0.03


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rows": -1}, "rows must be a non-negative integer"),
        ({"rows": 2.5}, "rows must be a non-negative integer"),
        ({"start": "not a time"}, "start must be an ISO-8601 time"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_sample(**kwargs)


def test_zero_rows_keeps_the_columns() -> None:
    empty = generate_sample(0)
    assert list(empty.columns) == list(COLUMNS)
    assert empty.empty


# ---------------------------------------------------------------------------- labels


def test_all_labels_with_sensible_frequencies(frame: pd.DataFrame, labels: np.ndarray) -> None:
    share = dict(zip(LABELS, labels.mean(axis=0), strict=True))
    assert 0.25 <= share["complaint"] <= 0.40
    assert 0.12 <= share["sales_lead"] <= 0.28
    assert 0.15 <= share["product_review"] <= 0.32
    assert 0.08 <= share["influencer"] <= 0.25
    assert 0.25 <= (frame["labels"] == "").mean() <= 0.35


@pytest.mark.parametrize(
    "pair",
    [
        ("complaint", "influencer"),
        ("complaint", "product_review"),
        ("sales_lead", "influencer"),
        ("sales_lead", "product_review"),
        ("complaint", "sales_lead"),
        ("product_review", "influencer"),
    ],
)
def test_labels_overlap(labels: np.ndarray, pair: tuple[str, str]) -> None:
    a, b = (LABELS.index(p) for p in pair)
    assert (labels[:, a] & labels[:, b]).sum() >= 40


def test_noise_share_within_stated_bounds(history: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, mask = history
    assert mask.dtype == bool
    assert mask.index.equals(frame.index)
    assert NOISE_RATE <= 0.10
    assert NOISE_RATE - 0.015 <= mask.mean() <= NOISE_RATE + 0.015


def test_noise_changes_exactly_the_masked_rows() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((20_000, len(LABELS))) < 0.25
    noisy, mask = sample._add_label_noise(np.random.default_rng(1), clean)
    changed = (noisy != clean).any(axis=1)
    np.testing.assert_array_equal(changed, mask)
    assert (noisy != clean).sum(axis=1).max() <= 2  # a flip touches two labels, others one


def test_influencer_is_not_a_follower_threshold(frame: pd.DataFrame, labels: np.ndarray) -> None:
    followers = frame["author_followers"].to_numpy()
    influencer = labels[:, LABELS.index("influencer")]
    median = np.median(followers[influencer])
    assert (influencer & (followers < median)).sum() > 0
    assert (~influencer & (followers > median)).sum() > 0
    assert _best_threshold_accuracy(followers, influencer) < 0.95


def test_latent_influencer_is_not_a_follower_threshold() -> None:
    """Same property on the latent before label noise, so noise cannot be what passes it."""
    followers, verified, influencer = sample._draw_authors(np.random.default_rng(3), 50_000)
    assert _best_threshold_accuracy(followers, influencer) < 0.95
    big = followers >= 100_000
    assert 0.0 < influencer[big].mean() < 1.0
    mid = (followers >= 1_000) & (followers < 5_000)
    assert 0.05 < influencer[mid].mean() < 0.6


# ---------------------------------------------------------------------------- urgency


def test_urgency_follows_labels_and_cues(frame: pd.DataFrame, labels: np.ndarray) -> None:
    urgency = frame["urgency"].to_numpy()
    unlabelled = ~labels.any(axis=1)
    by_label = {lab: np.nanmean(urgency[labels[:, i]]) for i, lab in enumerate(LABELS)}
    none = np.nanmean(urgency[unlabelled])
    assert by_label["complaint"] > by_label["sales_lead"] > none
    assert by_label["complaint"] > by_label["product_review"] > none
    complaint = labels[:, LABELS.index("complaint")]
    safety = frame["text"].str.contains(r"smoke|sparks|melted|caught fire", case=False).to_numpy()
    assert np.nanmean(urgency[complaint & safety]) > np.nanmean(urgency[complaint]) + 0.1


# ---------------------------------------------------------------------------- text realism


@pytest.mark.parametrize(
    ("feature", "pattern", "minimum"),
    [
        ("emoji", r"[\U0001F300-\U0001FAFF\u2764]", 0.15),
        ("@mention", r"@\w+", 0.15),
        ("url", r"https?://\S+", 0.04),
        ("hashtag", r"#\w+", 0.08),
        ("elongation", r"\b\w*([a-z])\1\1\w*\b", 0.02),
        ("all caps", r"\b[A-Z']{3,} [A-Z']{3,} [A-Z']{3,}\b", 0.02),
        ("!!!", r"!!!", 0.03),
        ("negation", r"(?i)\b(?:not|no|never|don't|doesn't|can't|won't|isn't|hasn't)\b", 0.15),
        ("question", r"\?", 0.2),
    ],
)
def test_texts_look_like_social_posts(
    frame: pd.DataFrame, feature: str, pattern: str, minimum: float
) -> None:
    rx = re.compile(pattern)
    share = frame["text"].map(lambda text: rx.search(text) is not None).mean()
    assert share >= minimum, f"{feature}: {share:.3f}"


def test_vocabulary_is_shared_between_labels(frame: pd.DataFrame, labels: np.ndarray) -> None:
    """Words like 'order' and product names appear under several labels: no giveaway tokens."""
    text = frame["text"].str.lower()
    for word in ("order", "nova 5 phone", "refund", "love"):
        has = text.str.contains(word, regex=False).to_numpy()
        carriers = [lab for i, lab in enumerate(LABELS[:3]) if (has & labels[:, i]).sum() >= 5]
        assert len(carriers) >= 2 or (has & ~labels.any(axis=1)).sum() >= 5, word


def test_influencer_has_text_cues_but_not_always(frame: pd.DataFrame, labels: np.ndarray) -> None:
    cue = frame["text"].str.contains(r"follower|my channel|collab|#ad\b|subscriber", case=False)
    influencer = labels[:, LABELS.index("influencer")]
    assert 0.5 < cue[influencer].mean() < 0.97
    assert 0.0 < cue[~influencer].mean() < 0.1


# ---------------------------------------------------------------------------- realistic band


@pytest.mark.parametrize("seed", [42, 1, 2])
def test_plain_baseline_lands_in_realistic_band(seed: int) -> None:
    """A twenty-line TF-IDF model must neither ace the sample (too easy) nor fail it."""
    history = generate_sample(2000, seed=seed)
    y = _label_matrix(history).astype(int)
    vectoriser = TfidfVectorizer(ngram_range=(1, 2))
    x_train = vectoriser.fit_transform(history["text"].iloc[:1500])
    x_test = vectoriser.transform(history["text"].iloc[1500:])
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(x_train, y[:1500])
    macro = f1_score(y[1500:], model.predict(x_test), average="macro", zero_division=0)
    assert 0.6 <= macro <= 0.9, f"macro-F1 {macro:.3f} outside the realistic band"
