"""Scoring: posts in, DESIGN.md's prediction records out (nested JSON or the flat table).

One function, `score_posts`, is shared by the CLI, the HTTP service, the MLflow pyfunc and the
review notebook, so they all return the same numbers and the same reasons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from triage_ml.contract.fastpath import PlainPosts, plain_posts
from triage_ml.contract.validation import validate_posts
from triage_ml.decide.playbook import Playbook, decisions, derived_urgency, prioritise
from triage_ml.model.compiled import plain_features, score_plain

if TYPE_CHECKING:  # annotations only: store sits above decide (docs/architecture.md)
    from triage_ml.store.bundle import Bundle


@dataclass
class Predictions:
    """A scored batch, column-oriented; `records` and `flat` give the two output forms."""

    ids: list[str]
    labels: list[str]
    probabilities: np.ndarray
    predicted: np.ndarray
    needs_human: np.ndarray
    urgency: np.ndarray
    tier: np.ndarray
    score: np.ndarray
    respond_within_minutes: np.ndarray
    respond_by: pd.Series
    route: np.ndarray
    escalate: np.ndarray
    reasons: list[list[dict]]
    model_version: str

    def __len__(self) -> int:
        return len(self.ids)

    def predicted_labels(self) -> list[list[str]]:
        names = np.array(self.labels, dtype=object)
        return [list(names[row]) for row in self.predicted]

    def records(self) -> list[dict]:
        """Nested records: the API and ``predict --out x.jsonl`` form."""
        return _records(self, _iso(self.respond_by))

    def flat(self) -> pd.DataFrame:
        """One row per post, one column per field: CSV, Parquet, Spark and the MLflow pyfunc."""
        cols: dict[str, object] = {"id": self.ids}
        for k, lab in enumerate(self.labels):
            cols[f"p_{lab}"] = np.round(self.probabilities[:, k], 4)
            cols[f"is_{lab}"] = self.predicted[:, k].astype(bool)
        cols["predicted_labels"] = [";".join(x) for x in self.predicted_labels()]
        cols["urgency"] = np.round(self.urgency, 4)
        cols["priority_tier"] = self.tier.astype(str)
        cols["priority_score"] = self.score.astype(float)
        cols["respond_within_minutes"] = self.respond_within_minutes.astype(int)
        cols["respond_by"] = _iso(self.respond_by)
        cols["route"] = self.route.astype(str)
        cols["escalate"] = self.escalate.astype(bool)
        cols["needs_human"] = self.needs_human.astype(bool)
        cols["reasons"] = [json.dumps(r, ensure_ascii=False) for r in self.reasons]
        cols["model_version"] = self.model_version
        return pd.DataFrame(cols)


def _records(p: Predictions | _Plain, respond_by: list[str]) -> list[dict]:
    """The nested records of scored posts (``respond_by`` already in ISO form)."""
    out = []
    proba = np.round(p.probabilities, 4)
    for i, post_id in enumerate(p.ids):
        out.append(
            {
                "id": post_id,
                "labels": {
                    lab: {
                        "probability": float(proba[i, k]),
                        "predicted": bool(p.predicted[i, k]),
                    }
                    for k, lab in enumerate(p.labels)
                },
                "predicted_labels": [lab for k, lab in enumerate(p.labels) if p.predicted[i, k]],
                "urgency": round(float(p.urgency[i]), 4),
                "priority": {
                    "tier": str(p.tier[i]),
                    "score": float(p.score[i]),
                    "respond_within_minutes": int(p.respond_within_minutes[i]),
                    "respond_by": respond_by[i],
                },
                "route": str(p.route[i]),
                "escalate": bool(p.escalate[i]),
                "needs_human": bool(p.needs_human[i]),
                "reasons": p.reasons[i],
                "model_version": p.model_version,
            }
        )
    return out


def _predictions(ids: list[str], labels, scores, prio, bundle: Bundle) -> Predictions:
    """The model's scores and the playbook's decisions (``prioritise``) as one Predictions."""
    return Predictions(
        ids=ids,
        labels=list(labels),
        probabilities=scores.probabilities,
        predicted=scores.predicted,
        needs_human=scores.needs_human,
        urgency=prio.urgency,
        tier=prio.tier,
        score=prio.score,
        respond_within_minutes=prio.respond_within_minutes,
        respond_by=prio.respond_by,
        route=prio.route,
        escalate=prio.escalate,
        reasons=scores.reasons,
        model_version=bundle.model_version,
    )


def _iso(ts: pd.Series) -> list[str]:
    return list(pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def score_posts(
    bundle: Bundle,
    posts: pd.DataFrame,
    playbook: Playbook | None = None,
    now: pd.Timestamp | None = None,
    validated: bool = False,
    with_reasons: bool = True,
) -> Predictions:
    """Score a batch of posts with a bundle and a playbook (default: the bundle's own).

    ``posts`` uses the contract's field names; it is validated unless ``validated`` says it is
    already canonical (the output of :func:`triage_ml.data.validate_posts`).
    """
    triager = bundle.triager
    playbook = playbook or bundle.playbook
    if not validated:
        posts, _ = validate_posts(posts, label_set=triager.labels, require_labels=False)
    scores = triager.score(posts, with_reasons=with_reasons)
    urgency = (
        scores.urgency
        if scores.urgency is not None
        else derived_urgency(playbook, triager.labels, scores.probabilities)
    )
    prio = prioritise(
        playbook, triager.labels, scores.predicted, urgency, posts["created_at"], now=now
    )
    return _predictions(posts["id"].astype(str).tolist(), triager.labels, scores, prio, bundle)


def score_in_batches(
    bundle: Bundle,
    posts: pd.DataFrame,
    playbook: Playbook | None = None,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
    with_reasons: bool = True,
    now: pd.Timestamp | None = None,
) -> Iterator[Predictions]:
    """Score a large validated frame batch by batch (bounded memory, progress per batch).

    ``now`` (default: when called) is the scoring time of posts without ``created_at``; a file
    scored in several frames passes one time to all of them.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    for start in range(0, len(posts), batch_size):
        chunk = posts.iloc[start : start + batch_size].reset_index(drop=True)
        yield score_posts(
            bundle, chunk, playbook, now=now, validated=True, with_reasons=with_reasons
        )
        if on_batch:
            on_batch(len(chunk))


# -- a few posts as plain values: the service's single posts -----------------------------------

_ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class _Plain:
    """The fields of :class:`Predictions` that the records read, as the plain path has them."""

    ids: list[str]
    labels: list[str]
    probabilities: np.ndarray
    predicted: np.ndarray
    needs_human: np.ndarray
    urgency: np.ndarray
    tier: np.ndarray
    score: np.ndarray
    respond_within_minutes: np.ndarray
    route: np.ndarray
    escalate: np.ndarray
    reasons: list[list[dict]]
    model_version: str


@dataclass
class ScoredRecords:
    """The records of a few posts scored by :func:`score_records`; :meth:`scored` builds the
    canonical frame and :class:`Predictions` that :func:`score_posts` would have returned,
    for work that needs them once the response is sent (drift window, shadow log)."""

    records: list[dict]
    model_version: str
    _scored: Callable[[], tuple[pd.DataFrame, Predictions]]
    posts: PlainPosts | None = None
    docs: list[str] | None = None  # the texts as the model's normaliser gave them
    decided: _Plain | None = None

    def scored(self) -> tuple[pd.DataFrame, Predictions]:
        return self._scored()


def score_records(
    bundle: Bundle,
    posts: Sequence[Mapping[str, Any]],
    playbook: Playbook | None = None,
    now: pd.Timestamp | None = None,
    with_reasons: bool = True,
) -> ScoredRecords | None:
    """``score_posts(bundle, DataFrame(posts), ...).records()`` for a few ordinary posts given
    as mappings (the API's JSON objects), without pandas: the same records, bit for bit.

    Returns ``None`` where this path does not apply, and the caller scores the general way:
    an encoder model or another feature tree than the linear one, a playbook with business
    hours, more than a small batch, or posts the general validation has to look at (any
    invalid or unusual value: the general path words its error).
    """
    triager = bundle.triager
    playbook = playbook or bundle.playbook
    if playbook.business_hours is not None:
        return None
    plain = plain_features(triager)
    if plain is None:
        return None
    values = plain_posts(posts)
    if values is None:
        return None
    docs = list(plain.normaliser.transform(values.texts))
    scores = score_plain(
        triager,
        plain,
        values.texts,
        values.followers,
        values.verified,
        values.channels,
        with_reasons,
        docs,
    )
    labels = list(triager.labels)
    urgency = (
        scores.urgency
        if scores.urgency is not None
        else derived_urgency(playbook, labels, scores.probabilities)
    )
    d = decisions(playbook, labels, scores.predicted, urgency)
    clock = now if now is not None else pd.Timestamp.now(tz="UTC")
    respond_by = [
        ((clock if when is None else when) + timedelta(minutes=int(m))).strftime(_ISO)
        for when, m in zip(values.created_at, d.minutes, strict=True)
    ]
    decided = _Plain(
        ids=values.ids,
        labels=labels,
        probabilities=scores.probabilities,
        predicted=scores.predicted,
        needs_human=scores.needs_human,
        urgency=d.urgency,
        tier=d.tier,
        score=d.score,
        respond_within_minutes=d.respond_within_minutes,
        route=d.route,
        escalate=d.escalate,
        reasons=scores.reasons,
        model_version=bundle.model_version,
    )

    def scored() -> tuple[pd.DataFrame, Predictions]:
        frame, _ = validate_posts(pd.DataFrame(list(posts)), label_set=labels, source="<posts>")
        prio = prioritise(playbook, labels, scores.predicted, urgency, frame["created_at"], clock)
        return frame, _predictions(values.ids, labels, scores, prio, bundle)

    return ScoredRecords(
        _records(decided, respond_by), bundle.model_version, scored, values, docs, decided
    )
