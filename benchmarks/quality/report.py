"""Reporting the quality benchmark: the summary table (terminal and markdown) and the plot.

Scores are shown as mean ± sd over folds (over seeds when several ran), with the cost under
each: total training time over the folds and batch scoring throughput. matplotlib and rich load
when a table or plot is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.quality.systems import OURS, OURS_ENCODER, SYSTEM_TITLES
from benchmarks.quality.tasks import TaskSpec

if TYPE_CHECKING:  # the harness imports this module to write its reports
    from benchmarks.quality.harness import BenchmarkOptions


@dataclass
class TaskReport:
    """What one task produced in one run (or why it was skipped)."""

    spec: TaskSpec
    profile: str
    skipped: str | None = None
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "task": spec.name,
            "dataset": spec.dataset,
            "protocol": spec.protocol,
            "metric": spec.metric,
            "profile": self.profile,
            "published": list(spec.published),
            "published_note": spec.published_note,
            "target": spec.target,
            "design_baseline": spec.design_baseline,
            "skipped": self.skipped,
            "systems": self.systems,
            "unavailable": self.unavailable,
            **self.meta,
        }


def _fmt_score(entry: dict[str, Any] | None, key: str = "score") -> str:
    if not entry or key not in entry or entry[key]["mean"] is None:
        return "—"
    value = entry[key]
    sd = f" ± {value['sd']:.3f}" if value["sd"] is not None else ""
    return f"{value['mean']:.3f}{sd}"


def _fmt_cost(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    seconds = entry["train_seconds"]
    took = f"{seconds:.1f}" if seconds < 10 else f"{seconds:,.0f}"
    return f"train {took} s · {entry['throughput']:,.0f} posts/s"


def table_rows(reports: Sequence[TaskReport], systems: Sequence[str]) -> list[dict[str, str]]:
    """The summary table as rows of strings (shared by the terminal and markdown renderers)."""
    rows = []
    for rep in reports:
        spec = rep.spec
        if rep.skipped:
            rows.append({"task": spec.name, "metric": spec.metric, "note": rep.skipped})
            continue
        # the product's best family in this run (linear, or the encoder stack when it ran)
        scores = [
            rep.systems.get(name, {}).get("score", {}).get("mean") for name in (OURS, OURS_ENCODER)
        ]
        scores = [x for x in scores if x is not None]
        ours = max(scores) if scores else None
        met = "" if ours is None else (" (met)" if ours >= spec.target else " (not met)")
        row = {
            "task": f"{spec.name} ({rep.meta.get('protocol_short', '')})",
            "metric": spec.metric,
            "published": " / ".join(f"{p:g}" for p in spec.published),
            "target": f">= {spec.target:g}{met}",
        }
        for name in systems:
            if name in rep.unavailable:
                row[name] = "n/a"
                row[f"{name}:cost"] = rep.unavailable[name]
            else:
                row[name] = _fmt_score(rep.systems.get(name))
                row[f"{name}:cost"] = _fmt_cost(rep.systems.get(name))
        rows.append(row)
        if any("spearman" in rep.systems.get(n, {}) for n in systems):
            urgency = rep.systems.get(OURS, {})
            extra = {
                "task": f"{spec.name}: urgency",
                "metric": "Spearman",
                "published": "—",
                "target": "—",
            }
            for name in systems:
                extra[name] = _fmt_score(rep.systems.get(name), "spearman")
                extra[f"{name}:cost"] = ""
            if "spearman_urgency_model" in urgency:
                extra[OURS] += (
                    " (urgency model " + _fmt_score(urgency, "spearman_urgency_model") + ")"
                )
            rows.append(extra)
    return rows


def markdown_table(reports: Sequence[TaskReport], systems: Sequence[str]) -> str:
    header = ["task", "metric", *(SYSTEM_TITLES[s] for s in systems), "published", "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table_rows(reports, systems):
        if "note" in row:
            lines.append(f"| {row['task']} | {row['metric']} | skipped: {row['note']} |")
            continue
        cells = [row["task"], row["metric"]]
        for name in systems:
            cost = row.get(f"{name}:cost", "")
            cells.append(f"{row[name]}<br>{cost}" if cost else row[name])
        cells += [row["published"], row["target"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rich_table(reports: Sequence[TaskReport], systems: Sequence[str], title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=True)
    for col in ["task", "metric", *(SYSTEM_TITLES[s] for s in systems), "published", "target"]:
        table.add_column(col)
    for row in table_rows(reports, systems):
        if "note" in row:
            table.add_row(row["task"], row["metric"], f"skipped: {row['note']}")
            continue
        cells = [row["task"], row["metric"]]
        for name in systems:
            cost = row.get(f"{name}:cost", "")
            cells.append(f"{row[name]}\n[dim]{cost}[/]" if cost else row[name])
        table.add_row(*cells, row["published"], row["target"])
    return table


def write_plot(reports: Sequence[TaskReport], systems: Sequence[str], path: Path) -> Path | None:
    """Bars per system and task with their spread, the best published result and the target."""
    ran = [r for r in reports if not r.skipped and r.systems]
    if not ran:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2 + 1.6 * len(ran)), layout="constrained")
    axes = fig.subplots(len(ran), 1, squeeze=False)[:, 0]
    names = [s for s in systems if any(s in r.systems for r in ran)]
    colours = dict(zip(names, ["C0", "C7", "C2", "C1", "C4"], strict=False))
    for ax, rep in zip(axes, ran, strict=True):
        shown = [s for s in names if s in rep.systems]
        means = [rep.systems[s]["score"]["mean"] for s in shown]
        sds = [rep.systems[s]["score"]["sd"] or 0.0 for s in shown]
        bars = ax.barh(
            [SYSTEM_TITLES[s] for s in shown],
            means,
            xerr=sds,
            color=[colours[s] for s in shown],
            capsize=3,
        )
        ax.bar_label(bars, fmt="%.3f", label_type="center", color="white", fontsize=8)
        ax.axvline(max(rep.spec.published), color="k", ls="--", lw=1, label="best published")
        ax.axvline(rep.spec.target, color="C3", ls=":", lw=1.5, label="target")
        lo = min([*means, *rep.spec.published, rep.spec.target])
        ax.set_xlim(max(0.0, lo - 0.1), 1.0)
        ax.invert_yaxis()
        ax.set_title(f"{rep.spec.name} — {rep.spec.metric}", loc="left", fontsize=10)
    axes[0].legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def markdown_document(reports: Sequence[TaskReport], opts: BenchmarkOptions) -> str:
    lines = [
        f"# triage-ml quality benchmark ({opts.suite} suite, {opts.profile} profile)",
        "",
        f"Command: `{opts.command or 'python -m benchmarks.quality'}`",
        "",
        markdown_table(reports, opts.systems),
        "Scores: mean ± sd over folds (over seeds when several seeds ran). Cost under each "
        "score: total training time over the folds and batch scoring throughput.",
        "",
    ]
    return "\n".join(lines)
