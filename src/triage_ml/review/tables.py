"""Misclassification tables for analysts: a labelled batch scored once, then what the model
gets wrong on it: per-label confusion, precision-recall and calibration, the worst errors with
the terms that drove them, and urgent posts the model under-rated.

Everything here is a function from a scored batch to a DataFrame, so that the notebook,
``triage-ml review`` and its HTML report show the same tables. Explanations are the fitted
model's own arithmetic (:meth:`Triager.contributions`, the same numbers behind the ``reasons``
the API returns), never a post-hoc approximation. Texts leave masked
(:func:`~triage_ml.review.pii.mask_pii`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from triage_ml.contract.errors import DataError
from triage_ml.contract.labels import label_matrix
from triage_ml.decide.playbook import Playbook, prioritise
from triage_ml.decide.scoring import Predictions, score_posts
from triage_ml.evaluation.metrics import (
    URGENT_FROM,
    calibration_by_label,
    confusion_by_label,
    precision_recall_by_label,
)
from triage_ml.model.triager import REASONS_PER_LABEL, Triager
from triage_ml.review.pii import mask_pii
from triage_ml.store.bundle import Bundle

Progress = Callable[[str], None]

# --------------------------------------------------------------------------------------------
# scoring once for all tables


@dataclass
class ReviewData:
    """A labelled batch scored once, with what every review table needs.

    Built by :func:`prepare`; ``frame`` is canonical
    (:func:`~triage_ml.contract.validation.validate_posts`) and holds only labelled rows, ``Y``
    its indicator matrix, ``X`` the model's features.
    """

    frame: pd.DataFrame
    predictions: Predictions
    X: sparse.csr_matrix
    Y: np.ndarray
    triager: Triager
    playbook: Playbook

    @property
    def labels(self) -> list[str]:
        return list(self.triager.labels)

    @property
    def wrong(self) -> np.ndarray:
        """(n, k) bool: the label decisions that disagree with the recorded labels."""
        return self.predictions.predicted.astype(bool) != self.Y.astype(bool)


def prepare(
    bundle: Bundle,
    frame: pd.DataFrame,
    playbook: Playbook | None = None,
    now: pd.Timestamp | None = None,
) -> ReviewData:
    """Score labelled posts exactly as the API would
    (:func:`~triage_ml.decide.scoring.score_posts`).

    ``frame`` is a canonical frame; unlabelled rows are left out (there is nothing to compare
    them with).
    """
    labelled = frame[frame["labels"].notna()].reset_index(drop=True)
    if labelled.empty:
        raise DataError("no labelled posts to review: the 'labels' column is empty everywhere")
    playbook = playbook or bundle.playbook
    preds = score_posts(bundle, labelled, playbook, now=now, validated=True)
    X = bundle.triager.transform(labelled)
    Y = label_matrix(labelled, bundle.triager.labels).astype(int)
    return ReviewData(labelled, preds, X, Y, bundle.triager, playbook)


# --------------------------------------------------------------------------------------------
# the confusion picture


def label_summary(data: ReviewData) -> pd.DataFrame:
    """Per label: the 2x2 confusion counts, precision, recall, F1 (NaN where undefined) and the
    threshold used, with the batch's count of posts that need a human."""
    summary = confusion_by_label(data.Y, data.predictions.predicted, data.labels)
    for col in ("precision", "recall", "f1"):
        summary[col] = summary[col].round(3)
    summary["threshold"] = np.round(data.triager.thresholds_, 3)
    summary["needs_human"] = int(data.predictions.needs_human.sum())
    return summary


def pr_curves(data: ReviewData) -> pd.DataFrame:
    """Precision and recall at every threshold, per label (long form, for plotting)."""
    return precision_recall_by_label(data.Y, data.predictions.probabilities, data.labels)


def calibration_table(data: ReviewData, bins: int = 10) -> pd.DataFrame:
    """Observed rate of each label against its predicted probability, in equal-width bins."""
    return calibration_by_label(data.Y, data.predictions.probabilities, data.labels, bins)


# --------------------------------------------------------------------------------------------
# worst errors, with the terms that drove each decision


