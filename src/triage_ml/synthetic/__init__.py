"""The synthetic labelled history used by demos, notebooks and tests (never for accuracy claims)."""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate_sample": ".generator",
        "iter_sample": ".generator",
        "LABELS": ".generator",
        "CHANNELS": ".generator",
    },
)
