"""A fitted `Triager` as plain data: JSON and numeric arrays, never pickle.

:func:`triager_state` turns a fitted model into a JSON-ready description (labels, settings,
the feature pipeline's structure, constructor parameters and fitted vocabularies) plus a dict
of numeric arrays (weights, calibration, thresholds, idf, scales, stack). :func:`from_state`
builds the model back. Nothing in the data names a class or a function: which class each part
becomes is decided here, from a closed set of kinds (``column_transformer``, ``pipeline``,
``feature_union``, ``tfidf``, ``normaliser``, ``metadata``, ``embeddings``), and every field is
checked for its type and every array for its dtype and shape, so a hostile file can at worst be
refused (:class:`StateError`), never run code. The fine-tuned encoder is not part of the state:
it travels as ONNX beside it.

A fitted ``ColumnTransformer`` keeps private bookkeeping of the frame it was fitted on; rather
than writing that by hand, it is rebuilt by fitting the same structure, with the already
fitted blocks frozen inside, on a one-row frame with the training frame's columns.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage_ml.model.features import MetadataFeatures
from triage_ml.model.normalise import SpacyNormaliser
from triage_ml.model.triager import Triager

STATE_KIND = "triage-ml/triager"
STATE_VERSION = 1
_NUMERIC_KINDS = "fiub"  # float, int, unsigned, bool: no objects, strings or records


class StateError(ValueError):
    """Stored model state that cannot be (or must not be) turned into a model."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TfidfParams(_Strict):
    """The constructor parameters of a TF-IDF block, limited to what a model can hold as data
    (no callables: ``preprocessor``, ``tokenizer`` and a callable ``analyzer`` are refused)."""

    input: Literal["content"] = "content"
    encoding: str = "utf-8"
    decode_error: Literal["strict", "ignore", "replace"] = "strict"
    strip_accents: Literal["ascii", "unicode"] | None = None
    lowercase: bool
    analyzer: Literal["word", "char", "char_wb"]
    token_pattern: str | None
    stop_words: list[str] | None = None
    max_df: float | int
    min_df: float | int
    max_features: int | None
    ngram_range: tuple[int, int]
    binary: bool
    dtype: Literal["float32", "float64"]
    norm: Literal["l1", "l2"] | None
    use_idf: bool
    smooth_idf: bool
    sublinear_tf: bool


class TfidfNode(_Strict):
    kind: Literal["tfidf"]
    params: TfidfParams
    vocabulary: list[str]
    """Terms in column order (term ``i`` is column ``i``)."""
    idf: str | None
    """Name of the idf array, ``None`` without ``use_idf``."""


class NormaliserNode(_Strict):
    kind: Literal["normaliser"]
    model: str = Field(pattern=r"^(blank:[a-z]{2,3}|[A-Za-z_][A-Za-z0-9_]*)$")
    """``blank:LANG`` or the name of an installed spaCy package, never a path."""
    lemmatize: bool
    mark_negation: bool
    batch_size: int = Field(gt=0)


class MetadataNode(_Strict):
    kind: Literal["metadata"]
    max_channels: int = Field(ge=0)
    channels: list[str]
    numeric_names: list[str]
    scale: str
    n_features_in: int = Field(ge=0)


class EmbeddingsNode(_Strict):
    kind: Literal["embeddings"]
    model: str
    batch_size: int = Field(gt=0)
    dim: int = Field(gt=0)


class Named(_Strict):
    name: str
    node: Node


class PipelineNode(_Strict):
    kind: Literal["pipeline"]
    steps: list[Named]


class FeatureUnionNode(_Strict):
    kind: Literal["feature_union"]
    parts: list[Named]
    weights: dict[str, float] | None
    verbose_feature_names_out: bool


class Block(_Strict):
    name: str
    columns: str | list[str]
    node: Node


class ColumnTransformerNode(_Strict):
    kind: Literal["column_transformer"]
    blocks: list[Block]
    weights: dict[str, float] | None
    sparse_threshold: float
    verbose_feature_names_out: bool
    sparse_output: bool
    columns_in: list[str]


Node = Annotated[
    TfidfNode
    | NormaliserNode
    | MetadataNode
    | EmbeddingsNode
    | PipelineNode
    | FeatureUnionNode
    | ColumnTransformerNode,
    Field(discriminator="kind"),
]
Named.model_rebuild()
Block.model_rebuild()
PipelineNode.model_rebuild()
FeatureUnionNode.model_rebuild()
ColumnTransformerNode.model_rebuild()


