"""The data contract: what a labelled history, a post and the parameters must look like.

Reading CSV/JSONL/Parquet, validating posts with errors that name the file, rows and column,
the label set, and atomic writers for tables. The bottom layer: it imports nothing else of
triage_ml.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DataError": ".history",
        "LoadReport": ".history",
        "MAX_TEXT_CHARS": ".history",
        "URGENCY_LEVELS": ".history",
        "fingerprint": ".history",
        "label_matrix": ".history",
        "load_history": ".history",
        "read_table": ".history",
        "validate_posts": ".history",
        "ConfigError": ".params",
        "Params": ".params",
        "format_validation_error": ".params",
        "load_params": ".params",
        "PredictionWriter": ".tables",
        "write_table": ".tables",
    },
)
