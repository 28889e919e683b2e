"""Experiment tracking on real MLflow: where the store is, and one training run logged to it.

Every training run can be logged as an MLflow run (flattened parameters, numeric metrics,
plots, data fingerprint, git commit, and the bundle wrapped as a pyfunc model with a signature
and a made-up input example). The run also records the sha256 of each bundle file as immutable
parameters: :mod:`triage_ml.store.registry` (register, promote, verified loading) checks a
registered artifact against them. This module holds what both share: the store's URIs, the
scoped mlflow client and the names of the model, artifact and checksum parameters.

The embedded default store is ``sqlite:///<project>/mlflow.db`` with artifacts in
``<project>/mlartifacts`` (both git-ignored), where ``<project>`` is the nearest folder above
the working directory holding ``dvc.yaml`` or ``.git`` (else the working directory).
``MLFLOW_TRACKING_URI`` points everything at a tracking server instead.

mlflow takes 1-2 s to import, so it is imported inside the functions that use it: importing
this module, or scoring a local bundle, never loads it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from triage_ml._extras import require
from triage_ml.contract.digest import sha256_file
from triage_ml.store.bundle import (
    ARRAYS_FILE,
    ENCODER_FILES,
    METADATA_FILE,
    MODEL_FILE,
    PARAMS_FILE,
    PLAYBOOK_FILE,
    SIGNATURE_FILE,
    BundleError,
    load_bundle,
)

MODEL_NAME = "triage"
EXPERIMENT = "triage"
MODEL_ARTIFACT = "model"
SHA256_PARAM = "bundle.sha256."
"""Prefix of the run parameters holding the sha256 of each bundle file (params are immutable
once logged, unlike tags, so the record cannot be edited to match a swapped artifact)."""
VERIFIED_FILES = (MODEL_FILE, ARRAYS_FILE, PLAYBOOK_FILE, PARAMS_FILE)
"""The bundle files a registered model must match before it is loaded (also handed to the
pyfunc model as its ``model_config``)."""
_BUNDLE_FILES = (
    METADATA_FILE,
    MODEL_FILE,
    ARRAYS_FILE,
    PLAYBOOK_FILE,
    PARAMS_FILE,
    SIGNATURE_FILE,
    *ENCODER_FILES,
)


def pinned_checksums(checksums: dict[str, str]) -> dict[str, str]:
    """The checksums a logged or registered model is pinned to: the model, playbook and
    params, and the encoder's files when the bundle has them."""
    return {n: checksums[n] for n in (*VERIFIED_FILES, *ENCODER_FILES) if n in checksums}


_PIP_PACKAGES = (
    "triage-ml",
    "mlflow",
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "spacy",
    "joblib",
    "pyyaml",
    "pydantic",
)
_MLFLOW_KEY = re.compile(r"[^\w./\- :]")
log = logging.getLogger(__name__)


class TrackingError(BundleError):
    """The tracking store or registry cannot give what was asked (unknown version, alias or
    run, unreachable server). A ``BundleError`` so callers that load models handle it too."""


@dataclass
class TrackedRun:
    """Where a training run landed in MLflow."""

    run_id: str
    experiment_id: str
    experiment_name: str
    tracking_uri: str
    model_uri: str
    model_name: str | None = None
    version: str | None = None


# ---------------------------------------------------------------------------------------------
# where the store is


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) with ``dvc.yaml`` or ``.git``,
    so ``triage-ml train`` run from ``notebooks/`` still uses the project's store."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() or (folder / ".git").exists():
            return folder
    return here


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """An explicit URI, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite file."""
    if tracking_uri:
        return tracking_uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def registry_uri(tracking_uri: str) -> str:
    """``$MLFLOW_REGISTRY_URI`` when set (a separate registry), else the tracking store."""
    return os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri


def _artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite store, artifacts go to ``mlartifacts/`` beside the database file (MLflow
    would otherwise use ``./mlruns`` relative to whatever the working directory is)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or tracking_uri[len(prefix) :] in ("", ":memory:"):
        return None
    db = Path(tracking_uri[len(prefix) :]).resolve()
    return (db.parent / "mlartifacts").as_uri()


@contextmanager
def mlflow_at(tracking_uri: str) -> Iterator[Any]:
    """Point mlflow's fluent API at ``tracking_uri`` for a block, then restore what was set
    (``set_tracking_uri`` also writes the environment), and keep its progress bars quiet."""
    import mlflow

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    bar = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    bar_saved = os.environ.get(bar)
    os.environ.setdefault(bar, "false")
    was_set = mlflow.is_tracking_uri_set()
    previous = mlflow.get_tracking_uri() if was_set else None
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if bar_saved is None:
            os.environ.pop(bar, None)


def require_mlflow() -> None:
    """One line naming the ``pipeline`` extra instead of a traceback when mlflow is absent."""
    require("mlflow", "pipeline", "MLflow tracking and the model registry")


