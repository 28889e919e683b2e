"""Watching a live model: ``triage-ml drift``, ``suggest`` (what to label next) and
``compare-shadow``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from triage_ml.cli._common import _note, _plots_unavailable, _table, console, handles_errors


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
