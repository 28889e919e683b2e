"""Error rates by slice: the buckets people use, and slices that partition the posts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage_ml.review.slices import (
    SLICES,
    follower_tier,
    length_bucket,
    slice_error_rates,
    time_bucket,
)
from triage_ml.review.tables import prepare


@pytest.fixture(scope="module")
def data(bundle, canonical_history):
    """The latest 300 posts of the fixture history, scored once."""
    return prepare(bundle, canonical_history.tail(300))


@pytest.mark.parametrize(
    ("followers", "tier"),
    [(0, "<1k"), (999, "<1k"), (1000, "1k-10k"), (25_000, "10k-100k"), (2_000_000, "1M+")],
)
def test_follower_tier(followers, tier):
    assert follower_tier(pd.Series([followers]))[0] == tier


def test_follower_tier_unknown_and_lengths():
    assert follower_tier(pd.Series([np.nan]))[0] == "unknown"
    lengths = length_bucket(pd.Series(["x" * 10, "x" * 100, "x" * 200, "x" * 300]))
    assert list(lengths.astype(str)) == [
        "<80 chars",
        "80-159 chars",
        "160-279 chars",
        "280+ chars",
    ]


def test_time_bucket_weeks_and_months():
    weeks = time_bucket(pd.Series(pd.to_datetime(["2026-01-07", "2026-01-12"], utc=True)))
    assert list(weeks) == ["week of 2026-01-05", "week of 2026-01-12"]
    months = time_bucket(pd.Series(pd.to_datetime(["2026-01-07", "2026-09-12"], utc=True)))
    assert list(months) == ["2026-01", "2026-09"]
    assert list(time_bucket(pd.Series([pd.NaT, pd.NaT]))) == ["unknown", "unknown"]


def test_slice_error_rates_partition_the_posts(data):
    slices = slice_error_rates(data)
    assert set(slices["slice"]) == set(SLICES)
    n, wrong = len(data.frame), int(data.wrong.any(axis=1).sum())
    for _, part in slices.groupby("slice"):
        assert part["posts"].sum() == n
        assert part["wrong_posts"].sum() == wrong
    assert (slices["error_rate_low"] <= slices["error_rate"] + 1e-9).all()
    assert (slices["error_rate"] <= slices["error_rate_high"] + 1e-9).all()
