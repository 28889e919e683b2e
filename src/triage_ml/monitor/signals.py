"""What drift is measured on: per-post numeric signals, and the training history's reference.

A post becomes a row of signals that holds no text: the model's probability per label, its
predicted labels and tier, the urgency, the text's length in characters, its out-of-vocabulary
share (the share of its normalised word tokens that the model's fitted word vocabulary does not
know), and the metadata (channel, follower count, verified flag). :func:`reference_profile`
summarises the same signals of the training history as small JSON (quantile bin edges, bin
shares, category shares), which training stores in the bundle's ``metadata.json``; the drift
check (:mod:`triage_ml.monitor.drift`) compares recent posts with it.

Where the reference comes from: model-dependent signals (probabilities, predicted labels,
tiers, urgency, vocabulary) from the held-out posts of the training run, which the model did not
fit on (on its own training rows a model is over-confident and knows every word); the metadata
and text length from the whole history.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from triage_ml.decide.scoring import Predictions, ScoredRecords
    from triage_ml.model.triager import Triager

PROFILE_VERSION = 1
#: Quantile bins of a numeric signal (deciles of the reference).
N_BINS = 10
#: Reference quantiles kept for the KS statistic (0, 1, ..., 100 percent).
N_QUANTILES = 101
MISSING = "(missing)"
OTHER = "(other)"
NONE = "(none)"
TIERS = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class Signal:
    """One column of the signals frame: how it is summarised and where its reference is."""

    name: str
    kind: str  # numeric | categorical | labelmix
    source: str  # heldout | history
    description: str


def signal_specs(labels: list[str]) -> list[Signal]:
    """The signals of a model with this label set, in report order."""
    out = [
        Signal("predicted_labels", "labelmix", "heldout", "share of each predicted label"),
        Signal("tier", "categorical", "heldout", "share of each priority tier"),
        *[Signal(f"p_{lab}", "numeric", "heldout", f"probability of {lab}") for lab in labels],
        Signal("urgency", "numeric", "heldout", "urgency score"),
        Signal("oov_share", "numeric", "heldout", "share of a post's words the model never saw"),
        Signal("text_length", "numeric", "history", "characters per post"),
        Signal("channel", "categorical", "history", "share of each channel"),
        Signal("author_followers", "numeric", "history", "author follower count"),
        Signal("author_verified", "categorical", "history", "share of verified authors"),
    ]
    return out


# -------------------------------------------------------------------------------------------
# vocabulary


_VOCABULARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocabulary_parts(triager: Triager) -> tuple[Any, frozenset[str]] | None:
    """The model's own text normaliser and the single words of its fitted word vocabulary,
    or ``None`` when the model has no word TF-IDF block (then no vocabulary signal). Built
    once per model: the service asks for it on every scored batch."""
    try:
        return _VOCABULARIES[triager]
    except (KeyError, TypeError):
        pass
    parts = _vocabulary_parts(triager)
    with contextlib.suppress(TypeError):
        _VOCABULARIES[triager] = parts
    return parts


def _vocabulary_parts(triager: Triager) -> tuple[Any, frozenset[str]] | None:
    from triage_ml.model.features import word_vocabulary

    known = word_vocabulary(triager.features)
    if known is None:
        return None
    return triager.features.named_transformers_["text"].named_steps["normalise"], known


def oov_counts(triager: Triager, texts: pd.Series) -> tuple[np.ndarray, list[list[str]]] | None:
    """Per post, the share of its normalised words (tokens with a letter or digit) that the
    model's word vocabulary does not know, and those words; ``None`` without a vocabulary."""
    parts = vocabulary_parts(triager)
    if parts is None:
        return None
    normaliser, known = parts
    shares = np.zeros(len(texts))
    unknown: list[list[str]] = []
    for i, doc in enumerate(normaliser.transform(texts.astype(str).tolist())):
        shares[i], new = _unknown_words(doc, known)
        unknown.append(new)
    return shares, unknown


def _unknown_words(doc: str, known: frozenset[str]) -> tuple[float, list[str]]:
    """A normalised post's share of words (tokens with a letter or digit) outside ``known``,
    and those words."""
    words = [t for t in str(doc).split() if any(c.isalnum() for c in t)]
    new = [t for t in words if t not in known]
    return (len(new) / len(words) if words else 0.0), new


