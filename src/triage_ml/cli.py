"""The ``triage-ml`` command: thin edges over the library (read files, write outputs, report).

Every command turns the library's contract errors into one readable message on stderr and a
non-zero exit code, never a traceback.

Longer than our ~400-line norm on purpose: it is one flat list of commands, each a typed
option block and a few lines that call the library, and ``triage-ml --help`` reads in the same
order. Splitting it would scatter the option vocabulary that the commands share.
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
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Label, score and prioritise social-media customer-service posts.",
)
console = Console(stderr=True)

EXIT_BAD_INPUT = 2


def handles_errors(func):
    """Report contract errors and missing extras as one message and exit 2 (bad input)
    instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from triage_ml._extras import MissingExtra, extra_for
        from triage_ml.contract import ConfigError, DataError
        from triage_ml.store import BundleError

        try:
            return func(*args, **kwargs)
        except (DataError, ConfigError, BundleError, MissingExtra) as err:
            _error(str(err))
        except ModuleNotFoundError as err:  # an optional import that no require() guarded
            extra = extra_for(err.name)
            if extra is None:
                raise
            _error(str(MissingExtra(f"triage-ml {func.__name__}", extra, str(err.name))))

    return wrapper


def _error(message: str):
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None


def _note(message: str) -> None:
    console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _plots_unavailable() -> str | None:
    """Why plots cannot be drawn here (matplotlib comes with the review extra), else None."""
    from triage_ml._extras import MissingExtra, require

    try:
        require("matplotlib", "review", "drawing plots")
    except MissingExtra as err:
        return f"plots skipped: {err}"
    return None


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
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Posts generated and written at a time.")
    ] = 50_000,
) -> None:
    """Write the project's synthetic labelled history (for demos and tests), chunk by chunk."""
    from triage_ml.contract import write_table_chunks
    from triage_ml.synthetic import iter_sample

    written = write_table_chunks(iter_sample(rows, seed=seed, chunk_rows=chunk_rows), out)
    console.print(f"wrote {written} posts to {out}")


@app.command()
@handles_errors
def train(
    out: Annotated[Path, typer.Option(help="Bundle directory to write, e.g. models/triage.")],
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled history; default: data.path in params. Repeat it to add more files: "
            "corrections exported by 'triage-ml feedback export' win over the history's labels "
            "for the same post id."
        ),
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
    holdout_out: Annotated[
        Path | None,
        typer.Option(help="Also write the held-out test posts here (the DVC evaluate stage)."),
    ] = None,
    track: Annotated[
        bool,
        typer.Option(
            "--track/--no-track",
            envvar="TRIAGE_TRACKING",
            help="Log the run to MLflow (env TRIAGE_TRACKING=0 turns it off). The store is "
            "MLFLOW_TRACKING_URI, else mlflow.db in the project folder.",
        ),
    ] = True,
    register: Annotated[
        bool, typer.Option("--register", help="Also register the model as a new version.")
    ] = False,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "triage",
    experiment: Annotated[
        str | None,
        typer.Option(envvar="MLFLOW_EXPERIMENT_NAME", help="MLflow experiment (default triage)."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(envvar="MLFLOW_TRACKING_URI", help="MLflow tracking server or store URI."),
    ] = None,
    family: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model family, overriding train.model in params: 'linear' (no torch) or "
            "'encoder' (fine-tuned sentence encoder stacked with the linear model; needs the "
            "finetune extra).",
        ),
    ] = None,
) -> None:
    """Train from a labelled history and write one bundle (model, playbook, metadata).

    The run is logged to MLflow unless --no-track; a tracking failure is reported but never
    loses the bundle (the exit code is non-zero only when --register was asked for).
    """
    from triage_ml._extras import MissingExtra, installed, require
    from triage_ml.contract import ConfigError, load_params
    from triage_ml.evaluation import run_training

    if register and not track:
        raise ConfigError("--register needs tracking: drop --no-track (or TRIAGE_TRACKING=0)")
    if register:
        require("mlflow", "pipeline", "triage-ml train --register")
    notices = []
    if track and not installed("mlflow"):
        track = False
        notices.append(f"not logged to MLflow: {MissingExtra('tracking', 'pipeline', 'mlflow')}")
    no_plots = _plots_unavailable() if plots_dir or track else None
    if no_plots and plots_dir:
        notices.append(no_plots)
    cfg = load_params(params if params is not None else _default_params())
    if family is not None:
        cfg = cfg.with_model(family)
    paths = data or [Path(cfg.data.path)]
    started = time.perf_counter()
    with console.status("training") as status:
        result = run_training(
            paths if len(paths) > 1 else paths[0],
            cfg,
            out,
            progress=lambda msg: status.update(f"training: {msg}"),
        )
    if metrics_out:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps(result.metrics, indent=2), encoding="utf-8")
    if plots_dir and not no_plots:
        result.write_plots(plots_dir)
    if holdout_out:
        from triage_ml.contract import write_table

        write_table(result.test, holdout_out)
    rows = [
        ("data", f"{result.data_source} ({result.report.rows_read} posts)"),
        *([("from feedback", f"{result.n_feedback} rows")] if len(paths) > 1 else []),
        ("split", f"{result.split_how}: {result.n_train} train / {result.n_test} test"),
        *result.summary_rows(),
        ("training time", f"{result.training_seconds:.1f} s"),
    ]
    tracking_failed = False
    if track:
        with console.status("logging the run to MLflow"):
            tracked_rows, tracking_failed = _track_training(
                result,
                out,
                plots_dir,
                register,
                model_name,
                experiment,
                tracking_uri,
                draw_plots=not no_plots,
            )
        rows += tracked_rows
    rows += [("total time", f"{time.perf_counter() - started:.1f} s"), ("bundle", str(out))]
    for note in [*result.notes, *notices]:
        _note(note)
    Console().print(_table("triage-ml train", rows))
    if tracking_failed and register:
        raise typer.Exit(1)


