"""The review as one static HTML page, for people who do not run notebooks.

The page is rendered from ``templates/report.html.j2`` (Jinja2, autoescape on: every value
shown is escaped) with ``templates/report.css`` inlined, and the plots of
:mod:`triage_ml.evaluation.plots` embedded as base64 PNGs, so it has no external resources: it
opens offline and can be mailed as one file. Every text shown comes from the review tables,
which are masked. This module only decides how each value reads (:class:`Col`); the layout and
the prose live in the template.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from triage_ml._extras import require
from triage_ml.evaluation.metrics import URGENT_FROM
from triage_ml.evaluation.plots import (
    plot_calibration,
    plot_confusion,
    plot_pr_curves,
    plot_slices,
    plot_urgency,
)
from triage_ml.review.run import ReviewResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from triage_ml.replay.run import ReplayResult

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"

#: The page's sections by anchor, in order; the headings are what the browser test checks.
SECTIONS = {
    "summary": "Label summary",
    "curves": "Precision, recall and calibration",
    "errors": "Worst errors",
    "slices": "Error rates by slice",
    "mislabels": "Suspected mislabelled rows",
    "urgency": "Urgency under-estimates",
}
HEADINGS = tuple(SECTIONS.values())
#: The section added when a replay is given (``triage-ml review --replay DIR``).
REPLAY_SECTION = ("replay", "Inbox replay")


# --------------------------------------------------------------------------------------------
# figures


def figures(result: ReviewResult) -> dict[str, Figure]:
    """Every figure of the report, by name."""
    out = {
        "confusion": plot_confusion(result.summary),
        "precision_recall": plot_pr_curves(result.pr_curves, result.summary),
        "calibration": plot_calibration(result.calibration),
        "slices": plot_slices(result.slices, result.error_rate),
    }
    if len(result.urgency_points):
        out["urgency"] = plot_urgency(result.urgency_points)
    return out


def png_base64(fig: Figure, dpi: int = 110) -> str:
    """A figure as a base64 PNG, for an ``<img src="data:...">`` that works offline."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------
# tables: how each value reads (the template escapes and lays them out)


@dataclass(frozen=True)
class Col:
    """How one column of a review table is shown."""

    name: str
    header: str
    kind: str = "text"  # text | num | pct | int | labels | long | terms | bool | time | id
    digits: int = 2


@dataclass(frozen=True)
class Cell:
    """One table cell as the template renders it: plain text, or label chips."""

    css: str
    text: str = ""
    chips: tuple[str, ...] | None = None
    title: str | None = None  # the whole text of a shortened cell


@dataclass(frozen=True)
class Table:
    columns: list[Col]
    rows: list[list[Cell]]
    empty: str


def _cell(value: object, col: Col) -> Cell:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return Cell("na", "-")
    if col.kind == "int":
        return Cell("num", f"{int(value):,}")
    if col.kind == "pct":
        share = float(value)
        return Cell("num", f"{share:.0%}" if abs(share) >= 0.01 else f"{share:.1%}")
    if col.kind == "num":
        return Cell("num", f"{float(value):.{col.digits}f}")
    if col.kind == "bool":
        return Cell("flag", "yes" if bool(value) else "")
    if col.kind == "labels":
        return Cell("labels", chips=tuple(t for t in str(value).split(";") if t))
    if col.kind == "time":
        return Cell("time", pd.Timestamp(value).strftime("%Y-%m-%d %H:%M"))
    text = str(value)
    if col.kind == "long" and len(text) > 240:
        return Cell("long", f"{text[:237]}...", title=text)
    return Cell(col.kind, text)


def table(frame: pd.DataFrame, cols: Sequence[Col], empty: str = "Nothing to show.") -> Table:
    """A review table as rows of display cells (the columns ``frame`` has, in ``cols`` order)."""
    cols = [c for c in cols if c.name in frame.columns]
    rows = [[_cell(record[c.name], c) for c in cols] for record in frame.to_dict("records")]
    return Table(cols, rows, empty)


