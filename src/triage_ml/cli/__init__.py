"""The ``triage-ml`` command: thin edges over the library (read files, write outputs, report).

Every command turns the library's contract errors into one readable message on stderr and a
non-zero exit code, never a traceback (``_common.handles_errors``).

One module per command group, named after its command (``train.py`` holds ``triage-ml train``);
the registry commands (convert, register, promote, versions) sit in ``registry.py``, the
monitoring ones (drift, suggest, compare-shadow) in ``monitor.py``, what they share in
``_common.py``. Importing this package imports no heavy library: each command imports what it
needs when it runs.
"""

from __future__ import annotations

import typer

from triage_ml.cli import (
    evaluate,
    feedback,
    monitor,
    predict,
    registry,
    replay,
    review,
    sample,
    serve,
    train,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Label, score and prioritise social-media customer-service posts.",
)

# In the order `triage-ml --help` lists them; a command is named after its function, with "-"
# for "_" (compare_shadow is `triage-ml compare-shadow`), given explicitly so that the
# registered name is the one users type.
for command in (
    sample.sample,
    train.train,
    evaluate.evaluate,
    predict.predict,
    registry.convert,
    registry.register,
    registry.promote,
    registry.versions,
    review.review,
    replay.replay,
    monitor.drift,
    monitor.suggest,
    monitor.compare_shadow,
    serve.serve,
):
    app.command(command.__name__.replace("_", "-"))(command)
app.add_typer(feedback.feedback_app, name="feedback")


def main() -> None:  # pragma: no cover - console entry point
    app()