def _track_training(
    result,
    out: Path,
    plots_dir: Path | None,
    register: bool,
    model_name: str,
    experiment: str | None,
    tracking_uri: str | None,
    draw_plots: bool = True,
) -> tuple[list[tuple[str, str]], bool]:
    """Log a finished training to MLflow; any failure is a warning, the bundle stays."""
    import tempfile

    from triage_ml.store import log_bundle, resolve_tracking_uri

    try:
        with tempfile.TemporaryDirectory(prefix="triage-plots-") as tmp:
            plots = plots_dir
            if plots is None and draw_plots:
                plots = Path(tmp)
                result.write_plots(plots)
            run = log_bundle(
                out,
                plots_dir=plots,
                tracking_uri=tracking_uri,
                experiment=experiment,
                register=register,
                model_name=model_name,
            )
    except Exception as err:  # tracking is never required for a training to count
        uri = resolve_tracking_uri(tracking_uri)
        console.print(
            f"[yellow]warning:[/] the run was not logged to MLflow at {uri}: {err}\n"
            "  the bundle is written; fix MLFLOW_TRACKING_URI or train with --no-track",
            highlight=False,
        )
        return [("mlflow", "not logged (see warning)")], True
    rows = [("mlflow run", f"{run.run_id} (experiment {run.experiment_name})")]
    rows.append(("mlflow store", run.tracking_uri))
    if run.version:
        rows.append(
            (
                "registered",
                f"{run.model_name} version {run.version} "
                f"(make it live: triage-ml promote {run.version})",
            )
        )
    return rows, False


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
    from triage_ml.decide import load_playbook, score_posts
    from triage_ml.evaluation import evaluate as compute_metrics
    from triage_ml.evaluation import summary_rows, write_plots

    bundle, frame, _ = _bundle_and_labelled(model, data)
    book = load_playbook(playbook) if playbook else None
    preds = score_posts(bundle, frame, book, validated=True)
    metrics = compute_metrics(preds, frame)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        no_plots = _plots_unavailable()
        if no_plots:
            _note(no_plots)
            console.print(f"wrote metrics.json to {out}")
        else:
            write_plots(preds, frame, out)
            console.print(f"wrote metrics.json and plots to {out}")
    Console().print(_table(f"triage-ml evaluate ({bundle.model_version})", summary_rows(metrics)))


