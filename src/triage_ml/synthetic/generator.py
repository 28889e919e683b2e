"""Synthetic labelled history for demos and tests.

The sample exists so that every part of triage-ml (training, the notebooks, the service, the
tests) can run on a fresh machine without a brand's private export. It is built to be *hard
enough to be honest*: texts are composed from several hundred templates and slot fillers that
share vocabulary across labels, with sarcasm, borderline questions, typos, emoji and about 6%
label noise, so a model has to generalise instead of memorising. It is still synthetic: numbers
measured on it say that the code works, never how well triage-ml works on real posts (use the
real data sets in ``../shared/datasets`` for that). See ``data/README.md`` for the data card.

All randomness comes from one ``numpy.random.Generator`` seeded by ``seed``: the same arguments
give the same frame on the same numpy/Python versions (tests/synthetic/test_pinned_output.py
pins it byte for byte). This module draws the structure (authors, scenarios, labels, channels,
urgency, noise, times); :mod:`~triage_ml.synthetic.text` writes the posts from the words in
``phrases.json`` (:mod:`~triage_ml.synthetic.phrasebook`).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from typing import Literal, overload

import numpy as np
import pandas as pd
from scipy.special import expit

from triage_ml.synthetic.phrasebook import FAMILIES, Scenario, phrasebook
from triage_ml.synthetic.text import compose_texts

__all__ = [
    "CHANNELS",
    "COLUMNS",
    "LABELS",
    "NOISE_RATE",
    "URGENCY_MISSING_RATE",
    "generate_sample",
    "iter_sample",
]

LABELS: tuple[str, ...] = ("complaint", "sales_lead", "product_review", "influencer")
CHANNELS: tuple[str, ...] = (
    "twitter",
    "facebook",
    "instagram",
    "linkedin",
    "forum",
    "review_site",
    "email",
)
COLUMNS: tuple[str, ...] = (
    "id",
    "text",
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
)

#: Probability that a row's label set is corrupted (one label flipped, dropped or added).
#: Real annotation is noisy too; the exact rows are available via ``return_noise_mask=True``.
NOISE_RATE: float = 0.06
#: Probability that a row's urgency is missing (completely at random).
URGENCY_MISSING_RATE: float = 0.10

_COMPLAINT = LABELS.index("complaint")


# channel mix per family, columns in CHANNELS order; the influencer row is blended in for them
_CHANNEL_MIX = {
    "complaint": (0.38, 0.20, 0.06, 0.01, 0.10, 0.05, 0.20),
    "lead": (0.18, 0.15, 0.12, 0.22, 0.06, 0.02, 0.25),
    "review": (0.10, 0.10, 0.14, 0.02, 0.12, 0.48, 0.04),
    "none": (0.36, 0.20, 0.22, 0.08, 0.11, 0.01, 0.02),
    "influencer": (0.30, 0.08, 0.38, 0.16, 0.03, 0.04, 0.01),
}

# Urgency cues, matched on the lowercased text before typos (annotators read meaning, not
# spelling). Weights add up to at most _CUE_CAP on top of the label baseline.
_URGENCY_CUES: tuple[tuple[str, float], ...] = (
    (r"\b(?:third|fourth|fifth|sixth|3rd|4th) (?:time|faulty|week)", 0.14),
    (r"still (?:waiting|hasn't|haven't|no |not )|no (?:reply|answer|response)|never (?:came|got)",
     0.10),
    (r"cancel", 0.10),
    (r"refund|money back|overcharged|charged (?:twice|me)", 0.08),
    (r"outage|\bdown\b|offline|can't log in|crashes|not loading|can't work", 0.15),
    (r"urgent|asap|today|immediately|escalate", 0.12),
    (r"!!", 0.06),
    (r"fire|smoke|burn|sparks|overheat|melted|swelling|shock|dangerous", 0.35),
    (r"consumer protection|lawyer|chargeback", 0.12),
    (r"hacked|fraud|without permission|never made|locked out", 0.20),
    (r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|need it before", 0.06),
)  # fmt: skip
_CUE_CAP = 0.45
_LABEL_BASE = {"complaint": 0.40, "sales_lead": 0.26, "product_review": 0.13}
_UNLABELLED_BASE = 0.05


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@overload
def generate_sample(
    rows: int = ...,
    *,
    seed: int = ...,
    start: str = ...,
    return_noise_mask: Literal[False] = ...,
) -> pd.DataFrame: ...
@overload
def generate_sample(
    rows: int = ...,
    *,
    seed: int = ...,
    start: str = ...,
    return_noise_mask: Literal[True],
) -> tuple[pd.DataFrame, pd.Series]: ...
def generate_sample(
    rows: int = 5000,
    *,
    seed: int = 42,
    start: str = "2026-01-05T08:00:00Z",
    return_noise_mask: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.Series]:
    """Generate a synthetic labelled history in the input contract of DESIGN.md.

    Lets demos, notebooks and tests run without a real export. The frame is sorted by
    ``created_at`` (ids follow that order). Not for accuracy claims: see ``data/README.md``.

    Parameters
    ----------
    rows
        Number of posts (>= 0).
    seed
        Seed of the ``numpy.random.Generator`` all randomness derives from.
    start
        ISO-8601 time of the earliest possible post; naive times are taken as UTC.
    return_noise_mask
        Also return a boolean Series (aligned with the frame) marking rows whose labels were
        corrupted on purpose (rate ``NOISE_RATE``), e.g. to test label-error detection.
    """
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    chunks = list(_generate(int(rows), seed, _start_time(start), chunk_rows=None))
    frame, noise = chunks[0]
    if return_noise_mask:
        return frame, noise
    return frame


def iter_sample(
    rows: int = 5000,
    *,
    seed: int = 42,
    start: str = "2026-01-05T08:00:00Z",
    chunk_rows: int = 50_000,
) -> Iterator[pd.DataFrame]:
    """:func:`generate_sample` in chunks of ``chunk_rows`` posts, for histories too large to
    hold in memory: the chunks, concatenated, are the same frame for the same arguments (the
    same bytes once written).

    The post texts, the bulk of the memory, are written to a temporary file as they are
    composed and read back in output (time) order; what stays in memory is about 100 bytes a
    post of numbers (authors, labels, times), plus one chunk.
    """
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    for frame, _ in _generate(int(rows), seed, _start_time(start), chunk_rows=chunk_rows):
        yield frame


def _start_time(start: str) -> pd.Timestamp:
    try:
        start_ts = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"start must be an ISO-8601 time such as '2026-01-05T08:00:00Z', got {start!r}"
        ) from exc
    return start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts.tz_convert("UTC")


def _generate(
    n: int, seed: int, start_ts: pd.Timestamp, chunk_rows: int | None
) -> Iterator[tuple[pd.DataFrame, pd.Series]]:
    """The sample as (frame, noise mask) chunks in output order; one chunk when
    ``chunk_rows`` is None. Every random draw happens in the same order whatever the chunks."""
    rng = np.random.default_rng(seed)
    scenarios = phrasebook().scenarios
    step = chunk_rows or max(n, 1)

    followers, verified, influencer = _draw_authors(rng, n)
    scen_idx = _draw_scenarios(rng, scenarios, influencer)
    clean = _clean_labels(rng, scenarios, scen_idx, influencer)
    channel_idx = _draw_channels(rng, scenarios, scen_idx, influencer)

    text_rng = random.Random(int(rng.integers(0, 2**63 - 1)))
    cues = np.zeros(n)
    with _Texts(spill=step < n) as texts:
        for a in range(0, n, step):  # compose_texts draws from text_rng post after post
            b = min(a + step, n)
            composed, styled = compose_texts(
                text_rng,
                [scenarios[i] for i in scen_idx[a:b]],
                [CHANNELS[c] for c in channel_idx[a:b]],
                influencer[a:b],
                clean[a:b, _COMPLAINT],
            )
            cues[a:b] = _urgency_cues(clean[a:b], styled)
            texts.append(composed)

        urgency = _urgency(rng, clean, influencer, cues)
        noisy, noise_mask = _add_label_noise(rng, clean)
        seconds = _draw_times(rng, n, start_ts, scenarios, scen_idx, channel_idx)

        order = np.argsort(seconds, kind="stable")
        origin = np.datetime64(start_ts.tz_localize(None).floor("s"), "s")
        for a in range(0, max(n, 1), step):
            b = min(a + step, n)
            idx = order[a:b]
            created = np.datetime_as_string(origin + seconds[idx], unit="s").astype(object) + "Z"
            frame = pd.DataFrame(
                {
                    "id": [f"s-{i:06d}" for i in range(a + 1, b + 1)],
                    "text": texts.take(idx),
                    "created_at": created,
                    "channel": np.asarray(CHANNELS, dtype=object)[channel_idx[idx]],
                    "author_followers": followers[idx].astype(np.int64),
                    "author_verified": verified[idx].astype(bool),
                    "labels": _join_labels(noisy[idx]),
                    "urgency": urgency[idx],
                },
                columns=list(COLUMNS),
                index=pd.RangeIndex(a, b),
            )
            yield frame, pd.Series(noise_mask[idx], index=frame.index, name="label_noise")


class _Texts:
    """The composed texts in generation order: a list, or a temporary file when streaming
    (so that a 10M-post history never holds its texts in memory)."""

    def __init__(self, spill: bool) -> None:
        self.spill = spill
        self._items: list[str] = []
        self._file = None
        self._ends: list[np.ndarray] = []
        self._offsets: np.ndarray | None = None
        self._written = 0

    def __enter__(self) -> _Texts:
        if self.spill:
            self._file = tempfile.TemporaryFile()
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()

    def append(self, texts: list[str]) -> None:
        if not self.spill:
            self._items.extend(texts)
            return
        encoded = [t.encode("utf-8") for t in texts]
        self._file.write(b"".join(encoded))
        ends = self._written + np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self._written = int(ends[-1]) if len(ends) else self._written
        self._ends.append(ends)
        self._offsets = None

    def take(self, idx: np.ndarray) -> np.ndarray:
        if not self.spill:
            return np.asarray(self._items, dtype=object)[idx]
        if self._offsets is None:
            self._file.flush()
            self._offsets = np.concatenate([np.zeros(1, dtype=np.int64), *self._ends])
            self._ends = [self._offsets[1:]]
        fd = self._file.fileno()
        starts, stops = self._offsets[idx], self._offsets[idx + 1]
        out = np.empty(len(idx), dtype=object)
        for k, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
            out[k] = os.pread(fd, b - a, a).decode("utf-8")
        return out


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def _draw_authors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Heavy-tailed reach; verified and the latent influencer both rise smoothly with it.

    No follower threshold decides anything: the influencer probability is a logistic curve in
    log10(followers) (+ verified), so there are 3k-follower creators and 200k-follower
    accounts that are not influencers (brands, journalists, celebrities off-topic).
    """
    # a mixture: everyday users, and a smaller population of people who build an audience
    creator = rng.random(n) < 0.15
    log10_f = np.where(creator, rng.normal(4.1, 0.7, n), rng.normal(2.3, 0.85, n))
    followers = np.floor(10 ** np.clip(log10_f, 0, 7.3) - 1).astype(np.int64)
    followers[rng.random(n) < 0.02] = 0
    followers = np.maximum(followers, 0)
    lf = np.log10(followers + 1.0)
    verified = rng.random(n) < 0.01 + 0.8 * expit(1.8 * (lf - 5.0))
    # capped below 1: large brand, news and celebrity accounts are not creators; a small floor
    # lets a few nano-creators through
    p_infl = 0.01 + 0.9 * expit(2.0 * (lf - 4.0) + 1.2 * verified + 0.5 * creator)
    influencer = rng.random(n) < p_infl
    return followers, verified, influencer


