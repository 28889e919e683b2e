"""The replay's two pictures, drawn like every other plot of triage-ml
(:mod:`triage_ml.evaluation.plots`: matplotlib ``Figure`` objects, no pyplot state).

- :func:`plot_waits`: the wait of each true label group (and of the high-urgency posts) in
  each order, at one staffing level: who gains from priority order and who pays for it.
- :func:`plot_within_by_agents`: the share answered within the deadline (and within the hour)
  as the number of agents grows, from understaffed to overstaffed, one line per order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from triage_ml.evaluation.plots import _INK, _MUTED, _PALETTE, _figure, _style
from triage_ml.replay.orderings import ORDERINGS, TITLES
from triage_ml.replay.run import URGENT_GROUP, WITHIN_MINUTES, ReplayResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = dict(zip(ORDERINGS, ["#6b7280", _PALETTE[0], _PALETTE[1], _PALETTE[2]], strict=True))


def _group_title(group: str) -> str:
    return {URGENT_GROUP: "high urgency", "no_label": "no label"}.get(group, group)


def plot_waits(result: ReplayResult) -> Figure:
    """Box per true group and order: median, quartiles, whiskers at the 10th and 90th
    percentile, log scale; the dotted line is the hour."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    waits = result.waits
    groups = [g for g in result.info["groups"] if f"is_{g}" in waits.columns]
    orderings = [o for o in ORDERINGS if o in set(waits.get("ordering", []))]
    fig = _figure(max(6.0, 1.6 * len(groups) + 2.0), 4.2)
    ax = fig.subplots()
    width = 0.8 / max(len(orderings), 1)
    for j, ordering in enumerate(orderings):
        part = waits[waits["ordering"] == ordering]
        data = [
            np.maximum(part.loc[part[f"is_{g}"].astype(bool), "wait_minutes"].to_numpy(), 0.1)
            for g in groups
        ]
        keep = [i for i, d in enumerate(data) if len(d)]
        if not keep:
            continue
        box = ax.boxplot(
            [data[i] for i in keep],
            positions=[i + (j - (len(orderings) - 1) / 2) * width for i in keep],
            widths=width * 0.85,
            whis=(10, 90),
            showfliers=False,
            patch_artist=True,
            medianprops={"color": _INK, "linewidth": 1.2},
        )
        for patch in box["boxes"]:
            patch.set_facecolor(COLORS[ordering])
            patch.set_alpha(0.75)
            patch.set_edgecolor(_INK)
        ax.plot([], [], "s", color=COLORS[ordering], label=TITLES[ordering])
    ax.axhline(WITHIN_MINUTES, color=_MUTED, linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    counts = [int(waits[waits["ordering"] == orderings[0]][f"is_{g}"].sum()) for g in groups]
    ax.set_xticks(
        range(len(groups)),
        [f"{_group_title(g)}\n({n:,} posts)" for g, n in zip(groups, counts, strict=True)],
        fontsize=8,
    )
    ax.set_ylabel("minutes from post to reply (log)", fontsize=9)
    k = result.info.get("featured_agents")
    _style(ax, f"Wait per true label and order, {k} agents (whiskers: 10th-90th percentile)")
    fig.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=len(orderings))
    return fig


def _panels(result: ReplayResult) -> list[tuple[str, str]]:
    cols = set(result.summary.columns)
    wanted = [
        (f"complaint_within_{WITHIN_MINUTES}", f"complaints answered within {WITHIN_MINUTES} min"),
        ("complaint_within_deadline", "complaints answered within their deadline"),
        (f"{URGENT_GROUP}_within_deadline", "high-urgency posts within their deadline"),
        ("within_deadline", "all posts within their deadline"),
    ]
    return [(c, t) for c, t in wanted if c in cols][:3]


def plot_within_by_agents(result: ReplayResult) -> Figure:
    """Share answered in time against the number of agents, one panel per measure."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    panels = _panels(result)
    summary = result.summary
    fig = _figure(4.0 * len(panels) + 0.5, 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (col, title) in zip(axes, panels, strict=True):
        for ordering in ORDERINGS:
            part = summary[summary["ordering"] == ordering].sort_values("agents")
            if part.empty:
                continue
            ax.plot(
                part["agents"],
                part[col].astype(float),
                marker="o",
                ms=3,
                linewidth=1.5,
                color=COLORS[ordering],
                label=TITLES[ordering],
            )
        keeps = result.info.get("keeps_up_agents")
        if keeps:
            ax.axvline(keeps, color=_MUTED, linestyle=":", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("agents", fontsize=9)
        _style(ax, title)
    axes[0].legend(fontsize=8, frameon=False, loc="lower right")
    fig.suptitle(
        f"Answered in time as staffing grows ({result.info.get('handling_minutes'):g} min per "
        "post; dotted: arrival order keeps up)",
        fontsize=10,
        color=_INK,
        x=0.01,
        ha="left",
    )
    return fig