class TriagerState(_Strict):
    """Everything of a fitted `Triager` that is not an array (those are named, not held)."""

    kind: Literal["triage-ml/triager"]
    version: Literal[1]
    labels: list[str] = Field(min_length=1)
    exclusive: bool
    abstain_band: float
    urgency_intercept: float | None
    urgency_blend: float | None
    encoder_channels: list[str]
    language: list[str] | None
    features: ColumnTransformerNode


# ---------------------------------------------------------------------------------------------
# model -> data


def triager_state(triager: Triager) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(state, arrays)``: a JSON-ready dict and the numeric arrays it names by key."""
    arrays: dict[str, np.ndarray] = {
        "coef": triager.coef_,
        "intercept": triager.intercept_,
        "calibration": triager.calibration_,
        "thresholds": triager.thresholds_,
    }
    optional = {
        "urgency_coef": triager.urgency_coef_,
        "feature_mean": triager.feature_mean_,
        "stack": triager.stack_,
    }
    arrays.update({k: np.asarray(v) for k, v in optional.items() if v is not None})
    intercept = triager.urgency_intercept_
    state = {
        "kind": STATE_KIND,
        "version": STATE_VERSION,
        "labels": list(triager.labels),
        "exclusive": bool(triager.exclusive),
        "abstain_band": float(triager.abstain_band),
        "urgency_intercept": None if intercept is None else float(intercept),
        "urgency_blend": None if triager.urgency_blend_ is None else float(triager.urgency_blend_),
        "encoder_channels": list(triager.encoder_channels_ or []),
        "language": list(triager.language_) if triager.language_ else None,
        "features": _describe(triager.features, "features", arrays),
    }
    parse_state(json.dumps(state))  # what is written must read back
    return state, arrays


def _weights(weights: dict | None) -> dict[str, float] | None:
    return None if weights is None else {str(k): float(v) for k, v in weights.items()}


def _describe(step: Any, where: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(step, ColumnTransformer):
        if step.remainder != "drop":
            raise StateError(f"{where}: only remainder='drop' can be stored")
        blocks = []
        for name, trans, columns in step.transformers_:
            if name == "remainder" and isinstance(trans, str):
                continue
            if isinstance(trans, str):
                raise StateError(f"{where}.{name}: a {trans!r} block cannot be stored")
            cols = columns if isinstance(columns, str) else [str(c) for c in columns]
            node = _describe(trans, f"{where}.{name}", arrays)
            blocks.append({"name": name, "columns": cols, "node": node})
        return {
            "kind": "column_transformer",
            "blocks": blocks,
            "weights": _weights(step.transformer_weights),
            "sparse_threshold": float(step.sparse_threshold),
            "verbose_feature_names_out": bool(step.verbose_feature_names_out),
            "sparse_output": bool(step.sparse_output_),
            "columns_in": [str(c) for c in step.feature_names_in_],
        }
    if isinstance(step, Pipeline):
        steps = [
            {"name": name, "node": _describe(inner, f"{where}.{name}", arrays)}
            for name, inner in step.steps
        ]
        return {"kind": "pipeline", "steps": steps}
    if isinstance(step, FeatureUnion):
        parts = [
            {"name": name, "node": _describe(inner, f"{where}.{name}", arrays)}
            for name, inner in step.transformer_list
        ]
        return {
            "kind": "feature_union",
            "parts": parts,
            "weights": _weights(step.transformer_weights),
            "verbose_feature_names_out": bool(step.verbose_feature_names_out),
        }
    if type(step) is TfidfVectorizer:
        params = step.get_params()
        params.pop("vocabulary")
        if params["preprocessor"] is not None or params["tokenizer"] is not None:
            raise StateError(f"{where}: a TF-IDF block with a custom function cannot be stored")
        params.pop("preprocessor"), params.pop("tokenizer")
        params["dtype"] = np.dtype(params["dtype"]).name
        params["ngram_range"] = list(params["ngram_range"])
        if params["stop_words"] is not None and not isinstance(params["stop_words"], list):
            params["stop_words"] = list(params["stop_words"])
        terms = [""] * len(step.vocabulary_)
        for term, column in step.vocabulary_.items():
            terms[int(column)] = term
        idf = None
        if step.use_idf:
            idf = f"{where}.idf"
            arrays[idf] = np.asarray(step.idf_)
        return {"kind": "tfidf", "params": params, "vocabulary": terms, "idf": idf}
    if type(step) is SpacyNormaliser:
        return {
            "kind": "normaliser",
            "model": step.model,
            "lemmatize": bool(step.lemmatize),
            "mark_negation": bool(step.mark_negation),
            "batch_size": int(step.batch_size),
        }
    if type(step) is MetadataFeatures:
        scale = f"{where}.scale"
        arrays[scale] = np.asarray(step.scale_)
        return {
            "kind": "metadata",
            "max_channels": int(step.max_channels),
            "channels": [str(c) for c in step.channels_],
            "numeric_names": [str(n) for n in step.numeric_names_],
            "scale": scale,
            "n_features_in": int(step.n_features_in_),
        }
    if type(step).__name__ == "SentenceEmbeddings":
        return {
            "kind": "embeddings",
            "model": step.model,
            "batch_size": int(step.batch_size),
            "dim": int(step.dim_),
        }
    raise StateError(f"{where}: {type(step).__name__} cannot be stored as data")


# ---------------------------------------------------------------------------------------------
# data -> model


def parse_state(raw: bytes | str) -> TriagerState:
    """The model description from JSON text, every field checked for its type."""
    try:
        return TriagerState.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise StateError(
            f"{where}: {first['msg']} ({err.error_count()} problem(s)); "
            "this is not a model description written by triage-ml"
        ) from None


def from_state(state: TriagerState, arrays: dict[str, np.ndarray]) -> Triager:
    """The fitted `Triager` described by ``state`` and ``arrays`` (numeric arrays only)."""
    try:
        return _from_state(state, arrays)
    except StateError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        # well-typed parts that do not fit together (a description triage-ml did not write)
        raise StateError(
            f"the parts do not make a working model ({type(err).__name__}: {err})"
        ) from None


def _from_state(state: TriagerState, arrays: dict[str, np.ndarray]) -> Triager:
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in _NUMERIC_KINDS:
            kind = getattr(getattr(value, "dtype", None), "str", type(value).__name__)
            raise StateError(f"array {name!r} is {kind}; only numeric arrays are accepted")
    used: set[str] = set()

    def take(name: str | None, ndim: int, shape: tuple | None = None) -> np.ndarray | None:
        if name is None:
            return None
        if name not in arrays:
            raise StateError(f"array {name!r} is missing")
        value = arrays[name]
        if value.ndim != ndim or (shape is not None and value.shape != shape):
            raise StateError(f"array {name!r} has shape {value.shape}, expected {shape}")
        used.add(name)
        return value

    features = _build(state.features, "features", take)
    n_features = len(features.get_feature_names_out())
    k = len(state.labels)

    def optional(name: str) -> str | None:
        return name if name in arrays else None

    stack = take(optional("stack"), 2)
    if stack is not None and stack.shape not in ((k, 3), (1, 2)):
        raise StateError(f"array 'stack' has shape {stack.shape}, expected {(k, 3)} or (1, 2)")
    urgency_coef = take(optional("urgency_coef"), 1, (n_features,))
    if (urgency_coef is None) != (state.urgency_intercept is None):
        raise StateError("the urgency model needs both 'urgency_coef' and its intercept")
    calibration = take("calibration", 2)
    if calibration.shape not in ((k, 2), (1, 1)):
        raise StateError(f"array 'calibration' has shape {calibration.shape}")
    triager = Triager(
        labels=state.labels,
        exclusive=state.exclusive,
        features=features,
        coef=take("coef", 2, (k, n_features)),
        intercept=take("intercept", 1, (k,)),
        calibration=calibration,
        thresholds=take("thresholds", 1, (k,)),
        abstain_band=state.abstain_band,
        urgency_coef=urgency_coef,
        urgency_intercept=state.urgency_intercept,
        feature_mean=take(optional("feature_mean"), 1, (n_features,)),
        stack=stack,
        encoder_channels=state.encoder_channels,
        urgency_blend=state.urgency_blend,
        language=state.language,
    )
    extra = sorted(set(arrays) - used)
    if extra:
        raise StateError(f"unexpected arrays {extra}; this is not a model written by triage-ml")
    return triager


class _Fitted(TransformerMixin, BaseEstimator):
    """A fitted block that fitting leaves as it is (to rebuild a ColumnTransformer around
    blocks that are already fitted)."""

    def __init__(self, step: Any = None):
        self.step = step

    def __sklearn_clone__(self) -> _Fitted:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X, y=None) -> _Fitted:
        return self

    def transform(self, X):
        return self.step.transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.step.get_feature_names_out()


def _build(node: Any, where: str, take) -> Any:
    if isinstance(node, ColumnTransformerNode):
        blocks = [
            (b.name, _build(b.node, f"{where}.{b.name}", take), b.columns) for b in node.blocks
        ]
        if len({name for name, _, _ in blocks}) != len(blocks):
            raise StateError(f"{where}: two blocks share a name")
        known = set(node.columns_in)
        for name, _, columns in blocks:
            missing = {columns} - known if isinstance(columns, str) else set(columns) - known
            if missing:
                raise StateError(f"{where}.{name}: columns {sorted(missing)} are not inputs")
        shell = ColumnTransformer(
            [(name, _Fitted(step), columns) for name, step, columns in blocks],
            remainder="drop",
            sparse_threshold=node.sparse_threshold,
            transformer_weights=node.weights,
            verbose_feature_names_out=node.verbose_feature_names_out,
        )
        one_row = pd.DataFrame({c: ["x"] for c in node.columns_in})
        if "text" in one_row:
            one_row["text"] = ["a short post"]
        shell.fit(one_row)
        shell.transformers = [(n, s, c) for n, s, c in blocks]
        shell.transformers_ = [
            (n, t.step if isinstance(t, _Fitted) else t, c) for n, t, c in shell.transformers_
        ]
        shell.sparse_output_ = node.sparse_output
        return shell
    if isinstance(node, PipelineNode):
        if not node.steps:
            raise StateError(f"{where}: a pipeline without steps")
        return Pipeline([(s.name, _build(s.node, f"{where}.{s.name}", take)) for s in node.steps])
    if isinstance(node, FeatureUnionNode):
        if not node.parts:
            raise StateError(f"{where}: a feature union without parts")
        return FeatureUnion(
            [(p.name, _build(p.node, f"{where}.{p.name}", take)) for p in node.parts],
            transformer_weights=node.weights,
            verbose_feature_names_out=node.verbose_feature_names_out,
        )
    if isinstance(node, TfidfNode):
        return _tfidf(node, where, take)
    if isinstance(node, NormaliserNode):
        step = SpacyNormaliser(
            model=node.model,
            lemmatize=node.lemmatize,
            mark_negation=node.mark_negation,
            batch_size=node.batch_size,
        )
        step.n_features_in_ = 1
        return step
    if isinstance(node, MetadataNode):
        step = MetadataFeatures(max_channels=node.max_channels)
        step.scale_ = take(node.scale, 1, (len(node.numeric_names),))
        step.channels_ = list(node.channels)
        step.numeric_names_ = list(node.numeric_names)
        step.n_features_in_ = node.n_features_in
        return step
    if isinstance(node, EmbeddingsNode):
        from triage_ml.model.embeddings import SentenceEmbeddings

        step = SentenceEmbeddings(model=node.model, batch_size=node.batch_size)
        step.dim_ = node.dim
        step.n_features_in_ = 1
        return step
    raise StateError(f"{where}: unknown kind")  # pragma: no cover - the schema is closed


def _tfidf(node: TfidfNode, where: str, take) -> TfidfVectorizer:
    p = node.params.model_dump()
    p["ngram_range"] = tuple(p["ngram_range"])
    p["dtype"] = np.dtype(p["dtype"]).type
    step = TfidfVectorizer(**p)
    vocabulary = {term: i for i, term in enumerate(node.vocabulary)}
    if len(vocabulary) != len(node.vocabulary):
        raise StateError(f"{where}.vocabulary: a term appears twice")
    if not vocabulary:
        raise StateError(f"{where}.vocabulary: empty")
    step.vocabulary_ = vocabulary
    step.fixed_vocabulary_ = False
    tfidf = TfidfTransformer(
        norm=step.norm,
        use_idf=step.use_idf,
        smooth_idf=step.smooth_idf,
        sublinear_tf=step.sublinear_tf,
    )
    tfidf.n_features_in_ = len(vocabulary)
    if node.params.use_idf:
        if node.idf is None:
            raise StateError(f"{where}: use_idf without an idf array")
        idf = take(node.idf, 1, (len(vocabulary),))
        if idf.dtype.kind != "f":
            raise StateError(f"array {node.idf!r} is {idf.dtype.str}, expected floats")
        tfidf.idf_ = idf
    step._tfidf = tfidf
    return step
