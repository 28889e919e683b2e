"""``triage-ml train``: a bundle from a labelled history, logged to MLflow."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage_ml.cli._common import _note, _plots_unavailable, _table, console, handles_errors


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


def _default_params() -> Path | None:
    path = Path("params.yaml")
    return path if path.is_file() else None
