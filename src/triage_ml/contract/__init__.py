"""The data contract: what a labelled history, a post and the parameters must look like.

Reading CSV/JSONL/Parquet (readers; chunk by chunk for large files: streams), validating posts
(validation: the column checks in checks, the small-batch path the service takes in fastpath)
with errors that name the file, rows and column (errors), the columns and label set (columns,
labels), the data's content hash (digest), validated parameters (params) and atomic writers for
tables (tables). The bottom layer: it imports nothing else of triage_ml.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DataError": ".errors",
        "LoadReport": ".errors",
        "MAX_TEXT_CHARS": ".columns",
        "DATE_RANGE": ".columns",
        "ID_RULE": ".columns",
        "MAX_FLOAT_ID": ".columns",
        "MAX_YEAR": ".columns",
        "MIN_YEAR": ".columns",
        "URGENCY_LEVELS": ".columns",
        "fingerprint": ".digest",
        "sha256_file": ".digest",
        "label_matrix": ".labels",
        "read_table": ".readers",
        "count_rows": ".streams",
        "iter_table": ".streams",
        "validate_chunks": ".streams",
        "load_history": ".validation",
        "validate_posts": ".validation",
        "ConfigError": ".params",
        "Params": ".params",
        "format_validation_error": ".params",
        "load_params": ".params",
        "PredictionWriter": ".tables",
        "write_table": ".tables",
        "write_table_chunks": ".tables",
    },
)
