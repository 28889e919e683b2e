"""Experiment tracking and the model registry, on real MLflow.

Every training run can be logged as an MLflow run (flattened parameters, numeric metrics,
plots, data fingerprint, git commit, and the bundle wrapped as a pyfunc model with a signature
and a made-up input example), registered as a version of the model ``triage``, and promoted by
moving the alias ``champion``. The HTTP service loads ``models:/triage@champion`` through
:func:`load_registered`, which refuses an artifact whose sha256 differs from the one recorded
on the run that logged it.

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
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from triage_ml._extras import require
from triage_ml.store.bundle import (
    METADATA_FILE,
    MODEL_FILE,
    PARAMS_FILE,
    PLAYBOOK_FILE,
    SIGNATURE_FILE,
    Bundle,
    BundleError,
    load_bundle,
    sha256_file,
)

MODEL_NAME = "triage"
CHAMPION = "champion"
EXPERIMENT = "triage"
MODEL_ARTIFACT = "model"
SHA256_PARAM = "bundle.sha256."
"""Prefix of the run parameters holding the sha256 of each bundle file (params are immutable
once logged, unlike tags, so the record cannot be edited to match a swapped artifact)."""
_BUNDLE_FILES = (METADATA_FILE, MODEL_FILE, PLAYBOOK_FILE, PARAMS_FILE, SIGNATURE_FILE)
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


@dataclass
class VersionInfo:
    """One registered version, as ``triage-ml versions`` shows it."""

    version: str
    run_id: str
    aliases: list[str] = field(default_factory=list)
    created: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


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


def _registry_uri(tracking_uri: str) -> str:
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
def _mlflow_at(tracking_uri: str) -> Iterator[Any]:
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


def _require_mlflow() -> None:
    require("mlflow", "pipeline", "MLflow tracking and the model registry")


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=_registry_uri(tracking_uri))


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


class _QuietCloudpickleWarning(logging.Filter):
    """MLflow warns on every pyfunc logged as an object. Ours is a class of an installed
    package (pickled by reference), and the bundle's own checksums guard the real payload."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "causes it to be serialized using CloudPickle" not in record.getMessage()


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
    _require_mlflow()
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
        }
    )
    logged.update({f"{SHA256_PARAM}{name}": digest for name, digest in checksums.items()})
    metrics = metrics_to_log(meta.get("metrics") or {})
    if "training_seconds" in meta:
        metrics["training_seconds"] = float(meta["training_seconds"])
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

    with _mlflow_at(uri) as mlflow:
        from triage_ml.store.pyfunc import (
            BUNDLE_ARTIFACT,
            TriagePyfunc,
            example_posts,
            signature_for,
        )

        client = _client(uri)
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
            quiet = _QuietCloudpickleWarning()
            pyfunc_log = logging.getLogger("mlflow.pyfunc")
            pyfunc_log.addFilter(quiet)
            try:
                info = mlflow.pyfunc.log_model(
                    name=MODEL_ARTIFACT,
                    python_model=TriagePyfunc(),
                    artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                    model_config={"sha256": {n: checksums[n] for n in _verified_files()}},
                    signature=signature_for(bundle.labels),
                    input_example=example_posts(),
                    pip_requirements=pip_requirements(),
                )
            finally:
                pyfunc_log.removeFilter(quiet)
        tracked = TrackedRun(
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            experiment_name=experiment,
            tracking_uri=uri,
            model_uri=info.model_uri,
        )
    if register:
        tracked.model_name = model_name
        tracked.version = register_run(tracked.run_id, model_name, uri)
    return tracked


def _verified_files() -> tuple[str, ...]:
    return (MODEL_FILE, PLAYBOOK_FILE, PARAMS_FILE)


def _version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# the registry


def register_run(run_id: str, model_name: str = MODEL_NAME, tracking_uri: str | None = None) -> str:
    """Register the model logged by a tracked run as a new version; returns the version."""
    _require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = _client(uri)
    try:
        run = client.get_run(run_id)
        if not _recorded_checksums(run):
            raise TrackingError(
                f"run {run_id} was not logged by triage-ml (it records no bundle checksums); "
                "only runs of 'triage-ml train' can be registered"
            )
        found = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL_ARTIFACT}'",
        )
        source = found[0].model_uri if found else f"runs:/{run_id}/{MODEL_ARTIFACT}"
        with _mlflow_at(uri) as mlflow:
            version = mlflow.register_model(source, model_name)
    except MlflowException as err:
        raise TrackingError(f"cannot register run {run_id} at {uri}: {err.message}") from None
    return str(version.version)


def promote(
    version: str | int,
    model_name: str = MODEL_NAME,
    alias: str = CHAMPION,
    tracking_uri: str | None = None,
) -> str | None:
    """Point ``alias`` at ``version``; returns the version it pointed at before (if any).
    Rolling back is promoting the older version again."""
    _require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = _client(uri)
    version = str(version)
    try:
        client.get_model_version(model_name, version)
    except MlflowException:
        known = [v.version for v in list_versions(model_name, uri)]
        raise TrackingError(
            f"model '{model_name}' has no version {version} at {uri}; "
            f"registered versions: {', '.join(known) if known else 'none'}"
        ) from None
    previous = _alias_version(client, model_name, alias)
    try:
        client.set_registered_model_alias(model_name, alias, version)
    except MlflowException as err:
        raise TrackingError(f"cannot set alias '{alias}' at {uri}: {err.message}") from None
    return previous