def _rate_column():
    """A progress column with the posts scored per second."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} posts/s" if speed else "- posts/s")

    return RateColumn()


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


@app.command()
@handles_errors
def convert(
    old: Annotated[Path, typer.Argument(help="Bundle written by an older triage-ml (format 1).")],
    new: Annotated[Path, typer.Argument(help="Where to write the converted bundle.")],
) -> None:
    """Rewrite a bundle of an older version (a pickled model) without pickle. It UNPICKLES the
    old model, which can run any code: only for bundles you trust, e.g. ones you trained."""
    from triage_ml.store import convert_bundle, load_bundle

    _note(f"unpickling {old} as asked: do this only for a bundle you trust")
    out = convert_bundle(old, new)
    bundle = load_bundle(out)
    Console().print(f"converted {old} -> {out} ({bundle.model_version}); no pickle in it")


TrackingUri = Annotated[
    str | None,
    typer.Option(envvar="MLFLOW_TRACKING_URI", help="MLflow tracking server or store URI."),
]
ModelName = Annotated[str, typer.Option("--name", help="Registered model name.")]


@app.command()
@handles_errors
def register(
    run_id: Annotated[str, typer.Argument(help="MLflow run id printed by 'triage-ml train'.")],
    name: ModelName = "triage",
    tracking_uri: TrackingUri = None,
) -> None:
    """Register the model of a tracked training run as a new version of NAME."""
    from triage_ml._extras import require
    from triage_ml.store import register_run

    require("mlflow", "pipeline", "triage-ml register")
    version = register_run(run_id, name, tracking_uri)
    Console().print(f"registered run {run_id} as {name} version {version}")
    console.print(f"make it live: triage-ml promote {version} --name {name}")


@app.command()
@handles_errors
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make live.")],
    name: ModelName = "triage",
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled posts newer than both models' training data, to compare the "
            "challenger with the current champion on; repeat it to add a corrections export "
            "('triage-ml feedback export'), whose labels win."
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(min=0.0, help="Refuse when the challenger's macro-F1 is lower by more."),
    ] = 0.01,
    drop_older: Annotated[
        bool,
        typer.Option("--drop-older", help="Drop posts from inside either model's training window."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Promote even when the check refuses or cannot run (recorded as a tag on "
            "the version).",
        ),
    ] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Point NAME@champion at VERSION, after checking it is not worse than the current
    champion on newer labelled posts; rolling back is promoting an older version."""
    from triage_ml._extras import require
    from triage_ml.monitor import alias_version, require_version, tag_version
    from triage_ml.store import promote as promote_version

    require("mlflow", "pipeline", "triage-ml promote")
    require_version(name, version, tracking_uri)
    current = alias_version(name, alias, tracking_uri)
    tags: dict[str, str] = {}
    if current is not None and current != str(version):
        tags = _promotion_check(
            version, current, name, data, tolerance, drop_older, force, tracking_uri
        )
    elif current is None:
        _note(f"no {name}@{alias} yet: version {version} is the first, nothing to compare with")
    previous = promote_version(version, name, alias, tracking_uri)
    if tags:
        tag_version(version, tags, name, tracking_uri)
    was = f"version {previous}" if previous else "nothing"
    Console().print(f"{name}@{alias}: {was} -> version {version}")
    if previous and previous != str(version):
        console.print(f"roll back with: triage-ml promote {previous} --name {name} --force")


