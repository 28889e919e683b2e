"""The MLflow pyfunc model: a triage-ml bundle behind MLflow's generic ``predict`` interface.

Spark (``mlflow.pyfunc.spark_udf``), ``mlflow models serve`` and plain
``mlflow.pyfunc.load_model`` all call :meth:`TriagePyfunc.predict`, which takes a DataFrame of
posts (the input contract's field names) and returns DESIGN.md's *flat* prediction form, the
same table ``triage-ml predict --out x.csv`` writes, computed by the same
:func:`triage_ml.decide.score_posts`.

This module imports mlflow at import time (the class must subclass ``PythonModel``), so only
:mod:`triage_ml.store.tracking` and :mod:`triage_ml.store.registry` import it, inside
functions: scoring a local bundle never needs it. The model is logged *from code*
(:mod:`triage_ml.store.pyfunc_model`, no ``python_model.pkl``); the bundle travels inside the
MLflow model as an artifact and is loaded with :func:`triage_ml.store.bundle.load_bundle`,
which reads data only (JSON, arrays, ONNX) and checks its checksums (and HMAC signature when
``TRIAGE_BUNDLE_KEY`` is set) on the bytes it parses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from triage_ml._extras import require

require("mlflow", "pipeline", "the MLflow pyfunc model")  # one line instead of a traceback
import mlflow.pyfunc  # noqa: E402  (the model class below subclasses PythonModel)

from triage_ml.store.bundle import Bundle, BundleError, load_bundle  # noqa: E402

BUNDLE_ARTIFACT = "bundle"
#: The file MLflow runs to build the model when it loads it ("models from code").
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
#: What a pyfunc logged as a pickled object holds; a triage-ml model never has it.
PICKLED_MODEL = "python_model.pkl"
# MLflow writes this beside MLmodel when a model is fetched through a ``models:/`` URI.
_REGISTERED_META = "registered_model_meta"

# Input columns of the logged signature. Everything but id and text is optional; numbers are
# declared as double so that a column with missing values (NaN) still passes MLflow's check.
INPUT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("id", "string", True),
    ("text", "string", True),
    ("created_at", "string", False),
    ("channel", "string", False),
    ("author_followers", "double", False),
    ("author_verified", "boolean", False),
)


def example_posts() -> pd.DataFrame:
    """A made-up input example: never real post text (MLflow stores it next to the model)."""
    return pd.DataFrame(
        {
            "id": ["example-1", "example-2"],
            "text": [
                "Ordered the blue kettle two weeks ago and it still has not arrived. Third email!",
                "Do you ship the standing desk to Lisbon? Thinking of ordering three for our team.",
            ],
            "created_at": ["2026-01-15T09:30:00Z", "2026-01-15T09:42:00Z"],
            "channel": ["twitter", "email"],
            "author_followers": [120.0, 35000.0],
            "author_verified": [False, True],
        }
    )


def flat_columns(labels: list[str]) -> list[tuple[str, str]]:
    """``(name, MLflow type)`` of the flat prediction form, in ``Predictions.flat()`` order."""
    cols = [("id", "string")]
    for lab in labels:
        cols += [(f"p_{lab}", "double"), (f"is_{lab}", "boolean")]
    cols += [
        ("predicted_labels", "string"),
        ("urgency", "double"),
        ("priority_tier", "string"),
        ("priority_score", "double"),
        ("respond_within_minutes", "long"),
        ("respond_by", "string"),
        ("route", "string"),
        ("escalate", "boolean"),
        ("needs_human", "boolean"),
        ("reasons", "string"),
        ("model_version", "string"),
    ]
    return cols


def signature_for(labels: list[str]):
    """The model signature: posts in, one flat row per post out (Spark reads its output
    schema to type the UDF's struct)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec(t, name, required=req) for name, t, req in INPUT_COLUMNS])
    outputs = Schema([ColSpec(t, name) for name, t in flat_columns(labels)])
    return ModelSignature(inputs=inputs, outputs=outputs)


class TriagePyfunc(mlflow.pyfunc.PythonModel):
    """Scores posts with the bundle logged beside it; returns the flat prediction table."""

    def __init__(self) -> None:
        self._bundle: Bundle | None = None

    def load_context(self, context: Any) -> None:
        """Verify and load the bundle once per process (not per ``predict`` call)."""
        path = Path(context.artifacts[BUNDLE_ARTIFACT])
        config = context.model_config or {}
        bundle = load_bundle(path, expected_sha256=config.get("sha256") or None)
        bundle.version_label = _registered_label(path.parent.parent)
        self._bundle = bundle

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Posts in (input contract), flat predictions out (one row per post, input order)."""
        from triage_ml.contract.errors import DataError
        from triage_ml.decide.scoring import score_posts

        if self._bundle is None:
            raise BundleError("the triage-ml pyfunc model was used before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        try:
            return score_posts(self._bundle, frame).flat()
        except DataError as err:
            # MLflow turns INVALID_PARAMETER_VALUE into HTTP 400 with this message when serving.
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


def _registered_label(model_dir: Path) -> str | None:
    """``triage@7`` when the model was fetched as a registered version, else ``None``."""
    meta = model_dir / _REGISTERED_META
    if not meta.is_file():
        return None
    try:
        info = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    name, version = info.get("model_name"), info.get("model_version")
    # a logged model fetched by its models:/m-... id gets this file too, with empty fields
    return f"{name}@{version}" if name and version else None