def _draw_scenarios(
    rng: np.random.Generator, scenarios: tuple[Scenario, ...], influencer: np.ndarray
) -> np.ndarray:
    """Index of each post's scenario; `infl` shifts the mix for influencers."""
    w = np.array([s.weight for s in scenarios])
    wi = w * np.array([s.infl for s in scenarios])
    cum = np.cumsum(w) / w.sum()
    cum_i = np.cumsum(wi) / wi.sum()
    u = rng.random(influencer.shape[0])
    idx = np.where(
        influencer, np.searchsorted(cum_i, u, side="right"), np.searchsorted(cum, u, side="right")
    )
    return np.minimum(idx, len(scenarios) - 1)


def _clean_labels(
    rng: np.random.Generator,
    scenarios: tuple[Scenario, ...],
    scen_idx: np.ndarray,
    influencer: np.ndarray,
) -> np.ndarray:
    """Labels as a careful annotator would give them (before deliberate noise)."""
    n = scen_idx.shape[0]
    table = np.zeros((len(scenarios), len(LABELS)), dtype=bool)
    maybe = np.zeros((len(scenarios), len(LABELS)))
    for i, s in enumerate(scenarios):
        for lab in s.labels:
            table[i, LABELS.index(lab)] = True
        for lab, p in s.maybe:
            maybe[i, LABELS.index(lab)] = p
    labels = table[scen_idx].copy()
    labels |= rng.random((n, len(LABELS))) < maybe[scen_idx]
    labels[:, LABELS.index("influencer")] = influencer
    return labels


