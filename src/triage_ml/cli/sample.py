"""``triage-ml sample``: the synthetic labelled history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage_ml.cli._common import console, handles_errors


@handles_errors
def sample(
    out: Annotated[Path, typer.Option(help="Where to write the history (.csv/.jsonl/.parquet).")],
    rows: Annotated[int, typer.Option(min=10, help="Number of posts.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 42,
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Posts generated and written at a time.")
    ] = 50_000,
) -> None:
    """Write the project's synthetic labelled history (for demos and tests), chunk by chunk."""
    from triage_ml.contract import write_table_chunks
    from triage_ml.synthetic import iter_sample

    written = write_table_chunks(iter_sample(rows, seed=seed, chunk_rows=chunk_rows), out)
    console.print(f"wrote {written} posts to {out}")
