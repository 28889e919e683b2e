"""The per-label tables every plot is drawn from, on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage_ml.evaluation.metrics import (
    calibration_by_label,
    confusion_by_label,
    equal_width_bins,
    expected_calibration_error,
    precision_recall_by_label,
)


@pytest.mark.parametrize(
    ("p", "bins", "expected"),
    [
        # closed on the left: an edge belongs to the bin above it
        ([0.0, 0.05, 0.1, 0.35, 0.5], 10, [0, 0, 1, 3, 5]),
        # the last bin holds 1.0; out-of-range values go to the end bins
        ([0.9, 0.999, 1.0, 1.2, -0.1], 10, [9, 9, 9, 9, 0]),
        ([0.0, 0.2499, 0.25, 0.5, 0.75, 1.0], 4, [0, 0, 1, 2, 3, 3]),
        ([0.3, 0.7], 1, [0, 0]),
    ],
)
def test_equal_width_bins(p, bins, expected):
    which, edges = equal_width_bins(np.array(p), bins)
    assert which.tolist() == expected
    np.testing.assert_allclose(edges, np.linspace(0, 1, bins + 1))


def test_expected_calibration_error_by_hand():
    # two bins of two posts: mean p 0.15 with half of them labelled, then 0.85 with half
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.8, 0.9])
    # (2 * |0.5 - 0.15| + 2 * |0.5 - 0.85|) / 4
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.35)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_calibration_by_label_by_hand():
    Y = np.array([[0, 1], [1, 1], [1, 0], [0, 0]])
    P = np.array([[0.1, 0.9], [0.2, 0.8], [0.8, 0.3], [0.9, 0.6]])
    table = calibration_by_label(Y, P, ["a", "b"], bins=2)
    expected = pd.DataFrame(
        {
            "label": ["a", "a", "b", "b"],
            "bin_low": [0.0, 0.5, 0.0, 0.5],
            "bin_high": [0.5, 1.0, 0.5, 1.0],
            "posts": [2, 2, 1, 3],
            "mean_probability": [0.15, 0.85, 0.3, (0.9 + 0.8 + 0.6) / 3],
            "observed_rate": [0.5, 0.5, 0.0, 2 / 3],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_calibration_by_label_leaves_out_empty_bins():
    table = calibration_by_label(np.array([[1], [0]]), np.array([[0.95], [0.91]]), ["a"])
    assert table[["bin_low", "posts"]].values.tolist() == [[0.9, 2]]


def test_confusion_by_label_by_hand():
    Y = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    Yhat = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    table = confusion_by_label(Y, Yhat, ["a", "b"]).set_index("label")
    a, b = table.loc["a"], table.loc["b"]
    assert (a.true_pos, a.false_pos, a.false_neg, a.true_neg) == (1, 1, 1, 1)
    assert (a.labelled, a.predicted) == (2, 2)
    assert (a.precision, a.recall, a.f1) == (0.5, 0.5, 0.5)
    # never predicted: precision undefined (not 0), recall and F1 are 0
    assert (b.true_pos, b.false_pos, b.false_neg, b.true_neg) == (0, 0, 1, 3)
    assert np.isnan(b.precision) and b.recall == 0.0 and b.f1 == 0.0


def test_precision_recall_by_label_skips_labels_without_both_classes():
    Y = np.array([[1, 1], [0, 1], [1, 1]])
    P = np.array([[0.9, 0.5], [0.2, 0.6], [0.6, 0.7]])
    curves = precision_recall_by_label(Y, P, ["a", "always"])
    assert set(curves["label"]) == {"a"}
    assert curves["recall"].max() == 1.0 and curves["precision"].max() == 1.0
    empty = precision_recall_by_label(Y[:, 1:], P[:, 1:], ["always"])
    assert empty.empty and list(empty.columns) == ["label", "threshold", "precision", "recall"]


def test_confusion_by_label_with_a_single_label():
    """One label is one column, not a binary target whose class 0 would be reported."""
    Y = np.array([[1], [0], [1], [0], [0]])
    Yhat = np.array([[1], [1], [0], [0], [0]])
    row = confusion_by_label(Y, Yhat, ["complaint"]).iloc[0]
    assert (row.true_pos, row.false_pos, row.false_neg, row.true_neg) == (1, 1, 1, 2)
    assert (row.labelled, row.predicted) == (2, 2)
    assert (row.precision, row.recall, row.f1) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    ("names", "recorded", "predicted", "f1"),
    [
        # one label: its own F1 (0.5), not that of "not a complaint" (0.75)
        (
            ["complaint"],
            ["complaint", "", "complaint", "", "", ""],
            [[1], [1], [0], [0], [0], [0]],
            {"complaint": 0.5},
        ),
        (
            ["complaint", "sales_lead"],
            ["complaint", "", "complaint;sales_lead", "sales_lead", "", ""],
            [[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]],
            {"complaint": 0.5, "sales_lead": 1.0},
        ),
    ],
)
def test_evaluate_reports_each_label_s_own_f1(names, recorded, predicted, f1):
    from types import SimpleNamespace

    from triage_ml.evaluation.metrics import evaluate

    Yhat = np.array(predicted)
    preds = SimpleNamespace(
        labels=names,
        probabilities=np.where(Yhat == 1, 0.8, 0.2),
        predicted=Yhat.astype(bool),
        needs_human=np.zeros(len(Yhat), dtype=bool),
    )
    truth = pd.DataFrame({"labels": recorded, "urgency": np.nan})
    metrics = evaluate(preds, truth)
    assert {lab: m["f1"] for lab, m in metrics["per_label"].items()} == f1
    assert metrics["macro_f1"] == pytest.approx(np.mean(list(f1.values())), abs=1e-4)
    assert [m["support"] for m in metrics["per_label"].values()] == [
        sum(lab in r.split(";") for r in recorded) for lab in names
    ]