def mlflow_client(tracking_uri: str):
    """An ``MlflowClient`` for the store, with the registry it uses (see :func:`registry_uri`)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri(tracking_uri))


# ---------------------------------------------------------------------------------------------
# what is logged


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"classifier": {"C": 8}}}`` -> ``{"train.classifier.C": 8}`` (lists kept)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _key(name: str) -> str:
    """MLflow accepts letters, digits, ``_ . / - :`` and spaces in keys; a label named
    ``re-order?`` becomes ``re-order_``."""
    return _MLFLOW_KEY.sub("_", name)


def params_to_log(params: dict[str, Any]) -> dict[str, str]:
    """Flattened parameters as MLflow param strings (lists and nulls as JSON)."""
    return {_key(k): v if isinstance(v, str) else json.dumps(v) for k, v in flatten(params).items()}


def metrics_to_log(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric leaves of a metrics dict; ``None`` (undefined, e.g. PR-AUC without a
    positive) is left out rather than logged as 0."""
    out = {}
    for k, v in flatten(metrics).items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if v != v or v in (float("inf"), float("-inf")):
            continue
        out[_key(k)] = float(v)
    return out


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirtiness of the project, for the run's tags; empty outside a git repo."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return {}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        "mlflow.source.git.commit": commit.stdout.strip(),
        "git.dirty": str(bool(status.stdout.strip())).lower(),
    }


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model; given explicitly because MLflow's inference
    spends 4-5 s importing the model to guess them."""
    out = []
    for name in _PIP_PACKAGES:
        try:
            out.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def bundle_checksums(bundle_dir: Path) -> dict[str, str]:
    """sha256 of every file of a bundle that exists (the signature only when signed)."""
    return {
        name: sha256_file(bundle_dir / name)
        for name in _BUNDLE_FILES
        if (bundle_dir / name).is_file()
    }


def log_bundle(
    bundle_dir: str | Path,
    *,
    plots_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    register: bool = False,
    model_name: str = MODEL_NAME,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> TrackedRun:
    """Log one trained bundle as an MLflow run, optionally registering a model version.

    Everything comes from the bundle itself (its params.yaml and metadata.json, written by
    training), so a bundle trained with ``--no-track`` can be logged later with the same
    result. The input example is made up: no real post text goes into MLflow.
    """
    require_mlflow()
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)  # verified: we log what a service would load
    meta = bundle.metadata
    params = yaml.safe_load((bundle_dir / PARAMS_FILE).read_text(encoding="utf-8")) or {}
    checksums = bundle_checksums(bundle_dir)
    uri = resolve_tracking_uri(tracking_uri)
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT

    logged = params_to_log(params)
    logged.update(
        {
            "data.source": str(meta.get("data_source", "")),
            "data.fingerprint": str(meta.get("data_fingerprint", "")),
            "data.n_train": str(meta.get("n_train", "")),
            "data.n_test": str(meta.get("n_test", "")),
            "data.split": str(meta.get("split", "")),
            "data.n_feedback": str(meta.get("n_feedback", 0)),
        }
    )
    logged.update({f"{SHA256_PARAM}{name}": digest for name, digest in checksums.items()})
    metrics = metrics_to_log(meta.get("metrics") or {})
    if "training_seconds" in meta:
        metrics["training_seconds"] = float(meta["training_seconds"])
    metrics["feedback_rows"] = float(meta.get("n_feedback", 0))  # rows from agents' corrections
    run_tags = {
        **git_state(project_root()),
        "triage.version": _version("triage-ml"),
        "triage.model_version": bundle.model_version,
        "triage.labels": ";".join(bundle.labels),
        "triage.signed": str(bool(meta.get("signed"))).lower(),
    }
    if os.environ.get("DVC_EXP_NAME"):
        run_tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    run_tags.update(tags or {})

    with mlflow_at(uri) as mlflow:
        from triage_ml.store.pyfunc import (
            BUNDLE_ARTIFACT,
            MODEL_CODE,
            example_posts,
            signature_for,
        )

        client = mlflow_client(uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = client.create_experiment(
                experiment, artifact_location=_artifact_location(uri)
            )
        elif found.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment '{experiment}' at {uri} is deleted; restore it with "
                f"'mlflow experiments restore --experiment-id {found.experiment_id}' "
                "or name another one (--experiment / MLFLOW_EXPERIMENT_NAME)"
            )
        else:
            experiment_id = found.experiment_id
        nested = mlflow.active_run() is not None
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested) as run:
            mlflow.set_tags(run_tags)
            mlflow.log_params(logged)
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_dict(meta.get("metrics") or {}, "metrics.json")
            if plots_dir is not None and Path(plots_dir).is_dir():
                mlflow.log_artifacts(str(plots_dir), "plots")
            # logged from code: MLflow stores pyfunc_model.py, not a pickle of an object
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(MODEL_CODE),
                artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                model_config={"sha256": pinned_checksums(checksums)},
                signature=signature_for(bundle.labels),
                input_example=example_posts(),
                pip_requirements=pip_requirements(),
            )
        tracked = TrackedRun(
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            experiment_name=experiment,
            tracking_uri=uri,
            model_uri=info.model_uri,
        )
    if register:
        # imported here: registry.py builds on this module's store helpers
        from triage_ml.store.registry import register_run

        tracked.model_name = model_name
        tracked.version = register_run(tracked.run_id, model_name, uri)
    return tracked


def _version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"
