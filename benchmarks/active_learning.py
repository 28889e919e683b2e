"""Active learning on real data: how many labels each way of choosing posts needs.

    nice -n 5 .venv/bin/python -m benchmarks.active_learning     # both tasks: 46 min, 2 busy cores
    .venv/bin/python -m benchmarks.active_learning --tasks severity --max-fraction 1.0

The tasks are the quality benchmark's (``benchmarks/quality/tasks.py``): twitter-complaints
(complaint or not, macro-F1) and severity (complaint-severity-xci, four ordinal levels,
macro-F1 and an urgency-weighted error), read through the same loaders, with the committed
params of ``benchmarks/params/<task>.yaml`` and the product model (``triage_ml.model.fit``, the
linear default). Protocol:

- a fixed stratified test split (``--test-size`` 25%, ``--split-seed`` 0), never used to choose
  anything: no strategy scores it, and no test post can enter the pool;
- the rest is the pool. Each curve starts from a random stratified 5% of the pool labelled
  (``--start``) and adds 5% of the pool per round (``--step``), retraining the model each round;
- strategies: ``random`` (one curve per ``--random-seeds``), ``uncertainty`` (the closeness to
  the thresholds alone, the ``uncertainty`` column of :func:`triage_ml.monitor.suggest`) and
  ``uncertainty-x-urgency`` (``suggest``'s own order: uncertainty x (0.1 + predicted urgency),
  what ``triage-ml suggest`` gives an analyst). The two ranked strategies start from the labelled
  set of the first random seed, so all three share their first point. Unlabelled posts are
  shuffled (seeded) before ranking, so ties (posts far from every threshold) break at random
  rather than in file order;
- the full-pool point: the same model trained on 100% of the pool. A curve *reaches* a metric at
  the first round where it is within 95% of that point: score >= 0.95 x full for macro-F1,
  error <= full / 0.95 for the weighted error;
- rounds stop at ``--max-fraction`` of the pool (60%), or earlier once every curve has reached
  every metric (``--no-early-stop`` runs them all): a full curve to 100% costs about twice as much
  on a 2-core machine.

Urgency-weighted error (severity): the mean absolute distance between predicted and true
severity level (levels 1-4), each test post weighted by its true level:
``sum(level_i * |pred_i - level_i|) / sum(level_i)``. 0 is perfect; one level off on every post
is 1.0; missing a severity-4 complaint by one level costs four times as much as missing a
severity-1 one by one level.

Why plain numpy and no active-learning library: small-text and modAL wrap a model in their own
query loop, but the ranking here is the product's (``suggest``: the model's own per-label
thresholds, our urgency weight) and the loop is a dozen lines around the product's ``fit``;
either library would add a dependency to call the same two functions.

Writes ``<out>/<task>.json`` (protocol, environment, full-pool point, every curve point),
``<out>/curves.csv``, ``<out>/summary.md`` and ``<out>/curves.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.quality import (
    TASKS,
    OursSystem,
    TaskData,
    default_datasets_dir,
    default_params_dir,
    environment,
    load_task,
    score,
    task_params,
)
from triage_ml.contract import ConfigError, Params

RANDOM = "random"
UNCERTAINTY = "uncertainty"
PRODUCT = "uncertainty-x-urgency"
STRATEGIES = (RANDOM, UNCERTAINTY, PRODUCT)
DEFAULT_TASKS = ("twitter-complaints", "severity")
SHARE = 0.95
F1 = "macro_f1"
WERR = "weighted_error"
LOWER_IS_BETTER = {F1: False, WERR: True}
METRIC_TITLES = {F1: "macro-F1", WERR: "urgency-weighted error"}


def urgency_weighted_error(true_level: np.ndarray, pred_level: np.ndarray) -> float:
    """``sum(level * |pred - level|) / sum(level)`` over test posts (see the module doc)."""
    true_level = np.asarray(true_level, dtype=float)
    pred_level = np.asarray(pred_level, dtype=float)
    return float(np.sum(true_level * np.abs(pred_level - true_level)) / np.sum(true_level))


def split_pool(target: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the pool and of the held-out test split (stratified, sorted)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(target))
    pool, test = train_test_split(rows, test_size=test_size, stratify=target, random_state=seed)
    return np.sort(pool), np.sort(test)


def stratified_take(rows: np.ndarray, target: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` of ``rows``, each class in proportion (random, seeded)."""
    from sklearn.model_selection import train_test_split

    if k >= len(rows):
        return np.sort(rows)
    taken, _ = train_test_split(rows, train_size=k, stratify=target[rows], random_state=seed)
    return np.sort(taken)


