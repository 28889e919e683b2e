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

from triage_ml.contract import (
    DATE_RANGE,
    ID_RULE,
    MAX_FLOAT_ID,
    MAX_TEXT_CHARS,
    MAX_YEAR,
    MIN_YEAR,
)

POST_FIELDS = ("id", "text", "created_at", "channel", "author_followers", "author_verified")
MAX_FOLLOWERS = 10**12
_SURROGATE = re.compile("[\ud800-\udfff]")

# What the schema promises is what the service accepts, so that a client generated from
# /openapi.json can trust it (schemathesis checks both ways). Patterns are written in the
# subset that ECMA-262, Python and Rust regexes read alike.
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""At least one character that is not whitespace (exactly what Python's ``str.strip`` trims)."""
_YEAR = "(?:19[7-9][0-9]|20[0-9][0-9])"
_LEAP_YEAR = "(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26]))"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_TIME = (
    r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
)
CREATED_AT_PATTERN = f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}$"
"""ISO-8601 dates and date-times from MIN_YEAR to MAX_YEAR (the contract's bounds), with real
calendar days (29 February in leap years only; every fourth year is one in this range)."""
_CREATED_AT = re.compile(CREATED_AT_PATTERN)


def check_time(value: str | None, field: str) -> str | None:
    """``value`` when it matches :data:`CREATED_AT_PATTERN` (what the schema promises), else a
    ``ValueError`` that says why (a year out of range, or not ISO-8601)."""
    if value is None or _CREATED_AT.fullmatch(value):
        return value
    year = value[:4]
    if year.isascii() and year.isdigit() and not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise ValueError(f"found {value[:40]!r}; {field} must be a date from {DATE_RANGE}")
    raise ValueError(
        f"cannot read {value[:40]!r} as a date-time; use ISO-8601 such as "
        f"2024-05-01T09:30:00Z or 2024-05-01 (a date from {DATE_RANGE}; no offset = UTC)"
    )


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
        description="Unique id within the request, echoed in the result (as a string): text "
        "with at least one non-space character, or a whole number. A number sent as a float "
        f"(7.0) is taken as that integer when it is at most {MAX_FLOAT_ID:,} in size.",
        json_schema_extra={"maxLength": 512, "pattern": NOT_BLANK},
    )
    text: str = Field(
        description=f"The post: at most {MAX_TEXT_CHARS:,} characters as sent, at least one of "
        "them not a space.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": NOT_BLANK},
    )
    created_at: str | None = Field(
        None,
        max_length=64,
        description="ISO-8601 date or date-time of the post, from "
        f"{DATE_RANGE} (2026-11-22T10:00:00Z; no offset = UTC). The response deadline counts "
        "from here; absent = from the time of scoring.",
        json_schema_extra={"pattern": CREATED_AT_PATTERN},
    )
    channel: str | None = Field(
        None, max_length=100, description="twitter, facebook, instagram, forum, email..."
    )
    author_followers: int | None = Field(
        None, ge=0, le=MAX_FOLLOWERS, description="The author's reach (a whole number >= 0)."
    )
    author_verified: bool | None = Field(None, description="Whether the author is verified.")

    @field_validator("id", mode="before")
    @classmethod
    def _float_id(cls, value: Any) -> Any:
        # JSON has one number type: 7.0 is the integer 7 (JSON Schema agrees), but a float
        # cannot hold 1e30's or 1.5's digits as an id; the same rule as in files (ID_RULE)
        if isinstance(value, float):
            if value.is_integer() and abs(value) <= MAX_FLOAT_ID:
                return int(value)
            raise ValueError(f"found {value!r}; {ID_RULE}")
        return value

    @field_validator("author_followers", mode="before")
    @classmethod
    def _whole_float(cls, value: Any) -> Any:
        # 48200.0 is the integer 48200 in JSON Schema; within the bounds it is exact
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_FOLLOWERS:
            return int(value)
        return value

    @field_validator("text")
    @classmethod
    def _text_length(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(
                f"text is missing or empty; a post needs 1 to {MAX_TEXT_CHARS:,} characters"
            )
        if len(value) > MAX_TEXT_CHARS:
            raise ValueError(
                f"text is too long ({len(value):,} characters as sent); at most "
                f"{MAX_TEXT_CHARS:,} characters are allowed"
            )
        return value

    @field_validator("created_at")
    @classmethod
    def _created_at(cls, value: str | None) -> str | None:
        return check_time(value, "created_at")

    @field_validator("id")
    @classmethod
    def _id_length(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise ValueError("id is missing or empty; every post needs a unique id")
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
        description="1 to TRIAGE_MAX_BATCH posts (default 1,000; more is a 413) with at most "
        "TRIAGE_MAX_CHARS characters of text in all (default 200,000; more is a 413). Ids must "
        "be unique within the request.",
    )


class LabelScore(BaseModel):
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability.")
    predicted: bool = Field(description="Probability at or above the label's threshold.")


class Priority(BaseModel):
    tier: str = Field(description="Playbook tier, most urgent first (P1..P4 by default).")
    score: float = Field(ge=0.0, le=1.0)
    respond_within_minutes: int = Field(gt=0)
    respond_by: datetime = Field(
        description="created_at (or time of scoring) + the tier's deadline, UTC; counted in "
        "open time only when the playbook declares business hours."
    )


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
