"""Scoring: posts in, DESIGN.md's prediction records out (nested JSON or the flat table).

One function, `score_posts`, is shared by the CLI, the HTTP service, the MLflow pyfunc and the
review notebook, so they all return the same numbers and the same reasons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage_ml.contract.validation import validate_posts
from triage_ml.decide.playbook import Playbook, derived_urgency, prioritise

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
        out = []
        respond_by = _iso(self.respond_by)
        proba = np.round(self.probabilities, 4)
        for i, post_id in enumerate(self.ids):
            out.append(
                {
                    "id": post_id,
                    "labels": {
                        lab: {
                            "probability": float(proba[i, k]),
                            "predicted": bool(self.predicted[i, k]),
                        }
                        for k, lab in enumerate(self.labels)
                    },
                    "predicted_labels": [
                        lab for k, lab in enumerate(self.labels) if self.predicted[i, k]
                    ],
                    "urgency": round(float(self.urgency[i]), 4),
                    "priority": {
                        "tier": str(self.tier[i]),
                        "score": float(self.score[i]),
                        "respond_within_minutes": int(self.respond_within_minutes[i]),
                        "respond_by": respond_by[i],
                    },
                    "route": str(self.route[i]),
                    "escalate": bool(self.escalate[i]),
                    "needs_human": bool(self.needs_human[i]),
                    "reasons": self.reasons[i],
                    "model_version": self.model_version,
                }
            )
        return out

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
    return Predictions(
        ids=posts["id"].astype(str).tolist(),
        labels=list(triager.labels),
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