def label_string(labels: Sequence[str], row: np.ndarray) -> str:
    """The labels switched on in one indicator row, ``;``-joined as in the history."""
    return ";".join(lab for lab, on in zip(labels, row, strict=True) if on)


def _top_terms(
    contrib: sparse.csr_matrix, describe: Callable[[int, float], str], positive: bool, top: int
) -> str:
    """``signal (+weight)`` for the strongest same-signed contributions of one row, in the
    order, wording and rounding of :meth:`Triager.explain`."""
    values, cols = contrib.data, contrib.indices
    keep = values > 0 if positive else values < 0
    values, cols = values[keep], cols[keep]
    order = np.argsort(-values if positive else values)[:top]
    return ", ".join(
        f"{mask_pii(describe(int(cols[j])))} ({round(float(values[j]), 3):+g})" for j in order
    )


def evidence(
    triager: Triager,
    X: sparse.csr_matrix,
    rows: np.ndarray,
    label: int,
    top: int,
    posts: pd.DataFrame | None = None,
) -> tuple[list[str], list[str]]:
    """The terms for and against one label, per row: the fitted model's own contributions.

    For a predicted label of a linear model, the terms *for* it are exactly the API's
    ``reasons`` for it (pass the scored ``posts`` so author metadata reads as in the API, e.g.
    "author followers: 48k"). For an encoder model these are the terms of its linear half: the
    API explains that family by word occlusion.
    """
    X = sparse.csr_matrix(X)
    contrib = triager.contributions(X[rows], label)
    followers = None
    if posts is not None and "author_followers" in posts:
        followers = pd.to_numeric(posts["author_followers"], errors="coerce").to_numpy(float)
    pro, con = [], []
    for i, row in enumerate(rows):
        one = contrib[i]
        count = None if followers is None else followers[row]

        def describe(col: int, row=row, count=count) -> str:
            return triager.signal_text(col, X[row, col], count)

        pro.append(_top_terms(one, describe, True, top))
        con.append(_top_terms(one, describe, False, top))
    return pro, con


def worst_errors(
    data: ReviewData, top: int = 20, label: str | None = None, per_label: bool = False
) -> pd.DataFrame:
    """The most confident wrong label decisions, most confident first.

    One row per wrong (post, label) decision: a *false positive* (predicted, not labelled)
    ranks by its probability, a *false negative* (labelled, missed) by one minus it. In an
    exclusive label set each wrong post appears once, under the label that was predicted.
    ``per_label`` keeps the ``top`` worst of each label instead of the ``top`` overall.
    """
    labels = data.labels
    P = data.predictions.probabilities
    pred = data.predictions.predicted.astype(bool)
    wrong = data.wrong
    if data.triager.exclusive:
        wrong = wrong & pred
    if label is not None:
        if label not in labels:
            raise ValueError(f"unknown label {label!r}; the labels are {', '.join(labels)}")
        keep = np.zeros_like(wrong)
        keep[:, labels.index(label)] = True
        wrong = wrong & keep
    rows, ks = np.nonzero(wrong)
    confidence = np.where(pred[rows, ks], P[rows, ks], 1.0 - P[rows, ks])
    order = np.lexsort((rows, -confidence))
    rows, ks, confidence = rows[order], ks[order], confidence[order]
    if per_label:
        chosen = np.concatenate([np.flatnonzero(ks == k)[:top] for k in range(len(labels))])
        chosen = np.sort(chosen.astype(int))
    else:
        chosen = np.arange(min(top, len(rows)))
    rows, ks, confidence = rows[chosen], ks[chosen], confidence[chosen]

    pro: list[str] = [""] * len(rows)
    con: list[str] = [""] * len(rows)
    for k in np.unique(ks):
        at = np.flatnonzero(ks == k)
        p, c = evidence(data.triager, data.X, rows[at], int(k), REASONS_PER_LABEL, posts=data.frame)
        for j, i in enumerate(at):
            pro[i], con[i] = p[j], c[j]
    frame = data.frame
    out = pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[rows],
            "label": np.asarray(labels, dtype=object)[ks],
            "error": np.where(pred[rows, ks], "false positive", "false negative"),
            "probability": np.round(P[rows, ks], 3),
            "threshold": np.round(data.triager.thresholds_[ks], 3),
            "confidence": np.round(confidence, 3),
            "labels": [label_string(labels, data.Y[i].astype(bool)) for i in rows],
            "predicted_labels": [label_string(labels, pred[i]) for i in rows],
            "evidence_for": pro,
            "evidence_against": con,
            "text": mask_pii(frame["text"].iloc[rows].reset_index(drop=True)).to_numpy(),
            "channel": frame["channel"].to_numpy()[rows],
            "created_at": frame["created_at"].to_numpy()[rows],
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# slices
# --------------------------------------------------------------------------------------------
# urgency


