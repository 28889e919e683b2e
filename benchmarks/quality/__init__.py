"""Quality on real data: our model beside a plain baseline, spaCy textcat and fastText.

``python -m benchmarks.quality --suite real`` runs each public data set of
``../shared/datasets`` with its paper's protocol, trains every system on the very same folds in
the same run, and reports one table (score, training time, prediction throughput) beside the
published numbers. Why it is built this way:

- *Same code path as production.* Our model is trained by :func:`triage_ml.model.fit` (what
  ``triage-ml train`` calls) from one committed params file per task
  (``benchmarks/params/<task>.yaml``) and scored with ``Triager.predict_proba`` / ``decide``; a
  benchmark-only model would measure something nobody ships.
- *No test-fold peeking.* Each system sees only the training part of a fold; thresholds and
  calibration are chosen inside ``fit`` on out-of-fold scores of the training part.
- *Data stay where they are.* Files are read from the data sets folder (never copied into the
  repository) and converted here into the input contract (``id``, ``text``, ``labels`` and, for
  severity, ``urgency``). A missing data set skips its task with a message that says where it
  was looked for.
- *Peers are honest peers.* The baseline is the twenty-line TF-IDF + logistic regression of
  DESIGN.md with its default threshold; spaCy and fastText are trained with their own usual
  recipes, not tuned on the test folds.

Modules: ``tasks`` (data sets, their conversion, params, folds), ``systems`` (ours, its encoder
variants and the peers), ``harness`` (folds run, scored, summarised; :func:`run_suite`),
``report`` (tables, plot), ``cli`` (the command with its progress display); selection tools
on tuning seeds: ``ablation`` (one setting changed at a time), ``stack_forms`` (richer exclusive
stacks on the same fitted encoder stacks); ``ensemble`` averages saved runs. The names below are
re-exported for callers and tests; to replace a function for a test, patch it on the module
that defines it (``benchmarks.quality.tasks.embeddings_missing``), where the harness looks it up.

Nothing heavy is imported at module import: spaCy, fastText, matplotlib and the training code
load when a task runs.
"""

from benchmarks.quality.cli import _cli, main, run_with_progress
from benchmarks.quality.harness import (
    BenchmarkOptions,
    FoldEvent,
    FoldResult,
    check_options,
    environment,
    run_fold,
    run_suite,
    run_task,
    score,
    spearman,
    summarise,
)
from benchmarks.quality.report import TaskReport, markdown_table, rich_table, write_plot
from benchmarks.quality.systems import (
    ALL_SYSTEMS,
    BASELINE,
    DEFAULT_SYSTEMS,
    ENCODER_INT8,
    ENCODER_ONLY,
    ENCODER_SYSTEMS,
    FASTTEXT,
    OURS,
    OURS_ENCODER,
    PEERS,
    SPACY,
    SPACY_ENSEMBLE,
    SYSTEM_TITLES,
    BaselineSystem,
    FastTextSystem,
    FoldPrediction,
    OursSystem,
    ReusedEncoderSystem,
    SpacyTextcatSystem,
    System,
    build_systems,
    encoder_params,
    fasttext_available,
)
from benchmarks.quality.tasks import (
    AUXILIARY_CLASS,
    DATASETS_ENV,
    PROFILES,
    SUITES,
    TASKS,
    TaskData,
    TaskSpec,
    apply_overrides,
    default_datasets_dir,
    default_params_dir,
    load_task,
    make_folds,
    repo_root,
    task_params,
)

__all__ = [
    "ALL_SYSTEMS",
    "AUXILIARY_CLASS",
    "BASELINE",
    "DATASETS_ENV",
    "DEFAULT_SYSTEMS",
    "ENCODER_INT8",
    "ENCODER_ONLY",
    "ENCODER_SYSTEMS",
    "FASTTEXT",
    "OURS",
    "OURS_ENCODER",
    "PEERS",
    "PROFILES",
    "SPACY",
    "SPACY_ENSEMBLE",
    "SUITES",
    "SYSTEM_TITLES",
    "TASKS",
    "BaselineSystem",
    "BenchmarkOptions",
    "FastTextSystem",
    "FoldEvent",
    "FoldPrediction",
    "FoldResult",
    "OursSystem",
    "ReusedEncoderSystem",
    "SpacyTextcatSystem",
    "System",
    "TaskData",
    "TaskReport",
    "TaskSpec",
    "_cli",
    "build_systems",
    "check_options",
    "default_datasets_dir",
    "default_params_dir",
    "encoder_params",
    "environment",
    "fasttext_available",
    "load_task",
    "main",
    "make_folds",
    "markdown_table",
    "repo_root",
    "rich_table",
    "run_fold",
    "run_suite",
    "run_task",
    "run_with_progress",
    "score",
    "spearman",
    "summarise",
    "apply_overrides",
    "task_params",
    "write_plot",
]