def _promotion_check(
    version, current, name, data, tolerance, drop_older, force, tracking_uri
) -> dict[str, str]:
    """Compare the challenger with the champion; refuse (exit 1) or return the tags to record."""
    from datetime import UTC, datetime

    from triage_ml.contract import ConfigError, DataError
    from triage_ml.monitor import compare_models

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forced = {"promotion.forced": "true", "promotion.forced_at": stamp}
    forced["promotion.champion_before"] = str(current)
    if not data:
        if force:
            _note(f"promoting version {version} over version {current} unchecked (--force)")
            return {**forced, "promotion.forced_reason": "no data given"}
        raise ConfigError(
            f"{name}@champion is version {current}: pass --data with labelled posts newer than "
            f"both models' training data to compare version {version} with it (or --force)"
        )
    try:
        champion, challenger, frame, source = _promotion_inputs(
            version, current, name, data, tracking_uri
        )
        check = compare_models(
            champion,
            challenger,
            frame,
            tolerance=tolerance,
            source=source,
            drop_older=drop_older,
            names=(f"champion (version {current})", f"challenger (version {version})"),
        )
    except DataError as err:
        if not force:
            raise
        _note(f"{err}; promoting anyway (--force)")
        return {**forced, "promotion.forced_reason": str(err)[:500]}
    table = Table(
        title=f"version {version} vs {name}@champion (version {current}) on {check.n_posts} "
        f"posts created after {check.after}",
        title_justify="left",
    )
    for col in ("model", "macro-F1", "95% interval", "trained on posts until"):
        table.add_column(col)
    for score in (check.champion, check.challenger):
        table.add_row(
            score.name,
            f"{score.macro_f1:.4f}",
            f"{score.ci_low:.4f} - {score.ci_high:.4f}",
            score.trained_until,
        )
    low, high = check.difference_ci
    table.add_row("difference", f"{check.difference:+.4f}", f"{low:+.4f} - {high:+.4f}", "")
    Console().print(table)
    if check.dropped_older:
        _note(f"{check.dropped_older} posts from inside a training window were dropped")
    tags = check.tags()
    if check.passed:
        console.print(check.verdict())
        return tags
    if force:
        _note(f"{check.verdict()}; promoting anyway (--force)")
        return {**tags, **forced, "promotion.forced_reason": check.verdict()[:500]}
    console.print(
        f"[bold red]refused:[/] {escape(check.verdict())}; version {current} stays "
        f"{name}@champion (--force overrides, and is recorded on the version)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _promotion_inputs(version, current, name, data, tracking_uri):
    """Both registered bundles and the labelled posts (corrections winning), checked."""
    from triage_ml.contract import load_history
    from triage_ml.store import load_registered

    champion = load_registered(f"models:/{name}/{current}", tracking_uri)
    challenger = load_registered(f"models:/{name}/{version}", tracking_uri)
    labels = champion.labels
    if len(data) == 1:
        frame, _ = load_history(
            data[0],
            label_set=labels,
            exclusive=champion.triager.exclusive,
            require_labels=True,
            min_examples=1,
        )
        return champion, challenger, frame, str(data[0])
    from triage_ml.feedback import merge_training_data

    merged = merge_training_data(
        data, label_set=labels, exclusive=champion.triager.exclusive, min_examples=1
    )
    return champion, challenger, merged.frame, merged.source


@app.command()
@handles_errors
def versions(name: ModelName = "triage", tracking_uri: TrackingUri = None) -> None:
    """List the registered versions of NAME with their aliases and headline metrics."""
    from triage_ml._extras import require
    from triage_ml.store import list_versions, resolve_tracking_uri

    require("mlflow", "pipeline", "triage-ml versions")
    found = list_versions(name, tracking_uri)
    if not found:
        console.print(
            f"no versions of '{name}' at {resolve_tracking_uri(tracking_uri)}; "
            "register one with 'triage-ml train --register'"
        )
        return
    table = Table(title=f"registered versions of {name}", title_justify="left")
    for col in ("version", "aliases", "created", "macro-F1", "Brier", "run"):
        table.add_column(col)
    for v in found:
        table.add_row(
            v.version,
            ", ".join(v.aliases),
            v.created,
            _fmt(v.metrics.get("macro_f1")),
            _fmt(v.metrics.get("brier")),
            v.run_id,
        )
    Console().print(table)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


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
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Add an inbox replay to the report: the folder 'triage-ml replay' wrote."
        ),
    ] = None,
) -> None:
    """Review mistakes: worst errors, error rates by slice, suspected mislabelled rows, urgency
    under-estimates, a relabelling sheet and a static HTML report."""
    from triage_ml._extras import require_extra
    from triage_ml.decide import load_playbook

    require_extra("review", "triage-ml review")
    from triage_ml.replay import load_replay
    from triage_ml.review import bundle_params, run_review, write_review

    replayed = load_replay(replay) if replay else None

    started = time.perf_counter()
    bundle, history, report = _bundle_and_labelled(model, data)
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
        written = write_review(result, out, data_source=str(data), replay=replayed)
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


