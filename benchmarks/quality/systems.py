"""Systems of the quality benchmark: each fits on a fold's training rows and returns class
probabilities for its test rows.

Ours is trained by :func:`triage_ml.model.fit` (what ``triage-ml train`` calls) and scored as the
product scores; the peers are honest peers: the baseline is DESIGN.md's TF-IDF + logistic
regression with its default threshold, spaCy and fastText are trained with their own usual
recipes, not tuned on the test folds. spaCy, fastText and the training code load when a system
fits, not at import.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from benchmarks.quality.tasks import AUXILIARY_CLASS, TaskData
from triage_ml import _extras
from triage_ml.contract import ConfigError, Params

OURS = "ours"
OURS_BOUNDED = "ours-bounded"
BASELINE = "baseline"
SPACY = "spacy-textcat"
SPACY_ENSEMBLE = "spacy-ensemble"
FASTTEXT = "fasttext"
PEERS = (SPACY, FASTTEXT)
OURS_ENCODER = "ours-encoder"
ENCODER_ONLY = "encoder-only"
ENCODER_INT8 = "ours-encoder-int8"
#: the encoder ablation: the stack, the fine-tuned encoder alone, the stack with int8 weights
#: (the last two reuse the stack's fitted model of the same fold: list them after it)
ENCODER_SYSTEMS = (OURS_ENCODER, ENCODER_ONLY, ENCODER_INT8)
DEFAULT_SYSTEMS = (OURS, BASELINE, *PEERS)
ALL_SYSTEMS = (*DEFAULT_SYSTEMS, SPACY_ENSEMBLE, *ENCODER_SYSTEMS, OURS_BOUNDED)
SYSTEM_TITLES = {
    OURS: "ours (linear)",
    OURS_BOUNDED: "ours (linear, bounded memory)",
    OURS_ENCODER: "ours (encoder stack)",
    ENCODER_ONLY: "encoder alone",
    ENCODER_INT8: "encoder stack, int8",
    BASELINE: "baseline",
    SPACY: "spaCy textcat",
    SPACY_ENSEMBLE: "spaCy ensemble",
    FASTTEXT: "fastText",
}
DETERMINISTIC = frozenset({OURS, OURS_BOUNDED, BASELINE, *ENCODER_SYSTEMS})
"""Systems whose fit does not read the harness's seed: on a fixed split they run once, not per
seed. The encoder's randomness is ``train.encoder.seed`` (fine-tuning and the stack's holdout;
vary it with ``--set``); its fine-tuning gave the same scores run after run on the CPU and on
one GPU (docs/quality.md)."""

SPACY_BOW_EPOCHS = 10
SPACY_ENSEMBLE_EPOCHS = 4
FASTTEXT_SETTINGS = {"wordNgrams": 2, "epoch": 25, "lr": 0.1, "dim": 100, "loss": "softmax"}


@dataclass
class FoldPrediction:
    """Class-index decisions and probabilities over the metric's classes for a test fold."""

    predicted: np.ndarray
    proba: np.ndarray
    urgency: np.ndarray | None = None
    calibrated: bool = True  # False: scores in [0, 1] that only rank (no calibration error)


class System(Protocol):
    name: str

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None: ...

    def predict(self, test: pd.DataFrame) -> FoldPrediction: ...


def among_scored(proba: np.ndarray, n_scored: int) -> np.ndarray:
    """An exclusive set's probabilities over its first ``n_scored`` classes only, renormalised:
    a model trained with the auxiliary class, scored on rows that are never of that class."""
    if proba.shape[1] == n_scored:
        return proba
    kept = proba[:, :n_scored]
    return kept / np.clip(kept.sum(axis=1, keepdims=True), 1e-12, None)


class OursSystem:
    """triage-ml itself: ``train.fit`` on the task's params, scored as the product scores.

    ``auxiliary=True`` adds the task's auxiliary posts (``TaskData.auxiliary``) to every
    training fold as one more class of the exclusive set; the test rows are then scored among
    the task's own classes (``among_scored``)."""

    name = OURS

    def __init__(self, params: Params, auxiliary: bool = False):
        self.params = params
        self.auxiliary = auxiliary

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        from triage_ml.model import fit

        params = self.params
        names = list(data.label_names)
        if self.auxiliary:
            if data.auxiliary is None or not data.exclusive:
                raise ConfigError(
                    f"{data.source}: this task has no auxiliary posts to train on (severity has: "
                    "its non-complaints addressed to a brand)"
                )
            names.append(AUXILIARY_CLASS)
            train = pd.concat([train, data.auxiliary], ignore_index=True)
        if list(params.labels.names) != names:
            raw = params.model_dump(mode="python")
            raw["labels"]["names"] = names
            params = Params.model_validate(raw)
        self.triager_ = fit(train, params)
        self.binary_ = not data.exclusive and len(data.label_names) == 1
        self.levels_ = data.levels
        self.n_scored_ = len(data.label_names)

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        proba = self.triager_.predict_proba(test)
        decided, _ = self.triager_.decide(proba)
        if self.binary_:
            p = proba[:, 0]
            return FoldPrediction(decided[:, 0].astype(int), np.column_stack([1 - p, p]))
        if proba.shape[1] > self.n_scored_:
            proba = among_scored(proba, self.n_scored_)
            return FoldPrediction(proba.argmax(axis=1), proba)
        return FoldPrediction(decided.argmax(axis=1), proba)

    def urgency(self, test: pd.DataFrame) -> np.ndarray | None:
        """The urgency model's score (trained when the frame carries ``urgency``)."""
        X = self.triager_.transform(test)
        _, encoder_urgency = self.triager_.logits(test, X)
        return self.triager_.predict_urgency(X, encoder_urgency)


