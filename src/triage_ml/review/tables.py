"""Misclassification review for analysts: what the model gets wrong, where, and which labels in
the history are themselves suspect.

Everything here is a function from a scored batch (or a history) to a DataFrame, so that the
notebook, ``triage-ml review`` and its HTML report show the same tables. Explanations are the
fitted model's own arithmetic (:meth:`Triager.contributions`, the same numbers behind the
``reasons`` the API returns), never a post-hoc approximation.

Texts leave this module masked (:func:`mask_pii`): e-mail addresses, phone numbers and card
numbers found in posts are never shown or exported. Corrections are imported back by id and
never carry text, so masking loses nothing from the history.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from triage_ml.contract.columns import URGENCY_LEVELS
from triage_ml.contract.digest import fingerprint
from triage_ml.contract.errors import DataError
from triage_ml.contract.labels import label_matrix
from triage_ml.contract.params import Params
from triage_ml.contract.validation import validate_posts
from triage_ml.decide.playbook import Playbook, prioritise
from triage_ml.decide.scoring import Predictions, score_posts
from triage_ml.model.triager import REASONS_PER_LABEL, Triager
from triage_ml.store.bundle import PARAMS_FILE, Bundle

Progress = Callable[[str], None]

#: Urgency from which a post counts as urgent (the contract's ``high``).
URGENT_FROM = URGENCY_LEVELS["high"]

# --------------------------------------------------------------------------------------------
# PII masking

EMAIL_MASK, PHONE_MASK, CARD_MASK = "[email]", "[phone]", "[card]"

_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
    # obfuscated: jane.doe [at] mail [dot] com, jane (at) mail.com, jane at mail dot com
    r"|[A-Za-z0-9._%+\-]+\s*[\[({]\s*at\s*[\])}]\s*[A-Za-z0-9\-]+"
    r"(?:\s*(?:[\[({]\s*dot\s*[\])}]|\.)\s*[A-Za-z0-9\-]+)+"
    r"|\b[A-Za-z0-9._%+\-]+(?:\s+dot\s+[A-Za-z0-9._%+\-]+)*\s+at\s+[A-Za-z0-9\-]+"
    r"(?:\s+dot\s+[A-Za-z0-9\-]+)+",
    re.IGNORECASE,
)
# 13-19 digits, optionally grouped by single spaces or dashes (Luhn is not checked: a mistyped
# card number is still a card number)
_CARD = re.compile(r"(?<![\d#])(?:\d[ \-]?){12,18}\d(?!\d)")
_PHONE = re.compile(
    # +44 20 7946 0958, +1 (555) 123-4567, +33612345678
    r"(?<![\w#])\+\d{1,3}[\s.\-]?(?:\(\d{1,5}\)[\s.\-]?)?\d(?:[\s.\-]?\d){5,12}(?!\d)"
    # (555) 123-4567, 555-123-4567, 555.123.4567, 020 7946 0958, 07700 900123
    r"|(?<![\w#])(?:\(\d{2,5}\)\s?|\d{2,5}[\s.\-])\d{3,4}[\s.\-]?\d{3,4}(?!\d)"
    # 07700900123, 0612345678: national numbers written without separators
    r"|(?<![\w#])0\d{9,10}(?!\d)"
)


def mask_pii(text: pd.Series | str) -> pd.Series | str:
    """Replace e-mail addresses, card numbers and phone numbers with ``[email]``, ``[card]``,
    ``[phone]``: review tables and exports are read by people who must not see them.

    Cards are masked before phones so that a grouped card number is never half-masked.
    """
    if isinstance(text, str):
        return _PHONE.sub(PHONE_MASK, _CARD.sub(CARD_MASK, _EMAIL.sub(EMAIL_MASK, text)))
    out = pd.Series(text, dtype=object).astype(object)
    present = out.notna()
    masked = (
        out[present]
        .astype(str)
        .str.replace(_EMAIL, EMAIL_MASK, regex=True)
        .str.replace(_CARD, CARD_MASK, regex=True)
        .str.replace(_PHONE, PHONE_MASK, regex=True)
    )
    out[present] = masked
    return out


# --------------------------------------------------------------------------------------------
# scoring once for all tables


@dataclass
class ReviewData:
    """A labelled batch scored once, with what every review table needs.

    Built by :func:`prepare`; ``frame`` is canonical (see :func:`triage_ml.data.validate_posts`)
    and holds only labelled rows, ``Y`` its indicator matrix, ``X`` the model's features.
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
    """Score labelled posts exactly as the API would (:func:`triage_ml.predict.score_posts`).

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
    """Per label: the 2x2 confusion counts, precision, recall, F1 and the threshold used."""
    Y = data.Y.astype(bool)
    P = data.predictions.predicted.astype(bool)
    tp = (Y & P).sum(axis=0)
    fp = (~Y & P).sum(axis=0)
    fn = (Y & ~P).sum(axis=0)
    tn = (~Y & ~P).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return pd.DataFrame(
        {
            "label": data.labels,
            "labelled": Y.sum(axis=0),
            "predicted": P.sum(axis=0),
            "true_pos": tp,
            "false_pos": fp,
            "false_neg": fn,
            "true_neg": tn,
            "precision": np.round(precision, 3),
            "recall": np.round(recall, 3),
            "f1": np.round(f1, 3),
            "threshold": np.round(data.triager.thresholds_, 3),
            "needs_human": int(data.predictions.needs_human.sum()),
        }
    )


def pr_curves(data: ReviewData) -> pd.DataFrame:
    """Precision and recall at every threshold, per label (long form, for plotting)."""
    from sklearn.metrics import precision_recall_curve

    parts = []
    for k, label in enumerate(data.labels):
        y = data.Y[:, k]
        if not 0 < y.sum() < len(y):
            continue
        precision, recall, thresholds = precision_recall_curve(
            y, data.predictions.probabilities[:, k]
        )
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


def calibration_table(data: ReviewData, bins: int = 10) -> pd.DataFrame:
    """Observed rate of each label against its predicted probability, in equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for k, label in enumerate(data.labels):
        p = data.predictions.probabilities[:, k]
        which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
        for b in range(bins):
            mask = which == b
            if mask.any():
                rows.append(
                    {
                        "label": label,
                        "bin_low": edges[b],
                        "bin_high": edges[b + 1],
                        "posts": int(mask.sum()),
                        "mean_probability": float(p[mask].mean()),
                        "observed_rate": float(data.Y[mask, k].mean()),
                    }
                )
    columns = ["label", "bin_low", "bin_high", "posts", "mean_probability", "observed_rate"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# worst errors, with the terms that drove each decision


def _joined(labels: Sequence[str], row: np.ndarray) -> str:
    return ";".join(lab for lab, on in zip(labels, row, strict=True) if on)


def _top_terms(contrib: sparse.csr_matrix, signals: np.ndarray, positive: bool, top: int) -> str:
    """``signal (+weight)`` for the strongest same-signed contributions of one row, in the
    order and rounding of :meth:`Triager.explain`."""
    values, cols = contrib.data, contrib.indices
    keep = values > 0 if positive else values < 0
    values, cols = values[keep], cols[keep]
    order = np.argsort(-values if positive else values)[:top]
    return ", ".join(
        f"{mask_pii(str(signals[cols[j]]))} ({round(float(values[j]), 3):+g})" for j in order
    )


def evidence(
    triager: Triager, X: sparse.csr_matrix, rows: np.ndarray, label: int, top: int
) -> tuple[list[str], list[str]]:
    """The terms for and against one label, per row: the fitted model's own contributions.

    For a predicted label, the terms *for* it are exactly the API's ``reasons`` for it.
    """
    contrib = triager.contributions(sparse.csr_matrix(X)[rows], label)
    pro, con = [], []
    for i in range(contrib.shape[0]):
        one = contrib[i]
        pro.append(_top_terms(one, triager.signals_, True, top))
        con.append(_top_terms(one, triager.signals_, False, top))
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
        p, c = evidence(data.triager, data.X, rows[at], int(k), REASONS_PER_LABEL)
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
            "labels": [_joined(labels, data.Y[i].astype(bool)) for i in rows],
            "predicted_labels": [_joined(labels, pred[i]) for i in rows],
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

_FOLLOWER_EDGES = [0, 1_000, 10_000, 100_000, 1_000_000, np.inf]
_FOLLOWER_NAMES = ["<1k", "1k-10k", "10k-100k", "100k-1M", "1M+"]
_LENGTH_EDGES = [0, 80, 160, 280, np.inf]
_LENGTH_NAMES = ["<80 chars", "80-159 chars", "160-279 chars", "280+ chars"]


def follower_tier(followers: pd.Series) -> pd.Series:
    """Author reach in tiers people use (<1k ... 1M+); ``unknown`` where it is missing."""
    values = pd.to_numeric(followers, errors="coerce")
    tier = pd.cut(values, _FOLLOWER_EDGES, labels=_FOLLOWER_NAMES, right=False)
    return tier.cat.add_categories("unknown").fillna("unknown")


def length_bucket(text: pd.Series) -> pd.Series:
    """Post length in characters: a tweet-sized post and an e-mail fail differently."""
    lengths = text.astype(str).str.len()
    return pd.cut(lengths, _LENGTH_EDGES, labels=_LENGTH_NAMES, right=False)


def time_bucket(created_at: pd.Series) -> pd.Series:
    """Week of posting (month when the data spans more than half a year): drift shows here."""
    ts = pd.to_datetime(created_at, utc=True)
    if ts.notna().sum() == 0:
        return pd.Series("unknown", index=created_at.index, dtype=object)
    span = ts.max() - ts.min()
    naive = ts.dt.tz_localize(None)
    if span > pd.Timedelta(days=183):
        bucket = naive.dt.to_period("M").dt.start_time.dt.strftime("%Y-%m")
    else:
        bucket = naive.dt.to_period("W-SUN").dt.start_time.dt.strftime("week of %Y-%m-%d")
    return bucket.astype(object).where(ts.notna(), "unknown")


def _wilson(errors: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of an error rate: small slices look extreme by chance."""
    n = np.maximum(n, 1)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


SLICES = ("channel", "follower tier", "text length", "time")


def slice_error_rates(data: ReviewData, min_posts: int = 1) -> pd.DataFrame:
    """Error rates by channel, follower tier, text length and time.

    ``error_rate`` is the share of posts with at least one wrong label decision, with a 95%
    (Wilson) interval; ``vs_overall`` is its difference to the whole batch, so the slices that
    need attention sort to the top within each slice. ``worst_label`` is the label with the
    most wrong decisions in the slice.
    """
    frame = data.frame
    wrong = data.wrong
    post_wrong = wrong.any(axis=1)
    pred = data.predictions.predicted.astype(bool)
    fp = (wrong & pred).sum(axis=1)
    fn = (wrong & ~pred).sum(axis=1)
    true_u = frame["urgency"].to_numpy(dtype=float)
    abs_u = np.abs(true_u - data.predictions.urgency)
    keys = {
        "channel": frame["channel"].astype(object).fillna("unknown").astype(str),
        "follower tier": follower_tier(frame["author_followers"]).astype(str),
        "text length": length_bucket(frame["text"]).astype(str),
        "time": time_bucket(frame["created_at"]).astype(str),
    }
    natural = {
        "follower tier": [*_FOLLOWER_NAMES, "unknown"],
        "text length": _LENGTH_NAMES,
    }
    overall = float(post_wrong.mean())
    labels = np.asarray(data.labels, dtype=object)
    parts = []
    for name, key in keys.items():
        key = key.to_numpy()
        values = natural.get(name) or (
            sorted(pd.unique(key)) if name == "time" else list(pd.Series(key).value_counts().index)
        )
        for value in values:
            mask = key == value
            n = int(mask.sum())
            if n < max(min_posts, 1):
                continue
            has_u = mask & ~np.isnan(true_u)
            per_label = wrong[mask].sum(axis=0)
            parts.append(
                {
                    "slice": name,
                    "value": value,
                    "posts": n,
                    "share": n / len(frame),
                    "wrong_posts": int(post_wrong[mask].sum()),
                    "error_rate": float(post_wrong[mask].mean()),
                    "false_pos": int(fp[mask].sum()),
                    "false_neg": int(fn[mask].sum()),
                    "worst_label": str(labels[per_label.argmax()]) if per_label.any() else "",
                    "urgency_mae": float(abs_u[has_u].mean()) if has_u.any() else np.nan,
                }
            )
    columns = [
        "slice",
        "value",
        "posts",
        "share",
        "wrong_posts",
        "error_rate",
        "error_rate_low",
        "error_rate_high",
        "vs_overall",
        "false_pos",
        "false_neg",
        "worst_label",
        "urgency_mae",
    ]
    out = pd.DataFrame(parts)
    if out.empty:
        return pd.DataFrame(columns=columns)
    low, high = _wilson(out["wrong_posts"].to_numpy(), out["posts"].to_numpy())
    out["error_rate_low"], out["error_rate_high"] = low, high
    out["vs_overall"] = out["error_rate"] - overall
    for col in ("share", "error_rate", "error_rate_low", "error_rate_high", "vs_overall"):
        out[col] = out[col].round(3)
    out["urgency_mae"] = out["urgency_mae"].round(3)
    return out[columns]


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
        contrib = sparse.csr_matrix(data.X[rows]).multiply(triager.urgency_coef_).tocsr()
        raised = [_top_terms(contrib[i], triager.signals_, True, 3) for i in range(len(rows))]
        lowered = [_top_terms(contrib[i], triager.signals_, False, 3) for i in range(len(rows))]
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
            "labels": [_joined(data.labels, data.Y[i].astype(bool)) for i in rows],
            "predicted_labels": [_joined(data.labels, pred[i]) for i in rows],
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


# --------------------------------------------------------------------------------------------
# suspected mislabelled rows (confident learning on out-of-fold probabilities)


def out_of_fold_probabilities(
    triager: Triager, history: pd.DataFrame, params: Params, progress: Progress = lambda _: None
) -> np.ndarray:
    """Calibrated probabilities for every labelled row from linear models that did not see it.

    The recipe of training (:func:`triage_ml.train.fit`) on the bundle's fitted features:
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
        z = logits / temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    platt = fit_platt(logits, Y)
    return 1.0 / (1.0 + np.exp(-np.clip(logits * platt[:, 0] + platt[:, 1], -50, 50)))


def _cleanlab(Y: np.ndarray, proba: np.ndarray, exclusive: bool) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's label quality score per row (self-confidence adjusted for each label's base
    rate; lower is more suspect) and its confident-learning verdict (prune by noise rate)."""
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
            "suggested_labels": [_joined(labels, suggested[i]) for i in order],
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


# --------------------------------------------------------------------------------------------
# export for relabelling, import of corrections

EXPORT_COLUMNS = [
    "id",
    "why",
    "labels",
    "suggested_labels",
    "corrected_labels",
    "urgency",
    "corrected_urgency",
    "text",
    "channel",
    "author_followers",
    "author_verified",
    "created_at",
]


def relabel_export(
    history: pd.DataFrame,
    suspects: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
    urgency: pd.DataFrame | None = None,
    ids: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows to re-check, one per post, for a person to correct in a spreadsheet.

    ``corrected_labels`` and ``corrected_urgency`` start as the recorded values: edit them
    (an empty ``corrected_labels`` cell means "no label"), leave the rest, and import the file
    with :func:`import_corrections`. ``why`` says which review table put the row here. Texts
    are masked; the import matches rows by ``id`` and never reads text back.
    """
    why: dict[str, list[str]] = {}
    suggested: dict[str, str] = {}

    def add(post_id: str, reason: str) -> None:
        why.setdefault(str(post_id), []).append(reason)

    if suspects is not None:
        for row in suspects.itertuples(index=False):
            add(row.id, f"suspected mislabel ({row.disputed})")
            suggested.setdefault(str(row.id), row.suggested_labels)
    if errors is not None:
        for row in errors.itertuples(index=False):
            add(row.id, f"{row.error} {row.label} (p={row.probability:.2f})")
            suggested.setdefault(str(row.id), row.predicted_labels)
    if urgency is not None:
        for row in urgency.itertuples(index=False):
            add(row.id, f"urgency {row.urgency:.2f} scored {row.predicted_urgency:.2f}")
            suggested.setdefault(str(row.id), row.predicted_labels)
    for post_id in ids:
        add(post_id, "chosen by hand")
    if not why:
        return pd.DataFrame(columns=EXPORT_COLUMNS)

    ids_wanted = list(why)
    frame = history.assign(id=history["id"].astype(str)).set_index("id", drop=False)
    missing = [i for i in ids_wanted if i not in frame.index]
    if missing:
        raise DataError(
            f"{len(missing)} id(s) are not in the history: {', '.join(missing[:5])}", column="id"
        )
    rows = frame.loc[ids_wanted].reset_index(drop=True)
    labels = rows["labels"].astype(object).where(rows["labels"].notna(), "")
    urgency_values = rows["urgency"] if "urgency" in rows else pd.Series(np.nan, index=rows.index)
    out = pd.DataFrame(
        {
            "id": rows["id"].astype(str),
            "why": ["; ".join(why[i]) for i in ids_wanted],
            "labels": labels,
            "suggested_labels": [suggested.get(i, "") for i in ids_wanted],
            "corrected_labels": labels,
            "urgency": urgency_values.to_numpy(),
            "corrected_urgency": urgency_values.to_numpy(),
            "text": mask_pii(rows["text"]).to_numpy(),
        }
    )
    for col in ("channel", "author_followers", "author_verified", "created_at"):
        out[col] = rows[col].to_numpy() if col in rows else None
    # whole numbers and true/false read better in a spreadsheet than 6282.0 and 1.0
    if pd.api.types.is_float_dtype(out["author_followers"].dtype):
        out["author_followers"] = out["author_followers"].round().astype("Int64")
    if pd.api.types.is_float_dtype(out["author_verified"].dtype):
        out["author_verified"] = out["author_verified"].map({1.0: True, 0.0: False})
    return out[EXPORT_COLUMNS]


def read_corrections(path: str | Path) -> pd.DataFrame:
    """Read a corrected export as text, so that an empty cell stays "" (= no label) and ids
    keep their leading zeros, whatever a spreadsheet did to the types."""
    from triage_ml.contract.readers import read_table

    path = Path(path)
    if path.suffix.lower() != ".csv":
        return read_table(path)
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@dataclass
class Corrections:
    """The result of importing corrections.

    ``history`` is the updated history (same rows, order and columns as given, only the
    corrected cells differ); ``changes`` has one row per changed post; ``by_label`` counts
    labels added and removed.
    """

    history: pd.DataFrame
    changes: pd.DataFrame
    by_label: pd.DataFrame
    rows_in_file: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console and the notebook."""
        changed = len(self.changes)
        per = ", ".join(
            f"{r.label} +{r.added}/-{r.removed}"
            for r in self.by_label.itertuples(index=False)
            if r.added or r.removed
        )
        return (
            f"{self.rows_in_file} corrected rows read, {changed} posts changed"
            + (f" ({per})" if per else "")
            + f", {self.rows_in_file - changed} unchanged"
        )


def _label_sets(values: pd.Series) -> list[frozenset[str] | None]:
    out: list[frozenset[str] | None] = []
    for v in values.astype(object):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        else:
            out.append(frozenset(t.strip() for t in str(v).split(";") if t.strip()))
    return out


def import_corrections(
    history: pd.DataFrame,
    corrections: pd.DataFrame,
    label_set: Sequence[str],
    exclusive: bool = False,
    source: str = "<corrections>",
) -> Corrections:
    """Apply corrected labels (and urgency) to a history, by id, and record what changed.

    ``corrections`` needs ``id`` and ``corrected_labels`` (or ``labels``); ``corrected_urgency``
    (or ``urgency``) is optional. A missing cell (None/NaN) keeps the recorded value; an empty
    labels cell means "no label". Rows of the history that are not in the file stay exactly as
    they were. Unknown ids, duplicate ids and labels outside the label set are errors that name
    the rows.
    """
    labels_declared = list(label_set)
    if "id" not in corrections.columns:
        raise DataError("the corrections need an 'id' column", source=source, column="id")
    label_col = next((c for c in ("corrected_labels", "labels") if c in corrections), None)
    urgency_col = next((c for c in ("corrected_urgency", "urgency") if c in corrections), None)
    if label_col is None and urgency_col is None:
        raise DataError(
            "nothing to import: expected a 'corrected_labels' (or 'labels') column and/or a "
            "'corrected_urgency' (or 'urgency') column",
            source=source,
        )
    if "labels" not in history.columns:
        raise DataError("the history has no 'labels' column to correct", column="labels")
    corrections = corrections.reset_index(drop=True)
    ids = corrections["id"].astype(str).str.strip()
    text_placeholder = pd.Series("-", index=corrections.index)
    raw_labels = corrections[label_col] if label_col else pd.Series(None, index=ids.index)
    raw_urgency = corrections[urgency_col] if urgency_col else pd.Series(None, index=ids.index)
    raw_urgency = raw_urgency.astype(object).where(
        raw_urgency.notna() & (raw_urgency.astype(str).str.strip() != ""), None
    )
    # the contract's own checks: unknown labels (listing the declared ones), bad urgency,
    # duplicate ids, with the file's row numbers
    canonical, _ = validate_posts(
        pd.DataFrame(
            {"id": ids, "text": text_placeholder, "labels": raw_labels, "urgency": raw_urgency}
        ),
        label_set=labels_declared,
        exclusive=exclusive,
        source=source,
    )
    history_ids = history["id"].astype(str)
    position = pd.Series(np.arange(len(history)), index=history_ids)
    if not history_ids.is_unique:
        raise DataError("the history has duplicate ids; fix them first", column="id")
    unknown = ~ids.isin(history_ids)
    if unknown.any():
        raise DataError(
            f"{int(unknown.sum())} id(s) are not in the history (e.g. "
            f"{', '.join(ids[unknown].head(5))}); corrections only change existing posts",
            source=source,
            column="id",
            rows=np.flatnonzero(unknown).tolist(),
            row_base=1,
        )
    at = position.loc[ids].to_numpy()

    updated = history.copy()
    before_sets = _label_sets(history["labels"].iloc[at])
    after_sets = _label_sets(canonical["labels"])
    if label_col is None:
        after_sets = [None] * len(at)
    urgency_names = _uses_urgency_names(history)
    before_u = (
        _urgency_numbers(history["urgency"].iloc[at])
        if "urgency" in history
        else np.full(len(at), np.nan)
    )
    after_u = canonical["urgency"].to_numpy(dtype=float)

    records = []
    label_cells: dict[int, object] = {}
    urgency_cells: dict[int, object] = {}
    for j, row in enumerate(at):
        before, after = before_sets[j], after_sets[j]
        label_changed = after is not None and after != (before or frozenset())
        if after is not None and before is None and not after:
            label_changed = False  # an unlabelled row exported as "" and left alone
        u_changed = not np.isnan(after_u[j]) and not (
            not np.isnan(before_u[j]) and abs(after_u[j] - before_u[j]) < 1e-9
        )
        if not (label_changed or u_changed):
            continue
        added = sorted(after - (before or frozenset())) if label_changed else []
        removed = sorted((before or frozenset()) - after) if label_changed else []
        if label_changed:
            label_cells[row] = ";".join(lab for lab in labels_declared if lab in after)
        if u_changed:
            urgency_cells[row] = _urgency_cell(after_u[j], urgency_names, source, j)
        records.append(
            {
                "id": ids.iloc[j],
                "labels_before": _format_set(before, labels_declared),
                "labels_after": _format_set(after if label_changed else before, labels_declared),
                "added": ";".join(added),
                "removed": ";".join(removed),
                "urgency_before": before_u[j],
                "urgency_after": after_u[j] if u_changed else before_u[j],
            }
        )
    if label_cells:
        rows = list(label_cells)
        col = updated["labels"].astype(object)
        col.iloc[rows] = list(label_cells.values())
        updated["labels"] = col
    if urgency_cells:
        col = updated["urgency"].astype(object) if "urgency" in updated else None
        if col is None:
            col = pd.Series(np.nan, index=updated.index, dtype=object)
        col.iloc[list(urgency_cells)] = list(urgency_cells.values())
        updated["urgency"] = col if urgency_names else pd.to_numeric(col)
    changes = pd.DataFrame(
        records,
        columns=[
            "id",
            "labels_before",
            "labels_after",
            "added",
            "removed",
            "urgency_before",
            "urgency_after",
        ],
    )
    by_label = pd.DataFrame(
        {
            "label": labels_declared,
            "added": [
                int(changes["added"].str.split(";").explode().eq(lab).sum())
                for lab in labels_declared
            ],
            "removed": [
                int(changes["removed"].str.split(";").explode().eq(lab).sum())
                for lab in labels_declared
            ],
        }
    )
    by_label["net"] = by_label["added"] - by_label["removed"]
    return Corrections(updated, changes, by_label, rows_in_file=len(corrections))


def _format_set(values: frozenset[str] | None, order: Sequence[str]) -> str | None:
    if values is None:
        return None
    return ";".join(lab for lab in order if lab in values)


def _uses_urgency_names(history: pd.DataFrame) -> bool:
    if "urgency" not in history:
        return False
    present = history["urgency"].dropna().astype(str).str.strip().str.lower()
    return bool(len(present)) and bool(present.isin(list(URGENCY_LEVELS)).all())


def _urgency_numbers(values: pd.Series) -> np.ndarray:
    names = values.astype(object).map(
        lambda v: URGENCY_LEVELS.get(v.strip().lower(), v) if isinstance(v, str) else v
    )
    return pd.to_numeric(names, errors="coerce").to_numpy(dtype=float)


def _urgency_cell(value: float, as_name: bool, source: str, row: int) -> object:
    """A corrected urgency in the history's own form: the contract forbids mixing names and
    numbers in one file."""
    if not as_name:
        return float(value)
    for name, level in URGENCY_LEVELS.items():
        if abs(level - value) < 1e-9:
            return name
    raise DataError(
        f"the history writes urgency as names ({', '.join(URGENCY_LEVELS)}), so a corrected "
        f"urgency must be one of them, got {value}",
        source=source,
        column="urgency",
        rows=[row],
        row_base=0,
    )


# --------------------------------------------------------------------------------------------
# which posts to review, and the whole review in one call


def bundle_params(bundle: Bundle) -> Params:
    """The parameters a bundle was trained with (its ``params.yaml``), for out-of-fold folds
    that match training; defaults with the bundle's label set when it has none."""
    import yaml
    from pydantic import ValidationError

    path = bundle.path / PARAMS_FILE if bundle.path is not None else None
    if path is not None and path.is_file():
        try:
            return Params.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except ValidationError:  # written by another triage-ml version: defaults will do
            pass
    return Params.model_validate(
        {"labels": {"names": bundle.labels, "exclusive": bundle.triager.exclusive}}
    )


def review_scope(history: pd.DataFrame, params: Params, metadata: dict) -> tuple[pd.DataFrame, str]:
    """Which posts the error tables should use, and a sentence saying so.

    On the very history the model was trained on (same data fingerprint) the model's errors
    would be in-sample and flattering: review its held-out test split instead, recreated the
    way training made it. Any other labelled file is reviewed whole.
    """
    from triage_ml.model.train import split_history

    labelled = history[history["labels"].notna()].reset_index(drop=True)
    if metadata.get("data_fingerprint") == fingerprint(labelled):
        _, test, how = split_history(labelled, params)
        return test, (
            f"{len(test):,} held-out test posts of the training history ({how}); the model "
            f"never saw them"
        )
    return labelled, f"all {len(labelled):,} labelled posts of the file"


@dataclass
class ReviewResult:
    """Every table of a review, as ``triage-ml review`` writes them and the report shows them."""

    model_version: str
    scope: str
    labels: list[str]
    summary: pd.DataFrame
    worst_errors: pd.DataFrame
    slices: pd.DataFrame
    suspected_mislabels: pd.DataFrame
    urgency_underestimates: pd.DataFrame
    relabel: pd.DataFrame
    pr_curves: pd.DataFrame
    calibration: pd.DataFrame
    urgency_points: pd.DataFrame
    n_reviewed: int
    n_history: int
    error_rate: float
    cleanlab_issues: int

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables worth a CSV file each, by file stem."""
        return {
            "label_summary": self.summary,
            "worst_errors": self.worst_errors,
            "slice_errors": self.slices,
            "suspected_mislabels": self.suspected_mislabels,
            "urgency_underestimates": self.urgency_underestimates,
            "relabel": self.relabel,
        }


def run_review(
    bundle: Bundle,
    history: pd.DataFrame,
    params: Params | None = None,
    top: int = 25,
    playbook: Playbook | None = None,
    progress: Progress = lambda _: None,
    proba: np.ndarray | None = None,
) -> ReviewResult:
    """The whole review of a canonical labelled history: error tables on the posts chosen by
    :func:`review_scope`, suspected mislabels on every labelled row (out-of-fold).

    ``proba`` reuses out-of-fold probabilities already computed for ``history``
    (:func:`out_of_fold_probabilities`), the slow part.
    """
    params = params or bundle_params(bundle)
    history = history[history["labels"].notna()].reset_index(drop=True)
    reviewed, scope = review_scope(history, params, bundle.metadata)
    progress("scoring")
    data = prepare(bundle, reviewed, playbook)
    errors = worst_errors(data, top=top)
    urgency = urgency_underestimates(data, top=top)
    progress("out-of-fold scores")
    if proba is None:
        proba = out_of_fold_probabilities(bundle.triager, history, params, progress)
    suspects_all = suspected_mislabels(history, proba, bundle.triager, top=None)
    suspects = suspects_all.head(top).reset_index(drop=True)
    return ReviewResult(
        model_version=bundle.model_version,
        scope=scope,
        labels=data.labels,
        summary=label_summary(data),
        worst_errors=errors,
        slices=slice_error_rates(data),
        suspected_mislabels=suspects,
        urgency_underestimates=urgency,
        relabel=relabel_export(history, suspects, errors, urgency),
        pr_curves=pr_curves(data),
        calibration=calibration_table(data),
        urgency_points=urgency_points(data),
        n_reviewed=len(data.frame),
        n_history=len(history),
        error_rate=float(data.wrong.any(axis=1).mean()),
        cleanlab_issues=int(suspects_all["cleanlab_issue"].sum()),
    )
