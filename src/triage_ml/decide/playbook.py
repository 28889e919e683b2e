"""The engagement playbook: the brand's policy that turns labels and urgency into action.

Applied after the model, so changing it needs no retraining. Everything here is vectorised
over a batch and monotone by construction: weights are non-negative and floors and escalation
rules only ever add, so raising urgency or adding a label never lowers a post's priority.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triage_ml.contract.params import ConfigError, format_validation_error
from triage_ml.decide.hours import BusinessHours, add_business_minutes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    name: str
    respond_within_minutes: int = Field(gt=0)
    min_score: float = Field(ge=0.0, le=1.0)


class ScoreRule(_Strict):
    urgency_weight: float = Field(0.6, ge=0.0)
    label_weights: dict[str, float] = {}

    @model_validator(mode="after")
    def _non_negative(self) -> ScoreRule:
        bad = {k: v for k, v in self.label_weights.items() if v < 0}
        if bad:
            raise ValueError(f"label weights must be >= 0 (priority is monotone), got {bad}")
        return self


class Condition(_Strict):
    all_labels: list[str] = []
    min_urgency: float = Field(0.0, ge=0.0, le=1.0)


class Floor(Condition):
    tier: str


class Route(_Strict):
    label: str
    route: str


class Routing(_Strict):
    rules: list[Route] = []
    default: str = "community"


class Playbook(_Strict):
    tiers: list[Tier]
    score: ScoreRule = ScoreRule()
    floors: list[Floor] = []
    routing: Routing = Routing()
    escalation: list[Condition] = []
    urgency_from_labels: dict[str, float] = {}
    business_hours: BusinessHours | None = None
    """When set, deadlines count open time only (:mod:`triage_ml.decide.hours`); when absent,
    the clock runs around the hour."""
    handling_minutes: dict[str, float] = {}
    """Minutes an agent spends on a post of each label, for the inbox replay (a post with
    several labels takes the longest; other posts take the replay's ``--handling-minutes``)."""

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        names = [t.name for t in self.tiers]
        if not names:
            raise ValueError("declare at least one tier")
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        scores = [t.min_score for t in self.tiers]
        if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
            raise ValueError(
                f"list tiers most urgent first, min_score strictly falling; got {scores}"
            )
        if scores[-1] != 0.0:
            raise ValueError("the last tier needs min_score: 0 so that every post gets a tier")
        unknown = sorted({f.tier for f in self.floors} - set(names))
        if unknown:
            raise ValueError(f"floors name unknown tiers {unknown}; declared tiers: {names}")
        for key, value in self.urgency_from_labels.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"urgency_from_labels.{key} must be in [0, 1], got {value}")
        for key, value in self.handling_minutes.items():
            if not value > 0:
                raise ValueError(f"handling_minutes.{key} must be > 0 minutes, got {value}")
        return self

    def unknown_labels(self, label_set: list[str]) -> list[str]:
        """Labels the playbook names that the model does not predict (their rules never fire)."""
        named = set(self.score.label_weights) | set(self.urgency_from_labels)
        named |= {r.label for r in self.routing.rules} | set(self.handling_minutes)
        for cond in [*self.floors, *self.escalation]:
            named |= set(cond.all_labels)
        return sorted(named - set(label_set))


def default_playbook_path() -> Path:
    return Path(str(resources.files("triage_ml.decide") / "playbook.yaml"))


def load_playbook(path: str | Path | None = None) -> Playbook:
    """Read and validate a playbook YAML; ``None`` gives the one shipped with triage-ml."""
    path = Path(path) if path is not None else default_playbook_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: playbook file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: playbook is not valid YAML ({err})") from None
    return parse_playbook(raw, source=str(path))


def parse_playbook(raw: object, source: str = "<playbook>") -> Playbook:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a playbook is a mapping with 'tiers', 'score', 'routing'...")
    try:
        return Playbook.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid playbook\n{format_validation_error(err)}") from None


@dataclass
class Priorities:
    tier: np.ndarray  # (n,) tier names
    score: np.ndarray  # (n,) in [0, 1]
    respond_within_minutes: np.ndarray  # (n,) int
    respond_by: pd.Series  # (n,) UTC timestamps
    route: np.ndarray  # (n,) team names
    escalate: np.ndarray  # (n,) bool
    urgency: np.ndarray  # (n,) the urgency used (learned, or derived from labels)


