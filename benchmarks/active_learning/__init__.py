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

Modules: ``curves`` (the protocol: split, rounds, strategies, the model at each round),
``report`` (summary table, plot, CSV, JSON) and ``cli`` (the command). The names below are
re-exported for callers and tests.
"""

from benchmarks.active_learning.cli import main, render, run, run_task
from benchmarks.active_learning.curves import (
    DEFAULT_TASKS,
    STRATEGIES,
    Curve,
    Options,
    TaskResult,
    fit_and_score,
    labels_needed,
    round_sizes,
    run_curves,
    urgency_weighted_error,
)
from benchmarks.active_learning.report import (
    from_json,
    json_default,
    markdown,
    summary_rows,
    to_json,
    write_outputs,
)

__all__ = [
    "DEFAULT_TASKS",
    "STRATEGIES",
    "Curve",
    "Options",
    "TaskResult",
    "fit_and_score",
    "from_json",
    "json_default",
    "labels_needed",
    "main",
    "markdown",
    "render",
    "round_sizes",
    "run",
    "run_curves",
    "run_task",
    "summary_rows",
    "to_json",
    "urgency_weighted_error",
    "write_outputs",
]
