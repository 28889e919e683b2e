"""``triage-ml serve``: the scoring API over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage_ml.cli._common import console, handles_errors


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
