"""Safe promotion: a worse challenger is refused with both scores; windows must not overlap."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from triage_ml.contract.validation import validate_posts
from triage_ml.monitor.promotion import PromotionRefused, compare_models
from triage_ml.synthetic.generator import generate_sample

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
TRAINED_UNTIL = {"first": "2026-01-05T08:00:00Z", "last": "2026-06-30T00:00:00Z"}


def _bundle(triager, window=TRAINED_UNTIL, worse=False):
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import Bundle

    if worse:  # the same model with thresholds that miss most sales leads and reviews
        triager = copy.copy(triager)
        triager.thresholds_ = np.where(np.arange(len(LABELS)) % 2 == 1, 0.97, 0.5)
    meta = {"name": "worse" if worse else "triage"}
    if window is not None:
        meta["data_time_range"] = window
    return Bundle(triager, load_playbook(), meta)


@pytest.fixture(scope="module")
def newer_posts():
    frame, _ = validate_posts(
        generate_sample(400, seed=11, start="2026-07-01T00:00:00Z"),
        label_set=LABELS,
        require_labels=True,
    )
    return frame


def test_a_worse_challenger_fails_with_both_intervals(triager, newer_posts) -> None:
    check = compare_models(_bundle(triager), _bundle(triager, worse=True), newer_posts)
    assert not check.passed
    assert check.difference < -check.tolerance
    for score in (check.champion, check.challenger):
        assert score.ci_low <= score.macro_f1 <= score.ci_high
    assert check.difference_ci[1] < 0
    assert "worse than the champion" in check.verdict()
    assert check.tags()["promotion.passed"] == "false"


def test_an_equal_challenger_passes(triager, newer_posts) -> None:
    check = compare_models(_bundle(triager), _bundle(triager), newer_posts)
    assert check.passed and check.difference == 0
    assert check.n_posts == len(newer_posts)


def test_posts_inside_a_training_window_are_refused_or_dropped(triager) -> None:
    posts, _ = validate_posts(
        generate_sample(300, seed=12, start="2026-06-25T00:00:00Z"),
        label_set=LABELS,
        require_labels=True,
    )
    champion, challenger = _bundle(triager), _bundle(triager)
    with pytest.raises(PromotionRefused, match=r"at or before 2026-06-30T00:00:00Z"):
        compare_models(champion, challenger, posts, source="recent.csv")
    check = compare_models(champion, challenger, posts, drop_older=True)
    assert check.dropped_older > 0
    assert check.n_posts + check.dropped_older == len(posts)


def test_the_newer_training_window_sets_the_cut(triager, newer_posts) -> None:
    late = {"first": "2026-01-05T00:00:00Z", "last": "2026-12-31T00:00:00Z"}
    with pytest.raises(PromotionRefused, match="2026-12-31"):
        compare_models(_bundle(triager), _bundle(triager, window=late), newer_posts)


def test_a_bundle_without_time_range_is_refused(triager, newer_posts) -> None:
    with pytest.raises(PromotionRefused, match="records no time range"):
        compare_models(_bundle(triager, window=None), _bundle(triager), newer_posts)
