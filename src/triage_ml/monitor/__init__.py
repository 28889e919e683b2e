"""Watching a model after training: drift of recent posts against the training history
(drift, signals, report), and comparing a challenger with the champion before promotion
(promotion) or beside it in the service (shadow)."""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DriftResult": ".drift",
        "NoReference": ".drift",
        "PSI_THRESHOLD": ".drift",
        "check_drift": ".drift",
        "compare": ".drift",
        "reference_of": ".drift",
        "PromotionRefused": ".promotion",
        "alias_version": ".promotion",
        "compare_models": ".promotion",
        "require_version": ".promotion",
        "tag_version": ".promotion",
        "compare_shadow": ".shadow",
        "read_shadow_log": ".shadow",
        "plain_signal_rows": ".signals",
        "post_signal_rows": ".signals",
        "post_signals": ".signals",
        "reference_profile": ".signals",
        "time_range": ".signals",
        "suggest": ".ranking",
        "write_drift_report": ".report",
    },
)
