"""The active-learning results written down: labels needed per strategy (the summary table),
the curves' plot and CSV, and each task's JSON (read back by ``--render``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.active_learning.curves import (
    LOWER_IS_BETTER,
    METRIC_TITLES,
    PRODUCT,
    RANDOM,
    SHARE,
    STRATEGIES,
    UNCERTAINTY,
    Curve,
    Options,
    TaskResult,
    labels_needed,
)
from triage_ml.contract import Params


def summary_rows(result: TaskResult) -> list[dict[str, Any]]:
    """Per strategy and metric: labels needed to reach 95% of the full pool, and the last
    point's value. Random: the mean over seeds (each seed's count beside it)."""
    rows = []
    last = len(result.curves[0].points) - 1
    for strategy in STRATEGIES:
        mine = [c for c in result.curves if c.strategy == strategy]
        for metric in result.metrics:
            needed = [labels_needed(c, result.full, metric) for c in mine]
            values = [c.points[last][metric] for c in mine]
            rows.append(
                {
                    "task": result.task,
                    "strategy": strategy,
                    "metric": metric,
                    "curves": len(mine),
                    "labels_needed": needed,
                    "labels_needed_mean": (
                        float(np.mean(needed)) if all(n is not None for n in needed) else None
                    ),
                    "value_at_last_round": float(np.mean(values)),
                    "last_round_labels": int(mine[0].points[last]["n_labelled"]),
                    "full_pool": float(result.full[metric]),
                    "target": float(
                        result.full[metric] / SHARE
                        if LOWER_IS_BETTER[metric]
                        else SHARE * result.full[metric]
                    ),
                }
            )
    return rows


def markdown(results: Sequence[TaskResult]) -> str:
    """The summary table, then per task: command, machine load, rounds and wall time."""
    lines = [
        "| task | metric (full pool; 95% target) | strategy | labels to reach 95% "
        "(share of pool) | value at the last round |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for row in summary_rows(result):
            needed = row["labels_needed"]
            if row["labels_needed_mean"] is None:
                reach = f"not reached by {row['last_round_labels']}"
                if any(n is not None for n in needed):
                    reach += f" ({sum(n is not None for n in needed)}/{len(needed)} seeds did)"
            else:
                mean = row["labels_needed_mean"]
                reach = f"{mean:.0f} ({mean / result.n_pool:.0%})"
                if len(needed) > 1:
                    reach += f"; seeds {', '.join(str(n) for n in needed)}"
            lower = LOWER_IS_BETTER[row["metric"]]
            lines.append(
                f"| {row['task']} | {METRIC_TITLES[row['metric']]} ({row['full_pool']:.3f}; "
                f"{'<=' if lower else '>='} {row['target']:.3f}) | "
                f"{row['strategy']}{_seeds(row['curves'])} | "
                f"{reach} | {row['value_at_last_round']:.3f} at {row['last_round_labels']} |"
            )
    lines.append("")
    for result in results:
        env = result.meta.get("environment", {})
        if result.stopped_early:
            stop = "stopped early: every curve had reached 95% on every metric"
        elif result.complete:
            stop = f"rounds up to {result.sizes[-1]} labels"
        else:
            stop = "INCOMPLETE: the run was cut short"
        last = len(result.curves[0].points)
        lines.append(
            f"- {result.task}: pool {result.n_pool}, test {result.n_test}; {last} rounds, "
            f"{stop}; wall {result.meta.get('wall_seconds', 0):.0f} s on {env.get('cpus')} "
            f"CPUs, load average {_load(env.get('load_average_at_start'))} at the start and "
            f"{_load(env.get('load_average_at_end'))} at the end. "
            f"Command: `{result.meta.get('command')}`."
        )
    return "\n".join(lines) + "\n"


def _load(values: Sequence[float] | None) -> str:
    return "/".join(f"{x:.1f}" for x in values) if values else "unknown"


def _seeds(n: int) -> str:
    return f" (mean of {n} seeds)" if n > 1 else ""


def write_plot(results: Sequence[TaskResult], path: Path) -> Path:
    from matplotlib.figure import Figure

    panels = [(r, m) for r in results for m in r.metrics]
    fig = Figure(figsize=(5.2 * len(panels), 4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = {RANDOM: "C7", UNCERTAINTY: "C0", PRODUCT: "C3"}
    for ax, (result, metric) in zip(axes, panels, strict=True):
        for strategy in STRATEGIES:
            mine = [c for c in result.curves if c.strategy == strategy]
            n = min(len(c.points) for c in mine)
            x = np.array([c.points[i]["n_labelled"] for i in range(n) for c in mine[:1]])
            ys = np.array([[c.points[i][metric] for i in range(n)] for c in mine])
            label = f"{strategy} (mean of {len(mine)})" if len(mine) > 1 else strategy
            ax.plot(x, ys.mean(axis=0), marker="o", ms=3, color=colours[strategy], label=label)
            if len(mine) > 1:
                ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color="C7", alpha=0.2)
        full = result.full[metric]
        target = full / SHARE if LOWER_IS_BETTER[metric] else SHARE * full
        ax.axhline(target, color="k", ls="--", lw=0.8, label="95% of full pool")
        ax.plot([result.n_pool], [full], "k*", ms=10, label=f"full pool ({result.n_pool})")
        ax.set_title(f"{result.task}: {METRIC_TITLES[metric]}")
        ax.set_xlabel("labelled posts")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def to_json(result: TaskResult, opts: Options, params: Params) -> dict[str, Any]:
    return {
        "task": result.task,
        "complete": result.complete,
        "protocol": {
            "test_size": opts.test_size,
            "split_seed": opts.split_seed,
            "start": opts.start,
            "step": opts.step,
            "max_fraction": opts.max_fraction,
            "random_seeds": list(opts.random_seeds),
            "early_stop": opts.early_stop,
            "stopped_early": result.stopped_early,
            "share": SHARE,
            "limit": opts.limit,
        },
        "n_pool": result.n_pool,
        "n_test": result.n_test,
        "metrics": result.metrics,
        "sizes": result.sizes,
        "full_pool": result.full,
        "summary": summary_rows(result),
        "curves": [
            {"strategy": c.strategy, "seed": c.seed, "points": c.points} for c in result.curves
        ],
        "params": params.model_dump(mode="json"),
        "meta": {k: v for k, v in result.meta.items() if not k.endswith("_rows")},
    }


def from_json(body: dict[str, Any]) -> TaskResult:
    """A result written by :func:`to_json` (``--render`` redraws the table and plot)."""
    curves = [
        Curve(c["strategy"], c["seed"], np.array([], dtype=int), points=c["points"])
        for c in body["curves"]
    ]
    return TaskResult(
        task=body["task"],
        n_pool=body["n_pool"],
        n_test=body["n_test"],
        metrics=body["metrics"],
        full=body["full_pool"],
        curves=curves,
        sizes=body["sizes"],
        stopped_early=body["protocol"]["stopped_early"],
        meta=body["meta"],
        complete=body["complete"],
    )


def curves_frame(results: Sequence[TaskResult]) -> pd.DataFrame:
    rows = []
    for result in results:
        for curve in result.curves:
            for point in curve.points:
                rows.append(
                    {
                        "task": result.task,
                        "strategy": curve.strategy,
                        "seed": curve.seed,
                        **{k: v for k, v in point.items() if k != "class_counts"},
                    }
                )
        rows.append({"task": result.task, "strategy": "full-pool", **result.full})
    return pd.DataFrame(rows)


def write_outputs(results: Sequence[TaskResult], out: Path) -> list[Path]:
    """``curves.csv``, ``summary.md`` and ``curves.png`` for the results."""
    out.mkdir(parents=True, exist_ok=True)
    curves_frame(results).to_csv(out / "curves.csv", index=False)
    (out / "summary.md").write_text(markdown(results), encoding="utf-8")
    return [out / "curves.csv", out / "summary.md", write_plot(results, out / "curves.png")]


def json_default(value: Any) -> Any:
    """``json.dumps``' ``default``: numpy scalars and arrays as plain numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")