@app.command()
@handles_errors
def replay(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[
        Path, typer.Option(help="Labelled history with created_at on every post, to replay.")
    ],
    agents: Annotated[
        str,
        typer.Option(
            help="Agents working the inbox: a number (4), a sweep (1-12 or 1,2,4,8), or 'auto' "
            "(1, 2, ... until arrival order answers 95% of posts within their deadline)."
        ),
    ],
    handling_minutes: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Minutes an agent spends on a post (the playbook's handling_minutes "
            "per label win where it has them).",
        ),
    ],
    playbook: Annotated[
        Path | None,
        typer.Option(help="Playbook YAML: deadlines, business hours (default: the bundle's)."),
    ] = None,
    keywords: Annotated[
        Path | None,
        typer.Option(help="Keyword rules YAML for the keyword baseline (default: generic list)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for replay.json, the CSVs and the PNG plots."),
    ] = None,
    plot_agents: Annotated[
        int | None,
        typer.Option(min=1, help="Staffing level whose waits are kept and plotted."),
    ] = None,
) -> None:
    """Replay a labelled history through a simulated inbox: arrival order vs triage-ml's
    priority vs keyword rules vs the truth, judged on what the helpdesk feels (complaints
    answered within the hour, deadlines met, waits per true label). See docs/replay.md."""
    from triage_ml.contract import fingerprint
    from triage_ml.decide import load_playbook
    from triage_ml.replay import agents_sweep, load_keywords, write_replay
    from triage_ml.replay import replay as run_replay

    try:
        agents_sweep(agents)
    except ValueError as err:
        _error(str(err))
    started = time.perf_counter()
    bundle, history, report = _bundle_and_labelled(model, data)
    book = load_playbook(playbook) if playbook else None
    rules = load_keywords(keywords) if keywords else None
    with console.status("replaying") as status:
        result = run_replay(
            bundle,
            history,
            agents,
            handling_minutes,
            playbook=book,
            keywords=rules,
            featured_agents=plot_agents,
            source=str(data),
            row_base=1,
            progress=lambda msg: status.update(f"replaying: {msg}"),
        )
    info = result.info
    headline = result.headline()
    sweep = Table(
        title=f"{headline.replace('_', ' ')} by agents", title_justify="left", show_lines=False
    )
    sweep.add_column("agents", justify="right")
    for ordering in info["orderings"]:
        sweep.add_column(ordering, justify="right")
    for k in info["agents"]:
        at = result.at(k)
        sweep.add_row(str(k), *[_pct(at.loc[o, headline]) for o in info["orderings"]])
    k = info["featured_agents"]
    at = result.at(k)
    detail = Table(title=f"at {k} agent{'s' if k > 1 else ''}", title_justify="left")
    cols = [
        ("within deadline", "within_deadline", _pct),
        ("SLA breaches", "sla_breaches", _count),
        ("complaints <= 60 min", "complaint_within_60", _pct),
        ("high urgency in deadline", "high_urgency_within_deadline", _pct),
        ("complaint wait p50/p90", ("complaint_wait_median", "complaint_wait_p90"), _minutes),
        ("no-label wait p50/p90", ("no_label_wait_median", "no_label_wait_p90"), _minutes),
    ]
    cols = [(t, c if isinstance(c, tuple) else (c,), f) for t, c, f in cols]
    cols = [c for c in cols if all(x in at.columns for x in c[1])]
    detail.add_column("ordering")
    for title, _, _ in cols:
        detail.add_column(title, justify="right")
    for ordering, row in at.iterrows():
        detail.add_row(
            ordering,
            *[fmt(*[row[x] for x in col]) for _, col, fmt in cols],
        )
    Console().print(sweep)
    Console().print(detail)
    rows = [
        ("data", f"{data} ({info['posts']} posts, {info['first_post']} to {info['last_post']})"),
        ("model", f"{info['model_version']} (macro-F1 {info['model_macro_f1']} on these posts)"),
        ("handling", f"{handling_minutes:g} min per post"),
        ("business hours", "declared" if info["business_hours"] else "none (24/7)"),
        ("arrival order keeps up at", str(info["keeps_up_agents"] or "not within the sweep")),
    ]
    if bundle.metadata.get("data_fingerprint") == fingerprint(history):
        _note(
            "this is the history the model was trained on: its order looks better than it "
            "would on new posts; replay posts from after the training data"
        )
    if out:
        no_plots = _plots_unavailable()
        if no_plots:
            _note(no_plots)
        written = write_replay(result, out, plots=not no_plots)
        rows.append(("written to", f"{out} ({', '.join(p.name for p in written.values())})"))
    rows.append(("time", f"{time.perf_counter() - started:.1f} s"))
    Console().print(_table("triage-ml replay", rows))


