"""Every picture of a model's quality, drawn once: confusion per label, precision-recall,
calibration, error rate by slice and urgency.

Each plot is a function of a table (:mod:`triage_ml.evaluation.metrics`, or the review tables
built on it) returning a matplotlib ``Figure``: no pyplot state and no backend switching, so
the library never touches a caller's matplotlib setup. ``triage-ml train``/``evaluate`` save
them as PNG files (:func:`write_plots`), the review report embeds them and the notebook shows
them, all from the same code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage_ml._extras import require
from triage_ml.contract.labels import label_matrix
from triage_ml.decide.scoring import Predictions
from triage_ml.evaluation.metrics import (
    URGENT_FROM,
    calibration_by_label,
    confusion_by_label,
    precision_recall_by_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Labels drawn in the per-label plots: wide label sets (intents) get the first dozen.
MAX_LABELS = 12
_PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d"]
_INK, _MUTED, _GRID = "#1f2937", "#6b7280", "#e5e7eb"
_PLOT_DPI = 90


def _figure(width: float, height: float) -> Figure:
    require("matplotlib", "review", "drawing plots")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _style(ax: Axes, title: str | None = None) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color(_MUTED)
    ax.tick_params(colors=_INK, labelsize=8)
    ax.grid(color=_GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, fontsize=10, color=_INK, loc="left")


def _first_labels(table: pd.DataFrame, max_labels: int) -> pd.DataFrame:
    """The rows of the first ``max_labels`` labels, in the table's order."""
    keep = pd.unique(table["label"])[:max_labels]
    return table[table["label"].isin(keep)]


def plot_confusion(counts: pd.DataFrame, max_labels: int = MAX_LABELS) -> Figure:
    """One 2x2 confusion matrix per label (labelled rows, predicted columns), counts and shares.

    ``counts`` has the columns of :func:`~triage_ml.evaluation.metrics.confusion_by_label`.
    """
    show = counts.head(max_labels)
    n = max(len(show), 1)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = _figure(2.6 * cols, 2.5 * rows + 0.45)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, row in zip(axes.ravel(), show.itertuples(index=False), strict=False):
        cm = np.array([[row.true_neg, row.false_pos], [row.false_neg, row.true_pos]])
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(cm.max(), 1))
        total = max(cm.sum(), 1)
        for (t, p), v in np.ndenumerate(cm):
            ax.text(
                p,
                t,
                f"{v}\n{v / total:.0%}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v > cm.max() / 2 else _INK,
            )
        ax.set_xticks([0, 1], ["no", "yes"], fontsize=8)
        ax.set_yticks([0, 1], ["no", "yes"], fontsize=8)
        ax.set_xlabel("predicted", fontsize=8, color=_MUTED)
        ax.set_ylabel("labelled", fontsize=8, color=_MUTED)
        f1 = "n/a" if pd.isna(row.f1) else f"{row.f1:.2f}"
        ax.set_title(f"{row.label}  (F1 {f1})", fontsize=9, color=_INK)
    fig.suptitle("Confusion per label", fontsize=10, color=_INK)
    return fig


def plot_pr_curves(
    curves: pd.DataFrame, counts: pd.DataFrame, max_labels: int = MAX_LABELS
) -> Figure:
    """Precision against recall per label; the dot is the operating point (its threshold).

    ``curves`` is :func:`~triage_ml.evaluation.metrics.precision_recall_by_label`, ``counts``
    gives each label's precision and recall at its threshold.
    """
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    shown = _first_labels(curves, max_labels)
    for i, (label, part) in enumerate(shown.groupby("label", sort=False)):
        color = _PALETTE[i % len(_PALETTE)]
        ax.plot(part["recall"], part["precision"], color=color, linewidth=1.6, label=label)
        op = counts[counts["label"] == label]
        if len(op) and not pd.isna(op["recall"].iloc[0]) and not pd.isna(op["precision"].iloc[0]):
            ax.plot(op["recall"].iloc[0], op["precision"].iloc[0], "o", color=color, ms=6)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall", fontsize=9)
    ax.set_ylabel("precision", fontsize=9)
    _style(ax, "Precision-recall (dot = chosen threshold)")
    if len(shown):
        ax.legend(fontsize=8, frameon=False, loc="lower left")
    return fig


