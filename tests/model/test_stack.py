"""The stack of the linear model and the encoder: monotone weights, balanced when asked."""

from __future__ import annotations

import numpy as np

from triage_ml.model.stack import fit_stack, stack_proba


def _exclusive_case(rng: np.random.Generator):
    """Class 0 is frequent (90%). The 'linear' logits favour class 0 by a bias; the 'encoder'
    logits carry the signal without it, so the balanced decision leans on the encoder."""
    n = 600
    y = (rng.random(n) < 0.1).astype(int)
    signal = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.9, n)
    enc = np.column_stack([-signal, signal])
    lin = np.column_stack([np.full(n, 1.5), np.zeros(n)]) + rng.normal(0, 0.3, (n, 2))
    return lin, enc, np.eye(2)[y], y


def test_a_balanced_stack_finds_more_of_the_rare_class() -> None:
    lin, enc, Y, y = _exclusive_case(np.random.default_rng(0))
    plain = fit_stack(lin, enc, Y, exclusive=True)
    balanced = fit_stack(lin, enc, Y, exclusive=True, balanced=True)
    assert plain.shape == balanced.shape == (1, 2)
    assert (plain >= 0).all() and (balanced >= 0).all()
    # the balanced fit trusts the unbiased model more, relative to the biased one
    assert balanced[0, 1] / max(balanced[0, 0], 1e-9) > plain[0, 1] / max(plain[0, 0], 1e-9)

    def recall_rare(w: np.ndarray) -> float:
        predicted = stack_proba(w, lin, enc).argmax(axis=1)
        return float((predicted[y == 1] == 1).mean())

    assert recall_rare(balanced) > recall_rare(plain)


def test_without_imbalance_balancing_changes_little() -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    y[: n // 2], y[n // 2 :] = 0, 1  # exactly half and half
    enc = np.column_stack([-(2 * y - 1.0), 2 * y - 1.0]) + rng.normal(0, 1, (n, 2))
    lin = enc + rng.normal(0, 1, (n, 2))
    Y = np.eye(2)[y]
    np.testing.assert_allclose(
        fit_stack(lin, enc, Y, True), fit_stack(lin, enc, Y, True, balanced=True), atol=1e-4
    )
