"""``triage-ml evaluate``: a bundle's quality on labelled posts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage_ml.cli._common import (
    _bundle_and_labelled,
    _note,
    _plots_unavailable,
    _table,
    console,
    handles_errors,
)


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
