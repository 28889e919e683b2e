"""triage-ml: label, score and prioritise social-media customer-service posts.

The small Python API for notebooks and services::

    from triage_ml import load_bundle, score_posts
    bundle = load_bundle("models/triage")
    records = score_posts(bundle, posts_frame).records()   # or .flat() for a DataFrame
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_bundle": "triage_ml.bundle",
    "save_bundle": "triage_ml.bundle",
    "Bundle": "triage_ml.bundle",
    "score_posts": "triage_ml.predict",
    "Predictions": "triage_ml.predict",
    "fit": "triage_ml.train",
    "Triager": "triage_ml.model",
    "load_history": "triage_ml.data",
    "validate_posts": "triage_ml.data",
    "load_params": "triage_ml.config",
    "load_playbook": "triage_ml.playbook",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # imported on first use, so `import triage_ml` stays cheap (the CLI starts fast)
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'triage_ml' has no attribute {name!r}")
