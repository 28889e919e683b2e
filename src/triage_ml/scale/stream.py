"""Streaming a file of posts through a bundle: read a chunk, validate it, score it in batches,
append it to the output, so memory holds one chunk whatever the file's size.

The records are the same, bit for bit, as scoring the whole file at once: chunks are whole
multiples of the scoring batch, so every batch holds the same posts, and one scoring time is
used for the posts without ``created_at``. The output appears under its name only when every
post was scored (:class:`~triage_ml.contract.tables.PredictionWriter`: a temporary file beside
it, renamed at the end); an invalid chunk stops the run with the rows named as in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from triage_ml.contract.streams import iter_table, validate_chunks
from triage_ml.contract.tables import PredictionWriter
from triage_ml.decide.scoring import score_in_batches

if TYPE_CHECKING:
    from triage_ml.decide.playbook import Playbook
    from triage_ml.store.bundle import Bundle

#: Posts read at a time when no chunk size is given (rounded up to a whole number of batches).
DEFAULT_CHUNK_ROWS = 50_000


@dataclass
class ScoreSummary:
    """What a scoring run did: posts scored and how many landed in each tier."""

    posts: int = 0
    tiers: dict[str, int] = field(default_factory=dict)


def chunk_rows_for(batch_size: int, chunk_rows: int | None = None) -> int:
    """The read chunk: a whole number of scoring batches, at least one."""
    wanted = chunk_rows or DEFAULT_CHUNK_ROWS
    return max(1, -(-wanted // batch_size)) * batch_size


def score_file(
    bundle: Bundle,
    data: str | Path,
    out: str | Path,
    *,
    playbook: Playbook | None = None,
    batch_size: int = 2000,
    chunk_rows: int | None = None,
    with_reasons: bool = True,
    on_batch: Callable[[int], None] | None = None,
    now: pd.Timestamp | None = None,
) -> ScoreSummary:
    """Score the posts in ``data`` (CSV/JSONL/Parquet) into ``out`` (``.jsonl`` records or the
    flat ``.csv``/``.parquet`` form), one chunk in memory at a time."""
    rows = chunk_rows_for(batch_size, chunk_rows)
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    summary = ScoreSummary()
    chunks = validate_chunks(
        iter_table(data, rows),
        label_set=bundle.labels,
        source=str(data),
        reread=lambda: iter_table(data, rows),
    )
    with PredictionWriter(out) as writer:
        for chunk in chunks:
            for preds in score_in_batches(
                bundle, chunk, playbook, batch_size, on_batch, with_reasons=with_reasons, now=now
            ):
                writer.write(preds)
                summary.posts += len(preds)
                for tier in preds.tier:
                    summary.tiers[tier] = summary.tiers.get(tier, 0) + 1
    return summary
