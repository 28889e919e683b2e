"""Model versions: ``triage-ml convert`` (an old pickled bundle), ``register``, ``promote``
(with the champion check) and ``versions``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from triage_ml.cli._common import _note, console, handles_errors


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
