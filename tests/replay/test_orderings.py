"""Orders as ranks, and the keyword rules (matching, loading, errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.params import ConfigError
from triage_ml.replay.keywords import load_keywords, parse_keywords
from triage_ml.replay.orderings import priority_rank


def test_priority_rank_is_tier_then_deadline_with_ties_shared() -> None:
    tier = np.array(["P3", "P1", "P3", "P1", "P2"], dtype=object)
    due = pd.Series(
        pd.to_datetime(
            [
                "2026-01-01T12:00Z",
                "2026-01-01T11:00Z",
                "2026-01-01T10:00Z",
                "2026-01-01T11:00Z",
                "2026-01-01T09:00Z",
            ],
            utc=True,
        )
    )
    rank = priority_rank(tier, ["P1", "P2", "P3", "P4"], due)
    # both P1 posts share rank 0 (same deadline: arrival order decides), then P2, then P3
    assert rank.tolist() == [3, 0, 2, 0, 1]


TERMS = {
    "urgent": ["cancel*", "stranded", "still waiting", "!!!"],
    "complaint": [f"word{i}" for i in range(15)] + ["delay*", "rude"],
}


@pytest.mark.parametrize(
    ("text", "rank"),
    [
        ("My flight was Cancelled again", 0),
        ("we are STRANDED in Denver", 0),
        ("still   waiting for a reply", 0),
        ("where is my bag!!!", 0),
        ("another delayed departure", 1),
        ("rude staff", 1),
        ("crude jokes aside, thanks", 2),  # whole words only: 'rude' inside 'crude' is no match
        ("waiting still", 2),
        ("lovely flight", 2),
    ],
)
def test_keyword_rank(text, rank) -> None:
    rules = parse_keywords(TERMS)
    assert rules.rank(pd.Series([text])).tolist() == [rank]


def test_default_keywords_load_and_have_twenty_terms() -> None:
    rules = load_keywords()
    assert len(set(rules.urgent) | set(rules.complaint)) >= 20


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"urgent": ["a"], "complaint": ["b"]}, "at least 20"),
        ({"urgent": "cancel", "complaint": []}, "'urgent' must be a list"),
        ({"urgent": [], "complaints": []}, "two lists"),
        (["cancel"], "two lists"),
    ],
)
def test_bad_keyword_rules_are_clear(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_keywords(raw, "rules.yaml")


def test_missing_keyword_file_names_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: keyword rules file not found"):
        load_keywords(tmp_path / "nope.yaml")
