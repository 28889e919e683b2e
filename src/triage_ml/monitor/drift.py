"""Drift: do recent posts still look like the history the model was trained on?

Each signal of :mod:`triage_ml.monitor.signals` is compared with the bundle's reference by its
population-stability index (PSI) over the reference's bins (deciles for numbers, categories
for the rest, missing values as a bin of their own):

    PSI = sum over bins of (recent share - reference share) * ln(recent share / reference share)

A signal is flagged at ``PSI >= 0.1`` and called a major shift at ``PSI >= 0.25`` (the usual
reading of the index: below 0.1 no real change, 0.1-0.25 a shift worth a look, above 0.25 a
large one), each plus the PSI that sampling alone gives on average, ``(bins - 1) * (1 /
n_reference + 1 / n_recent)``: two samples of the same posts never have quite the same shares,
and with 400 recent posts over ten bins that noise alone is about 0.03. The PSI decides rather
than a test's p-value because a p-value answers "is there any difference", which with
thousands of posts is yes for changes too small to matter; the PSI measures how large the
change is and does not grow with the sample. For numeric signals the
Kolmogorov-Smirnov statistic (scipy.stats.kstest against the reference's quantiles) is shown
beside it. Vocabulary gets one more check the PSI cannot make: a new word (a product name, a
hashtag) in a few percent of posts moves the per-post out-of-vocabulary share too little to
register, so the share of posts holding the most common unknown word is compared with the same
figure on the held-out history (flagged at three times that, and at least 1.5% of posts and 5
posts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from triage_ml.monitor.signals import (
    MISSING,
    NONE,
    OTHER,
    bin_shares,
    frequent_new_terms,
    oov_counts,
    post_signals,
    signal_specs,
    top_new_term_share,
)
from triage_ml.store.bundle import BundleError

if TYPE_CHECKING:
    from triage_ml.decide.playbook import Playbook
    from triage_ml.store.bundle import Bundle

#: A signal whose PSI reaches this (plus the sampling noise allowance) is flagged.
PSI_THRESHOLD = 0.1
#: ... and this is a major shift.
PSI_MAJOR = 0.25
#: Unknown-word check: flagged when the most common unknown word is in at least this share of
#: recent posts, three times the held-out history's figure, and at least NEW_TERM_MIN_POSTS posts.
NEW_TERM_MIN_SHARE = 0.015
NEW_TERM_FACTOR = 3.0
NEW_TERM_MIN_POSTS = 5
#: Fewer recent posts than this: the figures are noisy and the result says so.
MIN_POSTS = 200
_FLOOR = 1e-4  # an empty bin's share, so that a category new or gone counts without inf


class NoReference(BundleError):
    """The bundle holds no reference statistics (trained before they were recorded)."""


@dataclass
class SignalDrift:
    """One signal: its PSI against the reference, and the two distributions."""

    name: str
    kind: str
    description: str
    psi: float
    flagged: bool
    bins: list[str]
    reference: list[float]
    recent: list[float]
    ks: float | None = None
    ks_pvalue: float | None = None
    statistic: str = "PSI"
    threshold: float = PSI_THRESHOLD
    note: str = ""

    @property
    def severity(self) -> str:
        if not self.flagged:
            return "ok"
        noise = self.threshold - PSI_THRESHOLD
        major = self.statistic == "PSI" and self.psi >= PSI_MAJOR + noise
        return "major shift" if major else "shift"


@dataclass
class DriftResult:
    model_version: str
    n_recent: int
    n_reference: int
    signals: list[SignalDrift]
    new_terms: list[tuple[str, int, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[SignalDrift]:
        return [s for s in self.signals if s.flagged]

    def by_name(self, name: str) -> SignalDrift:
        return next(s for s in self.signals if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "n_recent": self.n_recent,
            "n_reference": self.n_reference,
            "psi_threshold": PSI_THRESHOLD,
            "psi_major": PSI_MAJOR,
            "flagged": [s.name for s in self.flagged],
            "signals": [
                {
                    "name": s.name,
                    "description": s.description,
                    "statistic": s.statistic,
                    "value": round(s.psi, 6),
                    "threshold": s.threshold,
                    "flagged": s.flagged,
                    "severity": s.severity,
                    "ks": None if s.ks is None else round(s.ks, 6),
                    "ks_pvalue": s.ks_pvalue,
                    "bins": s.bins,
                    "reference": [round(x, 6) for x in s.reference],
                    "recent": [round(x, 6) for x in s.recent],
                    "note": s.note,
                }
                for s in self.signals
            ],
            "new_terms": [
                {"term": t, "posts": n, "share": round(x, 6)} for t, n, x in self.new_terms
            ],
            "notes": self.notes,
        }


def psi(reference: np.ndarray, recent: np.ndarray) -> float:
    """Population-stability index of two share vectors over the same bins."""
    ref = np.maximum(np.asarray(reference, dtype=float), _FLOOR)
    new = np.maximum(np.asarray(recent, dtype=float), _FLOOR)
    return float(np.sum((new - ref) * np.log(new / ref)))


def reference_of(bundle: Bundle) -> dict[str, Any]:
    """The bundle's reference statistics, or :class:`NoReference` with what to do."""
    profile = bundle.metadata.get("reference")
    if not isinstance(profile, dict) or not isinstance(profile.get("signals"), dict):
        where = bundle.path or bundle.model_version
        raise NoReference(
            f"{where}: this bundle holds no reference statistics of its training history "
            "(it was trained by an older triage-ml), so drift cannot be measured against it; "
            "retrain it with 'triage-ml train' on the same history to record them"
        )
    return profile


