"""Stacking the linear model and the fine-tuned encoder into one calibrated score.

The two models are combined by a small model fitted on scores that neither of them trained on:
the linear model's out-of-fold logits and the encoder's logits on a held-out share of the
training posts. Per label (multi-label): ``p = sigmoid(a * linear + b * encoder + c)`` with
``a, b >= 0``, which is at the same time the calibration (a logistic fit of three numbers).
For an exclusive label set: ``p = softmax(a * linear + b * encoder)``, ``a, b >= 0``, where the
two weights also play the part of the softmax temperature. Non-negative weights keep the stack
monotone in each model's score, so a word that raises either model's score never lowers the
stacked probability.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, log_softmax


def fit_stack(
    lin: np.ndarray,
    enc: np.ndarray,
    Y: np.ndarray,
    exclusive: bool,
    balanced: bool = False,
) -> np.ndarray:
    """Stack weights from held-out logits: ``(k, 3)`` rows of (a, b, c) per label, or
    ``(1, 2)`` (a, b) for an exclusive set. A tiny L2 penalty keeps separable labels finite.

    ``balanced`` (exclusive sets): each class weighs the same in the fit, as in the models'
    own training with ``class_weight: balanced``. The decision is the argmax, and the two
    weights move it: an unweighted fit on unbalanced classes would pull it back towards the
    frequent classes that the balanced models had moved away from."""
    lin, enc = np.asarray(lin, dtype=np.float64), np.asarray(enc, dtype=np.float64)
    if exclusive:
        y = Y.argmax(axis=1)
        rows = np.arange(len(y))
        counts = np.bincount(y, minlength=Y.shape[1]).astype(np.float64)
        sample_weight = 1.0 / counts[y] if balanced else np.ones(len(y))
        sample_weight /= sample_weight.sum()

        def nll_exclusive(w: np.ndarray) -> float:
            logp = log_softmax(w[0] * lin + w[1] * enc, axis=1)
            return -float(logp[rows, y] @ sample_weight) + 1e-4 * float(w @ w)

        best = minimize(
            nll_exclusive, x0=np.array([0.5, 0.5]), method="L-BFGS-B", bounds=[(0, None)] * 2
        )
        return best.x.reshape(1, 2)

    weights = np.zeros((Y.shape[1], 3))
    for k in range(Y.shape[1]):
        z = np.column_stack([lin[:, k], enc[:, k], np.ones(len(lin))])
        sign = np.where(Y[:, k] > 0, 1.0, -1.0)

        def nll(w: np.ndarray, z=z, sign=sign) -> float:
            return -float(log_expit(sign * (z @ w)).mean()) + 1e-4 * float(w[:2] @ w[:2])

        best = minimize(
            nll,
            x0=np.array([0.5, 0.5, 0.0]),
            method="L-BFGS-B",
            bounds=[(0, None)] * 2 + [(None, None)],
        )
        weights[k] = best.x
    return weights


def stack_logits(weights: np.ndarray, lin: np.ndarray, enc: np.ndarray) -> np.ndarray:
    """The stacked logits (before the sigmoid / softmax)."""
    if weights.shape[1] == 2:
        return weights[0, 0] * lin + weights[0, 1] * enc
    return lin * weights[:, 0] + enc * weights[:, 1] + weights[:, 2]


def stack_proba(weights: np.ndarray, lin: np.ndarray, enc: np.ndarray) -> np.ndarray:
    z = stack_logits(weights, lin, enc)
    if weights.shape[1] == 2:
        return np.exp(log_softmax(z, axis=1))
    return expit(z)


def fit_urgency_blend(linear: np.ndarray, encoder: np.ndarray, truth: np.ndarray) -> float:
    """Weight of the encoder's urgency head in ``(1 - w) * linear + w * encoder``, by least
    squares on held-out posts, within [0, 1]."""
    diff = encoder - linear
    denom = float(diff @ diff)
    if denom <= 1e-12:
        return 0.5
    return float(np.clip(((truth - linear) @ diff) / denom, 0.0, 1.0))
