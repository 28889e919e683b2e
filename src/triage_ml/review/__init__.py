"""The analyst's view of a model: what it gets wrong and which recorded labels are suspect.

Modules: tables (a labelled batch scored once; confusion, curves, calibration, worst errors,
urgency misses), slices (error rates by channel, reach, length, time), mislabels (out-of-fold
confident learning), corrections (relabelling sheet out, corrected labels back in), pii (masking
of everything people read), run (the whole review in one call) and report (the self-contained
HTML page, from templates/). The plots come from :mod:`triage_ml.evaluation.plots`.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "mask_pii": ".pii",
        "ReviewData": ".tables",
        "prepare": ".tables",
        "label_summary": ".tables",
        "pr_curves": ".tables",
        "calibration_table": ".tables",
        "worst_errors": ".tables",
        "urgency_underestimates": ".tables",
        "urgency_points": ".tables",
        "slice_error_rates": ".slices",
        "out_of_fold_probabilities": ".mislabels",
        "suspected_mislabels": ".mislabels",
        "relabel_export": ".corrections",
        "read_corrections": ".corrections",
        "import_corrections": ".corrections",
        "Corrections": ".corrections",
        "bundle_params": ".run",
        "review_scope": ".run",
        "run_review": ".run",
        "ReviewResult": ".run",
        "write_review": ".report",
    },
)