def noise_allowance(bins: int, n_reference: int, n_recent: int) -> float:
    """The PSI two samples of one population show on average (chi-square approximation)."""
    if n_reference <= 0 or n_recent <= 0:
        return 0.0
    return max(bins - 1, 0) * (1 / n_reference + 1 / n_recent)


def _verdict(name, kind, desc, reference, recent, bins, n_ref, n_new, **extra) -> SignalDrift:
    value = psi(np.array(reference), np.array(recent))
    threshold = PSI_THRESHOLD + noise_allowance(len(bins), n_ref, n_new)
    return SignalDrift(
        name,
        kind,
        desc,
        value,
        value >= threshold,
        bins,
        list(map(float, reference)),
        list(map(float, recent)),
        threshold=round(threshold, 4),
        **extra,
    )


def _numeric(name: str, desc: str, ref: dict, values: np.ndarray) -> SignalDrift:
    from scipy import stats

    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    edges = np.asarray(ref.get("edges") or [], dtype=float)
    ref_missing = float(ref.get("missing", 0.0))
    ref_shares = np.asarray(ref.get("shares") or [1.0], dtype=float) * (1 - ref_missing)
    new_missing = 1 - len(present) / len(values) if len(values) else 0.0
    new_shares = bin_shares(present, edges) * (1 - new_missing)
    labels = _bin_labels(edges)
    reference, recent = list(ref_shares), list(new_shares)
    if ref_missing > 0 or new_missing > 0:
        labels.append(MISSING)
        reference.append(ref_missing)
        recent.append(new_missing)
    ks = ks_p = None
    quantiles = np.asarray(ref.get("quantiles") or [], dtype=float)
    if len(quantiles) > 1 and len(present):
        probs = np.linspace(0, 1, len(quantiles))

        def cdf(x: np.ndarray) -> np.ndarray:
            # the reference's step CDF, read off its stored quantiles
            at = np.searchsorted(quantiles, x, side="right")
            return np.where(at >= len(quantiles), 1.0, probs[np.maximum(at - 1, 0)] * (at > 0))

        test = stats.kstest(present, cdf)
        ks, ks_p = float(test.statistic), float(test.pvalue)
    n_ref = int(ref.get("n", 0))
    return _verdict(
        name, "numeric", desc, reference, recent, labels, n_ref, len(values), ks=ks, ks_pvalue=ks_p
    )


def _bin_labels(edges: np.ndarray) -> list[str]:
    if len(edges) == 0:
        return ["all"]
    fmt = [f"{e:.3g}" for e in edges]
    out = [f"<= {fmt[0]}"]
    out += [f"{a} - {b}" for a, b in zip(fmt[:-1], fmt[1:], strict=True)]
    out.append(f"> {fmt[-1]}")
    return out


def _categorical(name: str, desc: str, ref: dict, values: list[str]) -> SignalDrift:
    ref_shares: dict[str, float] = dict(ref.get("shares") or {})
    counts = pd.Series(list(values), dtype=object).value_counts()
    n = max(int(counts.sum()), 1)
    bins = list(ref_shares)
    recent = [counts.get(b, 0) / n for b in bins]
    unseen = counts[[c not in ref_shares for c in counts.index]]
    note = ""
    if len(unseen):
        bins.append(OTHER)
        recent.append(float(unseen.sum()) / n)
        ref_shares[OTHER] = 0.0
        note = "not in the history: " + ", ".join(f"{k} ({v / n:.1%})" for k, v in unseen.items())
    reference = [float(ref_shares[b]) for b in bins]
    n_ref = int(ref.get("n", 0))
    return _verdict(name, "categorical", desc, reference, recent, bins, n_ref, n, note=note)


