"""The review tables on a small fitted model: confusion, curves, calibration, worst errors and
their evidence, urgency misses; every text masked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from triage_ml.review import tables as review
from triage_ml.review.corrections import relabel_export

PII = " Reach me at jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111."
PII_RAW = ("jane.doe@example.com", "7946 0958", "4111 1111 1111 1111")


@pytest.fixture(scope="module")
def data(bundle, canonical_history):
    """The latest 300 posts of the fixture history, scored once."""
    return review.prepare(bundle, canonical_history.tail(300))


# --------------------------------------------------------------------------------------------
# confusion picture


def test_label_summary_counts_add_up(data):
    summary = review.label_summary(data)
    n = len(data.frame)
    assert list(summary["label"]) == data.labels
    cells = summary[["true_pos", "false_pos", "false_neg", "true_neg"]].sum(axis=1)
    assert (cells == n).all()
    assert (summary["labelled"] == summary["true_pos"] + summary["false_neg"]).all()
    assert summary["f1"].between(0, 1).all()


def test_curves_and_calibration_cover_every_label(data):
    curves = review.pr_curves(data)
    assert set(curves["label"]) == set(data.labels)
    assert curves[["precision", "recall"]].stack().between(0, 1).all()
    calib = review.calibration_table(data)
    assert calib.groupby("label")["posts"].sum().eq(len(data.frame)).all()


# --------------------------------------------------------------------------------------------
# worst errors


def test_worst_errors_are_wrong_and_most_confident_first(data):
    """``confidence`` is the probability the model gave its wrong decision: ``p`` for a false
    positive (it said yes), ``1 - p`` for a false negative (it said no)."""
    # in-sample, the fixture model misses nothing: record ten posts it did not predict as
    # complaints as complaints, so that both kinds of error are there
    Y = data.Y.copy()
    missed = np.flatnonzero(~data.predictions.predicted[:, 0].astype(bool))[:10]
    Y[missed, 0] = 1
    data = dataclasses.replace(data, Y=Y)
    every = review.worst_errors(data, top=len(data.frame) * len(data.labels))
    assert int(data.wrong.sum()) == len(every)
    assert {"false positive", "false negative"} == set(every["error"])
    assert every["confidence"].is_monotonic_decreasing
    index = {pid: i for i, pid in enumerate(data.frame["id"])}
    for row in every.itertuples(index=False):
        i, k = index[row.id], data.labels.index(row.label)
        p = float(data.predictions.probabilities[i, k])
        predicted = bool(data.predictions.predicted[i, k])
        assert predicted != bool(data.Y[i, k])
        assert row.error == ("false positive" if predicted else "false negative")
        assert row.probability == pytest.approx(p, abs=5e-4)
        assert row.confidence == pytest.approx(p if predicted else 1.0 - p, abs=5e-4), row
    top = review.worst_errors(data, top=15)
    assert list(top["id"] + top["label"]) == list((every["id"] + every["label"]).head(15))


def test_worst_error_evidence_is_the_api_reasons(data):
    """For a wrongly predicted label, the terms for it are exactly what the API returned."""
    errors = review.worst_errors(data, top=len(data.frame) * len(data.labels))
    false_pos = errors[errors["error"] == "false positive"]
    assert len(false_pos) > 0
    index = {pid: i for i, pid in enumerate(data.frame["id"])}
    for row in false_pos.itertuples(index=False):
        reasons = data.predictions.reasons[index[row.id]]
        expected = ", ".join(
            f"{r['signal']} ({r['weight']:+g})" for r in reasons if r["label"] == row.label
        )
        assert row.evidence_for == expected


def test_worst_errors_by_label(data):
    errors = review.worst_errors(data, top=3, per_label=True)
    assert errors.groupby("label").size().le(3).all()
    only = review.worst_errors(data, top=50, label="complaint")
    assert set(only["label"]) <= {"complaint"}
    with pytest.raises(ValueError, match="unknown label"):
        review.worst_errors(data, label="refund")


def test_tables_mask_pii(data):
    frame = data.frame.assign(text=data.frame["text"] + PII)
    dirty = dataclasses.replace(data, frame=frame)
    shown = pd.concat(
        [
            review.worst_errors(dirty, top=10)["text"],
            review.urgency_underestimates(dirty, top=10)["text"],
            relabel_export(frame, ids=frame["id"].head(5).tolist())["text"],
        ]
    )
    joined = "\n".join(shown)
    assert "[email]" in joined and "[phone]" in joined and "[card]" in joined
    for raw in PII_RAW:
        assert raw not in joined


# --------------------------------------------------------------------------------------------
# urgency


def test_urgency_underestimates(data):
    under = review.urgency_underestimates(data, top=10)
    assert len(under) > 0
    assert (under["urgency"] >= review.URGENT_FROM).all()
    assert under["shortfall"].is_monotonic_decreasing
    np.testing.assert_allclose(
        under["shortfall"], under["urgency"] - under["predicted_urgency"], atol=2e-3
    )
    tiers = [t.name for t in data.playbook.tiers]  # most urgent first
    for given, recorded, short in zip(
        under["tier_given"], under["tier_if_recorded_urgency"], under["shortfall"], strict=True
    ):
        if short > 0:  # more urgency never lowers priority
            assert tiers.index(recorded) <= tiers.index(given)
