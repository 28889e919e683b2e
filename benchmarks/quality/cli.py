"""Command line of the quality benchmark: python -m benchmarks.quality --tasks ... --seeds 1,2,3

The run is shown with a progress bar per task, a line per fold and a final table; the library
function (:func:`benchmarks.quality.harness.run_suite`) stays silent.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from benchmarks.quality.harness import BenchmarkOptions, FoldEvent, TaskReport, run_suite
from benchmarks.quality.report import rich_table
from benchmarks.quality.systems import DEFAULT_SYSTEMS, PEERS, SYSTEM_TITLES


def run_with_progress(opts: BenchmarkOptions) -> list[TaskReport]:
    """:func:`run_suite` with a rich progress bar per task, a line per fold and a final table
    (the CLI's presentation; the library function stays silent)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    bars: dict[str, Any] = {}
    line: dict[tuple[str, int, int], list[str]] = {}

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:

        def on_event(event: FoldEvent) -> None:
            if event.task not in bars:
                total = event.n_folds * len(opts.seeds) * event.n_systems
                bars[event.task] = progress.add_task(event.task, total=total)
            bar = bars[event.task]
            where = f"seed {event.seed} fold {event.fold}/{event.n_folds}"
            if event.result is None:
                progress.update(bar, description=f"{event.task} {where}: {event.system}")
                return
            progress.advance(bar)
            key = (event.task, event.seed, event.fold)
            r = event.result
            line.setdefault(key, []).append(
                f"{SYSTEM_TITLES[r.system]} {r.score:.3f} ({r.fit_seconds:.0f} s)"
            )
            if len(line[key]) == event.n_systems:
                progress.console.print(f"{event.task} {where}: " + ", ".join(line.pop(key)))

        def on_message(message: str) -> None:
            progress.console.print(message, highlight=False)

        reports = run_suite(opts, on_event, on_message)
    title = f"triage-ml quality benchmark — {opts.suite} suite, {opts.profile} profile"
    out = Console()
    if not out.is_terminal:  # a log file: wide enough for the table instead of 80 columns
        out = Console(width=200)
    out.print(rich_table(reports, opts.systems, title))
    return reports


_cli = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False)


@_cli.command()
def main(
    suite: Annotated[
        str, typer.Option(help="Benchmark suite: 'real' (public data sets).")
    ] = "real",
    tasks: Annotated[
        str | None,
        typer.Option(help="Comma-separated: twitter-complaints,banking77,severity (default all)."),
    ] = None,
    profile: Annotated[
        str, typer.Option(help="'default' (no torch) or 'embeddings' (needs the extra).")
    ] = "default",
    seeds: Annotated[
        str,
        typer.Option(help="CV seeds, e.g. 1,2,3 for the frozen report (0 is the tuning seed)."),
    ] = "0",
    peers: Annotated[
        bool, typer.Option("--peers/--no-peers", help="Also train spaCy textcat and fastText.")
    ] = True,
    systems: Annotated[
        str | None,
        typer.Option(help="Explicit systems: ours,baseline,spacy-textcat,fasttext,spacy-ensemble."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where <task>.json, the table and plot go.")] = Path(
        "reports/benchmark"
    ),
    datasets: Annotated[
        Path | None,
        typer.Option(
            envvar="TRIAGE_DATASETS", help="Data sets folder (default ../shared/datasets)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Smoke run: at most N rows per split (stratified).")
    ] = None,
    folds: Annotated[int, typer.Option(help="CV folds (the protocol is 10).")] = 10,
    save_predictions: Annotated[
        bool,
        typer.Option(
            "--save-predictions",
            help="Also write <task>-predictions.npz (each fold's test probabilities), e.g. for "
            "python -m benchmarks.quality.ensemble.",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A setting over every task's params, dotted.key=value (repeatable), e.g. "
            "train.encoder.seed=3.",
        ),
    ] = None,
) -> None:
    """Quality on real data: ours beside a TF-IDF baseline, spaCy textcat and fastText."""
    from triage_ml.contract import ConfigError

    def _list(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    try:
        seed_list = [int(s) for s in _list(seeds) or []]
    except ValueError:
        _fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    chosen = _list(systems) or [s for s in DEFAULT_SYSTEMS if peers or s not in PEERS]
    opts = BenchmarkOptions(
        suite=suite,
        tasks=_list(tasks),
        profile=profile,
        seeds=seed_list,
        systems=chosen,
        out=out,
        datasets=datasets,
        limit=limit,
        folds=folds,
        overrides=list(set_ or ()),
        save_predictions=save_predictions,
        command=" ".join(["python -m benchmarks.quality", *sys.argv[1:]]),
    )
    try:
        run_with_progress(opts)
    except ConfigError as err:
        _fail(str(err))


def _fail(message: str) -> NoReturn:
    """A mistake in the options: one line on stderr and exit 2, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