def plot_calibration(
    table: pd.DataFrame, min_posts: int = 3, max_labels: int = MAX_LABELS
) -> Figure:
    """Reliability diagram: a well calibrated label follows the diagonal.

    ``table`` is :func:`~triage_ml.evaluation.metrics.calibration_by_label`; bins with fewer
    than ``min_posts`` posts are noise and left out.
    """
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=_MUTED, linestyle="--", linewidth=1, label="perfect")
    shown = _first_labels(table, max_labels)
    for i, (label, part) in enumerate(shown.groupby("label", sort=False)):
        part = part[part["posts"] >= min_posts]
        ax.plot(
            part["mean_probability"],
            part["observed_rate"],
            marker="o",
            ms=4,
            linewidth=1.4,
            color=_PALETTE[i % len(_PALETTE)],
            label=label,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("predicted probability", fontsize=9)
    ax.set_ylabel("share actually labelled", fontsize=9)
    _style(ax, f"Calibration (bins with {min_posts}+ posts)")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def plot_slices(slices: pd.DataFrame, overall: float | None = None) -> Figure:
    """Error rate per slice value with its 95% interval; the dashed line is the overall rate.

    One panel per slice (``slices["slice"]``, in table order), as
    :func:`triage_ml.review.slices.slice_error_rates` builds them.
    """
    from matplotlib.ticker import PercentFormatter

    names = list(pd.unique(slices["slice"]))
    tallest = max((int((slices["slice"] == s).sum()) for s in names), default=0)
    fig = _figure(10.0, 2.0 + 0.28 * tallest)
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    top = float(slices["error_rate_high"].max()) if len(slices) else 1.0
    for ax, name in zip(axes, names, strict=False):
        part = slices[slices["slice"] == name]
        y = np.arange(len(part))[::-1]
        rate = part["error_rate"].to_numpy(dtype=float)
        low = rate - part["error_rate_low"].to_numpy(dtype=float)
        high = part["error_rate_high"].to_numpy(dtype=float) - rate
        above = overall is not None and overall >= 0
        colors = [
            "#dc2626" if above and r > overall and lo > overall else "#60a5fa"
            for r, lo in zip(rate, part["error_rate_low"], strict=True)
        ]
        ax.barh(y, rate, color=colors, height=0.6)
        ax.errorbar(rate, y, xerr=[low, high], fmt="none", ecolor=_INK, elinewidth=0.8, capsize=2)
        labels = [f"{v} ({n})" for v, n in zip(part["value"], part["posts"], strict=True)]
        ax.set_yticks(y, labels, fontsize=7)
        if overall is not None:
            ax.axvline(overall, color=_INK, linestyle="--", linewidth=0.9)
        ax.set_xlim(0, min(1.0, max(top * 1.05, 0.05)))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        _style(ax, name)
    fig.suptitle(
        "Share of posts with a wrong label, by slice (posts in brackets; red = clearly above "
        "overall)",
        fontsize=10,
        color=_INK,
        x=0.01,
        ha="left",
    )
    return fig


def plot_urgency(points: pd.DataFrame, urgent_from: float = URGENT_FROM) -> Figure:
    """Recorded against predicted urgency; urgent posts below the diagonal were under-rated.

    ``points`` has ``urgency`` (recorded) and ``predicted_urgency``, one row per post.
    """
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    if len(points):
        under = (points["urgency"] >= urgent_from) & (
            points["predicted_urgency"] < points["urgency"] - 0.15
        )
        ax.scatter(
            points.loc[~under, "urgency"],
            points.loc[~under, "predicted_urgency"],
            s=9,
            alpha=0.45,
            color="#60a5fa",
            label="posts",
        )
        ax.scatter(
            points.loc[under, "urgency"],
            points.loc[under, "predicted_urgency"],
            s=16,
            color="#dc2626",
            label="urgent, under-rated by > 0.15",
        )
    ax.plot([0, 1], [0, 1], color=_MUTED, linestyle="--", linewidth=1)
    ax.axvspan(urgent_from, 1.0, color="#fee2e2", alpha=0.5, linewidth=0)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recorded urgency", fontsize=9)
    ax.set_ylabel("predicted urgency", fontsize=9)
    _style(ax, "Urgency: recorded vs predicted (shaded = urgent)")
    if len(points):
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def write_plots(preds: Predictions, truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Confusion, precision-recall and calibration plots of a scored batch as PNG files, plus
    urgency where at least three posts have a recorded urgency (``truth`` in ``preds`` order).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = preds.labels
    Y = label_matrix(truth, labels).astype(int)
    P = preds.probabilities
    counts = confusion_by_label(Y, preds.predicted, labels)
    figures = {
        "confusion": plot_confusion(counts),
        "precision_recall": plot_pr_curves(precision_recall_by_label(Y, P, labels), counts),
        "calibration": plot_calibration(calibration_by_label(Y, P, labels)),
    }
    true_u = truth["urgency"].to_numpy(dtype=float)
    has_u = ~np.isnan(true_u)
    if has_u.sum() >= 3:
        points = pd.DataFrame({"urgency": true_u[has_u], "predicted_urgency": preds.urgency[has_u]})
        figures["urgency"] = plot_urgency(points)
    written = []
    for name, fig in figures.items():
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=_PLOT_DPI, facecolor="white")
        written.append(path)
    return written
