"""Training with bounded memory (``train.scale: bounded``, or ``auto`` above a size).

The in-memory fit holds the whole feature matrix and fits exact logistic regressions on it
several times (folds and the final model, labels in parallel threads): its memory grows with
the history (1.9 GB at 20,000 posts, 6.9 GB at 80,000). Here nothing grows with the history but
the posts frame itself, the labels and one float per post and label of validation scores:

1. the feature pipeline (the same normaliser, word and character TF-IDF and metadata as in
   memory) is fitted on a random sample of the training posts (``bounded.vocabulary_rows``),
   each TF-IDF block capped at ``bounded.max_features`` terms, so the vocabulary is words and
   n-grams that people can read as reasons, never hash buckets;
2. the posts are turned into features ``bounded.chunk_rows`` at a time, in a random order, and
   each chunk is written to a temporary folder as float32 sparse arrays (read back once per
   pass: one chunk in memory at a time);
3. one logistic regression per label (``SGDClassifier(loss="log_loss")``: plain SGD, the
   "optimal" step size, the same L2 strength as ``classifier.C``) and the urgency regression
   (averaged ``SGDRegressor``, the ridge's ``urgency.alpha``) are fitted with ``partial_fit``,
   passes over the chunks in a shuffled order (:func:`sgd_passes`); the models that give
   validation scores are fitted in the same passes;
4. calibration (Platt per label, or the softmax temperature) and the thresholds are fitted on
   validation scores as in memory: out-of-fold over ``calibration.cv`` folds up to
   ``bounded.cv_max_rows`` training rows, else on the latest ``bounded.holdout`` share of them
   (time-ordered, as the test split) scored by a model that did not see it; that model is
   the final one (the slice, at most ``bounded.max_holdout_rows`` posts, only calibrates).

The calibration is then folded into the coefficients (:func:`fold_calibration`: the same
probabilities, reasons on the calibrated logit scale). The result is an ordinary
:class:`Triager` (the same features, coefficients and reasons), so
scoring, the bundle and the service do not know which path trained it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import KFold, StratifiedKFold

from triage_ml.contract.labels import label_matrix
from triage_ml.contract.params import Params
from triage_ml.model.fast_transform import NoFastPath, transform_fitted
from triage_ml.model.features import build_features
from triage_ml.model.language import history_languages
from triage_ml.model.triager import Triager

Progress = Callable[[str], None]

#: Validation fold of a row that only the final model trains on.
NOT_HELD_OUT = -1


def _quiet(_: str) -> None:
    pass


def fit_bounded(frame: pd.DataFrame, params: Params, progress: Progress = _quiet) -> Triager:
    """Fit a linear-family `Triager` on a canonical, labelled history with bounded memory."""
    from triage_ml.model.train import best_f1_thresholds, fit_platt, fit_temperature

    if params.train.model != "linear":
        raise ValueError(
            "train.scale: bounded trains the linear family only; the encoder family trains "
            "in memory (train.scale: in_memory or auto)"
        )
    b = params.train.bounded
    labels = list(params.labels.names)
    exclusive = params.labels.exclusive
    Y = label_matrix(frame, labels)
    n = len(frame)
    rng = np.random.default_rng(b.seed)

    sample = np.sort(rng.choice(n, size=min(n, b.vocabulary_rows), replace=False))
    progress(f"vocabulary from {len(sample):,} of {n:,} posts")
    features = build_features(_capped(params), params.train.normaliser)
    features.fit(frame.iloc[sample])
    _drop_pruned_terms(features)

    fold = validation_fold(frame, Y, params, exclusive)
    n_folds = int(fold.max()) + 1
    urgency = frame["urgency"].to_numpy(dtype=float)
    has_urgency = ~np.isnan(urgency)
    fit_urgency = has_urgency.sum() >= max(10, params.train.min_examples)

    order = rng.permutation(n)
    chunks = np.array_split(order, max(1, math.ceil(n / b.chunk_rows)))
    with tempfile.TemporaryDirectory(prefix="triage-bounded-") as tmp:
        store = _ChunkStore(Path(tmp))
        total = None
        for i, rows in enumerate(chunks):
            progress(f"features: chunk {i + 1} of {len(chunks)} ({len(rows):,} posts)")
            X = _transform(features, frame.iloc[rows])
            col_sum = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel()
            total = col_sum if total is None else total + col_sum
            store.put(i, X)
        feature_mean = total / n

        passes = sgd_passes(n, params)
        models = _Models(Y, fold, n_folds, urgency if fit_urgency else None, params, passes)
        for epoch in range(passes):
            progress(f"SGD pass {epoch + 1} of {passes} over {len(chunks)} chunks")
            for i in rng.permutation(len(chunks)):
                models.partial_fit(store.get(i), chunks[i])

        progress("validation scores, calibration and thresholds")
        held = np.flatnonzero(fold != NOT_HELD_OUT)
        logits = np.zeros((n, len(labels)))
        for i, rows in enumerate(chunks):
            logits[rows] = models.validation_logits(store.get(i), fold[rows])
    logits, Yv = logits[held], Y[held].astype(int)
    if exclusive:
        calibration = fit_temperature(logits, Yv.argmax(axis=1))
        thresholds = np.zeros(len(labels))
    else:
        calibration = fit_platt(logits, Yv)
        proba = expit(logits * calibration[:, 0] + calibration[:, 1])
        thresholds = best_f1_thresholds(proba, Yv, params.train.calibration.threshold_objective)

    coef, intercept, calibration = fold_calibration(*models.final(), calibration, exclusive)
    urgency_coef, urgency_intercept = models.final_urgency()
    return Triager(
        labels=labels,
        exclusive=exclusive,
        features=features,
        coef=coef,
        intercept=intercept,
        calibration=calibration,
        thresholds=thresholds,
        abstain_band=params.train.calibration.abstain_band,
        urgency_coef=urgency_coef,
        urgency_intercept=urgency_intercept,
        feature_mean=feature_mean,
        language=history_languages(frame["text"].astype(str).tolist()),
    )


def fold_calibration(
    coef: np.ndarray, intercept: np.ndarray, calibration: np.ndarray, exclusive: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same probabilities with the calibration folded into the linear model.

    Weakly regularised SGD stops far from the exact solution's scale (logits tens of times
    larger, and a Platt slope of about 0.02 to bring them back); reasons are contributions to
    the logit, so they would read as weights of 50 or 100 where the in-memory model says 1 or 2.
    ``sigmoid(a * (x @ w + c) + b) == sigmoid(x @ (a * w) + (a * c + b))`` (and ``softmax(z / T)``
    likewise), so the coefficients are rescaled and the calibration becomes the identity."""
    if exclusive:
        temperature = float(calibration[0, 0])
        return coef / temperature, intercept / temperature, np.array([[1.0]])
    slope, offset = calibration[:, 0], calibration[:, 1]
    identity = np.column_stack([np.ones(len(slope)), np.zeros(len(slope))])
    return coef * slope[:, None], intercept * slope + offset, identity