def round_sizes(n_pool: int, start: float, step: float, max_fraction: float) -> list[int]:
    """Labelled-set size per round: ``start + r * step`` of the pool for r = 0, 1, ... while
    that share is at most ``max_fraction`` (at least one post, one more than the round before,
    never more than the pool)."""
    sizes: list[int] = []
    r = 0
    while start + r * step <= max_fraction + 1e-9:
        size = min(
            n_pool, max(round((start + r * step) * n_pool), 1, sizes[-1] + 1 if sizes else 1)
        )
        if sizes and size == sizes[-1]:
            break
        sizes.append(size)
        r += 1
    return sizes


def rank_unlabelled(
    triager: Any, frame: pd.DataFrame, rows: np.ndarray, strategy: str, seed: int
) -> np.ndarray:
    """``rows`` (unlabelled pool rows) best first for ``strategy``, ranked by ``suggest``.

    The rows are shuffled first (``seed``) so that ties break at random, and get their row
    number as id, so ``suggest``'s answer maps back to rows whatever the data set's ids are.
    """
    from triage_ml.decide import load_playbook
    from triage_ml.monitor import suggest
    from triage_ml.store import Bundle

    rows = np.random.default_rng(seed).permutation(rows)
    posts = frame.iloc[rows].reset_index(drop=True).assign(id=[str(r) for r in rows])
    ranked = suggest(Bundle(triager, load_playbook(), {}), posts, n=len(rows))
    if strategy == PRODUCT:
        return ranked["id"].astype(int).to_numpy()
    # closeness alone, ties in the shuffled order (not suggest's urgency-weighted one)
    closeness = ranked.set_index("id")["uncertainty"].reindex([str(r) for r in rows])
    return rows[np.argsort(-closeness.to_numpy(), kind="stable")]


@dataclass
class Curve:
    """One strategy (and seed) on one task: its points and the rows it labelled, in order."""

    strategy: str
    seed: int
    labelled: np.ndarray
    points: list[dict[str, Any]] = field(default_factory=list)
    added: list[np.ndarray] = field(default_factory=list)
    triager_: Any = None  # the model of the last round (ranks the next batch)

    @property
    def name(self) -> str:
        return f"{self.strategy} (seed {self.seed})" if self.strategy == RANDOM else self.strategy


@dataclass
class TaskResult:
    task: str
    n_pool: int
    n_test: int
    metrics: list[str]
    full: dict[str, Any]
    curves: list[Curve]
    sizes: list[int]
    stopped_early: bool
    meta: dict[str, Any] = field(default_factory=dict)
    complete: bool = False


def task_metrics(data: TaskData) -> list[str]:
    return [F1, WERR] if data.levels is not None else [F1]


def _params_for(params: Params, data: TaskData) -> Params:
    if list(params.labels.names) == data.label_names:
        return params
    raw = params.model_dump(mode="python")
    raw["labels"]["names"] = data.label_names
    return Params.model_validate(raw)


def fit_and_score(
    data: TaskData, params: Params, train_rows: np.ndarray, test_rows: np.ndarray
) -> tuple[Any, dict[str, float]]:
    """The product model trained on ``train_rows`` (its triager) and its test metrics."""
    system = OursSystem(params)
    started = time.perf_counter()
    train = data.frame.iloc[train_rows].reset_index(drop=True)
    system.fit(train, data.target[train_rows], data, 0)
    fitted = time.perf_counter()
    pred = system.predict(data.frame.iloc[test_rows].reset_index(drop=True))
    truth = data.target[test_rows]
    out = {
        F1: score("macro-F1", truth, pred.predicted, len(data.classes)),
        "fit_seconds": fitted - started,
    }
    if data.levels is not None:
        out[WERR] = urgency_weighted_error(data.levels[truth], data.levels[pred.predicted])
    return system.triager_, out


def reached(value: float, full: float, metric: str) -> bool:
    if LOWER_IS_BETTER[metric]:
        return value <= full / SHARE
    return value >= SHARE * full


def labels_needed(curve: Curve, full: dict[str, Any], metric: str) -> int | None:
    """Labelled posts at the first point that reaches 95% of the full-pool ``metric``."""
    for point in curve.points:
        if reached(point[metric], full[metric], metric):
            return int(point["n_labelled"])
    return None


