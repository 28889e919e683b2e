"""Training: a validated history and parameters in, a fitted `Triager` out. No I/O here.

The recipe:
1. fit the feature pipeline (spaCy normaliser, word and character TF-IDF, metadata) once;
2. score every training post with a linear model that did not see it (``calibration.cv`` folds):
   these out-of-fold scores are the validation data for calibration and thresholds;
3. fit Platt scaling per label (or a softmax temperature for exclusive label sets) on them, and
   choose each label's threshold to maximise its F1 on them;
4. fit the final linear models on all training posts, and a ridge urgency model on the posts
   that have an urgency.

With ``train.model: encoder`` (:func:`_fit_encoder_stack`), a sentence encoder is fine-tuned on
most of the training posts (labels and urgency jointly); on the rest, which neither model
trained on, a small stack combines its logits with the linear model's out-of-fold logits and is
at the same time the calibration; thresholds are chosen there too. With
``train.encoder.cross_fit`` an ensemble's encoders each hold out their own share, and the stack
is fitted on every post some encoder held out. With ``train.encoder.distil`` one more encoder
learns from the ensemble's mean scores and is stored in its place.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit
from sklearn.svm import LinearSVC

from triage_ml.contract.labels import label_matrix
from triage_ml.contract.params import Params
from triage_ml.model.features import build_features
from triage_ml.model.language import history_languages
from triage_ml.model.triager import Triager

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def split_history(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Train / test split: the most recent posts are the test set when every row has a
    ``created_at`` (the model is judged on the future, as in production); otherwise a random
    split stratified on the label combination. Returns ``(train, test, how)``."""
    n_test = max(1, round(len(frame) * params.split.test_size))
    if frame["created_at"].notna().all():
        order = np.argsort(frame["created_at"].to_numpy(), kind="stable")
        test_idx, train_idx = order[-n_test:], order[:-n_test]
        how = "time-ordered (latest posts held out)"
    else:
        rng = np.random.default_rng(params.split.seed)
        strata = frame["labels"].fillna("").to_numpy()
        test_idx = []
        for value in np.unique(strata):
            members = np.flatnonzero(strata == value)
            take = round(len(members) * params.split.test_size)
            test_idx.extend(rng.choice(members, size=take, replace=False))
        test_idx = np.sort(np.asarray(test_idx, dtype=int))
        train_idx = np.setdiff1d(np.arange(len(frame)), test_idx)
        how = "stratified random"
    train = frame.iloc[np.sort(train_idx)].reset_index(drop=True)
    test = frame.iloc[np.sort(test_idx)].reset_index(drop=True)
    return train, test, how


def _linear_fit(X, y: np.ndarray, params: Params, multiclass: bool) -> LogisticRegression:
    clf = LogisticRegression(
        C=params.train.classifier.C,
        class_weight=params.train.classifier.class_weight,
        max_iter=params.train.classifier.max_iter,
        solver="lbfgs" if multiclass else "liblinear",
    )
    return clf.fit(X, y)