def sgd_passes(n_rows: int, params: Params) -> int:
    """Passes over the chunks: at least ``bounded.epochs``, and enough for every model to take
    ``bounded.min_updates`` SGD steps (a small history needs many passes to converge; a large
    one converges in a few)."""
    b = params.train.bounded
    return max(b.epochs, math.ceil(b.min_updates / max(n_rows, 1)))


def _capped(params: Params):
    """The feature settings with each TF-IDF block capped at ``bounded.max_features`` terms."""
    features = params.train.features
    cap = params.train.bounded.max_features
    if cap is None or (features.max_features is not None and features.max_features <= cap):
        return features
    return features.model_copy(update={"max_features": cap})


def _drop_pruned_terms(step) -> None:
    """Forget the terms a capped TF-IDF block left out (``stop_words_``, kept only for
    inspection; millions of strings at scale)."""
    if isinstance(step, TfidfVectorizer):
        if hasattr(step, "stop_words_"):
            del step.stop_words_
        return
    if isinstance(step, ColumnTransformer):
        inner = [t for _, t, _ in step.transformers_]
    else:
        inner = [t for _, t in getattr(step, "steps", getattr(step, "transformer_list", []))]
    for t in inner:
        if not isinstance(t, str):
            _drop_pruned_terms(t)


