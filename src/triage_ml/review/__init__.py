"""The analyst's view: misclassification tables, suspected mislabels, corrections, PII masking
and the self-contained HTML report."""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "run_review": ".tables",
        "bundle_params": ".tables",
        "mask_pii": ".tables",
        "ReviewResult": ".tables",
        "write_review": ".report",
    },
)
