"""The drift report: ``drift.json`` (every figure), ``drift.png`` (the PSI per signal) and
``drift.html`` (one self-contained page: the table, the PSI chart and, for each flagged signal,
the reference and recent distributions side by side, as base64 PNGs).

Figures are matplotlib ``Figure`` objects (no pyplot: no global state, safe in a service or a
thread); the page is rendered from ``templates/drift.html.j2`` with Jinja2 autoescaping on. No
post text is shown: only the words the model does not know that many recent posts share.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from triage_ml._extras import require
from triage_ml.monitor.drift import PSI_MAJOR, PSI_THRESHOLD, DriftResult, SignalDrift

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HTML_FILE = "drift.html"
PNG_FILE = "drift.png"
JSON_FILE = "drift.json"
_OK, _SHIFT, _MAJOR, _REF, _INK, _MUTED = (
    "#059669",
    "#d97706",
    "#dc2626",
    "#9ca3af",
    "#1f2937",
    "#6b7280",
)


def _figure(width: float, height: float) -> Figure:
    require("matplotlib", "review", "drawing the drift report")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _style(ax, title: str | None = None) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=_INK, labelsize=8)
    if title:
        ax.set_title(title, fontsize=10, color=_INK, loc="left")


def plot_psi(result: DriftResult) -> Figure:
    """One bar per PSI signal, coloured by verdict, with the two thresholds."""
    rows = [s for s in result.signals if s.statistic == "PSI"]
    fig = _figure(7.5, 0.32 * max(len(rows), 3) + 1.0)
    ax = fig.add_subplot()
    names = [s.name for s in rows][::-1]
    values = [s.psi for s in rows][::-1]
    colours = [
        _MAJOR if s.severity == "major shift" else _SHIFT if s.flagged else _OK for s in rows
    ][::-1]
    ax.barh(names, values, color=colours)
    ax.axvline(
        PSI_THRESHOLD,
        color=_SHIFT,
        linestyle="--",
        linewidth=1,
        label=f"shift ({PSI_THRESHOLD:g} + noise)",
    )
    ax.axvline(PSI_MAJOR, color=_MAJOR, linestyle=":", linewidth=1, label="major (0.25)")
    ax.set_xlabel("population-stability index (recent vs training history)", fontsize=8)
    ax.set_xlim(0, max(PSI_MAJOR * 1.2, max(values, default=0) * 1.1))
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    _style(ax, f"Drift per signal ({result.n_recent:,} recent posts)")
    return fig


def plot_signal(signal: SignalDrift) -> Figure:
    """Reference and recent shares per bin of one signal."""
    n = len(signal.bins)
    fig = _figure(min(2.0 + 0.45 * n, 8.0), 2.6)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x - 0.2, signal.reference, width=0.4, color=_REF, label="training history")
    colour = _MAJOR if signal.severity == "major shift" else _SHIFT if signal.flagged else _OK
    ax.bar(x + 0.2, signal.recent, width=0.4, color=colour, label="recent")
    ax.set_xticks(x, signal.bins, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("share of posts", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    _style(ax, f"{signal.name}: {signal.statistic} {signal.psi:.3f}")
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def write_drift_report(
    result: DriftResult, out: str | Path, data_source: str = "", plots: bool = True
) -> dict[str, Path]:
    """Write drift.json, and with ``plots`` drift.png and drift.html, into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": out / JSON_FILE}
    payload = {**result.to_json(), "data_source": data_source}
    written["json"].write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if not plots:
        return written
    require("jinja2", "review", "the drift report")
    from jinja2 import Environment, PackageLoader, StrictUndefined

    overview = png_bytes(plot_psi(result))
    (out / PNG_FILE).write_bytes(overview)
    written["png"] = out / PNG_FILE
    images = {"psi": base64.b64encode(overview).decode("ascii")}
    for signal in result.flagged:
        if signal.statistic == "PSI":
            images[signal.name] = base64.b64encode(png_bytes(plot_signal(signal))).decode("ascii")
    env = Environment(
        loader=PackageLoader("triage_ml.monitor", "templates"),
        autoescape=True,  # the template's name ends in .j2, so say it outright
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("drift.html.j2").render(
        result=result,
        data_source=data_source,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        images=images,
        psi_threshold=PSI_THRESHOLD,
        psi_major=PSI_MAJOR,
    )
    (out / HTML_FILE).write_text(html, encoding="utf-8")
    written["html"] = out / HTML_FILE
    return written