def _transform(features: ColumnTransformer, posts: pd.DataFrame) -> sparse.csr_matrix:
    try:
        X = transform_fitted(features, posts)
    except NoFastPath:
        X = features.transform(posts)
    X = sparse.csr_matrix(X, dtype=np.float32)
    X.sort_indices()
    return X


def validation_fold(
    frame: pd.DataFrame, Y: np.ndarray, params: Params, exclusive: bool
) -> np.ndarray:
    """Per training row, the validation fold it is held out in (``NOT_HELD_OUT``: none).

    Up to ``bounded.cv_max_rows`` rows: every row, in ``calibration.cv`` folds (stratified for
    one label or an exclusive set, as in memory). Above: one fold, the latest
    ``bounded.holdout`` share (at most ``bounded.max_holdout_rows``) by ``created_at``, or a
    random share when some posts have no time.
    """
    b = params.train.bounded
    n = len(frame)
    fold = np.full(n, NOT_HELD_OUT, dtype=np.int16)
    if n <= b.cv_max_rows:
        cv = params.train.calibration.cv
        if exclusive or Y.shape[1] == 1:
            target = Y.argmax(axis=1) if exclusive else Y[:, 0]
            min_class = np.bincount(target).min()
            splitter = StratifiedKFold(min(cv, max(2, min_class)), shuffle=True, random_state=0)
            splits = splitter.split(np.zeros(n), target)
        else:
            splits = KFold(cv, shuffle=True, random_state=0).split(np.zeros(n))
        for f, (_, val_idx) in enumerate(splits):
            fold[val_idx] = f
        return fold
    size = min(b.max_holdout_rows, max(1, round(n * b.holdout)))
    if frame["created_at"].notna().all():
        order = np.argsort(frame["created_at"].to_numpy(), kind="stable")
        fold[order[-size:]] = 0
    else:
        rng = np.random.default_rng(b.seed + 1)
        fold[rng.choice(n, size=size, replace=False)] = 0
    return fold