def _alias_version(client: Any, model_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def list_versions(
    model_name: str = MODEL_NAME, tracking_uri: str | None = None
) -> list[VersionInfo]:
    """Registered versions, newest first, with their aliases and headline metrics."""
    _require_mlflow()
    from datetime import UTC, datetime

    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = _client(uri)
    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
        # search results carry no aliases; the registered model holds the alias -> version map
        aliases = client.get_registered_model(model_name).aliases if versions else {}
    except MlflowException as err:
        raise TrackingError(
            f"cannot list versions of '{model_name}' at {uri}: {err.message}"
        ) from None
    by_version: dict[str, list[str]] = {}
    for alias, version in (aliases or {}).items():
        by_version.setdefault(str(version), []).append(alias)
    out = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        try:
            metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        except MlflowException:
            metrics = {}
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
        out.append(
            VersionInfo(
                version=str(mv.version),
                run_id=mv.run_id or "",
                aliases=sorted(by_version.get(str(mv.version), [])),
                created=created.strftime("%Y-%m-%d %H:%M:%SZ"),
                metrics={k: metrics[k] for k in ("macro_f1", "micro_f1", "brier") if k in metrics},
            )
        )
    return out


_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")


def _parse_models_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    match = _MODELS_URI.match(model_uri.strip())
    if not match:
        raise TrackingError(
            f"{model_uri!r} is not a registered model URI; use models:/NAME@ALIAS "
            "(e.g. models:/triage@champion) or models:/NAME/VERSION (e.g. models:/triage/3)"
        )
    return match["name"], match["alias"], match["version"]


def _resolve(client: Any, model_uri: str) -> Any:
    from mlflow.exceptions import MlflowException

    name, alias, version = _parse_models_uri(model_uri)
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, version)
    except MlflowException as err:
        hint = (
            f" (set it with 'triage-ml promote VERSION --name {name} --alias {alias}')"
            if alias
            else ""
        )
        raise TrackingError(
            f"{model_uri}: not found in the registry{hint}: {err.message}"
        ) from None


def registered_version(model_uri: str, tracking_uri: str | None = None) -> str:
    """The version number a ``models:/`` URI points at now: a cheap call for a service that
    watches the ``champion`` alias and reloads when it moves."""
    _require_mlflow()
    uri = resolve_tracking_uri(tracking_uri)
    return str(_resolve(_client(uri), model_uri).version)


def _recorded_checksums(run: Any) -> dict[str, str]:
    return {
        key[len(SHA256_PARAM) :]: value
        for key, value in run.data.params.items()
        if key.startswith(SHA256_PARAM)
    }


def load_registered(
    model_uri: str,
    tracking_uri: str | None = None,
    *,
    dst_path: str | Path | None = None,
    key: str | None = None,
) -> Bundle:
    """Fetch a registered model's bundle, check it is the artifact that was logged, load it.

    The sha256 of every bundle file is compared with the one recorded on the MLflow run that
    logged it (not only with the bundle's own metadata.json, which travels with the file), so
    an artifact replaced in the artifact store is refused with a ``BundleError`` before it is
    unpickled. The returned bundle reports ``model_version`` as ``triage@7 (sha256:...)``.

    ``dst_path`` keeps the downloaded files (default: a temporary folder removed after
    loading); ``key`` is the bundle signing key (default: ``$TRIAGE_BUNDLE_KEY``).
    """
    _require_mlflow()
    from mlflow.exceptions import MlflowException

    _parse_models_uri(model_uri)  # a wrong URI fails before any store is opened
    uri = resolve_tracking_uri(tracking_uri)
    client = _client(uri)
    mv = _resolve(client, model_uri)
    where = f"{model_uri} (version {mv.version}, run {mv.run_id})"
    try:
        run = client.get_run(mv.run_id)
    except MlflowException as err:
        raise TrackingError(f"{where}: the run that logged it is gone: {err.message}") from None
    expected = _recorded_checksums(run)
    missing = [n for n in _verified_files() if n not in expected]
    if missing:
        raise BundleError(
            f"{where}: the run records no sha256 for {', '.join(missing)}; it was not logged "
            "by triage-ml, so its artifact cannot be verified and is refused"
        )
    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="triage-"))
    try:
        with _mlflow_at(uri) as mlflow:
            try:
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=f"models:/{mv.name}/{mv.version}",
                        dst_path=str(target),
                        tracking_uri=uri,
                        registry_uri=_registry_uri(uri),
                    )
                )
            except (MlflowException, OSError) as err:
                raise TrackingError(f"{where}: cannot download the model: {err}") from None
        bundle_dir = _bundle_in(local, where)
        for name, digest in expected.items():
            file = bundle_dir / name
            if not file.is_file():
                raise BundleError(f"{where}: {name} is missing from the downloaded artifact")
            if sha256_file(file) != digest:
                raise BundleError(
                    f"{where}: {name} is not the artifact that was logged (its sha256 differs "
                    "from the one recorded on the MLflow run); refusing to load it"
                )
        bundle = load_bundle(
            bundle_dir, key=key, expected_sha256={n: expected[n] for n in _verified_files()}
        )
    finally:
        if dst_path is None:
            shutil.rmtree(target, ignore_errors=True)
    bundle.version_label = f"{mv.name}@{mv.version}"
    if dst_path is None:
        bundle.path = None
    return bundle


def _bundle_in(model_dir: Path, where: str) -> Path:
    """The bundle folder inside a downloaded pyfunc model, as its MLmodel file names it."""
    from triage_ml.store.pyfunc import BUNDLE_ARTIFACT

    try:
        spec = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        rel = spec["flavors"]["python_function"]["artifacts"][BUNDLE_ARTIFACT]["path"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise BundleError(
            f"{where}: not a triage-ml model (its MLmodel names no '{BUNDLE_ARTIFACT}' artifact)"
        ) from None
    path = (model_dir / rel).resolve()
    if not path.is_relative_to(model_dir.resolve()):
        raise BundleError(f"{where}: its MLmodel points outside the model folder; refusing it")
    return path
