"""Suspected mislabelled rows: confident learning (cleanlab) on out-of-fold probabilities, so
that every labelled row of the history is judged by models that did not see it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from triage_ml._extras import require
from triage_ml.contract.errors import DataError
from triage_ml.contract.labels import label_matrix
from triage_ml.contract.params import Params
from triage_ml.model.triager import Triager
from triage_ml.review.pii import mask_pii
from triage_ml.review.tables import Progress, label_string


def out_of_fold_probabilities(
    triager: Triager, history: pd.DataFrame, params: Params, progress: Progress = lambda _: None
) -> np.ndarray:
    """Calibrated probabilities for every labelled row from linear models that did not see it.

    The recipe of training (:func:`triage_ml.model.train.fit`) on the bundle's fitted features:
    ``params.train.calibration.cv`` folds of the same linear models, then Platt scaling (or a
    softmax temperature) fitted on these out-of-fold scores, because a model trained on a
    smaller history is less sure of itself and the bundle's own calibration would not fit it.
    Far cheaper than refitting the whole pipeline per fold; the vocabulary was fitted on the
    whole history, a small optimism that does not change which rows look mislabelled.
    """
    from triage_ml.model.train import fit_platt, fit_temperature, out_of_fold_logits

    labelled = history[history["labels"].notna()].reset_index(drop=True)
    Y = label_matrix(labelled, triager.labels).astype(int)
    folds = params.train.calibration.cv
    positives = Y.sum(axis=0)
    too_few = [
        f"{lab} ({int(pos)} of {len(Y)})"
        for lab, pos in zip(triager.labels, positives, strict=True)
        if (pos < folds or len(Y) - pos < folds) and not (triager.exclusive and pos == 0)
    ]
    if too_few:
        raise DataError(
            f"too few examples for {folds}-fold out-of-fold scores: {', '.join(too_few)}; "
            f"every label needs at least {folds} posts with it and {folds} without it",
            column="labels",
        )
    progress("features")
    X = triager.transform(labelled)
    try:
        logits = out_of_fold_logits(X, Y, params, triager.exclusive, progress)
    except ValueError as err:  # a fold whose training part lacks a label
        raise DataError(
            f"out-of-fold scores failed ({err}); labels this rare cannot be checked",
            column="labels",
        ) from None
    if triager.exclusive:
        temperature = fit_temperature(logits, Y.argmax(axis=1))[0, 0]
        return softmax(logits / temperature, axis=1)
    platt = fit_platt(logits, Y)
    return expit(logits * platt[:, 0] + platt[:, 1])


def _cleanlab(Y: np.ndarray, proba: np.ndarray, exclusive: bool) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's label quality score per row (self-confidence adjusted for each label's base
    rate; lower is more suspect) and its confident-learning verdict (prune by noise rate)."""
    require("cleanlab", "review", "suspected mislabels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about tqdm widgets and tiny classes
        from cleanlab.filter import find_label_issues

        if exclusive:
            from cleanlab.rank import get_label_quality_scores

            given = Y.argmax(axis=1)
            quality = get_label_quality_scores(given, proba, adjust_pred_probs=True)
            return quality, find_label_issues(given, proba, n_jobs=1)
        from cleanlab.multilabel_classification import get_label_quality_scores

        given_sets = [list(np.flatnonzero(row)) for row in Y]
        quality = get_label_quality_scores(given_sets, proba, adjust_pred_probs=True)
        return quality, find_label_issues(given_sets, proba, multi_label=True, n_jobs=1)


def suspected_mislabels(
    history: pd.DataFrame,
    proba: np.ndarray,
    triager: Triager,
    top: int | None = 50,
) -> pd.DataFrame:
    """Labelled rows whose recorded labels the out-of-fold model most confidently disputes.

    Confident learning with cleanlab on out-of-fold probabilities
    (:func:`out_of_fold_probabilities`): ``label_quality`` is cleanlab's label quality score
    (lower is more suspect; it ranks the rows), ``cleanlab_issue`` its ``find_label_issues``
    verdict (multi-label unless the label set is exclusive). ``disputed`` names the label
    decision the model disagrees with most and its out-of-fold probability;
    ``suggested_labels`` is what the out-of-fold model predicts. ``top=None`` returns every
    labelled row, worst first.
    """
    labelled = history[history["labels"].notna()].reset_index(drop=True)
    labels = list(triager.labels)
    Y = label_matrix(labelled, labels).astype(int)
    if proba.shape != Y.shape:
        raise ValueError(
            f"probabilities have shape {proba.shape}, expected {Y.shape} (one row per labelled "
            "post, one column per label; see out_of_fold_probabilities)"
        )
    if triager.exclusive:
        worst = Y.argmax(axis=1)
        suggested = np.zeros_like(Y, dtype=bool)
        suggested[np.arange(len(Y)), proba.argmax(axis=1)] = True
    else:
        worst = np.where(Y == 1, proba, 1.0 - proba).argmin(axis=1)
        suggested = proba >= triager.thresholds_
    try:
        quality, flags = _cleanlab(Y, proba, triager.exclusive)
    except (ValueError, IndexError) as err:  # e.g. a label with no example in the history
        warnings.warn(
            f"cleanlab could not judge this history ({err}); ranking by self-confidence",
            stacklevel=2,
        )
        quality = np.where(Y == 1, proba, 1.0 - proba)[np.arange(len(Y)), worst]
        flags = np.zeros(len(Y), dtype=bool)

    names = np.asarray(labels, dtype=object)
    disputed = [
        f"{names[k]}: labelled, p={proba[i, k]:.2f}"
        if Y[i, k]
        else f"{names[k]}: not labelled, p={proba[i, k]:.2f}"
        for i, k in enumerate(worst)
    ]
    order = np.lexsort((np.arange(len(Y)), quality))
    if top is not None:
        order = order[:top]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "id": labelled["id"].to_numpy()[order],
            "labels": labelled["labels"].to_numpy()[order],
            "suggested_labels": [label_string(labels, suggested[i]) for i in order],
            "disputed": np.asarray(disputed, dtype=object)[order],
            "label_quality": np.round(quality[order], 4),
            "cleanlab_issue": flags[order].astype(bool),
        }
    )
    for k, label in enumerate(labels):
        out[f"p_{label}"] = np.round(proba[order, k], 3)
    out["text"] = mask_pii(labelled["text"].iloc[order].reset_index(drop=True)).to_numpy()
    out["channel"] = labelled["channel"].to_numpy()[order]
    return out