def _count(value) -> str:
    return f"{int(value):,}"


def _pct(value) -> str:
    return "-" if value is None or value != value else f"{float(value):.0%}"


def _minutes(*values) -> str:
    return " / ".join("-" if v is None or v != v else f"{float(v):,.0f}" for v in values) + " min"


@app.command()
@handles_errors
def drift(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[
        Path, typer.Option(help="Recent posts (.csv/.jsonl/.parquet), labels optional.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for drift.json, drift.png and drift.html."),
    ] = None,
    playbook: Annotated[
        Path | None, typer.Option(help="Playbook YAML (default: the bundle's).")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when a signal is flagged (for cron).")
    ] = False,
) -> None:
    """Compare recent posts with the model's training history: predicted-label mix, scores,
    vocabulary, text length and metadata, one PSI per signal (see docs/monitoring.md)."""
    from triage_ml.contract import read_table, validate_posts
    from triage_ml.decide import load_playbook
    from triage_ml.monitor import check_drift, reference_of, write_drift_report
    from triage_ml.store import load_bundle

    bundle = load_bundle(model)
    reference_of(bundle)  # an old bundle stops here, before the file is read
    book = load_playbook(playbook) if playbook else None
    frame, _ = validate_posts(
        read_table(data), label_set=bundle.labels, require_labels=False, source=str(data)
    )
    with console.status("measuring drift"):
        result = check_drift(bundle, frame, book)
    table = Table(title=f"triage-ml drift ({bundle.model_version})", title_justify="left")
    for col in ("signal", "statistic", "value", "threshold", "verdict"):
        table.add_column(col, justify="right" if col in ("value", "threshold") else "left")
    for s in result.signals:
        verdict = s.severity if not s.note else f"{s.severity} ({s.note})"
        style = "bold red" if s.flagged else None
        table.add_row(
            s.name, s.statistic, f"{s.psi:.3f}", f"{s.threshold:.3f}", verdict, style=style
        )
    Console().print(table)
    for term, posts, share in result.new_terms:
        _note(f"unknown word {term!r} in {posts} recent posts ({share:.1%})")
    for note in result.notes:
        _note(note)
    rows = [
        ("recent posts", f"{result.n_recent} from {data}"),
        ("training history", f"{result.n_reference} posts"),
        ("flagged", ", ".join(s.name for s in result.flagged) or "nothing"),
    ]
    if out:
        no_plots = _plots_unavailable()
        if no_plots:
            _note(no_plots)
        written = write_drift_report(result, out, data_source=str(data), plots=not no_plots)
        rows.append(("written to", ", ".join(str(p) for p in written.values())))
    Console().print(_table("triage-ml drift", rows))
    if fail_on_drift and result.flagged:
        raise typer.Exit(1)


