"""``triage-ml review``: the analyst's review of a bundle's mistakes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage_ml.cli._common import _bundle_and_labelled, _table, console, handles_errors


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