def urgency_underestimates(
    data: ReviewData, top: int = 20, urgent_from: float = URGENT_FROM
) -> pd.DataFrame:
    """Urgent posts (recorded urgency >= ``urgent_from``) the model scored least urgent, with
    the tier they got and the tier their recorded urgency would have given (same predicted
    labels, same playbook), and the terms that raised and lowered the urgency score (the
    linear urgency model's own contributions)."""
    frame = data.frame
    true_u = frame["urgency"].to_numpy(dtype=float)
    pred_u = data.predictions.urgency
    urgent = np.flatnonzero(~np.isnan(true_u) & (true_u >= urgent_from))
    shortfall = true_u[urgent] - pred_u[urgent]
    order = np.lexsort((urgent, -shortfall))
    rows = urgent[order][:top]
    columns = [
        "id",
        "urgency",
        "predicted_urgency",
        "shortfall",
        "tier_given",
        "tier_if_recorded_urgency",
        "labels",
        "predicted_labels",
        "raised_by",
        "lowered_by",
        "text",
        "channel",
        "created_at",
    ]
    if rows.size == 0:
        return pd.DataFrame(columns=columns)
    pred = data.predictions.predicted.astype(bool)
    recorded = prioritise(
        data.playbook,
        data.labels,
        pred[rows],
        true_u[rows],
        frame["created_at"].iloc[rows].reset_index(drop=True),
    )
    triager = data.triager
    if triager.urgency_coef_ is not None:
        X = sparse.csr_matrix(data.X)
        contrib = X[rows].multiply(triager.urgency_coef_).tocsr()
        raised, lowered = [], []
        for i, row in enumerate(rows):

            def describe(col: int, row=row) -> str:
                return triager.signal_text(col, X[row, col])

            raised.append(_top_terms(contrib[i], describe, True, 3))
            lowered.append(_top_terms(contrib[i], describe, False, 3))
    else:
        raised = ["(no urgency model: urgency derived from label probabilities)"] * len(rows)
        lowered = [""] * len(rows)
    return pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[rows],
            "urgency": true_u[rows],
            "predicted_urgency": np.round(pred_u[rows], 3),
            "shortfall": np.round(true_u[rows] - pred_u[rows], 3),
            "tier_given": data.predictions.tier[rows].astype(str),
            "tier_if_recorded_urgency": recorded.tier.astype(str),
            "labels": [label_string(data.labels, data.Y[i].astype(bool)) for i in rows],
            "predicted_labels": [label_string(data.labels, pred[i]) for i in rows],
            "raised_by": raised,
            "lowered_by": lowered,
            "text": mask_pii(frame["text"].iloc[rows].reset_index(drop=True)).to_numpy(),
            "channel": frame["channel"].to_numpy()[rows],
            "created_at": frame["created_at"].to_numpy()[rows],
        },
        columns=columns,
    )


def urgency_points(data: ReviewData) -> pd.DataFrame:
    """Recorded against predicted urgency for every post that has one (for a scatter plot)."""
    true_u = data.frame["urgency"].to_numpy(dtype=float)
    has = ~np.isnan(true_u)
    return pd.DataFrame(
        {
            "id": data.frame["id"].to_numpy()[has],
            "urgency": true_u[has],
            "predicted_urgency": data.predictions.urgency[has],
        }
    )
