"""``triage-ml feedback export | delete``: agents' corrections in the feedback store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage_ml.cli._common import _error, _table, console, handles_errors

feedback_app = typer.Typer(
    no_args_is_help=True,
    help="Agents' corrections: export them for training, erase a post.",
)


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