def _fit_multiclass(X, Y: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Softmax weights for an exclusive label set: ``(k, d)`` and ``(k,)``."""
    classifier = params.train.classifier
    if classifier.exclusive_solver == "linear_svc":
        clf = LinearSVC(C=classifier.C, class_weight=classifier.class_weight)
        clf.fit(X, Y.argmax(axis=1))
    else:
        clf = _linear_fit(X, Y.argmax(axis=1), params, multiclass=True)
    coef = np.zeros((Y.shape[1], X.shape[1]))
    intercept = np.full(Y.shape[1], -1e3)  # a label absent from a fold is never chosen
    coef[clf.classes_] = (
        clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
    )
    intercept[clf.classes_] = (
        clf.intercept_
        if len(clf.classes_) > 2
        else np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    )
    return coef, intercept


def _fit_binary(X, y: np.ndarray, params: Params) -> tuple[np.ndarray, float]:
    clf = _linear_fit(X, y, params, multiclass=False)
    return clf.coef_[0], float(clf.intercept_[0])


def _fit_all(
    X, Y: np.ndarray, splits: list[np.ndarray], params: Params, exclusive: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit one model per row subset in ``splits``, in parallel threads (liblinear and the
    sparse products release the GIL): ``[(coef (k, d), intercept (k,)), ...]``."""
    n_jobs = params.train.n_jobs
    if exclusive:
        jobs = [delayed(_fit_multiclass)(X[idx], Y[idx], params) for idx in splits]
        return Parallel(n_jobs=n_jobs, prefer="threads")(jobs)
    jobs = [
        delayed(_fit_binary)(X[idx], Y[idx, k], params) for idx in splits for k in range(Y.shape[1])
    ]
    flat = Parallel(n_jobs=n_jobs, prefer="threads")(jobs)
    k = Y.shape[1]
    return [
        (
            np.vstack([c for c, _ in flat[i * k : (i + 1) * k]]),
            np.array([b for _, b in flat[i * k : (i + 1) * k]]),
        )
        for i in range(len(splits))
    ]


def validation_folds(Y: np.ndarray, params: Params, exclusive: bool) -> list[tuple]:
    """``(fit rows, validation rows)`` pairs: stratified for one label or an exclusive set."""
    cv = params.train.calibration.cv
    holdout = params.train.calibration.holdout
    if exclusive and holdout and params.train.model == "linear":
        target = Y.argmax(axis=1)
        split = StratifiedShuffleSplit(1, test_size=holdout, random_state=0)
        return list(split.split(np.zeros(len(target)), target))
    if exclusive or Y.shape[1] == 1:
        target = Y.argmax(axis=1) if exclusive else Y[:, 0]
        min_class = np.bincount(target).min()
        folds = StratifiedKFold(min(cv, max(2, min_class)), shuffle=True, random_state=0)
        splits = folds.split(np.zeros(len(target)), target)
    else:
        splits = KFold(cv, shuffle=True, random_state=0).split(np.zeros(len(Y)))
    return list(splits)


def out_of_fold_logits(
    X, Y: np.ndarray, params: Params, exclusive: bool, progress: Progress = _quiet
) -> np.ndarray:
    """Logits for every row from a model trained on the other folds (validation scores)."""
    folds = validation_folds(Y, params, exclusive)
    progress(f"{len(folds)} validation folds")
    fitted = _fit_all(X, Y, [fit_idx for fit_idx, _ in folds], params, exclusive)
    return _assemble_out_of_fold(X, Y, folds, fitted)


def _assemble_out_of_fold(X, Y: np.ndarray, folds: list[tuple], fitted: list[tuple]) -> np.ndarray:
    """Each fold's held-out rows scored by the model fitted without them."""
    logits = np.zeros(Y.shape, dtype=float)
    for (_, val_idx), (coef, intercept) in zip(folds, fitted, strict=True):
        logits[val_idx] = np.asarray(X[val_idx] @ coef.T) + intercept
    return logits


def fit_platt(logits: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-label sigmoid calibration ``p = sigmoid(a * z + b)`` with ``a > 0``."""
    params = np.zeros((Y.shape[1], 2))
    for k in range(Y.shape[1]):
        lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
        lr.fit(logits[:, [k]], Y[:, k])
        slope = max(float(lr.coef_[0, 0]), 1e-3)  # keep it monotone increasing
        params[k] = (slope, float(lr.intercept_[0]))
    return params


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax temperature minimising the out-of-fold log loss."""

    def nll(t: float) -> float:
        logp = log_softmax(logits / t, axis=1)
        return -float(logp[np.arange(len(y)), y].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return np.array([[float(result.x)]])


def best_f1_thresholds(proba: np.ndarray, Y: np.ndarray, objective: str = "f1") -> np.ndarray:
    """For each label, the probability cut that maximises F1 on validation scores
    (``macro_f1``: the mean F1 of the positive and the negative side)."""
    thresholds = np.full(Y.shape[1], 0.5)
    for k in range(Y.shape[1]):
        order = np.argsort(-proba[:, k], kind="stable")
        p, y = proba[order, k], Y[order, k]
        tp = np.cumsum(y)
        fp = np.cumsum(1 - y)
        positives = y.sum()
        if positives == 0:
            continue
        f1 = 2 * tp / (tp + fp + positives)
        if objective == "macro_f1":
            fn = positives - tp
            tn = (len(y) - positives) - fp
            f1 = (f1 + 2 * tn / np.maximum(2 * tn + fn + fp, 1)) / 2
        # only cut between distinct scores
        distinct = np.r_[p[1:] != p[:-1], True]
        f1 = np.where(distinct, f1, -1)
        best = int(np.argmax(f1))
        nxt = p[best + 1] if best + 1 < len(p) else 0.0
        thresholds[k] = float((p[best] + nxt) / 2)
    return thresholds


def resolve_scale(n_rows: int, params: Params) -> str:
    """``in_memory`` or ``bounded``: how :func:`fit` trains on ``n_rows`` training rows.

    ``train.scale: auto`` is bounded above ``train.bounded.auto_rows`` rows for the linear
    family; the encoder family always trains in memory."""
    requested = params.train.scale
    if requested != "auto":
        return requested
    if params.train.model == "linear" and n_rows > params.train.bounded.auto_rows:
        return "bounded"
    return "in_memory"


def fit(frame: pd.DataFrame, params: Params, progress: Progress = _quiet) -> Triager:
    """Fit a Triager on a canonical, validated history (every row labelled).

    ``train.scale`` (:func:`resolve_scale`) chooses the in-memory fit or the bounded-memory
    one (:mod:`triage_ml.model.bounded`); ``triager.scale_`` records which, for the bundle."""
    if params.train.model == "encoder" and params.train.encoder.base_model is not None:
        from triage_ml.model.encoder.finetune import base_model_dir

        base_model_dir(params.train.encoder.base_model)  # a wrong folder fails before training
    mode = resolve_scale(len(frame), params)
    if mode == "bounded":
        from triage_ml.model.bounded import fit_bounded

        progress(
            f"bounded-memory training ({len(frame):,} posts, train.scale: {params.train.scale})"
        )
        triager = fit_bounded(frame, params, progress)
    else:
        triager = _fit_in_memory(frame, params, progress)
    triager.scale_ = {
        "mode": mode,
        "requested": params.train.scale,
        "rows": len(frame),
        "auto_rows": params.train.bounded.auto_rows,
    }
    return triager


def _fit_in_memory(frame: pd.DataFrame, params: Params, progress: Progress) -> Triager:
    labels = list(params.labels.names)
    exclusive = params.labels.exclusive
    Y = label_matrix(frame, labels).astype(int)

    progress("features")
    features = build_features(params.train.features, params.train.normaliser)
    X = sparse.csr_matrix(features.fit_transform(frame))
    feature_mean = np.asarray(X.mean(axis=0)).ravel()

    folds = validation_folds(Y, params, exclusive)
    progress(f"{len(folds)} validation folds and the final model")
    fitted = _fit_all(
        X, Y, [fit_idx for fit_idx, _ in folds] + [np.arange(len(Y))], params, exclusive
    )
    logits = _assemble_out_of_fold(X, Y, folds, fitted[:-1])
    coef, intercept = fitted[-1]
    if exclusive:
        validated = np.concatenate([val_idx for _, val_idx in folds])  # all rows, or a holdout
        calibration = fit_temperature(logits[validated], Y[validated].argmax(axis=1))
        thresholds = np.zeros(len(labels))
    else:
        calibration = fit_platt(logits, Y)
        proba = expit(logits * calibration[:, 0] + calibration[:, 1])
        thresholds = best_f1_thresholds(proba, Y, params.train.calibration.threshold_objective)

    urgency_coef, urgency_intercept = None, None
    has_urgency = frame["urgency"].notna().to_numpy()
    if has_urgency.sum() >= max(10, params.train.min_examples):
        progress("urgency model")
        ridge = Ridge(alpha=params.train.urgency.alpha)
        ridge.fit(X[has_urgency], frame["urgency"].to_numpy(dtype=float)[has_urgency])
        urgency_coef, urgency_intercept = ridge.coef_.astype(np.float64), float(ridge.intercept_)

    encoder_parts: dict = {}
    if params.train.model == "encoder":
        encoder_parts = _fit_encoder_stack(
            frame, X, Y, logits, params, exclusive, progress, calibration, thresholds
        )
        calibration, thresholds = encoder_parts.pop("calibration"), encoder_parts.pop("thresholds")
        if urgency_coef is None:
            encoder_parts["urgency_blend"] = None

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
        **encoder_parts,
    )


def holdout_split(Y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit rows, held-out rows)``: stratified on the label (or the label combination)."""
    from sklearn.model_selection import train_test_split

    strata = [";".join(map(str, row)) for row in Y.astype(int)]
    counts = pd.Series(strata).value_counts()
    rare = {s for s, c in counts.items() if c < 2}
    strata = ["rare" if s in rare else s for s in strata]
    try:
        fit_idx, held = train_test_split(
            np.arange(len(Y)), test_size=share, random_state=seed, stratify=strata
        )
    except ValueError:  # a combination too rare to stratify on
        fit_idx, held = train_test_split(np.arange(len(Y)), test_size=share, random_state=seed)
    return np.sort(fit_idx), np.sort(held)


def _fit_encoder_stack(
    frame: pd.DataFrame,
    X,
    Y: np.ndarray,
    linear_oof: np.ndarray,
    params: Params,
    exclusive: bool,
    progress: Progress,
    linear_calibration: np.ndarray,
    linear_thresholds: np.ndarray,
) -> dict:
    """Fine-tune the encoder on most training posts; fit the stack, its thresholds and the
    urgency blend on the held-out rest (scores neither model trained on).

    With ``train.encoder.cross_fit`` each of the ensemble's encoders holds out its own share,
    and the held-out rest is every post some encoder held out, scored by the encoders that held
    it out."""
    from triage_ml._extras import require

    require("torch", "finetune", "training the encoder model (train.model: encoder)")
    require("onnxruntime", "encoder", "scoring the encoder model")
    from triage_ml.model.encoder.ensemble import (
        distil_student,
        fine_tune_cross_fitted,
        fine_tune_members,
    )
    from triage_ml.model.encoder.finetune import EncoderSettings
    from triage_ml.model.encoder.inputs import encoder_meta, training_channels
    from triage_ml.model.encoder.runtime import EncoderRuntime
    from triage_ml.model.stack import fit_stack, fit_urgency_blend, stack_proba

    p = params.train.encoder
    holdout_seeds = [p.seed + k for k in range(p.ensemble)] if p.cross_fit else [p.seed]
    splits = [holdout_split(Y, p.holdout, seed) for seed in holdout_seeds]
    trained_on = np.unique(np.concatenate([fit_rows for fit_rows, _ in splits]))
    channels = training_channels(frame.iloc[trained_on])
    meta = encoder_meta(frame, channels)
    texts = frame["text"].astype(str).tolist()
    urgency = frame["urgency"].to_numpy(dtype=float)
    settings = EncoderSettings(
        epochs=p.epochs,
        lr=p.learning_rate,
        head_lr=p.head_learning_rate,
        batch_size=p.batch_size,
        max_length=p.max_length,
        seed=p.seed,
        threads=p.threads,
        urgency_weight=p.urgency_weight,
        device=None if p.device == "auto" else p.device,
        distil_weight=p.distil_weight,
        model_dir=p.base_model,
    )

    def distilled(
        rows: np.ndarray, teachers: tuple[bytes, str, dict], **options
    ) -> tuple[bytes, str, dict]:
        return distil_student(
            texts,
            meta,
            Y,
            urgency,
            rows=rows,
            teachers=teachers,
            exclusive=exclusive,
            label_names=list(params.labels.names),
            settings=settings,
            progress=progress,
            **options,
        )

    if p.cross_fit:
        progress(
            f"fine-tuning {p.ensemble} encoders, each holding out its own {p.holdout:.0%} "
            f"of {len(Y)} posts"
        )
        crossed = fine_tune_cross_fitted(
            texts,
            meta,
            Y,
            urgency,
            fit_rows=[fit_rows for fit_rows, _ in splits],
            exclusive=exclusive,
            label_names=list(params.labels.names),
            settings=settings,
            quantize=p.quantize,
            progress=progress,
        )
        onnx_bytes, tokenizer_json, config = (
            crossed.onnx_bytes,
            crossed.tokenizer_json,
            crossed.config,
        )
        held, encoded, encoded_urgency = crossed.held, crossed.logits, crossed.urgency
        if p.distil:
            # the student sees every post some member trained on: no post is left to score it
            # on, so the stack stays fitted on the members' held-out scores (those of members
            # trained without the post; the student learned the mean of all of them)
            onnx_bytes, tokenizer_json, config = distilled(
                trained_on,
                (onnx_bytes, tokenizer_json, config),
                stacked_on="the members' held-out scores (cross_fit)",
            )
        encoder = EncoderRuntime(onnx_bytes, tokenizer_json, config, threads=p.threads)
        if p.quantize:
            encoder = encoder.quantized()
    else:
        fit_idx, held = splits[0]
        what = "the encoder" if p.ensemble == 1 else f"{p.ensemble} encoders"
        progress(f"fine-tuning {what} on {len(fit_idx)} posts ({len(held)} held out)")
        onnx_bytes, tokenizer_json, config = fine_tune_members(
            [texts[i] for i in fit_idx],
            meta[fit_idx],
            Y[fit_idx],
            urgency[fit_idx],
            exclusive=exclusive,
            label_names=list(params.labels.names),
            settings=settings,
            members=p.ensemble,
            progress=progress,
        )
        if p.distil:
            # standardised as the members were: by the posts they trained on
            onnx_bytes, tokenizer_json, config = distilled(
                fit_idx, (onnx_bytes, tokenizer_json, config), meta_reference=meta[fit_idx]
            )
        encoder = EncoderRuntime(onnx_bytes, tokenizer_json, config, threads=p.threads)
        if p.quantize:
            encoder = encoder.quantized()
        encoded, encoded_urgency = encoder.logits([texts[i] for i in held], meta[held])

    progress(f"stacking the encoder with the linear model on {len(held)} held-out posts")
    balanced = params.train.classifier.class_weight == "balanced"
    stack = fit_stack(linear_oof[held], encoded, Y[held], exclusive, balanced)
    if exclusive:
        calibration, thresholds = np.array([[1.0]]), np.zeros(Y.shape[1])
    else:
        calibration = np.column_stack([np.ones(Y.shape[1]), np.zeros(Y.shape[1])])
        proba = stack_proba(stack, linear_oof[held], encoded)
        thresholds = best_f1_thresholds(
            proba, Y[held], params.train.calibration.threshold_objective
        )
        # a label too rare among the held-out posts to fit a stack on: the linear model
        # alone, with its own Platt scaling and threshold from all out-of-fold scores
        positives = Y[held].sum(axis=0)
        thin = (positives < 5) | (len(held) - positives < 5)
        stack[thin] = np.column_stack(
            [linear_calibration[thin, 0], np.zeros(thin.sum()), linear_calibration[thin, 1]]
        )
        thresholds[thin] = linear_thresholds[thin]

    blend = None
    known = ~np.isnan(urgency)
    held_known = held[known[held]]
    enough = all(known[fit_rows].sum() >= 10 for fit_rows, _ in splits)
    if enough and len(held_known) >= 5 and config.get("urgency_trained"):
        linear_urgency = _held_out_ridge(X, urgency, splits, held_known, params.train.urgency.alpha)
        where = np.flatnonzero(known[held])
        blend = fit_urgency_blend(linear_urgency, encoded_urgency[where], urgency[held_known])
    return {
        "encoder": encoder,
        "stack": stack,
        "encoder_channels": channels,
        "urgency_blend": blend,
        "calibration": calibration,
        "thresholds": thresholds,
    }


def _held_out_ridge(
    X, urgency: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, alpha
) -> np.ndarray:
    """The linear urgency of ``rows`` (known urgency, each held out by some split), each from
    the ridge fitted on the fit rows of the splits that held it out (their mean), in [0, 1]."""
    known = ~np.isnan(urgency)
    total, count = np.zeros(len(rows)), np.zeros(len(rows))
    for fit_rows, held_rows in splits:
        mine = np.isin(rows, held_rows)
        if not mine.any():
            continue
        fit_known = fit_rows[known[fit_rows]]
        ridge = Ridge(alpha=alpha).fit(X[fit_known], urgency[fit_known])
        total[mine] += np.clip(ridge.predict(X[rows[mine]]), 0, 1)
        count[mine] += 1
    return total / count