class _ChunkStore:
    """Feature chunks as uncompressed ``.npz`` files (float32 values, int32 columns)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.shapes: dict[int, tuple[int, int]] = {}

    def put(self, i: int, X: sparse.csr_matrix) -> None:
        np.savez(
            self.folder / f"chunk-{i:06d}.npz",
            data=X.data.astype(np.float32, copy=False),
            indices=X.indices.astype(np.int32, copy=False),
            indptr=X.indptr.astype(np.int64, copy=False),
        )
        self.shapes[i] = X.shape

    def get(self, i: int) -> sparse.csr_matrix:
        with np.load(self.folder / f"chunk-{i:06d}.npz") as z:
            return sparse.csr_matrix(
                (z["data"], z["indices"], z["indptr"]), shape=self.shapes[i], copy=False
            )


class _Models:
    """The SGD models fitted in the same passes: per validation fold (trained without that
    fold's rows) and the final one (all rows), one binary logistic model per label, and the
    final urgency regression."""

    def __init__(
        self,
        Y: np.ndarray,
        fold: np.ndarray,
        n_folds: int,
        urgency: np.ndarray | None,
        params: Params,
        passes: int,
    ):
        self.Y = Y
        self.fold = fold
        self.urgency = urgency
        self.n_jobs = params.train.n_jobs
        classifier = params.train.classifier
        n = len(Y)
        # with one held-out slice (a large history) the model that scores it is also the final
        # model: the slice serves calibration and thresholds only, and SGD runs once
        self.final_is_validation = bool((fold == NOT_HELD_OUT).any())
        # the L2 strength of LogisticRegression(C): C * sum(loss) + |w|^2 / 2, i.e. the mean
        # loss + alpha |w|^2 / 2 with alpha = 1 / (C * rows)
        sizes = [int((fold != f).sum()) for f in range(n_folds)]
        if not self.final_is_validation:
            sizes.append(n)
        self.models = [
            [
                SGDClassifier(
                    loss="log_loss",
                    alpha=1.0 / (classifier.C * rows),
                    # the mean of the iterates of the second half of the passes: the last
                    # iterate of plain SGD jitters, and the calibration fitted on one model's
                    # scores must carry over to another's
                    average=max(1, rows * passes // 2),
                    class_weight=_class_weight(Y[:, k], classifier.class_weight),
                    random_state=params.train.bounded.seed,
                )
                for k in range(Y.shape[1])
            ]
            for rows in sizes
        ]
        self.regressor = None
        if urgency is not None:
            known = int((~np.isnan(urgency)).sum())
            self.regressor = SGDRegressor(
                alpha=params.train.urgency.alpha / known,
                average=True,
                random_state=params.train.bounded.seed,
            )

    def partial_fit(self, X: sparse.csr_matrix, rows: np.ndarray) -> None:
        """One SGD step group on a chunk (``rows``: the chunk's row numbers in the history)."""
        Y, fold = self.Y[rows], self.fold[rows]
        n_folds = len(self.models) - (0 if self.final_is_validation else 1)
        jobs = []
        for f, per_label in enumerate(self.models):
            final = f == n_folds and not self.final_is_validation
            keep = slice(None) if final else np.flatnonzero(fold != f)
            Xf, Yf = (X, Y) if final else (X[keep], Y[keep])
            if Xf.shape[0] == 0:
                continue
            for k, model in enumerate(per_label):
                jobs.append(delayed(_step)(model, Xf, Yf[:, k]))
        if self.regressor is not None:
            target = self.urgency[rows]
            known = np.flatnonzero(~np.isnan(target))
            if known.size:
                jobs.append(delayed(_step_regressor)(self.regressor, X[known], target[known]))
        Parallel(n_jobs=self.n_jobs, prefer="threads")(jobs)  # the SGD loop releases the GIL

    def validation_logits(self, X: sparse.csr_matrix, fold: np.ndarray) -> np.ndarray:
        """Logits of a chunk's held-out rows from the fold model that did not see them."""
        out = np.zeros((X.shape[0], self.Y.shape[1]))
        n_folds = len(self.models) - (0 if self.final_is_validation else 1)
        for f, per_label in enumerate(self.models[:n_folds]):
            rows = np.flatnonzero(fold == f)
            if rows.size:
                out[rows] = np.column_stack([_logit(m, X[rows]) for m in per_label])
        return out

    def final(self) -> tuple[np.ndarray, np.ndarray]:
        per_label = self.models[-1]
        coef = np.vstack([m.coef_[0] for m in per_label]).astype(np.float64)
        return coef, np.array([float(m.intercept_[0]) for m in per_label])

    def final_urgency(self) -> tuple[np.ndarray | None, float | None]:
        if self.regressor is None or not hasattr(self.regressor, "coef_"):
            return None, None
        return self.regressor.coef_.astype(np.float64), float(self.regressor.intercept_[0])


def _class_weight(y: np.ndarray, setting: str | None) -> dict[int, float] | None:
    """``balanced`` as scikit-learn computes it, from the whole history's counts
    (``partial_fit`` cannot compute it from one chunk)."""
    if setting != "balanced":
        return None
    counts = np.bincount(y.astype(int), minlength=2).astype(float)
    return {c: len(y) / (2 * max(counts[c], 1.0)) for c in (0, 1)}


def _step(model: SGDClassifier, X, y: np.ndarray) -> None:
    model.partial_fit(X, y, classes=np.array([0, 1]))


def _step_regressor(model: SGDRegressor, X, y: np.ndarray) -> None:
    model.partial_fit(X, y)


def _logit(model: SGDClassifier, X) -> np.ndarray:
    if not hasattr(model, "coef_"):  # never saw a row (an empty fold): no evidence
        return np.zeros(X.shape[0])
    return np.asarray(X @ model.coef_[0].astype(np.float64)).ravel() + float(model.intercept_[0])
