"""The review as pictures and one static HTML page, for people who do not run notebooks.

The plots are functions of the review tables (:mod:`triage_ml.review.tables`) returning matplotlib
``Figure`` objects, so the notebook draws exactly what the report embeds. The page has no
external resources: plots are base64 PNGs and the style is inline, so it opens offline and can
be mailed as one file. Every text shown comes from the review tables, which are masked.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage_ml.review.tables import SLICES, URGENT_FROM, ReviewResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_FILE = "report.html"
_PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d"]
_INK, _MUTED, _GRID = "#1f2937", "#6b7280", "#e5e7eb"


# --------------------------------------------------------------------------------------------
# figures (object-oriented matplotlib: no pyplot state, no backend switching)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _style(ax, title: str | None = None) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color(_MUTED)
    ax.tick_params(colors=_INK, labelsize=8)
    ax.grid(color=_GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, fontsize=10, color=_INK, loc="left")


def plot_confusion(summary: pd.DataFrame, max_labels: int = 12) -> Figure:
    """One 2x2 confusion matrix per label (true rows, predicted columns), counts and shares."""
    show = summary.head(max_labels)
    n = max(len(show), 1)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = _figure(2.6 * cols, 2.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, row in zip(axes.ravel(), show.itertuples(index=False), strict=False):
        cm = np.array([[row.true_neg, row.false_pos], [row.false_neg, row.true_pos]])
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(cm.max(), 1))
        total = max(cm.sum(), 1)
        for (t, p), v in np.ndenumerate(cm):
            ax.text(
                p,
                t,
                f"{v}\n{v / total:.0%}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v > cm.max() / 2 else _INK,
            )
        ax.set_xticks([0, 1], ["no", "yes"], fontsize=8)
        ax.set_yticks([0, 1], ["no", "yes"], fontsize=8)
        ax.set_xlabel("predicted", fontsize=8, color=_MUTED)
        ax.set_ylabel("labelled", fontsize=8, color=_MUTED)
        f1 = "n/a" if pd.isna(row.f1) else f"{row.f1:.2f}"
        ax.set_title(f"{row.label}  (F1 {f1})", fontsize=9, color=_INK)
    return fig


def plot_pr_curves(curves: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Precision against recall per label; the dot is the operating point (its threshold)."""
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    for i, (label, part) in enumerate(curves.groupby("label", sort=False)):
        color = _PALETTE[i % len(_PALETTE)]
        ax.plot(part["recall"], part["precision"], color=color, linewidth=1.6, label=label)
        op = summary[summary["label"] == label]
        if len(op) and not pd.isna(op["recall"].iloc[0]) and not pd.isna(op["precision"].iloc[0]):
            ax.plot(op["recall"].iloc[0], op["precision"].iloc[0], "o", color=color, ms=6)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall", fontsize=9)
    ax.set_ylabel("precision", fontsize=9)
    _style(ax, "Precision-recall (dot = chosen threshold)")
    if len(curves):
        ax.legend(fontsize=8, frameon=False, loc="lower left")
    return fig


