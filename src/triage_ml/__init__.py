"""triage-ml: label, score and prioritise social-media customer-service posts.

The small Python API for notebooks and services::

    from triage_ml import load_bundle, score_posts
    bundle = load_bundle("models/triage")
    records = score_posts(bundle, posts_frame).records()   # or .flat() for a DataFrame
"""

from __future__ import annotations

from triage_ml._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "load_bundle": "triage_ml.store.bundle",
    "save_bundle": "triage_ml.store.bundle",
    "Bundle": "triage_ml.store.bundle",
    "score_posts": "triage_ml.decide.scoring",
    "Predictions": "triage_ml.decide.scoring",
    "fit": "triage_ml.model.train",
    "Triager": "triage_ml.model.triager",
    "load_history": "triage_ml.contract.validation",
    "validate_posts": "triage_ml.contract.validation",
    "load_params": "triage_ml.contract.params",
    "load_playbook": "triage_ml.decide.playbook",
    "MissingExtra": "triage_ml._extras",
    "require_extra": "triage_ml._extras",
}

__all__ = ["__version__", *_LAZY]


__getattr__, _dir = lazy_exports(__name__, _LAZY)