@dataclass
class Options:
    tasks: Sequence[str] = DEFAULT_TASKS
    test_size: float = 0.25
    split_seed: int = 0
    start: float = 0.05
    step: float = 0.05
    max_fraction: float = 0.6
    random_seeds: Sequence[int] = (0, 1, 2)
    early_stop: bool = True
    datasets: Path | None = None
    params_dir: Path | None = None
    limit: int | None = None
    out: Path | None = Path("reports/active-learning")
    command: str | None = None


def check_options(opts: Options) -> None:
    unknown = [t for t in opts.tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(DEFAULT_TASKS)}")
    for name in ("test_size", "start", "step"):
        value = getattr(opts, name)
        if not 0 < value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be in (0, 1), got {value}")
    if not opts.start <= opts.max_fraction <= 1:
        raise ConfigError(
            f"--max-fraction must be between --start ({opts.start}) and 1, got {opts.max_fraction}"
        )
    if not opts.random_seeds:
        raise ConfigError("give at least one random seed, e.g. --random-seeds 0,1,2")
    if len(set(opts.random_seeds)) != len(opts.random_seeds):
        raise ConfigError(f"--random-seeds repeats a seed: {list(opts.random_seeds)}")


def run_curves(
    data: TaskData,
    params: Params,
    opts: Options,
    task: str = "task",
    on_line: Callable[[str], None] = lambda line: None,
    on_round: Callable[[TaskResult], None] = lambda result: None,
) -> TaskResult:
    """The full-pool point, then every strategy's curve, round by round (see the module doc).

    ``on_round`` gets the result so far after each round (the command writes it, so a run cut
    short keeps its finished rounds)."""
    params = _params_for(params, data)
    metrics = task_metrics(data)
    pool, test = split_pool(data.target, opts.test_size, opts.split_seed)
    sizes = round_sizes(len(pool), opts.start, opts.step, opts.max_fraction)
    _, full = fit_and_score(data, params, pool, test)
    full["n_labelled"] = len(pool)
    on_line(f"{task}: pool {len(pool)}, test {len(test)}; full pool: {_fmt(full, metrics)}")

    first = {s: stratified_take(pool, data.target, sizes[0], s) for s in opts.random_seeds}
    seed0 = opts.random_seeds[0]
    curves = [Curve(RANDOM, s, first[s]) for s in opts.random_seeds]
    curves += [Curve(s, seed0, first[seed0].copy()) for s in (UNCERTAINTY, PRODUCT)]
    result = TaskResult(
        task=task,
        n_pool=len(pool),
        n_test=len(test),
        metrics=metrics,
        full=full,
        curves=curves,
        sizes=sizes,
        stopped_early=False,
        meta={"test_rows": test, "pool_rows": pool},
    )
    for r, size in enumerate(sizes):
        for c_index, curve in enumerate(curves):
            if r > 0:
                unlabelled = np.setdiff1d(pool, curve.labelled, assume_unique=True)
                k = size - len(curve.labelled)
                if curve.strategy == RANDOM:
                    order = np.random.default_rng([curve.seed, r]).permutation(unlabelled)
                else:
                    order = rank_unlabelled(
                        curve.triager_, data.frame, unlabelled, curve.strategy, seed=1000 * r
                    )
                picked = order[:k]
                curve.added.append(picked)
                curve.labelled = np.sort(np.concatenate([curve.labelled, picked]))
            curve.triager_, point = fit_and_score(data, params, curve.labelled, test)
            counts = np.bincount(data.target[curve.labelled], minlength=len(data.classes))
            point.update(
                round=r,
                n_labelled=len(curve.labelled),
                fraction=len(curve.labelled) / len(pool),
                class_counts=counts.tolist(),
            )
            curve.points.append(point)
            on_line(
                f"{task} round {r + 1}/{len(sizes)} [{c_index + 1}/{len(curves)}] "
                f"{curve.name}: {len(curve.labelled)} labels "
                f"({point['fraction']:.0%}) {_fmt(point, metrics)}"
            )
        done = r + 1 == len(sizes) or (
            opts.early_stop
            and all(labels_needed(c, full, m) is not None for c in curves for m in metrics)
        )
        result.complete = done
        if done and r + 1 < len(sizes):
            result.stopped_early = True
            on_line(f"{task}: every curve reached 95% of the full pool; stopping")
        on_round(result)
        if done:
            break
    for curve in curves:
        curve.triager_ = None
    return result


