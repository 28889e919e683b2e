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

MAX_FLOAT_ID = 2**53
"""The largest whole number a 64-bit float holds exactly. An id read as a float (a JSON ``7.0``,
a Parquet float column) beyond it, or with a fraction, has digits the float invented."""
ID_RULE = (
    "an id is text or a whole number; an id stored as a float (7.0, 1e30) must be whole and at "
    f"most {MAX_FLOAT_ID:,} in size, or its digits are not the ones written: store such ids as "
    "text"
)
MIN_YEAR, MAX_YEAR = 1970, 2099
"""Years ``created_at`` may be written in. A deadline computed from a date past 9999 has no
ISO-8601 form, and a date far outside this range is a unit or typing mistake."""
DATE_RANGE = f"{MIN_YEAR}-01-01 to {MAX_YEAR}-12-31"