def bounded_params(params: Params) -> Params:
    """The task's params with ``train.scale: bounded`` (the bounded-memory fit, forced on)."""
    raw = params.model_dump(mode="python", exclude_unset=True)
    raw.setdefault("train", {})["scale"] = "bounded"
    return Params.model_validate(raw)


def encoder_params(params: Params) -> Params:
    """The task's params with ``train.model: encoder`` (the encoder family)."""
    raw = params.model_dump(mode="python", exclude_unset=True)
    raw.setdefault("train", {})["model"] = "encoder"
    return Params.model_validate(raw)


class ReusedEncoderSystem(OursSystem):
    """A variant scored from the encoder stack fitted on the same fold (no second fine-tuning):
    ``encoder-only`` = the fine-tuned encoder's own probabilities (sigmoid at 0.5, or argmax),
    ``ours-encoder-int8`` = the stack with the encoder's weights quantized to int8 afterwards."""

    def __init__(self, name: str, source: OursSystem):
        self.name = name
        self.source = source

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        tri = self.source.triager_
        self.binary_, self.levels_ = self.source.binary_, self.source.levels_
        self.n_scored_ = self.source.n_scored_
        self.triager_ = tri.quantized() if self.name == ENCODER_INT8 else tri

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        if self.name == ENCODER_INT8:
            return super().predict(test)
        proba, _ = self.triager_.encoder_alone(test)
        if self.binary_:
            p = proba[:, 0]
            return FoldPrediction((p >= 0.5).astype(int), np.column_stack([1 - p, p]))
        proba = among_scored(proba, self.n_scored_)
        return FoldPrediction(proba.argmax(axis=1), proba)

    def urgency(self, test: pd.DataFrame) -> np.ndarray | None:
        if self.name == ENCODER_INT8:
            return super().urgency(test)
        return self.triager_.encoder_alone(test)[1]


def baseline_features():
    """The baseline's features: TF-IDF of word 1-2 grams and char_wb 2-5 grams (min_df 2), both
    with sublinear tf. ``python -m benchmarks.baseline`` and the harness share this definition."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                ),
            ),
        ]
    )


def baseline_pipeline(official_split: bool = False):
    """DESIGN.md's plain baseline: logistic regression (C=4, balanced classes) for the CV tasks,
    LinearSVC (C=1) on banking77's official split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    if official_split:
        return make_pipeline(baseline_features(), LinearSVC(C=1))
    return make_pipeline(
        baseline_features(), LogisticRegression(C=4, class_weight="balanced", max_iter=3000)
    )


class BaselineSystem:
    name = BASELINE

    def __init__(self, official_split: bool | None = None):
        # which of the two baselines: None takes it from the data (an official test split or
        # CV); the ablation runs CV on an official split's training rows and passes True
        self.official_split = official_split

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        self.n_classes_ = len(data.classes)
        official = self.official_split
        if official is None:
            official = data.test_mask is not None
        self.model_ = baseline_pipeline(official).fit(train["text"], y)

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        from scipy.special import softmax

        model = self.model_
        calibrated = hasattr(model, "predict_proba")
        if calibrated:
            known = model.predict_proba(test["text"])
        else:  # LinearSVC: its decision values through a softmax (only the argmax is scored)
            scores = model.decision_function(test["text"])
            if scores.ndim == 1:
                scores = np.column_stack([-scores, scores])
            known = softmax(scores, axis=1)
        proba = np.zeros((len(test), self.n_classes_))
        proba[:, model.classes_] = known
        return FoldPrediction(model.classes_[known.argmax(axis=1)], proba, calibrated=calibrated)


