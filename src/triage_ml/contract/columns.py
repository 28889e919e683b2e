"""The columns of a post: which exist, which are required, and the limits on their values.

Shared by the readers, the general checks and the small-batch path so that all three agree on
what a post looks like.
"""

from __future__ import annotations

URGENCY_LEVELS: dict[str, float] = {"low": 0.0, "medium": 0.33, "high": 0.67, "critical": 1.0}
REQUIRED_COLUMNS = ("id", "text")
OPTIONAL_COLUMNS = (
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
)
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_TEXT_CHARS = 10_000