@app.command()
@handles_errors
def suggest(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[Path, typer.Option(help="Unlabelled posts (.csv/.jsonl/.parquet).")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many posts to suggest.")] = 200,
    out: Annotated[
        Path | None, typer.Option(help="Write the ranked ids here (.csv/.jsonl/.parquet).")
    ] = None,
) -> None:
    """Rank posts for labelling: unsure near a label's threshold, weighted by predicted
    urgency (a mistake on an urgent post costs more). See docs/monitoring.md."""
    from triage_ml.contract import read_table, validate_posts, write_table
    from triage_ml.monitor import suggest as rank_posts
    from triage_ml.store import load_bundle

    bundle = load_bundle(model)
    frame, _ = validate_posts(
        read_table(data), label_set=bundle.labels, require_labels=False, source=str(data)
    )
    ranked = rank_posts(bundle, frame, n)
    table = Table(
        title=f"posts to label next ({len(ranked)} of {len(frame)})", title_justify="left"
    )
    for col in ("rank", "id", "priority", "uncertainty", "urgency", "nearest_label", "probability"):
        table.add_column(col.replace("_", " "))
    for row in ranked.head(15).itertuples(index=False):
        table.add_row(
            str(row.rank),
            str(row.id),
            f"{row.priority:.3f}",
            f"{row.uncertainty:.2f}",
            f"{row.urgency:.2f}",
            str(row.nearest_label),
            f"{row.probability:.2f}",
        )
    Console().print(table)
    if out:
        write_table(ranked, out)
        console.print(f"wrote {len(ranked)} ranked ids to {out}")


@app.command("compare-shadow")
@handles_errors
def compare_shadow(
    log: Annotated[Path, typer.Argument(help="The service's shadow log (TRIAGE_SHADOW_LOG).")],
    feedback: Annotated[
        Path | None,
        typer.Option(help="Agents' corrections ('triage-ml feedback export'): who was right."),
    ] = None,
) -> None:
    """How often a shadow challenger agrees with the serving model, per label and tier, and,
    where agents corrected a post, which of the two was right."""
    from triage_ml.contract import read_table
    from triage_ml.monitor import compare_shadow as compare
    from triage_ml.monitor import read_shadow_log

    frame = read_shadow_log(log)
    corrections = None
    if feedback is not None:
        from triage_ml.contract import DataError

        corrections = read_table(feedback)
        if "id" not in corrections or "labels" not in corrections:
            raise DataError("needs the columns id and labels", source=str(feedback))
    report = compare(frame, corrections)
    versions = {k: ", ".join(v) for k, v in report.versions.items()}
    Console().print(
        _table(
            "triage-ml compare-shadow",
            [
                ("posts", str(report.n_posts)),
                ("champion", versions["champion"]),
                ("challenger", versions["challenger"]),
                ("same tier", f"{report.tier_agreement:.1%}"),
            ],
        )
    )
    table = Table(title="decisions per label", title_justify="left")
    for col in ("label", "champion predicts", "challenger predicts", "same decision"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for row in report.labels.itertuples():
        table.add_row(
            row.label,
            f"{row.champion_rate:.1%}",
            f"{row.challenger_rate:.1%}",
            f"{row.agreement:.1%}",
        )
    Console().print(table)
    tiers = Table(title="tiers: champion (rows) x challenger (columns)", title_justify="left")
    tiers.add_column("")
    for col in report.tiers.columns:
        tiers.add_column(str(col), justify="right")
    for tier, counts in report.tiers.iterrows():
        tiers.add_row(str(tier), *[str(int(c)) for c in counts])
    Console().print(tiers)
    if report.right is not None:
        right = Table(title="who was right, on corrected posts", title_justify="left")
        for col in report.right.columns:
            right.add_column(col.replace("_", " "), justify="left" if col == "label" else "right")
        for row in report.right.itertuples(index=False):
            right.add_row(*[str(v) for v in row])
        Console().print(right)
    for note in report.notes:
        _note(note)


@app.command()
@handles_errors
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            help="Bundle directory to serve (its parent becomes the model root), or "
            "models:/NAME@ALIAS; default: TRIAGE_MODEL_ROOT/TRIAGE_MODEL (models/triage)."
        ),
    ] = None,
    playbook: Annotated[
        Path | None, typer.Option(help="Playbook YAML (default: TRIAGE_PLAYBOOK or the bundle's).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Default: TRIAGE_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: TRIAGE_PORT or 8000.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: TRIAGE_WORKERS or 1).")
    ] = None,
) -> None:
    """Serve the scoring API over HTTP (other settings: TRIAGE_* variables, see docs/serving.md)."""
    from triage_ml._extras import require_extra

    require_extra("serve", "triage-ml serve")
    from serve.server import configure, run

    settings = configure(model=model, playbook=playbook, host=host, port=port, workers=workers)
    console.print(
        f"serving {settings.describe_model()} on http://{settings.host}:{settings.port} "
        f"with {settings.workers} worker(s); API docs at /docs"
    )
    run(settings)


