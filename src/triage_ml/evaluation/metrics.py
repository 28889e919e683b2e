"""Evaluation: how good the labels, the urgency and the inbox order are on held-out posts.

`evaluate` returns a JSON-ready dict (what ``metrics.json`` holds and ``dvc metrics diff``
compares). The per-label tables below (confusion counts, precision-recall points, calibration
bins) are what the plots of :mod:`triage_ml.evaluation.plots` draw, for ``triage-ml train`` and
the review report alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    multilabel_confusion_matrix,
    ndcg_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from triage_ml.contract.columns import URGENCY_LEVELS
from triage_ml.contract.labels import label_matrix
from triage_ml.decide.scoring import Predictions

#: Urgency from which a post counts as urgent (the contract's ``high``).
URGENT_FROM = URGENCY_LEVELS["high"]


def equal_width_bins(p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The bin of each probability among ``bins`` equal-width bins of [0, 1], and the edges.

    Bins are closed on the left (0.1 falls in [0.1, 0.2)); the last one also holds 1.0, and
    values outside [0, 1] go to the nearest end bin.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(np.asarray(p, dtype=float), edges[1:-1]), 0, bins - 1)
    return which, edges


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, weighted by count."""
    which, _ = equal_width_bins(p, bins)
    # per bin, count * |mean(y) - mean(p)| = |sum(y) - sum(p)|
    gap = np.bincount(which, weights=np.asarray(y, dtype=float), minlength=bins)
    gap -= np.bincount(which, weights=np.asarray(p, dtype=float), minlength=bins)
    return float(np.abs(gap).sum() / max(len(y), 1))


def _per_label(Y: np.ndarray, Yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Targets and ``labels=`` for sklearn's per-label metrics of an (n, k) indicator matrix.

    sklearn reads a single column as a binary target with two classes (0 and 1), so a one-label
    set is passed as a vector, asking for class 1 only; wider sets are multilabel indicators.
    """
    Y, Yhat = np.asarray(Y, dtype=int), np.asarray(Yhat, dtype=int)
    if Y.shape[1] == 1:
        return Y[:, 0], Yhat[:, 0], [1]
    return Y, Yhat, list(range(Y.shape[1]))


def confusion_by_label(Y: np.ndarray, Yhat: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Per label: the 2x2 confusion counts, precision, recall and F1 (NaN where undefined, e.g.
    precision of a label never predicted)."""
    y_true, y_pred, which = _per_label(Y, Yhat)
    # (k, 2, 2): [[tn, fp], [fn, tp]] per label
    counts = multilabel_confusion_matrix(y_true, y_pred, labels=which)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=which, average=None, zero_division=np.nan
    )
    return pd.DataFrame(
        {
            "label": list(labels),
            "labelled": counts[:, 1, :].sum(axis=1),
            "predicted": counts[:, :, 1].sum(axis=1),
            "true_pos": counts[:, 1, 1],
            "false_pos": counts[:, 0, 1],
            "false_neg": counts[:, 1, 0],
            "true_neg": counts[:, 0, 0],
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )


def precision_recall_by_label(Y: np.ndarray, P: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Precision and recall at every threshold, per label (long form); labels that are present
    everywhere or nowhere have no curve."""
    parts = []
    for k, label in enumerate(labels):
        y = Y[:, k]
        if not 0 < y.sum() < len(y):
            continue
        precision, recall, thresholds = precision_recall_curve(y, P[:, k])
        parts.append(
            pd.DataFrame(
                {
                    "label": label,
                    "threshold": np.r_[thresholds, 1.0],
                    "precision": precision,
                    "recall": recall,
                }
            )
        )
    columns = ["label", "threshold", "precision", "recall"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def calibration_by_label(
    Y: np.ndarray, P: np.ndarray, labels: Sequence[str], bins: int = 10
) -> pd.DataFrame:
    """Observed rate of each label against its mean predicted probability, per equal-width bin
    (empty bins left out): the reliability diagram's points."""
    rows = []
    for k, label in enumerate(labels):
        which, edges = equal_width_bins(P[:, k], bins)
        posts = np.bincount(which, minlength=bins)
        prob = np.bincount(which, weights=P[:, k], minlength=bins)
        hits = np.bincount(which, weights=Y[:, k].astype(float), minlength=bins)
        for b in np.flatnonzero(posts):
            rows.append(
                {
                    "label": label,
                    "bin_low": edges[b],
                    "bin_high": edges[b + 1],
                    "posts": int(posts[b]),
                    "mean_probability": float(prob[b] / posts[b]),
                    "observed_rate": float(hits[b] / posts[b]),
                }
            )
    columns = ["label", "bin_low", "bin_high", "posts", "mean_probability", "observed_rate"]
    return pd.DataFrame(rows, columns=columns)


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def evaluate(preds: Predictions, truth: pd.DataFrame) -> dict:
    """Metrics of a scored batch against the labelled rows of ``truth`` (same order)."""
    labels = preds.labels
    Y = label_matrix(truth, labels).astype(int)
    P, Yhat = preds.probabilities, preds.predicted.astype(int)
    per_label = {}
    y_true, y_pred, which = _per_label(Y, Yhat)
    prec, rec, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=which, average=None, zero_division=0
    )
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
        "macro_f1": _r(f1_score(y_true, y_pred, labels=which, average="macro", zero_division=0)),
        "micro_f1": _r(f1_score(y_true, y_pred, labels=which, average="micro", zero_division=0)),
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