SUMMARY_COLS = [
    Col("label", "Label"),
    Col("labelled", "Labelled", "int"),
    Col("predicted", "Predicted", "int"),
    Col("true_pos", "True pos.", "int"),
    Col("false_pos", "False pos.", "int"),
    Col("false_neg", "False neg.", "int"),
    Col("precision", "Precision", "num"),
    Col("recall", "Recall", "num"),
    Col("f1", "F1", "num"),
    Col("threshold", "Threshold", "num"),
]
ERROR_COLS = [
    Col("id", "Post", "id"),
    Col("label", "Label"),
    Col("error", "Error"),
    Col("probability", "Prob.", "num"),
    Col("labels", "Labelled", "labels"),
    Col("predicted_labels", "Predicted", "labels"),
    Col("text", "Text (masked)", "long"),
    Col("evidence_for", "Terms for the label", "terms"),
    Col("evidence_against", "Terms against", "terms"),
]
SLICE_COLS = [
    Col("slice", "Slice"),
    Col("value", "Value"),
    Col("posts", "Posts", "int"),
    Col("error_rate", "Error rate", "pct"),
    Col("error_rate_low", "95% low", "pct"),
    Col("error_rate_high", "95% high", "pct"),
    Col("vs_overall", "vs overall", "pct"),
    Col("false_pos", "False pos.", "int"),
    Col("false_neg", "False neg.", "int"),
    Col("worst_label", "Most errors on"),
    Col("urgency_mae", "Urgency MAE", "num"),
]
SUSPECT_COLS = [
    Col("rank", "#", "int"),
    Col("id", "Post", "id"),
    Col("labels", "Recorded labels", "labels"),
    Col("suggested_labels", "Model suggests", "labels"),
    Col("disputed", "Disputed decision"),
    Col("label_quality", "Label quality", "num", 3),
    Col("cleanlab_issue", "cleanlab issue", "bool"),
    Col("text", "Text (masked)", "long"),
    Col("channel", "Channel"),
]
URGENCY_COLS = [
    Col("id", "Post", "id"),
    Col("urgency", "Recorded", "num"),
    Col("predicted_urgency", "Predicted", "num"),
    Col("shortfall", "Short by", "num"),
    Col("tier_given", "Tier given"),
    Col("tier_if_recorded_urgency", "Tier if recorded urgency"),
    Col("predicted_labels", "Predicted labels", "labels"),
    Col("text", "Text (masked)", "long"),
    Col("raised_by", "Terms raising urgency", "terms"),
    Col("lowered_by", "Terms lowering urgency", "terms"),
]


REPLAY_COLS = [
    Col("title", "Order"),
    Col("within_deadline", "Within deadline", "pct"),
    Col("sla_breaches", "SLA breaches", "int"),
    Col("complaint_within_60", "Complaints within 60 min", "pct"),
    Col("complaint_within_deadline", "Complaints within deadline", "pct"),
    Col("high_urgency_within_deadline", "High urgency within deadline", "pct"),
    Col("complaint_wait_median", "Complaint wait, median (min)", "num", 0),
    Col("complaint_wait_p90", "Complaint wait, p90 (min)", "num", 0),
    Col("no_label_wait_median", "No-label wait, median (min)", "num", 0),
    Col("no_label_wait_p90", "No-label wait, p90 (min)", "num", 0),
]


def replay_tables(replay: ReplayResult) -> dict[str, Table]:
    """The replay at its featured staffing level, and its headline across the sweep."""
    from triage_ml.replay.orderings import TITLES

    at = replay.at(replay.info["featured_agents"]).reset_index()
    at["title"] = at["ordering"].map(TITLES).fillna(at["ordering"])
    headline = replay.headline()
    sweep = replay.summary.pivot(index="agents", columns="ordering", values=headline)
    orderings = [o for o in replay.info["orderings"] if o in sweep.columns]
    sweep = sweep[orderings].reset_index()
    cols = [Col("agents", "Agents", "int")] + [Col(o, TITLES.get(o, o), "pct") for o in orderings]
    return {"detail": table(at, REPLAY_COLS), "sweep": table(sweep, cols)}