feedback_app = typer.Typer(
    no_args_is_help=True,
    help="Agents' corrections: export them for training, erase a post.",
)
app.add_typer(feedback_app, name="feedback")
FeedbackUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TRIAGE_FEEDBACK_URL",
        help="Feedback store: sqlite:///path.db or postgresql://user:pass@host/db "
        "(default: feedback.db in the project folder).",
        show_default=False,
    ),
]


def _open_feedback(url: str | None):
    from triage_ml._extras import require_extra
    from triage_ml.feedback import FeedbackStoreError, open_store

    require_extra("feedback", "triage-ml feedback")
    try:
        return open_store(url)
    except FeedbackStoreError as err:
        _error(str(err))


@feedback_app.command("export")
@handles_errors
def feedback_export(
    out: Annotated[Path, typer.Option(help="Where to write (.csv/.jsonl/.parquet).")],
    since: Annotated[
        str | None,
        typer.Option(
            help="Only corrections made at or after this time (ISO-8601: 2026-11-01 or "
            "2026-11-01T09:00:00Z; no offset = UTC). Default: all."
        ),
    ] = None,
    url: FeedbackUrl = None,
) -> None:
    """Write the corrections as a labelled history (one row per post, the newest correction
    winning) with provenance: reviewer, corrected_at, model_version, corrected_fields."""
    from triage_ml.contract import ConfigError, write_table
    from triage_ml.feedback import FeedbackStoreError

    start = None
    if since is not None:
        import pandas as pd

        try:
            start = pd.Timestamp(since.strip())
        except (ValueError, OverflowError):
            start = None
        if start is None or start is pd.NaT:
            raise ConfigError(
                f"--since {since!r}: not a date; use ISO-8601, e.g. 2026-11-01 or "
                "2026-11-01T09:00:00Z (no offset = UTC)"
            )
        start = (start.tz_localize("UTC") if start.tzinfo is None else start).to_pydatetime()
    store = _open_feedback(url)
    try:
        frame = store.export(since=start)
        n_corrections = len(store.corrections(since=start))
    except FeedbackStoreError as err:
        _error(str(err))
    finally:
        store.close()
    if out.suffix.lower() != ".parquet":
        for column in ("created_at", "corrected_at"):
            times = frame[column]
            if len(frame):
                frame[column] = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").where(times.notna())
    write_table(frame, out)
    rows = [
        ("store", store.url),
        ("since", start.isoformat() if start else "the beginning"),
        ("corrections", str(n_corrections)),
        ("posts written", str(len(frame))),
        ("written to", str(out)),
    ]
    Console().print(_table("triage-ml feedback export", rows))
    if len(frame):
        console.print(f"train with them: triage-ml train --data HISTORY --data {out} --out ...")


@feedback_app.command("delete")
@handles_errors
def feedback_delete(
    post_id: Annotated[str, typer.Argument(help="The post id to erase.")],
    url: FeedbackUrl = None,
) -> None:
    """Erase a post from the store: its text, its metadata and every correction of it."""
    from triage_ml.feedback import FeedbackStoreError

    store = _open_feedback(url)
    try:
        deleted = store.delete_post(post_id)
    except FeedbackStoreError as err:
        _error(str(err))
    finally:
        store.close()
    if deleted["posts"] == 0 and deleted["corrections"] == 0:
        Console().print(f"nothing stored for post {post_id!r} in {store.url}")
        return
    Console().print(
        f"erased post {post_id!r} from {store.url}: its text and {deleted['corrections']} "
        "correction(s)"
    )


def _bundle_and_labelled(model: Path, data: Path):
    """A verified bundle and a labelled file checked against that bundle's label set."""
    from triage_ml.contract import load_history
    from triage_ml.store import load_bundle

    bundle = load_bundle(model)
    frame, report = load_history(
        data,
        label_set=bundle.labels,
        exclusive=bundle.triager.exclusive,
        require_labels=True,
        min_examples=1,
    )
    return bundle, frame, report


def _default_params() -> Path | None:
    path = Path("params.yaml")
    return path if path.is_file() else None


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
