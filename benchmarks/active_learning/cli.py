"""``python -m benchmarks.active_learning``: every task's curves, written after each round, then
the summary table and plot of all of them (``--render`` redraws them from the JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.active_learning.curves import (
    DEFAULT_TASKS,
    Options,
    TaskResult,
    check_options,
    params_for,
    run_curves,
)
from benchmarks.active_learning.report import (
    from_json,
    json_default,
    markdown,
    to_json,
    write_outputs,
)
from benchmarks.quality import (
    TASKS,
    default_datasets_dir,
    default_params_dir,
    environment,
    load_task,
    task_params,
)
from triage_ml.contract import ConfigError


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
            body = to_json(result, opts, params_for(params, data))
            text = json.dumps(body, indent=2, default=json_default)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.active_learning",
        description="Active-learning curves on real data (the protocol: the docstring of "
        "benchmarks/active_learning/__init__.py).",
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
