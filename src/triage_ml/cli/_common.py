"""What the commands share: the stderr console, turning contract errors and missing extras
into one readable message and exit 2 (never a traceback), notes, summary tables, and loading
a bundle with a labelled file checked against it."""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
