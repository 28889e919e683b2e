"""What a correction is, checked against the project's contract before anything is stored.

A correction is a post as the inbox has it (the labelled history's fields: ``id``, ``text``,
``created_at``, ``channel``, ``author_followers``, ``author_verified``), the agent's
``labels`` and/or ``urgency``, and where it came from: ``reviewer``, ``corrected_at``, the
``model_version`` that was corrected and optionally the scoring response's ``request_id``.
The post's fields, labels and urgency go through :func:`~triage_ml.contract.validate_posts`,
the same checks as a history file, so an unknown label or an urgency out of range is refused
with the same words everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from triage_ml.contract.columns import CANONICAL_COLUMNS, URGENCY_LEVELS
from triage_ml.contract.errors import DataError
from triage_ml.contract.validation import validate_posts

PROVENANCE_COLUMNS = ("reviewer", "corrected_at", "model_version")
"""Columns an export adds to the labelled-history contract: who corrected, when, which model."""
CORRECTION_FIELDS = (*CANONICAL_COLUMNS, *PROVENANCE_COLUMNS, "request_id")
MAX_REVIEWER_CHARS = 256
MAX_MODEL_VERSION_CHARS = 256
MAX_REQUEST_ID_CHARS = 128
MAX_ID_CHARS = 512


def parse_time(value: Any, column: str, source: str = "<correction>") -> datetime:
    """An ISO-8601 time (``datetime`` or text) as an aware UTC ``datetime``; no offset = UTC."""
    if isinstance(value, datetime):
        parsed = pd.Timestamp(value)
    elif isinstance(value, str) and value.strip():
        try:
            parsed = pd.Timestamp(value.strip())
        except (ValueError, OverflowError):
            parsed = None
        if parsed is None or parsed is pd.NaT:
            raise DataError(
                f"cannot read {value[:40]!r} as a date-time; use ISO-8601, "
                "e.g. 2026-11-22T10:30:00Z (a time without offset is taken as UTC)",
                source=source,
                column=column,
            )
    else:
        raise DataError(
            "is missing; give an ISO-8601 time, e.g. 2026-11-22T10:30:00Z",
            source=source,
            column=column,
        )
    if parsed.tzinfo is None:
        parsed = parsed.tz_localize("UTC")
    return parsed.tz_convert("UTC").to_pydatetime()


def _text_field(
    record: Mapping[str, Any], column: str, limit: int, required: bool, what: str, source: str
) -> str | None:
    value = record.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DataError(f"is missing or empty; give {what}", source=source, column=column)
        return None
    if not isinstance(value, str):
        raise DataError(f"must be text ({what})", source=source, column=column)
    value = value.strip()
    if len(value) > limit:
        raise DataError(
            f"is too long ({len(value):,} characters); at most {limit:,} are allowed",
            source=source,
            column=column,
        )
    return value


def _quick_labels_and_urgency(
    labels: Any, urgency: Any, declared: list[str], exclusive: bool
) -> tuple[str | None, float] | None:
    """Canonical labels and urgency of an ordinary correction in plain Python, else ``None``.

    The general checks cost tens of milliseconds of pandas per call; a correction whose labels
    are declared ones and whose urgency is a number in [0, 1] or a level name does not need
    them. Anything else (including every invalid value) returns ``None`` and goes through
    :func:`~triage_ml.contract.validate_posts`, which words the error; the tests compare both.
    """
    canonical_labels: str | None = None
    if labels is not None:
        if not isinstance(labels, str):
            return None
        tokens = {t.strip() for t in labels.split(";")} - {""}
        if not tokens <= set(declared) or (exclusive and len(tokens) != 1):
            return None
        canonical_labels = ";".join(label for label in declared if label in tokens)
    value = float("nan")
    if isinstance(urgency, str):
        level = URGENCY_LEVELS.get(urgency.strip().lower())
        if level is None:
            return None
        value = level
    elif isinstance(urgency, int | float) and not isinstance(urgency, bool):
        if not 0.0 <= float(urgency) <= 1.0:
            return None
        value = float(urgency)
    elif urgency is not None:
        return None
    return canonical_labels, value


def validate_correction(
    record: Mapping[str, Any],
    *,
    label_set: Sequence[str],
    exclusive: bool = False,
    source: str = "<correction>",
) -> dict[str, Any]:
    """Check one correction and return it in canonical form (the store's row).

    Raises :class:`~triage_ml.contract.DataError` naming the field and what would be valid;
    several broken fields are reported together (``problems``).
    """
    problems: list[DataError] = []
    unknown = sorted(set(record) - set(CORRECTION_FIELDS))
    if unknown:
        problems.append(
            DataError(
                f"unknown field {', '.join(map(repr, unknown))}; a correction has only "
                f"{', '.join(CORRECTION_FIELDS)}",
                source=source,
                column=unknown[0],
            )
        )
    labels = record.get("labels")
    if isinstance(labels, list | tuple):
        if not all(isinstance(x, str) for x in labels):
            problems.append(
                DataError("must be a list of label names", source=source, column="labels")
            )
            labels = None
        else:
            labels = ";".join(labels)
    urgency = record.get("urgency")
    if labels is None and urgency is None:
        problems.append(
            DataError(
                "a correction needs labels and/or urgency: labels (zero or more of "
                f"{', '.join(label_set)}; [] = none of them) or urgency (a number in [0, 1] "
                "or low/medium/high/critical)",
                source=source,
                column="labels",
            )
        )
    row = {c: record.get(c) for c in CANONICAL_COLUMNS}
    row["labels"], row["urgency"] = labels, urgency
    if isinstance(row["id"], int) and not isinstance(row["id"], bool):
        row["id"] = str(row["id"])
    if isinstance(row["id"], str) and len(row["id"]) > MAX_ID_CHARS:
        problems.append(
            DataError(f"an id has at most {MAX_ID_CHARS} characters", source=source, column="id")
        )
    canonical = None
    quick = _quick_labels_and_urgency(labels, urgency, list(label_set), exclusive)
    try:
        if quick is None:  # the contract's general checks decide, and word any error
            canonical, _ = validate_posts(
                pd.DataFrame({c: [v] for c, v in row.items()}),
                label_set=label_set,
                exclusive=exclusive,
                source=source,
            )
        else:  # ordinary labels and urgency: the post alone takes the small-batch path
            post = {c: [v] for c, v in row.items() if c not in ("labels", "urgency")}
            canonical, _ = validate_posts(
                pd.DataFrame(post), label_set=label_set, exclusive=exclusive, source=source
            )
            canonical = canonical.assign(
                labels=pd.Series([quick[0]], dtype=object),
                urgency=pd.Series([quick[1]], dtype="float64"),
            )
    except DataError as err:  # one post: the row number says nothing, the field does
        problems += [
            DataError(p.reason, source=source, column=p.column) for p in err.problems or [err]
        ]
    provenance: dict[str, Any] = {}
    for column, limit, required, what in (
        ("reviewer", MAX_REVIEWER_CHARS, True, "who made the correction (an agent id or e-mail)"),
        (
            "model_version",
            MAX_MODEL_VERSION_CHARS,
            True,
            "the model_version of the scoring response that was corrected",
        ),
        ("request_id", MAX_REQUEST_ID_CHARS, False, "the request_id of the scoring response"),
    ):
        try:
            provenance[column] = _text_field(record, column, limit, required, what, source)
        except DataError as err:
            problems.append(err)
    try:
        provenance["corrected_at"] = parse_time(record.get("corrected_at"), "corrected_at", source)
    except DataError as err:
        problems.append(err)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        lines = [f"{len(problems)} problems found:"]
        lines += [f"  - {p._compose(with_source=False)}" for p in problems]
        raise DataError("\n".join(lines), source=source, problems=problems)
    assert canonical is not None
    first = canonical.iloc[0]
    created = first["created_at"]
    followers = first["author_followers"]
    verified = first["author_verified"]
    urgency_value = first["urgency"]
    return {
        "id": str(first["id"]),
        "text": str(first["text"]),
        "created_at": None if pd.isna(created) else created.to_pydatetime(),
        "channel": str(first["channel"]) if row.get("channel") is not None else None,
        "author_followers": None if pd.isna(followers) else int(followers),
        "author_verified": None if pd.isna(verified) else bool(verified),
        "labels": first["labels"] if first["labels"] is not None else None,
        "urgency": None if pd.isna(urgency_value) else float(urgency_value),
        **provenance,
    }


def utc_now() -> datetime:
    return datetime.now(UTC)