def top_new_term_share(unknown: list[list[str]]) -> tuple[float, int]:
    """Share of posts holding the most common unknown word, and how many posts hold it."""
    if not unknown:
        return 0.0, 0
    counts: Counter[str] = Counter()
    for words in unknown:
        counts.update(set(words))
    if not counts:
        return 0.0, 0
    _, n = counts.most_common(1)[0]
    return n / len(unknown), n


def frequent_new_terms(unknown: list[list[str]], min_posts: int, top: int = 10) -> list[tuple]:
    """The unknown words held by at least ``min_posts`` posts: ``(word, posts, share)``."""
    counts: Counter[str] = Counter()
    for words in unknown:
        counts.update(set(words))
    n = max(len(unknown), 1)
    return [(w, c, c / n) for w, c in counts.most_common(top) if c >= min_posts]


# -------------------------------------------------------------------------------------------
# the signals of a scored batch


def post_signals(
    triager: Triager,
    posts: pd.DataFrame,
    preds: Predictions,
    oov_share: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row of signals per post (no text): the model's outputs and the post's metadata.

    ``posts`` is a canonical posts frame and ``preds`` its predictions; ``oov_share`` is
    computed here when not given (it runs the model's normaliser once more).
    """
    return pd.DataFrame(signal_columns(triager, posts, preds, oov_share))


def post_signal_rows(triager: Triager, posts: pd.DataFrame, preds: Predictions) -> list[dict]:
    """The same signals as plain dicts, one per post, without building a frame (the service
    adds them to its drift window after every response)."""
    cols = signal_columns(triager, posts, preds)
    names = list(cols)
    values = [np.asarray(cols[n]).tolist() for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def plain_signal_rows(triager: Triager, scored: ScoredRecords) -> list[dict] | None:
    """:func:`post_signal_rows` of posts scored by the plain path, from the values it kept
    (no frame, no second pass of the normaliser): the same rows (tested). ``None`` when the
    scoring kept no values; the caller then builds the posts and predictions."""
    posts, docs, decided = scored.posts, scored.docs, scored.decided
    if posts is None or docs is None or decided is None:
        return None
    parts = vocabulary_parts(triager)
    names = np.array(decided.labels, dtype=object)
    rows = []
    for i, text in enumerate(posts.texts):
        row: dict[str, Any] = {
            "predicted_labels": ";".join(names[decided.predicted[i]]),
            "tier": str(decided.tier[i]),
        }
        for k, lab in enumerate(decided.labels):
            row[f"p_{lab}"] = float(decided.probabilities[i, k])
        row["urgency"] = float(decided.urgency[i])
        row["oov_share"] = _unknown_words(docs[i], parts[1])[0] if parts else float("nan")
        row["text_length"] = float(len(text))
        verified = posts.verified[i]
        row["channel"] = posts.channels[i]
        row["author_followers"] = float(posts.followers[i])
        row["author_verified"] = MISSING if np.isnan(verified) else str(bool(verified)).lower()
        rows.append(row)
    return rows


def signal_columns(
    triager: Triager,
    posts: pd.DataFrame,
    preds: Predictions,
    oov_share: np.ndarray | None = None,
) -> dict[str, Any]:
    if oov_share is None:
        found = oov_counts(triager, posts["text"])
        oov_share = found[0] if found is not None else np.full(len(posts), np.nan)
    cols: dict[str, Any] = {}
    names = np.array(preds.labels, dtype=object)
    cols["predicted_labels"] = [";".join(names[row]) for row in preds.predicted]
    cols["tier"] = np.asarray(preds.tier).astype(str)
    for k, lab in enumerate(preds.labels):
        cols[f"p_{lab}"] = preds.probabilities[:, k].astype(float)
    cols["urgency"] = np.asarray(preds.urgency, dtype=float)
    cols["oov_share"] = np.asarray(oov_share, dtype=float)
    cols["text_length"] = np.array([len(str(t)) for t in posts["text"].tolist()], dtype=float)
    cols.update(metadata_signals(posts))
    return cols


def metadata_signals(posts: pd.DataFrame) -> dict[str, Any]:
    """Channel, follower count and verified flag (missing kept as missing)."""
    n = len(posts)
    channel = posts["channel"] if "channel" in posts else pd.Series([None] * n)
    followers = posts["author_followers"] if "author_followers" in posts else pd.Series([None] * n)
    verified = posts["author_verified"] if "author_verified" in posts else pd.Series([None] * n)
    return {  # tolist() first: element access on a pandas (Arrow) column is slow
        "channel": [MISSING if _missing(c) else str(c) for c in channel.tolist()],
        "author_followers": pd.to_numeric(followers, errors="coerce").to_numpy(dtype=float),
        "author_verified": [
            MISSING if _missing(v) else str(bool(v)).lower() for v in verified.tolist()
        ],
    }


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


# -------------------------------------------------------------------------------------------
# summaries: the reference stored in the bundle, and the same binning for recent posts


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """Decile bin edges, the share of values in each bin, the share missing, and 101
    quantiles (for the KS statistic)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    n = len(values)
    if len(present) == 0:
        return {"n": n, "missing": 1.0 if n else 0.0, "edges": [], "shares": [], "quantiles": []}
    inner = np.quantile(present, np.linspace(0, 1, N_BINS + 1)[1:-1])
    edges = np.unique(inner)
    shares = bin_shares(present, edges)
    quantiles = np.quantile(present, np.linspace(0, 1, N_QUANTILES))
    return {
        "n": n,
        "missing": round(1 - len(present) / n, 6),
        "edges": [float(e) for e in edges],
        "shares": [round(float(s), 6) for s in shares],
        "quantiles": [float(q) for q in quantiles],
    }


def bin_shares(values: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    """Share of ``values`` in each bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    edges = np.asarray(edges, dtype=float)
    if len(values) == 0:
        return np.zeros(len(edges) + 1)
    idx = np.searchsorted(edges, values, side="left")
    return np.bincount(idx, minlength=len(edges) + 1) / len(values)


def categorical_summary(values: list[str] | pd.Series) -> dict[str, Any]:
    counts = pd.Series(list(values), dtype=object).value_counts()
    n = int(counts.sum())
    return {"n": n, "shares": {str(k): round(v / n, 6) for k, v in counts.items()} if n else {}}


def labelmix_summary(values: list[str] | pd.Series, labels: list[str]) -> dict[str, Any]:
    """Share of posts carrying each label, and of posts with none (a multi-label post counts
    for each of its labels, so the shares need not add up to 1)."""
    rows = [str(v).split(";") if v else [] for v in values]
    n = len(rows)
    shares = {lab: sum(lab in r for r in rows) / n if n else 0.0 for lab in labels}
    shares[NONE] = sum(not r for r in rows) / n if n else 0.0
    return {"n": n, "shares": {k: round(v, 6) for k, v in shares.items()}}


def reference_profile(
    triager: Triager,
    history: pd.DataFrame,
    heldout: pd.DataFrame,
    preds: Predictions,
) -> dict[str, Any]:
    """The reference statistics of a training history, as small JSON (no post text).

    ``history`` is the whole canonical training history; ``heldout`` its held-out posts and
    ``preds`` the model's predictions on them.
    """
    found = oov_counts(triager, heldout["text"])
    oov = found[0] if found is not None else np.full(len(heldout), np.nan)
    held = post_signals(triager, heldout, preds, oov_share=oov)
    whole = pd.DataFrame(metadata_signals(history))
    whole["text_length"] = history["text"].astype(str).str.len().to_numpy(dtype=float)
    signals: dict[str, Any] = {}
    for spec in signal_specs(list(triager.labels)):
        frame = held if spec.source == "heldout" else whole
        values = frame[spec.name]
        if spec.kind == "numeric":
            summary = numeric_summary(values.to_numpy(dtype=float))
        elif spec.kind == "labelmix":
            summary = labelmix_summary(values, list(triager.labels))
        else:
            summary = categorical_summary(values)
        signals[spec.name] = {"kind": spec.kind, "source": spec.source, **summary}
    profile: dict[str, Any] = {
        "version": PROFILE_VERSION,
        "n_history": len(history),
        "n_heldout": len(heldout),
        "signals": signals,
    }
    if found is not None:
        share, posts = top_new_term_share(found[1])
        profile["new_terms"] = {"top_share": round(share, 6), "top_posts": posts}
    return profile


def time_range(frame: pd.DataFrame) -> dict[str, str] | None:
    """First and last ``created_at`` of a canonical history (UTC, ISO-8601), or ``None`` when
    no row has one."""
    if "created_at" not in frame:
        return None
    times = pd.to_datetime(frame["created_at"], utc=True, errors="coerce").dropna()
    if times.empty:
        return None
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "first": times.min().strftime(fmt),
        "last": times.max().strftime(fmt),
        "rows_with_time": int(len(times)),
        "rows": int(len(frame)),
    }
