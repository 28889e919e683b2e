"""Drift against the training history: shifts are flagged, unshifted samples are not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.validation import validate_posts
from triage_ml.monitor.drift import (
    PSI_THRESHOLD,
    NoReference,
    check_drift,
    compare,
    psi,
    reference_of,
)
from triage_ml.monitor.signals import oov_counts, post_signals
from triage_ml.synthetic.generator import generate_sample

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def _posts(rows: int, seed: int) -> pd.DataFrame:
    frame, _ = validate_posts(generate_sample(rows, seed=seed), label_set=LABELS)
    return frame


def test_reference_holds_numbers_and_no_text(profile, canonical_history) -> None:
    text = json.dumps(profile)
    assert len(text) < 40_000
    words = {w for t in canonical_history["text"].head(50) for w in t.split() if len(w) > 6}
    assert not [w for w in words if f'"{w}"' in text]
    assert profile["signals"]["channel"]["source"] == "history"
    assert profile["signals"]["p_complaint"]["source"] == "heldout"
    assert set(profile["signals"]) >= {"predicted_labels", "tier", "oov_share", "urgency"}


def test_at_most_one_false_alarm_over_20_unshifted_samples(monitored_bundle, profile) -> None:
    # 20 samples of 400 posts drawn with different seeds, scored in one batch (faster)
    samples = [_posts(400, seed=2000 + s) for s in range(20)]
    pool = pd.concat(samples, ignore_index=True)
    from triage_ml.decide.scoring import score_posts

    preds = score_posts(monitored_bundle, pool, validated=True, with_reasons=False)
    oov, unknown = oov_counts(monitored_bundle.triager, pool["text"])
    signals = post_signals(monitored_bundle.triager, pool, preds, oov_share=oov)
    alarms = []
    for s in range(20):
        rows = slice(400 * s, 400 * (s + 1))
        result = compare(profile, signals.iloc[rows].reset_index(drop=True), LABELS, unknown[rows])
        assert len(result.signals) >= 12
        if result.flagged:
            alarms.append((s, [(x.name, round(x.psi, 3)) for x in result.flagged]))
    assert len(alarms) <= 1, alarms


@pytest.mark.parametrize("channel", ["forum", "email", "linkedin"])
def test_a_20_percent_change_of_channel_mix_is_flagged(monitored_bundle, channel) -> None:
    posts = _posts(600, seed=99)
    before = check_drift(monitored_bundle, posts)
    assert not before.by_name("channel").flagged
    rng = np.random.default_rng(1)
    others = np.flatnonzero(posts["channel"].to_numpy() != channel)
    moved = rng.choice(others, size=round(0.2 * len(posts)), replace=False)
    posts.loc[moved, "channel"] = channel
    result = check_drift(monitored_bundle, posts)
    assert result.by_name("channel").flagged
    assert result.by_name("channel").psi >= PSI_THRESHOLD


def test_a_new_product_name_in_10_percent_of_complaints_is_flagged(monitored_bundle) -> None:
    raw = generate_sample(600, seed=99)
    before = check_drift(monitored_bundle, validate_posts(raw, label_set=LABELS)[0])
    assert not before.by_name("new_terms").flagged
    complaints = np.flatnonzero(raw["labels"].fillna("").str.contains("complaint").to_numpy())
    rng = np.random.default_rng(2)
    pick = rng.choice(complaints, size=round(0.1 * len(complaints)), replace=False)
    raw.loc[pick, "text"] = raw.loc[pick, "text"] + " My new Zephyrion tablet stopped working."
    result = check_drift(monitored_bundle, validate_posts(raw, label_set=LABELS)[0])
    assert result.by_name("new_terms").flagged
    assert "zephyrion" in [term for term, _, _ in result.new_terms]


def test_a_bundle_without_reference_is_refused_with_what_to_do(bundle) -> None:
    with pytest.raises(NoReference, match="retrain it with 'triage-ml train'"):
        reference_of(bundle)


@pytest.mark.parametrize(
    ("reference", "recent", "flagged"),
    [
        ([0.5, 0.5], [0.5, 0.5], False),
        ([0.5, 0.5], [0.55, 0.45], False),
        ([0.5, 0.5], [0.7, 0.3], True),
        ([1.0, 0.0], [0.9, 0.1], True),  # a category the history never had
    ],
)
def test_psi_threshold(reference, recent, flagged) -> None:
    assert (psi(np.array(reference), np.array(recent)) >= PSI_THRESHOLD) is flagged


def test_unseen_channel_is_named_and_counted(monitored_bundle) -> None:
    posts = _posts(300, seed=5)
    posts.loc[:60, "channel"] = "tiktok"
    result = check_drift(monitored_bundle, posts)
    channel = result.by_name("channel")
    assert channel.flagged and "tiktok" in channel.note
