"""The ``triage-ml`` command: thin edges over the library (read files, write outputs, report).

Every command turns the library's contract errors into one readable message on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Label, score and prioritise social-media customer-service posts.",
)
console = Console(stderr=True)

EXIT_BAD_INPUT = 2


def handles_errors(func):
    """Report contract errors as one message and exit 2 (bad input) instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from triage_ml.bundle import BundleError
        from triage_ml.config import ConfigError
        from triage_ml.data import DataError

        try:
            return func(*args, **kwargs)
        except (DataError, ConfigError, BundleError) as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


@app.command()
@handles_errors
def sample(
    out: Annotated[Path, typer.Option(help="Where to write the history (.csv/.jsonl/.parquet).")],
    rows: Annotated[int, typer.Option(min=10, help="Number of posts.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 42,
) -> None:
    """Write the project's synthetic labelled history (for demos and tests)."""
    from triage_ml.io import write_table
    from triage_ml.sample import generate_sample

    frame = generate_sample(rows, seed=seed)
    write_table(frame, out)
    console.print(f"wrote {len(frame)} posts to {out}")


@app.command()
@handles_errors
def train(
    out: Annotated[Path, typer.Option(help="Bundle directory to write, e.g. models/triage.")],
    data: Annotated[
        Path | None, typer.Option(help="Labelled history; default: data.path in params.")
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml (default settings if absent).")
    ] = None,
    metrics_out: Annotated[
        Path | None, typer.Option(help="Also write the test metrics JSON here.")
    ] = None,
    plots_dir: Annotated[
        Path | None, typer.Option(help="Also write evaluation plots here.")
    ] = None,
) -> None:
    """Train from a labelled history and write one bundle (model, playbook, metadata)."""
    from triage_ml.config import load_params
    from triage_ml.workflow import run_training

    cfg = load_params(params if params is not None else _default_params())
    data = data if data is not None else Path(cfg.data.path)
    started = time.perf_counter()
    with console.status("training") as status:
        result = run_training(
            data, cfg, out, progress=lambda msg: status.update(f"training: {msg}")
        )
    if metrics_out:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps(result.metrics, indent=2), encoding="utf-8")
    if plots_dir:
        result.write_plots(plots_dir)
    rows = [
        ("data", f"{data} ({result.report.rows_read} posts)"),
        ("split", f"{result.split_how}: {result.n_train} train / {result.n_test} test"),
        *result.summary_rows(),
        ("training time", f"{result.training_seconds:.1f} s"),
        ("total time", f"{time.perf_counter() - started:.1f} s"),
        ("bundle", str(out)),
    ]
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    Console().print(_table("triage-ml train", rows))


@app.command()
@handles_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[Path, typer.Option(help="Labelled posts to evaluate on.")],
    out: Annotated[Path | None, typer.Option(help="Directory for metrics.json and plots.")] = None,
    playbook: Annotated[
        Path | None, typer.Option(help="Playbook YAML (default: the bundle's).")
    ] = None,
) -> None:
    """Score labelled posts with a bundle and report label, urgency and priority quality."""
    from triage_ml.bundle import load_bundle
    from triage_ml.data import load_history
    from triage_ml.evaluate import evaluate as compute_metrics
    from triage_ml.evaluate import summary_rows, write_plots
    from triage_ml.playbook import load_playbook
    from triage_ml.predict import score_posts

    bundle = load_bundle(model)
    frame, _ = load_history(
        data,
        label_set=bundle.labels,
        exclusive=bundle.triager.exclusive,
        require_labels=True,
        min_examples=1,
    )
    book = load_playbook(playbook) if playbook else None
    preds = score_posts(bundle, frame, book, validated=True)
    metrics = compute_metrics(preds, frame)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        write_plots(preds, frame, out)
        console.print(f"wrote metrics.json and plots to {out}")
    Console().print(_table(f"triage-ml evaluate ({bundle.model_version})", summary_rows(metrics)))


@app.command()
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
) -> None:
    """Score a file of posts: labels, urgency, priority, route, escalation and reasons."""
    from rich.progress import Progress

    from triage_ml.bundle import load_bundle
    from triage_ml.data import read_table, validate_posts
    from triage_ml.io import PredictionWriter
    from triage_ml.playbook import load_playbook
    from triage_ml.predict import score_in_batches

    bundle = load_bundle(model)
    book = load_playbook(playbook) if playbook else None
    frame, report = validate_posts(
        read_table(data), label_set=bundle.labels, require_labels=False, source=str(data)
    )
    started = time.perf_counter()
    tiers: dict[str, int] = {}
    with PredictionWriter(out) as writer, Progress(console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=len(frame))
        for preds in score_in_batches(
            bundle, frame, book, batch_size, lambda n: bar.advance(task, n)
        ):
            writer.write(preds)
            for tier in preds.tier:
                tiers[tier] = tiers.get(tier, 0) + 1
    seconds = time.perf_counter() - started
    rows = [
        ("posts scored", str(len(frame))),
        ("model", bundle.model_version),
        ("throughput", f"{len(frame) / max(seconds, 1e-9):,.0f} posts/s"),
        *[(f"tier {t}", str(n)) for t, n in sorted(tiers.items())],
        ("written to", str(out)),
    ]
    Console().print(_table("triage-ml predict", rows))


@app.command()
@handles_errors
def review(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[Path, typer.Option(help="Labelled posts to review (.csv/.jsonl/.parquet).")],
    out: Annotated[Path, typer.Option(help="Directory for the review CSVs and report.html.")],
    top: Annotated[int, typer.Option(min=1, help="Rows in each review table.")] = 25,
    playbook: Annotated[
        Path | None, typer.Option(help="Playbook YAML (default: the bundle's).")
    ] = None,
) -> None:
    """Review mistakes: worst errors, error rates by slice, suspected mislabelled rows, urgency
    under-estimates, a relabelling sheet and a static HTML report."""
    from triage_ml.bundle import load_bundle
    from triage_ml.data import load_history
    from triage_ml.playbook import load_playbook
    from triage_ml.report import write_review
    from triage_ml.review import bundle_params, run_review

    started = time.perf_counter()
    bundle = load_bundle(model)
    history, report = load_history(
        data,
        label_set=bundle.labels,
        exclusive=bundle.triager.exclusive,
        require_labels=True,
        min_examples=1,
    )
    book = load_playbook(playbook) if playbook else None
    with console.status("reviewing") as status:
        result = run_review(
            bundle,
            history,
            bundle_params(bundle),
            top=top,
            playbook=book,
            progress=lambda msg: status.update(f"reviewing: {msg}"),
        )
        written = write_review(result, out, data_source=str(data))
    f1 = result.summary.set_index("label")["f1"]
    rows = [
        ("data", f"{data} ({report.rows_read} posts, {result.n_history} labelled)"),
        ("errors reviewed on", result.scope),
        ("posts with a wrong label", f"{result.error_rate:.1%}"),
        ("F1 per label", ", ".join(f"{lab} {v:.2f}" for lab, v in f1.dropna().items())),
        ("cleanlab label issues", f"{result.cleanlab_issues} of {result.n_history}"),
        ("rows to re-check", f"{len(result.relabel)} in {written['relabel']}"),
        ("report", str(written["report"])),
        ("time", f"{time.perf_counter() - started:.1f} s"),
    ]
    Console().print(_table(f"triage-ml review ({bundle.model_version})", rows))


def _default_params() -> Path | None:
    path = Path("params.yaml")
    return path if path.is_file() else None


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
