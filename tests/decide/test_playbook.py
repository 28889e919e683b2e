"""Playbook: validation errors, tiers, deadlines, routing, escalation and monotone priority."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from triage_ml.contract.params import ConfigError
from triage_ml.decide.playbook import (
    default_playbook_path,
    load_playbook,
    parse_playbook,
    prioritise,
)

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
T0 = pd.Timestamp("2026-11-22T10:00:00Z")


def _raw() -> dict:
    return yaml.safe_load(default_playbook_path().read_text())


def _prio(predicted, urgency, created=None, book=None):
    predicted = np.atleast_2d(np.asarray(predicted, dtype=bool))
    urgency = np.atleast_1d(np.asarray(urgency, dtype=float))
    created = pd.Series(
        [created] * len(urgency) if created is not None else [pd.NaT] * len(urgency)
    )
    return prioritise(book or load_playbook(), LABELS, predicted, urgency, created, now=T0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(tierz=[]), "tierz: unknown setting"),
        (lambda r: r["tiers"].reverse(), "most urgent first"),
        (lambda r: r["tiers"][-1].update(min_score=0.1), "min_score: 0"),
        (lambda r: r["tiers"][0].update(respond_within_minutes=0), "respond_within_minutes"),
        (lambda r: r["score"]["label_weights"].update(complaint=-1), "must be >= 0"),
        (lambda r: r["floors"][0].update(tier="P0"), "unknown tiers ['P0']"),
        (lambda r: r["tiers"].append(dict(r["tiers"][0])), "unique"),
    ],
)
def test_invalid_playbook_is_a_clear_error(change, message) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_playbook(raw, "brand.yaml")


def test_unreadable_playbook_names_the_file(tmp_path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("tiers: [\n")
    with pytest.raises(ConfigError, match="p.yaml: playbook is not valid YAML"):
        load_playbook(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_playbook(tmp_path / "missing.yaml")


def test_tier_deadline_and_respond_by() -> None:
    created = pd.Timestamp("2026-11-22T10:00:00Z")
    p = _prio([[1, 0, 0, 1]], [0.9], created)
    assert p.tier[0] == "P1"
    assert p.respond_within_minutes[0] == 15
    assert p.respond_by[0] == pd.Timestamp("2026-11-22T10:15:00Z")
    low = _prio([[0, 0, 0, 0]], [0.0], created)
    assert (low.tier[0], low.respond_within_minutes[0]) == ("P4", 1440)


def test_missing_created_at_starts_the_clock_at_scoring_time() -> None:
    p = _prio([[0, 0, 0, 0]], [0.0])
    assert p.respond_by[0] == T0 + pd.Timedelta(minutes=1440)


@pytest.mark.parametrize(
    ("predicted", "route"),
    [
        ([1, 1, 0, 0], "support"),  # first matching rule wins
        ([0, 1, 1, 0], "sales"),
        ([0, 0, 1, 1], "marketing"),
        ([0, 0, 0, 1], "community"),
        ([0, 0, 0, 0], "community"),  # default route
    ],
)
def test_routing_first_matching_rule(predicted, route) -> None:
    assert _prio([predicted], [0.3]).route[0] == route


def test_escalation_rules() -> None:
    assert _prio([[1, 0, 0, 1]], [0.6]).escalate[0]
    assert not _prio([[1, 0, 0, 0]], [0.6]).escalate[0]
    assert _prio([[1, 0, 0, 0]], [0.95]).escalate[0]


def test_changed_playbook_changes_routing_without_retraining() -> None:
    raw = _raw()
    raw["routing"]["rules"].insert(0, {"label": "influencer", "route": "pr-team"})
    p = _prio([[1, 0, 0, 1]], [0.5], book=parse_playbook(raw))
    assert p.route[0] == "pr-team"


TIER_RANK = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}

posts = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        arrays(bool, (n, 4)),
        arrays(float, n, elements=st.floats(0, 1)),
        arrays(float, n, elements=st.floats(0, 1)),
    )
)


@settings(max_examples=300, deadline=None)
@given(posts)
def test_priority_is_monotone_in_urgency_and_influencer(batch) -> None:
    predicted, urgency, bump = batch
    base = _prio(predicted, urgency)
    higher = _prio(predicted, np.minimum(1.0, urgency + bump))
    tagged = predicted.copy()
    tagged[:, 3] = True
    with_influencer = _prio(tagged, urgency)
    for other in (higher, with_influencer):
        assert (other.score >= base.score - 1e-9).all()
        ranks_base = np.array([TIER_RANK[t] for t in base.tier])
        ranks_other = np.array([TIER_RANK[t] for t in other.tier])
        assert (ranks_other <= ranks_base).all()
        assert (other.escalate >= base.escalate).all()
