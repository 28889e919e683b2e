"""Agents' corrections of scored posts: validated (corrections), stored durably with versioned
migrations (store: SQLite in WAL mode by default, PostgreSQL by URL), exported in the
labelled-history contract and merged into a training history so that they win over the
original labels (merge).

Importing this package never imports SQLAlchemy: ``store`` loads it when used, and
``corrections`` and ``merge`` need only the core install.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PROVENANCE_COLUMNS": ".corrections",
        "validate_correction": ".corrections",
        "FeedbackStore": ".store",
        "FeedbackStoreError": ".store",
        "StoreResult": ".store",
        "open_store": ".store",
        "resolve_feedback_url": ".store",
        "merge_training_data": ".merge",
        "TrainingData": ".merge",
    },
)