def plot_calibration(table: pd.DataFrame) -> Figure:
    """Reliability diagram: a well calibrated label follows the diagonal."""
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=_MUTED, linestyle="--", linewidth=1, label="perfect")
    for i, (label, part) in enumerate(table.groupby("label", sort=False)):
        part = part[part["posts"] >= 3]
        ax.plot(
            part["mean_probability"],
            part["observed_rate"],
            marker="o",
            ms=4,
            linewidth=1.4,
            color=_PALETTE[i % len(_PALETTE)],
            label=label,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("predicted probability", fontsize=9)
    ax.set_ylabel("share actually labelled", fontsize=9)
    _style(ax, "Calibration (bins with 3+ posts)")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def plot_slices(slices: pd.DataFrame, overall: float | None = None) -> Figure:
    """Error rate per slice value with its 95% interval; the dashed line is the overall rate."""
    names = [s for s in SLICES if s in set(slices["slice"])]
    fig = _figure(10.0, 2.0 + 0.28 * max((slices["slice"] == s).sum() for s in names or [""]))
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    top = float(slices["error_rate_high"].max()) if len(slices) else 1.0
    for ax, name in zip(axes, names, strict=False):
        part = slices[slices["slice"] == name]
        y = np.arange(len(part))[::-1]
        rate = part["error_rate"].to_numpy(dtype=float)
        low = rate - part["error_rate_low"].to_numpy(dtype=float)
        high = part["error_rate_high"].to_numpy(dtype=float) - rate
        above = overall is not None and overall >= 0
        colors = [
            "#dc2626" if above and r > overall and lo > overall else "#60a5fa"
            for r, lo in zip(rate, part["error_rate_low"], strict=True)
        ]
        ax.barh(y, rate, color=colors, height=0.6)
        ax.errorbar(rate, y, xerr=[low, high], fmt="none", ecolor=_INK, elinewidth=0.8, capsize=2)
        labels = [f"{v} ({n})" for v, n in zip(part["value"], part["posts"], strict=True)]
        ax.set_yticks(y, labels, fontsize=7)
        if overall is not None:
            ax.axvline(overall, color=_INK, linestyle="--", linewidth=0.9)
        ax.set_xlim(0, min(1.0, max(top * 1.05, 0.05)))
        ax.xaxis.set_major_formatter(_percent())
        _style(ax, name)
    fig.suptitle(
        "Share of posts with a wrong label, by slice (posts in brackets; red = clearly above "
        "overall)",
        fontsize=10,
        color=_INK,
        x=0.01,
        ha="left",
    )
    return fig


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def plot_urgency(points: pd.DataFrame, urgent_from: float = URGENT_FROM) -> Figure:
    """Recorded against predicted urgency; urgent posts below the diagonal were under-rated."""
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    if len(points):
        under = (points["urgency"] >= urgent_from) & (
            points["predicted_urgency"] < points["urgency"] - 0.15
        )
        ax.scatter(
            points.loc[~under, "urgency"],
            points.loc[~under, "predicted_urgency"],
            s=9,
            alpha=0.45,
            color="#60a5fa",
            label="posts",
        )
        ax.scatter(
            points.loc[under, "urgency"],
            points.loc[under, "predicted_urgency"],
            s=16,
            color="#dc2626",
            label="urgent, under-rated by > 0.15",
        )
    ax.plot([0, 1], [0, 1], color=_MUTED, linestyle="--", linewidth=1)
    ax.axvspan(urgent_from, 1.0, color="#fee2e2", alpha=0.5, linewidth=0)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recorded urgency", fontsize=9)
    ax.set_ylabel("predicted urgency", fontsize=9)
    _style(ax, "Urgency: recorded vs predicted (shaded = urgent)")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


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
# HTML


@dataclass(frozen=True)
class Col:
    """How one column of a review table is shown."""

    name: str
    header: str
    kind: str = "text"  # text | num | pct | int | labels | long | terms | bool | time
    digits: int = 2


def _cell(value: object, col: Col) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return '<td class="na">-</td>'
    if col.kind in ("num", "pct", "int"):
        if col.kind == "int":
            shown = f"{int(value):,}"
        elif col.kind == "pct":
            shown = f"{float(value):.0%}" if abs(float(value)) >= 0.01 else f"{float(value):.1%}"
        else:
            shown = f"{float(value):.{col.digits}f}"
        return f'<td class="num">{shown}</td>'
    if col.kind == "bool":
        return f'<td class="flag">{"yes" if bool(value) else ""}</td>'
    if col.kind == "labels":
        chips = "".join(
            f'<span class="chip">{html.escape(t)}</span>' for t in str(value).split(";") if t
        )
        return f'<td class="labels">{chips or "<span class=none>none</span>"}</td>'
    if col.kind == "time":
        ts = pd.Timestamp(value)
        return f'<td class="time">{ts.strftime("%Y-%m-%d %H:%M")}</td>'
    text = str(value)
    if col.kind == "long" and len(text) > 240:
        return f'<td class="long" title="{html.escape(text)}">{html.escape(text[:237])}...</td>'
    return f'<td class="{col.kind}">{html.escape(text)}</td>'


def html_table(frame: pd.DataFrame, cols: Sequence[Col], empty: str = "Nothing to show.") -> str:
    """A review table as HTML, every value escaped."""
    cols = [c for c in cols if c.name in frame.columns]
    if frame.empty:
        return f'<p class="empty">{html.escape(empty)}</p>'
    head = "".join(f'<th class="{c.kind}">{html.escape(c.header)}</th>' for c in cols)
    body = "\n".join(
        "<tr>" + "".join(_cell(row[c.name], c) for c in cols) + "</tr>"
        for row in frame.to_dict("records")
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _img(b64: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">'


_CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#0f172a; color:#f8fafc; padding:22px 32px 18px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:650; }
header .meta { color:#cbd5e1; font-size:13px; }
nav { position:sticky; top:0; z-index:2; background:white; border-bottom:1px solid var(--line);
      padding:8px 32px; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; margin-right:18px; white-space:nowrap; }
main { max-width:1280px; margin:0 auto; padding:8px 32px 40px; }
section { background:white; border:1px solid var(--line); border-radius:8px; padding:16px 20px;
          margin:18px 0; }
h2 { font-size:17px; margin:0 0 4px; }
p.how { color:var(--muted); margin:0 0 12px; max-width:900px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px;
         margin:18px 0 0; }
.card { background:white; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .v { font-size:24px; font-weight:650; }
.card .k { color:var(--muted); font-size:12px; }
.card.warn .v { color:#b91c1c; }
.figs { display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start; }
.figs img, section > img { max-width:100%; height:auto; border:1px solid var(--line);
                           border-radius:6px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th { text-align:left; background:#f1f5f9; color:#334155; font-weight:600; padding:6px 8px;
     border-bottom:1px solid #cbd5e1; position:sticky; top:0; white-space:nowrap; }
td { padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
tbody tr:nth-child(even) { background:#fafafa; }
td.num, th.num, th.pct, th.int { text-align:right; font-variant-numeric:tabular-nums;
                                 white-space:nowrap; }
td.long { min-width:300px; max-width:460px; }
td.terms { min-width:170px; max-width:230px; font-size:12px; color:#374151; }
td.time, td.id { white-space:nowrap; }
td.flag { color:#b91c1c; font-weight:600; }
td.na { color:#9ca3af; }
.chip { display:inline-block; background:#e0e7ff; color:#3730a3; border-radius:10px;
        padding:0 7px; margin:1px 3px 1px 0; font-size:11.5px; white-space:nowrap; }
.none { color:#9ca3af; font-style:italic; }
p.empty { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:12px; max-width:1280px; margin:0 auto;
         padding:0 32px 30px; }
code { background:#f1f5f9; padding:1px 4px; border-radius:4px; }
"""

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

#: The section headings the page always shows (the browser test checks them).
HEADINGS = (
    "Label summary",
    "Precision, recall and calibration",
    "Worst errors",
    "Error rates by slice",
    "Suspected mislabelled rows",
    "Urgency under-estimates",
)


def _cards(result: ReviewResult) -> str:
    summary = result.summary
    f1 = summary["f1"].dropna()
    weakest = summary.loc[f1.idxmin()] if len(f1) else None
    under = result.urgency_underestimates
    big_misses = int((under["shortfall"] >= 0.2).sum()) if len(under) else 0
    cards = [
        ("Posts reviewed", f"{result.n_reviewed:,}", False),
        ("Posts with a wrong label", f"{result.error_rate:.1%}", result.error_rate > 0.2),
        ("Macro-F1", f"{f1.mean():.3f}" if len(f1) else "n/a", False),
        (
            f"Weakest label (F1 {weakest['f1']:.2f})" if weakest is not None else "Weakest label",
            str(weakest["label"]) if weakest is not None else "n/a",
            False,
        ),
        (
            "cleanlab label issues",
            f"{result.cleanlab_issues:,} of {result.n_history:,}",
            result.cleanlab_issues > 0.1 * max(result.n_history, 1),
        ),
        ("Urgent posts under-rated by 0.2+", f"{big_misses:,}", big_misses > 0),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card{" warn" if warn else ""}"><div class="v">{html.escape(v)}</div>'
            f'<div class="k">{html.escape(k)}</div></div>'
            for k, v, warn in cards
        )
        + "</div>"
    )


def _section(anchor: str, title: str, how: str, *body: str) -> str:
    return (
        f'<section id="{anchor}"><h2>{html.escape(title)}</h2><p class="how">{how}</p>'
        + "\n".join(body)
        + "</section>"
    )


def render_html(
    result: ReviewResult,
    images: dict[str, str] | None = None,
    data_source: str = "",
    generated_at: datetime | None = None,
) -> str:
    """The report page: headline numbers, the plots and every review table, self-contained.

    ``images`` maps figure names to base64 PNGs (default: drawn from ``result``).
    """
    if images is None:
        images = {name: png_base64(fig) for name, fig in figures(result).items()}
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    anchors = ["summary", "curves", "errors", "slices", "mislabels", "urgency"]
    nav = "".join(
        f'<a href="#{a}">{html.escape(h)}</a>' for a, h in zip(anchors, HEADINGS, strict=True)
    )
    top = len(result.worst_errors)
    sections = [
        _section(
            "summary",
            HEADINGS[0],
            "Per label, on the reviewed posts: how many were labelled and predicted, the two "
            "kinds of error and the threshold the model uses (chosen on validation data).",
            html_table(result.summary, SUMMARY_COLS),
            _img(images["confusion"], "confusion matrix per label"),
        ),
        _section(
            "curves",
            HEADINGS[1],
            "Left: what precision each label would keep at every recall; the dot is where it "
            "operates now. Right: when the model says 0.8, is the label there 8 times in 10?",
            '<div class="figs">'
            + _img(images["precision_recall"], "precision-recall curves")
            + _img(images["calibration"], "calibration plot")
            + "</div>",
        ),
        _section(
            "errors",
            HEADINGS[2],
            f"The {top} most confident wrong decisions. <b>Terms for / against</b> are the "
            "model's own feature contributions to that label's score (the reasons the API "
            "returns); metadata terms such as <code>author_followers</code> or "
            "<code>length_log</code> are author reach and post length. A confident error is "
            "often a labelling mistake: check the text before blaming the model.",
            html_table(result.worst_errors, ERROR_COLS, "No wrong decisions."),
        ),
        _section(
            "slices",
            HEADINGS[3],
            "Share of posts with at least one wrong label per channel, author follower tier, "
            "post length and week. Bars in red are above the overall rate (dashed) even at "
            "the low end of their 95% interval; small slices have wide intervals.",
            _img(images["slices"], "error rate by slice"),
            html_table(result.slices, SLICE_COLS),
        ),
        _section(
            "mislabels",
            HEADINGS[4],
            f"Rows of the history ({result.n_history:,} labelled posts) whose recorded labels "
            "a model that did not see them disputes most (out-of-fold confident learning). "
            "<b>Label quality</b> is the probability that model gives the recorded decision on "
            "the disputed label; <b>cleanlab issue</b> is cleanlab's verdict. Re-check them in "
            "<code>relabel.csv</code>.",
            html_table(result.suspected_mislabels, SUSPECT_COLS, "No labelled rows."),
        ),
        _section(
            "urgency",
            HEADINGS[5],
            f"Posts recorded as urgent (urgency {URGENT_FROM:g} or more) that the model scored "
            "least urgent, with the tier they got and the tier their recorded urgency would "
            "have given under the same playbook.",
            _img(images["urgency"], "recorded vs predicted urgency") if "urgency" in images else "",
            html_table(
                result.urgency_underestimates,
                URGENCY_COLS,
                "No urgency recorded in this data, or no urgent post.",
            ),
        ),
    ]
    source = f" &middot; data: {html.escape(data_source)}" if data_source else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>triage-ml misclassification review</title>
<style>{_CSS}</style></head>
<body>
<header><h1>Misclassification review</h1>
<div class="meta">model: {html.escape(result.model_version)}{source} &middot; {when}</div>
<div class="meta">reviewed: {html.escape(result.scope)}</div></header>
<nav>{nav}</nav>
<main>
{_cards(result)}
{"".join(sections)}
</main>
<footer>Texts are masked: e-mail addresses, phone numbers and card numbers found in posts appear
as [email], [phone] and [card]. Generated by <code>triage-ml review</code>; the tables are also
in the CSV files beside this page. To correct labels, edit <code>corrected_labels</code> in
<code>relabel.csv</code> and import it (see the README, "Reviewing mistakes").</footer>
</body></html>
"""


def write_review(
    result: ReviewResult,
    out_dir: str | Path,
    data_source: str = "",
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Path]:
    """Write every review table as CSV and the HTML report into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, table in result.tables().items():
        path = out_dir / f"{name}.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(path)
        written[name] = path
        if on_file:
            on_file(path)
    page = out_dir / REPORT_FILE
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(render_html(result, data_source=data_source), encoding="utf-8")
    tmp.replace(page)
    written["report"] = page
    if on_file:
        on_file(page)
    return written