def _draw_channels(
    rng: np.random.Generator,
    scenarios: tuple[Scenario, ...],
    scen_idx: np.ndarray,
    influencer: np.ndarray,
) -> np.ndarray:
    fam = np.array([FAMILIES.index(s.family) for s in scenarios])[scen_idx]
    mix = np.array([_CHANNEL_MIX[f] for f in FAMILIES])
    mix = mix / mix.sum(axis=1, keepdims=True)
    probs = mix[fam]
    infl_mix = np.array(_CHANNEL_MIX["influencer"]) / sum(_CHANNEL_MIX["influencer"])
    probs = np.where(influencer[:, None], 0.5 * probs + 0.5 * infl_mix, probs)
    cum = np.cumsum(probs, axis=1)
    u = rng.random(scen_idx.shape[0])[:, None]
    return np.minimum((u > cum).sum(axis=1), len(CHANNELS) - 1)


def _urgency_cues(labels: np.ndarray, styled: list[str]) -> np.ndarray:
    """Each post's urgency from its text cues (before typos), capped; post by post, so it can
    be computed a chunk at a time."""
    n = labels.shape[0]
    raw = pd.Series(styled, dtype=object)
    lowered = raw.str.lower()
    cues = np.zeros(n)
    for pattern, weight in _URGENCY_CUES:
        cues += weight * lowered.str.contains(pattern, regex=True).to_numpy(dtype=bool)
    # a shouted post reads as more urgent
    cues += 0.05 * raw.str.contains(r"[A-Z]{3,} [A-Z]{3,}", regex=True).to_numpy(dtype=bool)
    complaint = labels[:, LABELS.index("complaint")]
    # cues count fully on complaints, half elsewhere ("cancel my order?" from a lead)
    return np.minimum(cues, _CUE_CAP) * np.where(complaint, 1.0, 0.5)


