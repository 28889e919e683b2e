"""``triage-ml predict``: a file of posts scored, streamed chunk by chunk or on Dask."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage_ml.cli._common import _table, console, handles_errors


def _rate_column():
    """A progress column with the posts scored per second."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} posts/s" if speed else "- posts/s")

    return RateColumn()


@handles_errors
def predict(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[Path, typer.Option(help="Posts to score (.csv/.jsonl/.parquet).")],
    out: Annotated[
        Path, typer.Option(help=".jsonl for nested records; .csv/.parquet for the flat form.")
    ],
    playbook: Annotated[
        Path | None, typer.Option(help="Playbook YAML (default: the bundle's).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Posts per scoring batch.")] = 2000,
    reasons: Annotated[
        bool,
        typer.Option(
            "--reasons/--no-reasons",
            help="Explain each predicted label (an encoder model pays one pass per word).",
        ),
    ] = True,
    chunk_rows: Annotated[
        int,
        typer.Option(
            min=1,
            help="Posts read into memory at a time (rounded up to whole batches); the file is "
            "streamed, so memory does not grow with its size.",
        ),
    ] = 50_000,
    dask: Annotated[
        bool,
        typer.Option(
            "--dask",
            help="Score a Parquet file or folder on Dask, partitions in parallel, into a folder "
            "of Parquet parts (--out names the folder); a local cluster unless --scheduler.",
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --dask)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Workers of the local Dask cluster (--dask alone).")
    ] = 2,
) -> None:
    """Score a file of posts: labels, urgency, priority, route, escalation and reasons.

    The file is read, validated, scored and written chunk by chunk (docs/scale.md); the output
    appears only when every post was scored."""
    if dask or scheduler:
        return _predict_dask(model, data, out, playbook, batch_size, reasons, scheduler, workers)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from triage_ml.contract import count_rows
    from triage_ml.decide import load_playbook
    from triage_ml.scale import score_file
    from triage_ml.store import load_bundle

    bundle = load_bundle(model)
    book = load_playbook(playbook) if playbook else None
    started = time.perf_counter()
    columns = (BarColumn(), MofNCompleteColumn(), _rate_column(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=count_rows(data))
        summary = score_file(
            bundle,
            data,
            out,
            playbook=book,
            batch_size=batch_size,
            chunk_rows=chunk_rows,
            with_reasons=reasons,
            on_batch=lambda n: bar.advance(task, n),
        )
    seconds = time.perf_counter() - started
    rows = [
        ("posts scored", str(summary.posts)),
        ("model", bundle.model_version),
        ("throughput", f"{summary.posts / max(seconds, 1e-9):,.0f} posts/s"),
        *[(f"tier {t}", str(n)) for t, n in sorted(summary.tiers.items())],
        ("written to", str(out)),
    ]
    Console().print(_table("triage-ml predict", rows))


def _predict_dask(model, data, out, playbook, batch_size, reasons, scheduler, workers) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from triage_ml.scale import score_dataset_dask

    started = time.perf_counter()
    columns = (BarColumn(), MofNCompleteColumn(), _rate_column(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=None)
        summary = score_dataset_dask(
            model,
            data,
            out,
            scheduler=scheduler,
            n_workers=workers,
            playbook_path=playbook,
            batch_size=batch_size,
            with_reasons=reasons,
            on_part=lambda n: bar.advance(task, n),
        )
    seconds = time.perf_counter() - started
    rows = [
        ("posts scored", str(summary.posts)),
        ("on", scheduler or f"a local Dask cluster of {workers} workers"),
        ("throughput", f"{summary.posts / max(seconds, 1e-9):,.0f} posts/s"),
        *[(f"tier {t}", str(n)) for t, n in sorted(summary.tiers.items())],
        ("written to", f"{out}/ (Parquet parts)"),
    ]
    Console().print(_table("triage-ml predict --dask", rows))
