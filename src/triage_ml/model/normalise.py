"""Social-media text normalisation with spaCy, as a scikit-learn transformer.

The normaliser lives inside the saved pipeline, so training and serving clean text the same way.
It replaces rather than deletes: handles become ``<user>``, links ``<url>``; negations, emoji,
``!!!`` and elongations ("sooo") are kept because they carry complaint and urgency signal.
The spaCy pipeline is loaded by name and cached per process, never pickled, and rebuilt when the
token strings it has collected pass a bound (see :func:`load_nlp`).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

USER, URL, EMAIL, NUMBER, HASHTAG, ELONGATED = (
    "<user>",
    "<url>",
    "<email>",
    "<num>",
    "<hashtag>",
    "<elong>",
)

_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
_REPEATED_PUNCT = re.compile(r"([!?.])\1{2,}")
_NEGATIONS = frozenset(
    {"not", "no", "never", "nothing", "nobody", "none", "nor", "cannot", "without"}
)
_CONTRACTION_STEMS = {"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}
_SCOPE_END = frozenset(".,!?;:")
_URL_LIKE = re.compile(r"^(https?://|www\.)|\.(com|net|org|co|io|ly|uk)(/|$)", re.IGNORECASE)


def _import_spacy():
    """``import spacy`` without letting thinc import torch.

    thinc (spaCy's ML layer) imports torch at import time whenever torch is installed, for
    shims that a tokenizer-only pipeline never uses; that would load torch (~1-2 s, hundreds of
    MB) into every scoring process of an install that has the ``finetune`` extra, and scoring
    must not need torch. When neither thinc nor torch is loaded yet, torch is hidden for the
    duration of the import only; a later ``import torch`` (fine-tuning) works as usual. A
    transformer-based spaCy package (``*_trf``) wants thinc's torch support: load torch before
    triage-ml in that case.
    """
    import sys

    if "thinc" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail fast
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


MAX_NEW_STRINGS = 100_000
"""A pipeline is rebuilt once its vocabulary holds this many strings more than when it was
built: about 60 MB of RSS, reached after ~450,000 posts of the synthetic sample."""

_PIPELINES: dict[tuple[str, bool], tuple[object, int]] = {}  # (pipeline, strings when built)
_LOCK = threading.Lock()


def load_nlp(model: str = "blank:en", lemmatize: bool = False):
    """The spaCy pipeline ``model``, built once per process (and again when it has grown).

    ``blank:LANG`` builds a blank pipeline (no download needed); any other name is an installed
    spaCy package (e.g. ``en_core_web_sm``). Hashtags are kept whole by the tokenizer.

    spaCy's tokenizer adds every string it has not seen (handles, order numbers, links) to the
    pipeline's vocabulary and keeps it for the pipeline's life: +17 MB per 100,000 sample
    posts, without bound in the service or a streamed backfill. :func:`retire_if_grown` drops
    a pipeline that has collected :data:`MAX_NEW_STRINGS`, and the next call builds a fresh
    one (0.15-0.2 s). spaCy's memory zones free such strings too, but they switch the
    tokenizer's cache off: 2.5x slower tokenising, measured here.
    """
    key = (model, lemmatize)
    cached = _PIPELINES.get(key)
    if cached is None:
        with _LOCK:
            cached = _PIPELINES.get(key)
            if cached is None:
                nlp = _build_nlp(model, lemmatize)
                cached = _PIPELINES[key] = (nlp, len(nlp.vocab.strings))
    return cached[0]


def retire_if_grown(model: str, lemmatize: bool = False) -> bool:
    """Drop the cached pipeline once its vocabulary has grown by :data:`MAX_NEW_STRINGS`; a
    thread still using it finishes with it. Returns whether it was dropped."""
    key = (model, lemmatize)
    cached = _PIPELINES.get(key)
    if cached is None or len(cached[0].vocab.strings) - cached[1] < MAX_NEW_STRINGS:
        return False
    with _LOCK:
        if _PIPELINES.get(key) is not cached:
            return False
        del _PIPELINES[key]
    return True


def _build_nlp(model: str, lemmatize: bool):
    spacy = _import_spacy()

    if model.startswith("blank:"):
        nlp = spacy.blank(model.split(":", 1)[1])
    else:
        try:
            nlp = spacy.load(model, exclude=["parser", "ner", "textcat"])
        except OSError as err:
            raise ValueError(
                f"spaCy model {model!r} is not installed; use 'blank:en' or install the package"
            ) from err
    # keep '#hashtag' together: drop '#' from the prefixes, split before an inner '#word'
    prefixes = [p for p in nlp.Defaults.prefixes if p not in ("#", r"\#")]
    nlp.tokenizer.prefix_search = spacy.util.compile_prefix_regex(prefixes).search
    infixes = list(nlp.Defaults.infixes) + [r"(?<=\w)(?=#\w)"]
    nlp.tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer
    if lemmatize and "lemmatizer" not in nlp.pipe_names:
        try:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
            nlp.initialize()
        except Exception as err:  # spaCy raises several types when lookup tables are missing
            raise ValueError(
                "lemmatize: true needs the lookup tables: pip install spacy-lookups-data"
            ) from err
    return nlp


def _normalise_doc(doc, lemmatize: bool, mark_negation: bool) -> str:
    out: list[str] = []
    negated = False
    tokens = list(doc)
    for i, tok in enumerate(tokens):
        text = tok.text
        low = text.lower()
        if text.startswith("@") and len(text) > 1:
            piece = [USER]
        elif tok.like_email:
            piece = [EMAIL]
        elif tok.like_url or _URL_LIKE.search(text):
            piece = [URL]
        elif text.startswith("#") and len(text) > 1:
            piece = [HASHTAG, _ELONGATION.sub(r"\1\1", low[1:])]
        elif low == "n't" or low == "nt" and i > 0 and not tokens[i - 1].whitespace_:
            piece = ["not"]
        elif low in _CONTRACTION_STEMS and i + 1 < len(tokens) and tokens[i + 1].lower_ == "n't":
            piece = [_CONTRACTION_STEMS[low]]
        elif tok.like_num and sum(c.isdigit() for c in text) >= 5:
            piece = [NUMBER]
        elif (
            low in ("!", "?")
            and out
            and set(out[-1]) == {low}
            and i > 0
            and not tokens[i - 1].whitespace_
        ):
            out[-1] = (out[-1] + low)[:3]  # "!!!!!" is split by the tokenizer: rejoin, cap at 3
            continue
        else:
            word = tok.lemma_.lower() if lemmatize and tok.lemma_ else low
            squeezed = word
            if len(word) > 2:  # both patterns need a run of three (most words are shorter)
                squeezed = _ELONGATION.sub(r"\1\1", squeezed)
                if "!" in squeezed or "?" in squeezed or "." in squeezed:
                    squeezed = _REPEATED_PUNCT.sub(r"\1\1\1", squeezed)
            piece = [squeezed]
            if squeezed != word and squeezed[:1].isalpha():
                piece.append(ELONGATED)
        if mark_negation:
            if piece[0] in _SCOPE_END or piece[0][:1] in _SCOPE_END:
                negated = False
            elif negated and piece[0][:1].isalpha():
                piece = [piece[0] + "_NEG", *piece[1:]]
            if piece[0] in _NEGATIONS:
                negated = True
        out.extend(piece)
    return " ".join(out)


class SpacyNormaliser(TransformerMixin, BaseEstimator):
    """Turn raw posts into normalised, space-separated token strings.

    Parameters
    ----------
    model : spaCy pipeline name, ``blank:en`` by default.
    lemmatize : replace words by their lookup lemma (needs ``spacy-lookups-data``).
    mark_negation : suffix words in a negation's scope with ``_NEG``.
    batch_size : texts per ``nlp.pipe`` batch.
    """

    def __init__(
        self,
        model: str = "blank:en",
        lemmatize: bool = False,
        mark_negation: bool = False,
        batch_size: int = 512,
    ):
        self.model = model
        self.lemmatize = lemmatize
        self.mark_negation = mark_negation
        self.batch_size = batch_size

    def fit(self, X: Iterable[str], y=None) -> SpacyNormaliser:
        load_nlp(self.model, self.lemmatize)  # fail early when the model is missing
        self.n_features_in_ = 1
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        raw = _as_list(X)
        if len(raw) > RECENT_BATCH:
            return np.array(self._normalise(raw), dtype=object)
        # a scored batch is normalised twice in the service: once for its features, once for
        # the drift window's out-of-vocabulary share; the second time comes from here
        recent = self.__dict__.get("_recent")
        if recent is None:
            recent = self.__dict__.setdefault("_recent", _Recent(RECENT_CHARS))
        keys = [str(t) for t in raw]
        found = recent.get_many(keys)
        missing = [k for k, doc in zip(keys, found, strict=True) if doc is None]
        if missing:
            made = dict(zip(missing, self._normalise(missing), strict=True))
            recent.put_many(made)
            found = [made[k] if doc is None else doc for k, doc in zip(keys, found, strict=True)]
        return np.array(found, dtype=object)

    def _normalise(self, texts: list) -> list[str]:
        nlp = load_nlp(self.model, self.lemmatize)
        texts = [html.unescape(str(t)) for t in texts]
        if self.lemmatize:
            docs = nlp.pipe(texts, batch_size=self.batch_size)
        else:
            docs = nlp.tokenizer.pipe(texts, batch_size=self.batch_size)
        out = [_normalise_doc(d, self.lemmatize, self.mark_negation) for d in docs]
        retire_if_grown(self.model, self.lemmatize)  # bounded memory: see load_nlp
        return out

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state.pop("_recent", None)  # a cache (with a lock), not part of the fitted normaliser
        return state

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(["text"], dtype=object)


#: batches of at most this many texts are remembered (the service's requests), larger ones
#: (training, ``predict`` over a file) never are
RECENT_BATCH = 1_000
#: how much a normaliser remembers, in characters of texts and their normalised forms (a few
#: requests' worth; about 4 MB at most)
RECENT_CHARS = 1_000_000


class _Recent:
    """The latest normalised texts, oldest dropped first once they hold more than ``chars``
    characters; thread-safe (the service scores in worker threads and fills its drift window
    in another)."""

    def __init__(self, chars: int) -> None:
        self.chars = chars
        self._docs: dict[str, str] = {}
        self._held = 0
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> list[str | None]:
        with self._lock:
            return [self._docs.get(k) for k in keys]

    def put_many(self, docs: dict[str, str]) -> None:
        with self._lock:
            for key, doc in docs.items():
                if key not in self._docs:
                    self._docs[key] = doc
                    self._held += len(key) + len(doc)
            while self._held > self.chars and self._docs:
                key = next(iter(self._docs))
                self._held -= len(key) + len(self._docs.pop(key))

    def __len__(self) -> int:
        return len(self._docs)


def _as_list(X) -> list:
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        X = X.iloc[:, 0]
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = X[:, 0]
    return list(X)
