"""The fitted triage model: features, linear label scores, calibration, thresholds, urgency.

A `Triager` is what training produces and what a bundle stores. It is linear on top of its
features on purpose: every label score is a sum of feature contributions, so the reasons shown
to people are the model's own arithmetic, not a post-hoc approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer

from triage_ml.model.fast_transform import NoFastPath, transform_fitted

REASONS_PER_LABEL = 3


def signal_name(feature: str) -> str:
    """A feature's name as people read it: the n-gram itself, ``~ngram~`` for character
    n-grams, or the metadata column (``author_followers``, ``channel=forum``)."""
    block, _, rest = feature.partition("__")
    if block == "text":
        kind, _, gram = rest.partition("__")
        return f"~{gram}~" if kind == "char" else gram
    if block == "embeddings":
        return f"sentence embedding {rest}"
    return rest or feature


@dataclass
class LabelScores:
    """Model output for a batch, before the playbook is applied."""

    probabilities: np.ndarray  # (n, k) calibrated
    predicted: np.ndarray  # (n, k) bool
    needs_human: np.ndarray  # (n,) bool
    urgency: np.ndarray | None  # (n,) learned urgency, None when no urgency model was trained
    reasons: list[list[dict]]  # per post: [{"label", "signal", "weight"}]


class Triager:
    """A fitted multi-label (or exclusive multiclass) post classifier with an urgency model.

    Built by :func:`triage_ml.train.fit`; use :meth:`score` on a canonical posts frame.

    Attributes
    ----------
    labels : the label set, in output order.
    exclusive : exactly one label per post (softmax) instead of independent labels.
    features : fitted ``ColumnTransformer`` from posts to a sparse matrix.
    coef_, intercept_ : linear label scores ``X @ coef_.T + intercept_`` (logits).
    calibration_ : ``(k, 2)`` Platt slope and offset per label, or ``(1, 1)`` softmax temperature.
    thresholds_ : per-label probability thresholds chosen on out-of-fold validation scores.
    abstain_band : width around a threshold inside which a post ``needs_human``.
    urgency_coef_, urgency_intercept_ : linear urgency model, ``None`` without urgency data.
    """

    def __init__(
        self,
        labels: list[str],
        exclusive: bool,
        features: ColumnTransformer,
        coef: np.ndarray,
        intercept: np.ndarray,
        calibration: np.ndarray,
        thresholds: np.ndarray,
        abstain_band: float,
        urgency_coef: np.ndarray | None = None,
        urgency_intercept: float | None = None,
    ):
        self.labels = list(labels)
        self.exclusive = exclusive
        self.features = features
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.calibration_ = np.asarray(calibration, dtype=np.float64)
        self.thresholds_ = np.asarray(thresholds, dtype=np.float64)
        self.abstain_band = float(abstain_band)
        self.urgency_coef_ = urgency_coef
        self.urgency_intercept_ = urgency_intercept
        self.feature_names_ = np.asarray(features.get_feature_names_out(), dtype=object)
        self.signals_ = np.array([signal_name(f) for f in self.feature_names_], dtype=object)

    # -- scores ----------------------------------------------------------------------------
    def transform(self, posts: pd.DataFrame) -> sparse.csr_matrix:
        """Features of a canonical posts frame (identical to ``features.transform``)."""
        try:
            return sparse.csr_matrix(transform_fitted(self.features, posts))
        except NoFastPath:
            return sparse.csr_matrix(self.features.transform(posts))

    def decision(self, X) -> np.ndarray:
        """Raw logits, one column per label."""
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Logits to probabilities; monotone per label, so reasons keep their direction."""
        if self.exclusive:
            return softmax(logits / self.calibration_[0, 0], axis=1)
        slope, offset = self.calibration_[:, 0], self.calibration_[:, 1]
        return expit(logits * slope + offset)

    def predict_proba(self, posts: pd.DataFrame) -> np.ndarray:
        return self.calibrate(self.decision(self.transform(posts)))

    def decide(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted labels and the abstain flag from calibrated probabilities."""
        if self.exclusive:
            top = proba.argmax(axis=1)
            predicted = np.zeros_like(proba, dtype=bool)
            predicted[np.arange(len(proba)), top] = True
            ordered = np.sort(proba, axis=1)
            margin = ordered[:, -1] - (ordered[:, -2] if proba.shape[1] > 1 else 0.0)
            return predicted, margin < 2 * self.abstain_band
        predicted = proba >= self.thresholds_
        unsure = np.abs(proba - self.thresholds_) < self.abstain_band
        return predicted, unsure.any(axis=1)

    def predict_urgency(self, X) -> np.ndarray | None:
        if self.urgency_coef_ is None:
            return None
        raw = np.asarray(X @ self.urgency_coef_).ravel() + self.urgency_intercept_
        return np.clip(raw, 0.0, 1.0)

    def contributions(self, X, label: int) -> sparse.csr_matrix:
        """Per-feature contributions to one label's logit: ``x_j * w_j`` (the model's own sum)."""
        return sparse.csr_matrix(X).multiply(self.coef_[label]).tocsr()

    def explain(self, X, predicted: np.ndarray, top: int = REASONS_PER_LABEL) -> list[list[dict]]:
        """The strongest positive contributions behind each predicted label."""
        X = sparse.csr_matrix(X)
        reasons: list[list[dict]] = [[] for _ in range(X.shape[0])]
        for k, label in enumerate(self.labels):
            rows = np.flatnonzero(predicted[:, k])
            if rows.size == 0:
                continue
            contrib = self.contributions(X[rows], k)
            for pos, row in enumerate(rows):
                start, end = contrib.indptr[pos], contrib.indptr[pos + 1]
                values, cols = contrib.data[start:end], contrib.indices[start:end]
                keep = values > 0
                values, cols = values[keep], cols[keep]
                order = np.argsort(-values)[:top]
                reasons[row].extend(
                    {
                        "label": label,
                        "signal": str(self.signals_[cols[j]]),
                        "weight": round(float(values[j]), 3),
                    }
                    for j in order
                )
        return reasons

    def score(self, posts: pd.DataFrame, with_reasons: bool = True) -> LabelScores:
        """Score a canonical posts frame (see :func:`triage_ml.data.validate_posts`)."""
        X = self.transform(posts)
        proba = self.calibrate(self.decision(X))
        predicted, unsure = self.decide(proba)
        reasons = self.explain(X, predicted) if with_reasons else [[] for _ in range(len(proba))]
        return LabelScores(proba, predicted, unsure, self.predict_urgency(X), reasons)
