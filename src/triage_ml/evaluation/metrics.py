"""Evaluation: how good the labels, the urgency and the inbox order are on held-out posts.

`evaluate` returns a JSON-ready dict (what ``metrics.json`` holds and ``dvc metrics diff``
compares); `write_plots` draws the pictures people look at (confusion, precision-recall,
calibration, urgency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    ndcg_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from triage_ml.contract.labels import label_matrix
from triage_ml.decide.scoring import Predictions


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, weighted by count."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / max(len(y), 1))


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def evaluate(preds: Predictions, truth: pd.DataFrame) -> dict:
    """Metrics of a scored batch against the labelled rows of ``truth`` (same order)."""
    labels = preds.labels
    Y = label_matrix(truth, labels).astype(int)
    P, Yhat = preds.probabilities, preds.predicted.astype(int)
    per_label = {}
    prec, rec, f1, support = precision_recall_fscore_support(Y, Yhat, zero_division=0)
    for k, lab in enumerate(labels):
        has_both = 0 < Y[:, k].sum() < len(Y)
        per_label[lab] = {
            "precision": _r(prec[k]),
            "recall": _r(rec[k]),
            "f1": _r(f1[k]),
            "support": int(support[k]),
            "pr_auc": _r(average_precision_score(Y[:, k], P[:, k])) if has_both else None,
            "brier": _r(np.mean((P[:, k] - Y[:, k]) ** 2)),
            "ece": _r(expected_calibration_error(Y[:, k], P[:, k])),
            "threshold_predicted_rate": _r(Yhat[:, k].mean()),
        }
    metrics: dict = {
        "n_posts": len(Y),
        "macro_f1": _r(f1_score(Y, Yhat, average="macro", zero_division=0)),
        "micro_f1": _r(f1_score(Y, Yhat, average="micro", zero_division=0)),
        "brier": _r(np.mean((P - Y) ** 2)),
        "ece": _r(expected_calibration_error(Y.ravel(), P.ravel())),
        "needs_human_rate": _r(preds.needs_human.mean()),
        "per_label": per_label,
    }
    if Y.sum(axis=1).max() <= 1 and Y.shape[1] > 1:
        metrics["accuracy"] = _r(accuracy_score(Y.argmax(axis=1), P.argmax(axis=1)))
    else:
        metrics["subset_accuracy"] = _r(float((Yhat == Y).all(axis=1).mean()))

    true_urgency = truth["urgency"].to_numpy(dtype=float)
    has_u = ~np.isnan(true_urgency)
    if has_u.sum() >= 3:
        u_true, u_pred = true_urgency[has_u], preds.urgency[has_u]
        rho = spearmanr(u_true, u_pred).statistic if np.std(u_pred) > 0 else float("nan")
        metrics["urgency"] = {
            "n_posts": int(has_u.sum()),
            "mae": _r(np.mean(np.abs(u_true - u_pred))),
            "spearman": _r(rho),
        }
        # inbox order: does sorting by priority put the truly urgent posts first?
        order_score = preds.score[has_u]
        metrics["priority"] = {
            "ndcg": _r(ndcg_score([u_true], [order_score])),
            "ndcg_at_50": _r(ndcg_score([u_true], [order_score], k=50)),
            "spearman_score_vs_true_urgency": _r(spearmanr(u_true, order_score).statistic),
        }
    return metrics


def summary_rows(metrics: dict) -> list[tuple[str, str]]:
    """The few numbers worth printing at the end of a run."""
    rows = [("posts evaluated", str(metrics["n_posts"])), ("macro-F1", str(metrics["macro_f1"]))]
    if "accuracy" in metrics:
        rows.append(("accuracy", str(metrics["accuracy"])))
    for lab, m in metrics["per_label"].items():
        rows.append((f"  {lab} F1 / PR-AUC", f"{m['f1']} / {m['pr_auc']}"))
    rows.append(("Brier / ECE", f"{metrics['brier']} / {metrics['ece']}"))
    if "urgency" in metrics:
        u = metrics["urgency"]
        rows.append(("urgency MAE / Spearman", f"{u['mae']} / {u['spearman']}"))
        rows.append(("priority NDCG", str(metrics["priority"]["ndcg"])))
    return rows


def write_plots(preds: Predictions, truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Confusion, precision-recall, calibration and urgency plots as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = preds.labels
    Y = label_matrix(truth, labels).astype(int)
    P, Yhat = preds.probabilities, preds.predicted.astype(int)
    written = []

    show = labels[:12]  # wide label sets (intents) get the first dozen in the per-label plots
    fig, axes = plt.subplots(1, len(show), figsize=(3 * len(show), 3), squeeze=False)
    for ax, lab in zip(axes[0], show, strict=False):
        k = labels.index(lab)
        cm = np.array(
            [[((Y[:, k] == t) & (Yhat[:, k] == p)).sum() for p in (0, 1)] for t in (0, 1)]
        )
        ax.imshow(cm, cmap="Blues")
        for (t, p), v in np.ndenumerate(cm):
            ax.text(
                p,
                t,
                str(v),
                ha="center",
                va="center",
                color="white" if v > cm.max() / 2 else "black",
            )
        ax.set_xticks([0, 1], ["no", "yes"])
        ax.set_yticks([0, 1], ["no", "yes"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(lab)
    fig.suptitle("Confusion per label")
    fig.tight_layout()
    written.append(out_dir / "confusion.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for lab in show:
        k = labels.index(lab)
        if 0 < Y[:, k].sum() < len(Y):
            prec, rec, _ = precision_recall_curve(Y[:, k], P[:, k])
            ax.plot(rec, prec, label=lab)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall per label")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(out_dir / "precision_recall.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    edges = np.linspace(0, 1, 11)
    for lab in show:
        k = labels.index(lab)
        which = np.clip(np.digitize(P[:, k], edges[1:-1]), 0, 9)
        xs, ys = [], []
        for b in range(10):
            mask = which == b
            if mask.sum() >= 5:
                xs.append(P[mask, k].mean())
                ys.append(Y[mask, k].mean())
        ax.plot(xs, ys, marker="o", label=lab)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(out_dir / "calibration.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)

    true_u = truth["urgency"].to_numpy(dtype=float)
    has_u = ~np.isnan(true_u)
    if has_u.sum() >= 3:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(true_u[has_u], preds.urgency[has_u], s=6, alpha=0.4)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("true urgency")
        ax.set_ylabel("predicted urgency")
        ax.set_title("Urgency")
        fig.tight_layout()
        written.append(out_dir / "urgency.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)
    return written