def _labelmix(name: str, desc: str, ref: dict, values: list[str], labels: list[str]) -> SignalDrift:
    ref_shares: dict[str, float] = dict(ref.get("shares") or {})
    rows = [str(v).split(";") if v else [] for v in values]
    n = max(len(rows), 1)
    bins = [*labels, NONE]
    recent = [sum(b in r for r in rows) / n for b in labels] + [sum(not r for r in rows) / n]
    reference = [float(ref_shares.get(b, 0.0)) for b in bins]
    # the PSI of the mix: each label's share of all label assignments (and of posts with none)
    drift = _verdict(
        name,
        "labelmix",
        desc,
        _normalised(reference),
        _normalised(recent),
        bins,
        int(ref.get("n", 0)),
        len(rows),
    )
    drift.reference, drift.recent = reference, recent  # shown as shares of posts
    return drift


def _normalised(shares: list[float]) -> np.ndarray:
    arr = np.asarray(shares, dtype=float)
    total = arr.sum()
    return arr / total if total > 0 else arr


def compare(
    profile: dict[str, Any],
    signals: pd.DataFrame,
    labels: list[str],
    unknown: list[list[str]] | None = None,
    model_version: str = "",
) -> DriftResult:
    """Compare recent posts' signals (``post_signals``) with a reference profile.

    ``unknown`` (the unknown words per post, from ``oov_counts``) adds the new-word check.
    """
    ref_signals = profile["signals"]
    out: list[SignalDrift] = []
    for spec in signal_specs(labels):
        ref = ref_signals.get(spec.name)
        if ref is None or spec.name not in signals:
            continue
        values = signals[spec.name]
        if spec.kind == "numeric":
            if values.isna().all() and ref.get("n", 0) and not ref.get("edges"):
                continue
            out.append(_numeric(spec.name, spec.description, ref, values.to_numpy(dtype=float)))
        elif spec.kind == "labelmix":
            out.append(_labelmix(spec.name, spec.description, ref, list(values), labels))
        else:
            out.append(_categorical(spec.name, spec.description, ref, list(values)))
    new_terms: list[tuple[str, int, float]] = []
    reference_terms = profile.get("new_terms")
    if unknown is not None and isinstance(reference_terms, dict):
        share, posts = top_new_term_share(unknown)
        ref_share = float(reference_terms.get("top_share", 0.0))
        threshold = max(NEW_TERM_MIN_SHARE, NEW_TERM_FACTOR * ref_share)
        flagged = share >= threshold and posts >= NEW_TERM_MIN_POSTS
        new_terms = frequent_new_terms(unknown, min_posts=NEW_TERM_MIN_POSTS)
        out.append(
            SignalDrift(
                "new_terms",
                "share",
                "share of posts holding the most common word the model never saw",
                share,
                flagged,
                ["posts with it"],
                [ref_share],
                [share],
                statistic="share",
                threshold=threshold,
                note=f"{posts} posts" if posts else "",
            )
        )
    n = len(signals)
    notes = []
    if n < MIN_POSTS:
        notes.append(
            f"only {n} recent posts: with fewer than {MIN_POSTS} the figures are noisy and a "
            "flag may be chance"
        )
    n_heldout = int(profile.get("n_heldout", 0))
    if n_heldout < MIN_POSTS:
        notes.append(
            f"the model's reference was measured on {n_heldout} held-out posts only: its "
            "model-output figures are noisy"
        )
    return DriftResult(
        model_version=model_version,
        n_recent=n,
        n_reference=int(profile.get("n_history", 0)),
        signals=out,
        new_terms=new_terms,
        notes=notes,
    )


def check_drift(
    bundle: Bundle, posts: pd.DataFrame, playbook: Playbook | None = None
) -> DriftResult:
    """Score recent posts (a canonical posts frame) and compare them with the bundle's
    training history. Raises :class:`NoReference` for a bundle without reference statistics."""
    from triage_ml.decide.scoring import score_posts

    profile = reference_of(bundle)
    preds = score_posts(bundle, posts, playbook, validated=True, with_reasons=False)
    found = oov_counts(bundle.triager, posts["text"])
    oov, unknown = found if found is not None else (None, None)
    signals = post_signals(bundle.triager, posts, preds, oov_share=oov)
    if oov is None:
        signals = signals.drop(columns="oov_share")
    return compare(profile, signals, bundle.labels, unknown, bundle.model_version)