class SpacyTextcatSystem:
    """spaCy's own text classifier on a blank English pipeline, trained the documented way.

    Classes are exclusive (``textcat``; the binary task is two exclusive classes). ``bow`` is
    the bag-of-words linear model (unigrams + bigrams); ``ensemble`` is spaCy's default
    (BOW + a small CNN), much slower to train.
    """

    def __init__(self, architecture: Literal["bow", "ensemble"] = "bow", epochs: int = 0):
        self.architecture = architecture
        self.epochs = epochs or (
            SPACY_BOW_EPOCHS if architecture == "bow" else SPACY_ENSEMBLE_EPOCHS
        )
        self.name = SPACY if architecture == "bow" else SPACY_ENSEMBLE

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        import spacy
        from spacy.training import Example
        from spacy.util import compounding, fix_random_seed, minibatch

        fix_random_seed(seed)
        self.classes_ = [str(i) for i in range(len(data.classes))]
        nlp = spacy.blank("en")
        config: dict[str, Any] = {}
        if self.architecture == "bow":
            config["model"] = {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": True,
                "ngram_size": 2,
                "no_output_layer": False,
            }
        textcat = nlp.add_pipe("textcat", config=config)
        for c in self.classes_:
            textcat.add_label(c)
        docs = nlp.tokenizer.pipe(train["text"].tolist(), batch_size=1000)
        examples = [
            Example.from_dict(doc, {"cats": {c: float(int(c) == t) for c in self.classes_}})
            for doc, t in zip(docs, y, strict=True)
        ]
        optimizer = nlp.initialize(lambda: examples)
        rng = random.Random(seed)
        for _ in range(self.epochs):
            rng.shuffle(examples)
            # batches grow 4 -> 32 within the first epoch: a 77-class BOW layer costs ~70 ms per
            # update here, so spaCy v2's slow schedule (x1.001) would take ~15 min per fit
            for batch in minibatch(examples, size=compounding(4.0, 32.0, 1.05)):
                nlp.update(batch, sgd=optimizer, drop=0.2)
        self.nlp_ = nlp

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        docs = self.nlp_.pipe(test["text"].tolist(), batch_size=256)
        proba = np.array([[doc.cats[c] for c in self.classes_] for doc in docs])
        return FoldPrediction(proba.argmax(axis=1), proba)


_FT_PUNCT = re.compile(r"([.!?,;:()\"/])")
_FT_SPACE = re.compile(r"\s+")


def fasttext_tokens(text: str) -> str:
    """fastText's usual preprocessing: lower case, punctuation split off, one line."""
    return _FT_SPACE.sub(" ", _FT_PUNCT.sub(r" \1 ", text.lower())).strip()


def fasttext_available() -> str | None:
    """Why fastText cannot run here, or ``None`` when it can."""
    from importlib.util import find_spec

    if find_spec("fasttext") is None:
        return "fasttext-wheel is not installed (pip install -e '.[bench]')"
    return None


class FastTextSystem:
    """fastText supervised (bigrams, 25 epochs, one thread so a seed reproduces the model).

    Prediction calls the low-level ``model.f.predict``: the Python ``predict`` of
    fasttext-wheel 0.9.2 fails under numpy 2 (``np.array(..., copy=False)``).
    """

    name = FASTTEXT

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        import fasttext

        self.n_classes_ = len(data.classes)
        lines = [
            f"__label__{t} {fasttext_tokens(text)}\n"
            for t, text in zip(y, train["text"], strict=True)
        ]
        with tempfile.TemporaryDirectory(prefix="triage-fasttext-") as tmp:
            path = Path(tmp) / "train.txt"
            path.write_text("".join(lines), encoding="utf-8")
            self.model_ = fasttext.train_supervised(
                input=str(path), seed=seed, thread=1, verbose=0, **FASTTEXT_SETTINGS
            )

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        proba = np.zeros((len(test), self.n_classes_))
        for i, text in enumerate(test["text"]):
            for p, label in self.model_.f.predict(fasttext_tokens(text) + "\n", -1, 0.0, "strict"):
                proba[i, int(label.removeprefix("__label__"))] = p
        return FoldPrediction(proba.argmax(axis=1), proba)


def build_systems(names: Sequence[str], params: Params) -> tuple[list[System], dict[str, str]]:
    """The systems to run and, for those that cannot run here, why."""
    systems: list[System] = []
    skipped: dict[str, str] = {}
    for name in names:
        if name == OURS:
            systems.append(OursSystem(params))
        elif name == OURS_BOUNDED:
            systems.append(OursSystem(bounded_params(params)))
            systems[-1].name = OURS_BOUNDED
        elif name in ENCODER_SYSTEMS and not _extras.installed("torch"):
            skipped[name] = "needs the finetune extra: pip install -e '.[finetune]'"
        elif name == OURS_ENCODER:
            systems.append(OursSystem(encoder_params(params)))
            systems[-1].name = OURS_ENCODER
        elif name in (ENCODER_ONLY, ENCODER_INT8):
            stacks = [s for s in systems if s.name == OURS_ENCODER]
            if not stacks:
                raise ConfigError(
                    f"{name} reuses {OURS_ENCODER}'s model: list {OURS_ENCODER} first"
                )
            systems.append(ReusedEncoderSystem(name, stacks[-1]))
        elif name == BASELINE:
            systems.append(BaselineSystem())
        elif name == SPACY:
            systems.append(SpacyTextcatSystem("bow"))
        elif name == SPACY_ENSEMBLE:
            systems.append(SpacyTextcatSystem("ensemble"))
        elif name == FASTTEXT:
            reason = fasttext_available()
            if reason:
                skipped[name] = reason
            else:
                systems.append(FastTextSystem())
        else:
            raise ConfigError(f"unknown system {name!r}; choose from {', '.join(ALL_SYSTEMS)}")
    return systems, skipped
