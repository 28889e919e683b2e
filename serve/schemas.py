"""Request and response bodies: DESIGN.md's input and output contracts as OpenAPI types.

The request models check shape and types only (unknown fields, wrong types, missing fields);
what a post must contain (non-empty text of at most 10,000 characters after trimming, unique
ids, readable dates) is checked by :func:`triage_ml.data.validate_posts`, the same function
that checks files for ``triage-ml predict``, so both paths accept and refuse the same posts.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage_ml.contract import MAX_TEXT_CHARS

POST_FIELDS = ("id", "text", "created_at", "channel", "author_followers", "author_verified")
MAX_FOLLOWERS = 10**12
_SURROGATE = re.compile("[\ud800-\udfff]")

EXAMPLE_POST = {
    "id": "p-1042",
    "text": "@AcmeHelp third time I'm asking: my order never arrived and nobody answers!!!",
    "created_at": "2026-11-22T10:00:00Z",
    "channel": "twitter",
    "author_followers": 48200,
    "author_verified": True,
}
EXAMPLE_RESULT = {
    "id": "p-1042",
    "labels": {
        "complaint": {"probability": 0.93, "predicted": True},
        "sales_lead": {"probability": 0.04, "predicted": False},
        "product_review": {"probability": 0.21, "predicted": False},
        "influencer": {"probability": 0.88, "predicted": True},
    },
    "predicted_labels": ["complaint", "influencer"],
    "urgency": 0.81,
    "priority": {
        "tier": "P1",
        "score": 0.9,
        "respond_within_minutes": 15,
        "respond_by": "2026-11-22T10:15:00Z",
    },
    "route": "support",
    "escalate": True,
    "needs_human": False,
    "reasons": [
        {"label": "complaint", "signal": "never arrived", "weight": 1.7},
        {"label": "influencer", "signal": "author_followers", "weight": 2.3},
    ],
    "model_version": "triage (sha256:3f2a9c1b7d4e)",
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Post(_Request):
    """One post, with the field names of the labelled history (DESIGN.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_POST]})

    id: str | int = Field(
        description="Unique id within the request, echoed in the result (as a string).",
        json_schema_extra={"maxLength": 512},
    )
    text: str = Field(
        description=f"The post: 1 to {MAX_TEXT_CHARS:,} characters after trimming spaces.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS},
    )
    created_at: str | None = Field(
        None,
        max_length=64,
        description="ISO-8601 time of the post (2026-11-22T10:00:00Z; no offset = UTC). The "
        "response deadline counts from here; absent = from the time of scoring.",
    )
    channel: str | None = Field(
        None, max_length=100, description="twitter, facebook, instagram, forum, email..."
    )
    author_followers: int | None = Field(
        None, ge=0, le=MAX_FOLLOWERS, description="The author's reach (a whole number >= 0)."
    )
    author_verified: bool | None = Field(None, description="Whether the author is verified.")

    @field_validator("id")
    @classmethod
    def _id_length(cls, value: str | int) -> str | int:
        if isinstance(value, str) and len(value) > 512:
            raise ValueError(f"an id has at most 512 characters, got {len(value):,}")
        return value

    @field_validator("id", "text", "created_at", "channel")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # JSON may escape lone UTF-16 surrogates ("\ud800"), which are not text
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ValueError(
                "contains an unpaired UTF-16 surrogate (e.g. \\ud800 without its pair); "
                "send valid Unicode"
            )
        return value


class ScoreRequest(_Request):
    """A batch of posts to score, answered in the same order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"posts": [EXAMPLE_POST]}]})

    posts: list[Post] = Field(
        min_length=1,
        description="1 to TRIAGE_MAX_BATCH posts (default 1,000; more is a 413). Ids must be "
        "unique within the request.",
    )


class LabelScore(BaseModel):
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability.")
    predicted: bool = Field(description="Probability at or above the label's threshold.")


class Priority(BaseModel):
    tier: str = Field(description="Playbook tier, most urgent first (P1..P4 by default).")
    score: float = Field(ge=0.0, le=1.0)
    respond_within_minutes: int = Field(gt=0)
    respond_by: datetime = Field(description="created_at (or time of scoring) + deadline, UTC.")


class Reason(BaseModel):
    label: str
    signal: str = Field(description="The model's own feature: an n-gram or a metadata field.")
    weight: float = Field(description="Its contribution to the label's score.")


class Result(BaseModel):
    """One post's prediction, DESIGN.md's output contract."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_RESULT]})

    id: str
    labels: dict[str, LabelScore]
    predicted_labels: list[str]
    urgency: float = Field(ge=0.0, le=1.0)
    priority: Priority
    route: str = Field(description="The team: the first playbook routing rule that matches.")
    escalate: bool
    needs_human: bool = Field(description="The model is unsure about at least one label.")
    reasons: list[Reason]
    model_version: str


class ScoreResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"model_version": EXAMPLE_RESULT["model_version"], "results": []}]
        }
    )

    model_version: str = Field(description="The model that scored every post of this request.")
    results: list[Result] = Field(description="One result per post, in request order.")


class ModelInfo(BaseModel):
    model_version: str
    source: str = Field(description="Bundle directory or registry URI it was loaded from.")
    labels: list[str]
    exclusive: bool
    thresholds: dict[str, float]
    abstain_band: float
    has_urgency_model: bool
    trained_at: str | None = None
    data_fingerprint: str | None = None
    signed: bool
    metrics: dict[str, Any] = Field(description="Held-out metrics recorded at training.")
    playbook: str = Field(description="'bundle' (the bundle's own) or the settings' path.")
    loaded_at: datetime
    worker_pid: int = Field(description="The worker process that answered.")


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    detail: str | None = None


class ReloadResult(BaseModel):
    reloaded: bool = Field(description="A model was loaded and is now serving.")
    changed: bool = Field(description="The serving model version differs from before.")
    model_version: str | None = Field(description="The version serving after this call.")
    previous_version: str | None
    detail: str
    worker_pid: int


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. ['body', 'posts', 3, 'text'].")
    msg: str
    type: str


class Problem(BaseModel):
    """Every error: one sentence for a person, plus the individual problems when useful."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "posts[3].text: text is missing or empty; a post needs 1 to "
                    "10,000 characters",
                    "errors": [
                        {
                            "loc": ["body", "posts", 3, "text"],
                            "msg": "text is missing or empty",
                            "type": "invalid_post",
                        }
                    ],
                }
            ]
        }
    )

    detail: str
    errors: list[ErrorItem] | None = None
