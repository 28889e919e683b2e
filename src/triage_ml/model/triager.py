"""The fitted triage model: features, linear label scores, calibration, thresholds, urgency.

A `Triager` is what training produces and what a bundle stores. The ``linear`` family is linear
on top of its features on purpose: every label score is a sum of feature contributions, so the
reasons shown to people are the model's own arithmetic. Each contribution is measured against
the average training post, ``w_j * (x_j - mean_j)`` (for a linear model, the exact Shapley
value), so a property every post shares (its length) explains nothing on its own.

The ``encoder`` family adds a fine-tuned sentence encoder (scored with onnxruntime) stacked with
the linear model (:mod:`triage_ml.model.stack`). Its reasons are word occlusion: the drop in
the stacked probability of a label when one word is removed from the post.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer

from triage_ml.model.fast_transform import NoFastPath, transform_fitted
from triage_ml.model.stack import stack_logits

REASONS_PER_LABEL = 3
#: Words of a post that occlusion tries (the encoder reads at most ~64 tokens anyway).
OCCLUSION_MAX_WORDS = 64

# metadata signals in words a helpdesk understands
_CUE_WORDS = {
    "followers_missing": "follower count unknown",
    "author_verified": "verified author",
    "exclamations": "exclamation marks",
    "questions": "question marks",
    "shouted_words": "words in capitals",
    "emoji": "emoji",
}


def _count(n: float) -> str:
    """48000 -> "48k", 1250000 -> "1.25M" (the unit chosen after rounding: 999,999 -> "1M")."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if float(f"{n:.3g}") >= size:
            return f"{float(f'{n / size:.3g}'):g}{suffix}"
    return f"{n:.0f}"