def _urgency(
    rng: np.random.Generator, labels: np.ndarray, influencer: np.ndarray, cues: np.ndarray
) -> np.ndarray:
    """Urgency from the true labels, text cues and reach, plus annotator noise; 10% missing."""
    n = labels.shape[0]
    base = np.full(n, _UNLABELLED_BASE)
    for lab, b in _LABEL_BASE.items():
        base = np.where(labels[:, LABELS.index(lab)], np.maximum(base, b), base)
    if n == 0:
        return base
    value = base + cues + 0.07 * influencer + rng.normal(0.0, 0.07, n)
    value = np.round(np.clip(value, 0.0, 1.0), 2)
    value[rng.random(n) < URGENCY_MISSING_RATE] = np.nan
    return value


def _add_label_noise(rng: np.random.Generator, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt NOISE_RATE of rows: flip one label into another, drop one, or add one.

    Every noised row ends with a label set different from its clean one, so the mask is exact.
    """
    n = clean.shape[0]
    noisy = clean.copy()
    mask = rng.random(n) < NOISE_RATE
    ops = rng.random(n)
    picks = rng.random((n, 2))
    for i in np.flatnonzero(mask):
        present = np.flatnonzero(noisy[i])
        absent = np.flatnonzero(~noisy[i])
        op = ops[i]
        if present.size and absent.size and op < 0.4:  # flip: one label replaced by another
            noisy[i, present[int(picks[i, 0] * present.size)]] = False
            noisy[i, absent[int(picks[i, 1] * absent.size)]] = True
        elif present.size and (op < 0.7 or not absent.size):  # drop
            noisy[i, present[int(picks[i, 0] * present.size)]] = False
        else:  # add
            noisy[i, absent[int(picks[i, 1] * absent.size)]] = True
    return noisy, mask


def _join_labels(labels: np.ndarray) -> np.ndarray:
    names = np.asarray(LABELS, dtype=object)
    return np.array([";".join(names[row]) for row in labels], dtype=object)


# hourly activity (UTC, a UK/EU audience): quiet nights, a lunch and an evening peak
_HOURLY_SOCIAL = (
    0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.0, 2.5, 2.7, 2.8,
    3.0, 2.8, 2.6, 2.5, 2.6, 2.8, 3.1, 3.4, 3.3, 2.8, 2.1, 1.4,
)  # fmt: skip
# LinkedIn and e-mail follow office hours
_HOURLY_WORK = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 1.2, 3.0, 3.8, 3.9, 3.7,
    3.0, 3.5, 3.6, 3.4, 3.0, 2.2, 1.2, 0.8, 0.6, 0.5, 0.4, 0.3,
)  # fmt: skip


def _draw_times(
    rng: np.random.Generator,
    n: int,
    start: pd.Timestamp,
    scenarios: tuple[Scenario, ...],
    scen_idx: np.ndarray,
    channel_idx: np.ndarray,
) -> np.ndarray:
    """Seconds after ``start``: weekly and daily rhythm, slow growth, a few outage bursts."""
    span = int(np.clip(round(n / 50), 14, 180))
    day = np.arange(span)
    weekday = (start.dayofweek + day) % 7
    w = np.where(weekday >= 5, 0.7, 1.0) * (1.0 + 0.4 * day / span) * rng.gamma(25, 1 / 25, span)
    d = rng.choice(span, size=n, p=w / w.sum())
    work = np.isin(channel_idx, [CHANNELS.index("linkedin"), CHANNELS.index("email")])
    cum_s = np.cumsum(_HOURLY_SOCIAL) / sum(_HOURLY_SOCIAL)
    cum_w = np.cumsum(_HOURLY_WORK) / sum(_HOURLY_WORK)
    u = rng.random(n)
    hour = np.where(work, np.searchsorted(cum_w, u), np.searchsorted(cum_s, u))
    hour = np.minimum(hour, 23)
    midnight = start.floor("D")
    offset = (start - midnight).total_seconds()
    seconds = d * 86400 + hour * 3600 + rng.integers(0, 3600, n) - offset
    seconds = np.where(seconds < 0, seconds + 86400, seconds)

    # outages: most outage complaints pile up in a few incident windows
    n_incidents = max(1, span // 30)
    inc_start = rng.uniform(0, span - 1, n_incidents) * 86400
    inc_len = rng.uniform(3, 10, n_incidents) * 3600
    outage = scen_idx == [s.name for s in scenarios].index("outage")
    in_burst = outage & (rng.random(n) < 0.7)
    which = rng.integers(0, n_incidents, n)
    burst_t = inc_start[which] + np.minimum(rng.exponential(inc_len[which] / 3), inc_len[which])
    seconds = np.where(in_burst, burst_t, seconds)
    return np.floor(seconds).astype("timedelta64[s]")