@dataclass(frozen=True)
class Card:
    key: str
    value: str
    warn: bool = False


def _cards(result: ReviewResult) -> list[Card]:
    summary = result.summary
    f1 = summary["f1"].dropna()
    weakest = summary.loc[f1.idxmin()] if len(f1) else None
    under = result.urgency_underestimates
    big_misses = int((under["shortfall"] >= 0.2).sum()) if len(under) else 0
    return [
        Card("Posts reviewed", f"{result.n_reviewed:,}"),
        Card("Posts with a wrong label", f"{result.error_rate:.1%}", result.error_rate > 0.2),
        Card("Macro-F1", f"{f1.mean():.3f}" if len(f1) else "n/a"),
        Card(
            f"Weakest label (F1 {weakest['f1']:.2f})" if weakest is not None else "Weakest label",
            str(weakest["label"]) if weakest is not None else "n/a",
        ),
        Card(
            "cleanlab label issues",
            f"{result.cleanlab_issues:,} of {result.n_history:,}",
            result.cleanlab_issues > 0.1 * max(result.n_history, 1),
        ),
        Card("Urgent posts under-rated by 0.2+", f"{big_misses:,}", big_misses > 0),
    ]


# --------------------------------------------------------------------------------------------
# the page


def render_html(
    result: ReviewResult,
    images: dict[str, str] | None = None,
    data_source: str = "",
    generated_at: datetime | None = None,
    replay: ReplayResult | None = None,
) -> str:
    """The report page: headline numbers, the plots and every review table, self-contained.

    ``images`` maps figure names to base64 PNGs (default: drawn from ``result``). With a
    ``replay`` (:func:`triage_ml.replay.load_replay`) the page gains an inbox replay section.
    """
    require("jinja2", "review", "the review report")
    from jinja2 import Environment, PackageLoader, StrictUndefined

    if images is None:
        images = {name: png_base64(fig) for name, fig in figures(result).items()}
    sections = dict(SECTIONS)
    if replay is not None:
        from triage_ml.replay.plots import plot_within_by_agents

        sections[REPLAY_SECTION[0]] = REPLAY_SECTION[1]
        if "replay" not in images:
            images = {**images, "replay": png_base64(plot_within_by_agents(replay))}
    env = Environment(
        loader=PackageLoader("triage_ml.review", "templates"),
        autoescape=True,  # the template's name ends in .j2, so say it outright
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    tables = {
        "summary": table(result.summary, SUMMARY_COLS),
        "errors": table(result.worst_errors, ERROR_COLS, "No wrong decisions."),
        "slices": table(result.slices, SLICE_COLS),
        "mislabels": table(result.suspected_mislabels, SUSPECT_COLS, "No labelled rows."),
        "urgency": table(
            result.urgency_underestimates,
            URGENCY_COLS,
            "No urgency recorded in this data, or no urgent post.",
        ),
    }
    return env.get_template(TEMPLATE).render(
        result=result,
        sections=sections,
        replay=replay,
        replay_tables=replay_tables(replay) if replay is not None else None,
        cards=_cards(result),
        tables=tables,
        images=images,
        data_source=data_source,
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        urgent_from=URGENT_FROM,
    )


def write_review(
    result: ReviewResult,
    out_dir: str | Path,
    data_source: str = "",
    on_file: Callable[[Path], None] | None = None,
    replay: ReplayResult | None = None,
) -> dict[str, Path]:
    """Write every review table as CSV and the HTML report (with an inbox replay section
    when ``replay`` is given) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in result.tables().items():
        path = out_dir / f"{name}.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
        written[name] = path
        if on_file:
            on_file(path)
    page = out_dir / REPORT_FILE
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(render_html(result, data_source=data_source, replay=replay), encoding="utf-8")
    tmp.replace(page)
    written["report"] = page
    if on_file:
        on_file(page)
    return written