def _matches(cond: Condition, has: dict[str, np.ndarray], urgency: np.ndarray) -> np.ndarray:
    n = len(urgency)
    hit = urgency >= cond.min_urgency
    for label in cond.all_labels:
        hit &= has.get(label, np.zeros(n, dtype=bool))
    return hit


def derived_urgency(playbook: Playbook, labels: list[str], proba: np.ndarray) -> np.ndarray:
    """Urgency when no urgency model exists: the strongest weighted label probability."""
    weights = np.array([playbook.urgency_from_labels.get(lab, 0.0) for lab in labels])
    return (proba * weights).max(axis=1) if len(labels) else np.zeros(len(proba))


def prioritise(
    playbook: Playbook,
    labels: list[str],
    predicted: np.ndarray,
    urgency: np.ndarray,
    created_at: pd.Series,
    now: pd.Timestamp | None = None,
) -> Priorities:
    """Tier, deadline, route and escalation for a batch.

    ``created_at`` may hold NaT: the SLA clock then starts at ``now`` (the time of scoring).
    With ``business_hours`` in the playbook the deadline counts open time only.
    """
    d = decisions(playbook, labels, predicted, urgency)
    start = pd.to_datetime(created_at, utc=True).reset_index(drop=True)
    clock = now if now is not None else pd.Timestamp.now(tz="UTC")
    start = start.fillna(clock)
    if playbook.business_hours is None:
        respond_by = start + pd.to_timedelta(d.minutes, unit="m")
    else:
        respond_by = add_business_minutes(playbook.business_hours, start, d.minutes)
    return Priorities(
        tier=d.tier,
        score=d.score,
        respond_within_minutes=d.respond_within_minutes,
        respond_by=respond_by,
        route=d.route,
        escalate=d.escalate,
        urgency=d.urgency,
    )


@dataclass
class Decisions:
    """Everything :func:`prioritise` decides except the deadline's clock time."""

    tier: np.ndarray
    score: np.ndarray
    minutes: np.ndarray  # the tier's minutes, as the tiers declare them
    respond_within_minutes: np.ndarray  # the same as int
    route: np.ndarray
    escalate: np.ndarray
    urgency: np.ndarray


def decisions(
    playbook: Playbook, labels: list[str], predicted: np.ndarray, urgency: np.ndarray
) -> Decisions:
    """Tier, route and escalation of a batch: the part of :func:`prioritise` without dates,
    shared with the single-post path of scoring (which dates its deadlines without pandas)."""
    n = len(urgency)
    urgency = np.clip(np.asarray(urgency, dtype=float), 0.0, 1.0)
    has = {lab: predicted[:, i].astype(bool) for i, lab in enumerate(labels)}

    score = playbook.score.urgency_weight * urgency
    for lab, weight in playbook.score.label_weights.items():
        if lab in has:
            score = score + weight * has[lab]
    score = np.clip(score, 0.0, 1.0)

    tier_names = [t.name for t in playbook.tiers]
    min_scores = np.array([t.min_score for t in playbook.tiers])
    # index of the first (most urgent) tier whose min_score is reached
    tier_idx = np.argmax(score[:, None] >= min_scores[None, :] - 1e-12, axis=1)
    for floor in playbook.floors:
        hit = _matches(floor, has, urgency)
        tier_idx = np.where(hit, np.minimum(tier_idx, tier_names.index(floor.tier)), tier_idx)

    minutes = np.array([t.respond_within_minutes for t in playbook.tiers])[tier_idx]

    route = np.full(n, playbook.routing.default, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for rule in playbook.routing.rules:
        hit = has.get(rule.label, np.zeros(n, dtype=bool)) & ~decided
        route[hit] = rule.route
        decided |= hit

    escalate = np.zeros(n, dtype=bool)
    for cond in playbook.escalation:
        escalate |= _matches(cond, has, urgency)

    return Decisions(
        tier=np.array(tier_names, dtype=object)[tier_idx],
        score=np.round(score, 4),
        minutes=minutes,
        respond_within_minutes=minutes.astype(int),
        route=route,
        escalate=escalate,
        urgency=urgency,
    )