def readable_signal(signal: str, above_average: bool, followers: float | None = None) -> str:
    """A metadata signal as a person reads it ("author followers: 48k", "long post")."""
    if signal == "author_followers":
        return "author followers" + (f": {_count(followers)}" if followers is not None else "")
    if signal == "length_log":
        return "long post" if above_average else "short post"
    if signal.startswith("channel="):
        return f"channel: {signal.partition('=')[2]}"
    words = _CUE_WORDS.get(signal, signal)
    if signal in ("exclamations", "questions", "shouted_words", "emoji") and not above_average:
        return f"few {words}"  # counts: the post has fewer than the average post
    return words


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
        feature_mean: np.ndarray | None = None,
        encoder=None,
        stack: np.ndarray | None = None,
        encoder_channels: list[str] | None = None,
        urgency_blend: float | None = None,
        language: list[str] | None = None,
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
        self.feature_mean_ = None if feature_mean is None else np.asarray(feature_mean, float)
        self.encoder = encoder  # EncoderRuntime; a bundle stores it beside the pickle, as ONNX
        self.stack_ = None if stack is None else np.asarray(stack, dtype=np.float64)
        self.encoder_channels_ = list(encoder_channels or [])
        self.urgency_blend_ = urgency_blend
        # the training history's languages (empty or None: not checked)
        self.language_ = list(language) if language else None

    def __setstate__(self, state: dict) -> None:
        # models pickled before the encoder family and centred reasons existed
        for name in ("feature_mean_", "encoder", "stack_", "urgency_blend_", "language_"):
            state.setdefault(name, None)
        state.setdefault("encoder_channels_", [])
        if isinstance(state.get("language_"), str):  # an early encoder build stored one code
            state["language_"] = [state["language_"]]
        self.__dict__.update(state)

    @property
    def family(self) -> str:
        return "linear" if self.encoder is None else "encoder"

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

    def logits(self, posts: pd.DataFrame, X=None) -> tuple[np.ndarray, np.ndarray | None]:
        """The logits that decide (stacked with the encoder's when there is one) and the
        encoder's urgency (``None`` for the linear family)."""
        X = self.transform(posts) if X is None else X
        linear = self.decision(X)
        if self.encoder is None:
            return linear, None
        encoded, urgency = self.encoder_logits(posts)
        return stack_logits(self.stack_, linear, encoded), urgency.astype(np.float64)

    def encoder_logits(self, posts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The fine-tuned encoder's own label logits and urgency for a posts frame (text +
        metadata): what the stack combines with the linear model's logits (public for analyses
        such as ``benchmarks.quality.stack_forms``; the product scores with the stack)."""
        if self.encoder is None:
            raise ValueError("this is a linear model: it has no encoder")
        from triage_ml.model.encoder.inputs import encoder_meta

        texts = posts["text"].astype(str).tolist()
        return self.encoder.logits(texts, encoder_meta(posts, self.encoder_channels_))

    def predict_proba(self, posts: pd.DataFrame) -> np.ndarray:
        return self.calibrate(self.logits(posts)[0])

    def encoder_alone(self, posts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """The fine-tuned encoder's own probabilities and urgency, without the linear model
        and the stack (for ablations; the product scores with the stack)."""
        logits, urgency = self.encoder_logits(posts)
        trained = self.encoder.config.get("urgency_trained")
        return self.encoder.proba_from_logits(logits), urgency if trained else None

    def quantized(self) -> Triager:
        """A copy whose encoder has dynamic int8 weights (smaller and faster on CPU)."""
        import copy

        if self.encoder is None:
            raise ValueError("this is a linear model: it has no encoder to quantize")
        twin = copy.copy(self)
        twin.encoder = self.encoder.quantized()
        return twin

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

    def predict_urgency(self, X, encoder_urgency: np.ndarray | None = None) -> np.ndarray | None:
        """Learned urgency in [0, 1]: the ridge model, blended with the encoder's urgency head
        by the weight fitted on held-out posts; ``None`` when no urgency was learned."""
        if self.urgency_coef_ is None:
            return None
        raw = np.asarray(X @ self.urgency_coef_).ravel() + self.urgency_intercept_
        if encoder_urgency is not None and self.urgency_blend_ is not None:
            w = self.urgency_blend_  # fitted on the clipped ridge score: blend the same
            raw = (1.0 - w) * np.clip(raw, 0.0, 1.0) + w * encoder_urgency
        return np.clip(raw, 0.0, 1.0)

    def contributions(self, X, label: int) -> sparse.csr_matrix:
        """Contributions of a post's features to one label's logit, measured from the average
        training post: ``w_j * (x_j - mean_j)`` for the features the post has. With the
        intercept, ``coef @ mean`` and the (small, negative or positive) terms of the features
        the post lacks, they add up to the logit."""
        X = sparse.csr_matrix(X)
        contrib = X.multiply(self.coef_[label]).tocsr()
        if self.feature_mean_ is not None:
            contrib.data -= (self.coef_[label] * self.feature_mean_)[contrib.indices]
        return contrib

    def explain(
        self,
        X,
        predicted: np.ndarray,
        top: int = REASONS_PER_LABEL,
        posts: pd.DataFrame | None = None,
    ) -> list[list[dict]]:
        """The strongest positive contributions behind each predicted label (metadata signals
        in words: "author followers: 48k", "long post")."""
        X = sparse.csr_matrix(X)
        followers = None
        if posts is not None and "author_followers" in posts:
            followers = pd.to_numeric(posts["author_followers"], errors="coerce").to_numpy(float)
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
                for j in order:
                    signal = self.signal_text(
                        cols[j], X[row, cols[j]], None if followers is None else followers[row]
                    )
                    reasons[row].append(
                        {"label": label, "signal": signal, "weight": round(float(values[j]), 3)}
                    )
        return reasons

    def signal_text(self, col: int, value: float, followers: float | None = None) -> str:
        """Feature ``col`` of a post (with ``value``) as a reason reads: the n-gram itself, or
        a metadata signal in words ("author followers: 48k", "long post")."""
        signal = str(self.signals_[col])
        if not self.feature_names_[col].startswith("meta__"):
            return signal
        above = self.feature_mean_ is None or value > self.feature_mean_[col]
        if followers is not None and np.isnan(followers):
            followers = None
        return readable_signal(signal, bool(above), followers)

    def occlusion_reasons(
        self,
        posts: pd.DataFrame,
        proba: np.ndarray,
        predicted: np.ndarray,
        top: int = REASONS_PER_LABEL,
    ) -> list[list[dict]]:
        """Words whose removal most lowers each predicted label's (stacked) probability.

        All variants of all posts (one word left out each) are scored in one batch through the
        same model that decided; ``weight`` is the drop in probability."""
        reasons: list[list[dict]] = [[] for _ in range(len(posts))]
        rows = np.flatnonzero(predicted.any(axis=1))
        if rows.size == 0:
            return reasons
        words = [str(posts["text"].iloc[r]).split()[:OCCLUSION_MAX_WORDS] for r in rows]
        counts = np.array([len(w) for w in words])
        if counts.sum() == 0:
            return reasons
        variants = posts.iloc[np.repeat(rows, counts)].reset_index(drop=True)
        variants["text"] = [" ".join(w[:i] + w[i + 1 :]) for w in words for i in range(len(w))]
        varied = self.calibrate(self.logits(variants)[0])
        bounds = np.r_[0, np.cumsum(counts)]
        for pos, row in enumerate(rows):
            block = varied[bounds[pos] : bounds[pos + 1]]
            for k in np.flatnonzero(predicted[row]):
                drops = proba[row, k] - block[:, k]
                for j in np.argsort(-drops, kind="stable")[:top]:
                    if drops[j] > 0:
                        reasons[row].append(
                            {
                                "label": self.labels[k],
                                "signal": words[pos][j],
                                "weight": round(float(drops[j]), 3),
                            }
                        )
        return reasons

    def score(self, posts: pd.DataFrame, with_reasons: bool = True) -> LabelScores:
        """Score a canonical posts frame (see :func:`triage_ml.data.validate_posts`)."""
        X = self.transform(posts)
        logits, encoder_urgency = self.logits(posts, X)
        proba = self.calibrate(logits)
        predicted, unsure = self.decide(proba)
        if not with_reasons:
            reasons: list[list[dict]] = [[] for _ in range(len(proba))]
        elif self.encoder is None:
            reasons = self.explain(X, predicted, posts=posts)
        else:
            reasons = self.occlusion_reasons(posts, proba, predicted)
        texts = posts["text"].astype(str).tolist()
        self._flag_unreadable(texts, X, unsure, reasons, with_reasons)
        urgency = self.predict_urgency(X, encoder_urgency)
        return LabelScores(proba, predicted, unsure, urgency, reasons)

    def known_words(self) -> frozenset[str]:
        """The single words of the model's word n-gram block, once per loaded model (empty
        for a feature tree without that block)."""
        known = self.__dict__.get("_known_words")
        if known is None:
            from triage_ml.model.features import word_vocabulary

            known = self._known_words = word_vocabulary(self.features) or frozenset()
        return known

    def _flag_unreadable(
        self, texts: list[str], X, unsure: np.ndarray, reasons: list, with_reasons: bool
    ) -> None:
        """``needs_human`` (with a reason) for posts the model cannot read: nothing left after
        normalisation, or confidently written in another language than the training history."""
        text_columns = self.__dict__.get("_text_columns")
        if text_columns is None:  # computed once per loaded model (names are many)
            names = self.feature_names_
            text_columns = np.fromiter(
                (str(n).startswith("text__") for n in names), bool, len(names)
            )
            self._text_columns = text_columns
        X = sparse.csr_matrix(X)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        readable = np.bincount(rows[text_columns[X.indices]], minlength=X.shape[0])
        empty = readable == 0
        other: list[str | None] = [None] * len(texts)
        if self.language_:
            from triage_ml.model.language import foreign

            other = foreign(texts, self.language_, self.known_words())
        trained_on = "/".join(self.language_ or [])
        for i in range(len(texts)):
            why = None
            if empty[i]:
                why = "no readable words after normalisation"
            elif other[i]:
                why = f"written in '{other[i]}', the model was trained on '{trained_on}'"
            if why:
                unsure[i] = True
                if with_reasons:
                    reasons[i].append({"label": "needs_human", "signal": why, "weight": 0.0})