def _fmt(point: dict[str, Any], metrics: Sequence[str]) -> str:
    parts = [f"{METRIC_TITLES[m]} {point[m]:.3f}" for m in metrics]
    return ", ".join(parts) + f" (fit {point['fit_seconds']:.1f} s)"


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


def run_task(name: str, opts: Options, on_line: Callable[[str], None]) -> TaskResult | None:
    """One task's curves; its ``<task>.json`` is rewritten after every round."""
    spec = TASKS[name]
    datasets = opts.datasets or default_datasets_dir()
    missing = spec.missing(datasets)
    if missing:
        on_line(f"{name}: skipped, data set not found: {', '.join(map(str, missing))}")
        return None
    env = environment()
    params = task_params(name, opts.params_dir)
    data = load_task(spec, datasets, params, opts.limit)
    started = time.perf_counter()

    def save(result: TaskResult) -> None:
        result.meta.update(
            wall_seconds=time.perf_counter() - started,
            data_source=data.source,
            params_file=str((opts.params_dir or default_params_dir()) / f"{name}.yaml"),
            command=opts.command,
            environment={**env, "load_average_at_end": list(os.getloadavg())},
        )
        if opts.out is not None:
            opts.out.mkdir(parents=True, exist_ok=True)
            body = to_json(result, opts, _params_for(params, data))
            text = json.dumps(body, indent=2, default=_plain)
            (opts.out / f"{name}.json").write_text(text, encoding="utf-8")

    result = run_curves(data, params, opts, name, on_line, on_round=save)
    if opts.out is not None:
        on_line(f"{name}: wrote {opts.out / f'{name}.json'}")
    return result


def run(opts: Options, on_line: Callable[[str], None] = print) -> list[TaskResult]:
    """Every task of ``opts``; then the CSV, table and plot of all of them."""
    check_options(opts)
    results = [r for name in opts.tasks if (r := run_task(name, opts, on_line)) is not None]
    if results and opts.out is not None:
        on_line("wrote " + ", ".join(map(str, write_outputs(results, opts.out))))
    if results:
        on_line("")
        on_line(markdown(results))
    return results


def render(out: Path, tasks: Sequence[str]) -> list[TaskResult]:
    """Redraw the table, CSV and plot from the ``<task>.json`` files in ``out`` (also those of
    a run cut short: its finished rounds)."""
    paths = [out / f"{t}.json" for t in tasks if (out / f"{t}.json").is_file()]
    if not paths:
        raise ConfigError(f"no <task>.json in {out} for {', '.join(tasks)}; run the benchmark")
    results = [from_json(json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    write_outputs(results, out)
    return results


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.active_learning",
        description="Active-learning curves on real data (see the module docstring).",
    )
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="comma-separated")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--start", type=float, default=0.05, help="first labelled share")
    parser.add_argument("--step", type=float, default=0.05, help="share added per round")
    parser.add_argument("--max-fraction", type=float, default=0.6, help="last round's share")
    parser.add_argument("--random-seeds", default="0,1,2")
    parser.add_argument("--no-early-stop", action="store_true")
    parser.add_argument("--datasets", type=Path, default=None, help="default ../shared/datasets")
    parser.add_argument("--limit", type=int, default=None, help="smoke run: rows per task")
    parser.add_argument("--out", type=Path, default=Path("reports/active-learning"))
    parser.add_argument(
        "--render", action="store_true", help="only redraw the table and plot from --out's JSON"
    )
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.random_seeds.split(",") if s.strip()]
    except ValueError:
        print(f"error: --random-seeds must be integers, got {args.random_seeds!r}", file=sys.stderr)
        return 2
    opts = Options(
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        test_size=args.test_size,
        split_seed=args.split_seed,
        start=args.start,
        step=args.step,
        max_fraction=args.max_fraction,
        random_seeds=seeds,
        early_stop=not args.no_early_stop,
        datasets=args.datasets,
        limit=args.limit,
        out=args.out,
        command=" ".join(["python -m benchmarks.active_learning", *(argv or sys.argv[1:])]),
    )
    try:
        check_options(opts)
        if args.render:
            print(markdown(render(args.out, opts.tasks)))
        else:
            run(opts, on_line=lambda line: print(line, flush=True))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
