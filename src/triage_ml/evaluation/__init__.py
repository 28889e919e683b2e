"""Measuring a model: metrics on held-out posts (metrics), the one place its plots are drawn
(plots), and the training run that ties loading, splitting, fitting, evaluating and saving
together (run)."""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "evaluate": ".metrics",
        "expected_calibration_error": ".metrics",
        "summary_rows": ".metrics",
        "write_plots": ".plots",
        "run_training": ".run",
        "TrainingResult": ".run",
    },
)
