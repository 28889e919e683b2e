"""The one plotting module: each plot is a matplotlib Figure (no pyplot) with the panels and
titles it promises, and ``write_plots`` writes PNG files that show something."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from triage_ml.evaluation import plots
from triage_ml.evaluation.metrics import (
    calibration_by_label,
    confusion_by_label,
    precision_recall_by_label,
)

LABELS = ["complaint", "sales_lead", "product_review"]


@pytest.fixture(scope="module")
def scored():
    """Indicator matrix, probabilities and decisions of 400 posts, the labels fairly separable."""
    rng = np.random.default_rng(0)
    Y = (rng.random((400, len(LABELS))) < [0.3, 0.15, 0.5]).astype(int)
    P = np.clip(0.6 * Y + 0.4 * rng.random(Y.shape), 0, 1)
    return Y, P, (P >= 0.5).astype(int)


def _titles(fig) -> list[str]:
    return [ax.get_title(loc="left") or ax.get_title() for ax in fig.axes if ax.get_visible()]


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_confusion_one_panel_per_label(scored):
    from matplotlib.figure import Figure

    Y, _, Yhat = scored
    counts = confusion_by_label(Y, Yhat, LABELS)
    fig = plots.plot_confusion(counts)
    assert isinstance(fig, Figure)
    titles = _titles(fig)
    assert [t.split("  ")[0] for t in titles] == LABELS
    f1 = counts.set_index("label")["f1"]
    assert titles[0] == f"complaint  (F1 {f1['complaint']:.2f})"
    assert fig.get_suptitle() == "Confusion per label"
    # the four cells of the first label, as counts and shares
    texts = sorted(t.get_text().split("\n")[0] for t in fig.axes[0].texts)
    first = counts.iloc[0]
    expected = [first.true_neg, first.false_pos, first.false_neg, first.true_pos]
    assert texts == sorted(str(v) for v in expected)


def test_confusion_shows_at_most_a_dozen_labels():
    many = [f"intent_{i}" for i in range(20)]
    Y = np.eye(20, dtype=int).repeat(3, axis=0)
    fig = plots.plot_confusion(confusion_by_label(Y, Y, many))
    assert len(_titles(fig)) == plots.MAX_LABELS


def test_precision_recall_curves_with_operating_points(scored):
    Y, P, Yhat = scored
    counts = confusion_by_label(Y, Yhat, LABELS)
    fig = plots.plot_pr_curves(precision_recall_by_label(Y, P, LABELS), counts)
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Precision-recall (dot = chosen threshold)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("recall", "precision")
    assert _legend(ax) == LABELS
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(dots) == len(LABELS)
    np.testing.assert_allclose(dots[0].get_xdata(), [counts["recall"].iloc[0]])


def test_calibration_reliability_diagram(scored):
    Y, P, _ = scored
    table = calibration_by_label(Y, P, LABELS)
    fig = plots.plot_calibration(table, min_posts=3)
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Calibration (bins with 3+ posts)"
    assert _legend(ax) == ["perfect", *LABELS]
    drawn = ax.lines[1]  # after the diagonal
    kept = table[(table["label"] == LABELS[0]) & (table["posts"] >= 3)]
    np.testing.assert_allclose(drawn.get_xdata(), kept["mean_probability"])
    np.testing.assert_allclose(drawn.get_ydata(), kept["observed_rate"])


def test_slices_one_panel_per_slice():
    slices = pd.DataFrame(
        {
            "slice": ["channel", "channel", "time"],
            "value": ["twitter", "email", "week of 2026-01-05"],
            "posts": [40, 10, 50],
            "error_rate": [0.4, 0.1, 0.3],
            "error_rate_low": [0.3, 0.02, 0.2],
            "error_rate_high": [0.5, 0.4, 0.4],
        }
    )
    fig = plots.plot_slices(slices, overall=0.2)
    assert _titles(fig) == ["channel", "time"]
    bars = fig.axes[0].patches
    assert [round(b.get_width(), 3) for b in bars] == [0.4, 0.1]
    # red where the whole interval is above the overall rate
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert fig.get_suptitle().startswith("Share of posts with a wrong label")


def test_urgency_marks_the_under_rated_urgent_posts():
    points = pd.DataFrame(
        {"urgency": [1.0, 0.9, 0.2, 0.0], "predicted_urgency": [0.3, 0.85, 0.2, 0]}
    )
    fig = plots.plot_urgency(points)
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Urgency: recorded vs predicted (shaded = urgent)"
    calm, under = ax.collections[:2]
    assert len(under.get_offsets()) == 1 and tuple(under.get_offsets()[0]) == (1.0, 0.3)
    assert len(calm.get_offsets()) == 3


def test_no_pyplot():
    """Library plots never load pyplot (global state, a GUI backend in some environments)."""
    import subprocess

    code = (
        "import numpy as np, sys\n"
        "from triage_ml.evaluation import plots, metrics\n"
        "Y = np.array([[1], [0], [1]]); P = np.array([[0.9], [0.2], [0.4]])\n"
        "plots.plot_calibration(metrics.calibration_by_label(Y, P, ['a']))\n"
        "plots.plot_confusion(metrics.confusion_by_label(Y, P > 0.5, ['a']))\n"
        "plots.plot_pr_curves(metrics.precision_recall_by_label(Y, P, ['a']),\n"
        "                     metrics.confusion_by_label(Y, P > 0.5, ['a']))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_write_plots_writes_non_trivial_pngs(tmp_path, bundle, canonical_history):
    from PIL import Image

    from triage_ml.decide.scoring import score_posts

    posts = canonical_history.tail(300).reset_index(drop=True)
    preds = score_posts(bundle, posts, validated=True)
    written = plots.write_plots(preds, posts, tmp_path / "plots")
    names = ["confusion.png", "precision_recall.png", "calibration.png", "urgency.png"]
    assert [p.name for p in written] == names
    for path in written:
        assert path.parent == tmp_path / "plots"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 200
            pixels = np.asarray(image.convert("L"), dtype=int)
        # drawn on: a real share of the picture is not the white background
        assert (pixels < 200).mean() > 0.01, path.name

    without_urgency = posts.assign(urgency=np.nan)
    written = plots.write_plots(preds, without_urgency, tmp_path / "no-urgency")
    assert [p.name for p in written] == names[:3]
