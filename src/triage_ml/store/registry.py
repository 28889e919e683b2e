"""The model registry on real MLflow: register a logged run, promote by alias, load verified.

A run logged by :func:`triage_ml.store.tracking.log_bundle` is registered as a version of the
model ``triage`` and promoted by moving the alias ``champion``; rolling back is promoting the
older version again. The HTTP service loads ``models:/triage@champion`` through
:func:`load_registered`, which refuses an artifact whose sha256 differs from the one recorded
on the run that logged it.

mlflow takes 1-2 s to import, so it is imported inside the functions that use it: importing
this module never loads it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from triage_ml.contract.digest import sha256_file
from triage_ml.store.bundle import (
    LEGACY_MODEL_FILE,
    Bundle,
    BundleError,
    load_bundle,
)
from triage_ml.store.tracking import (
    MODEL_ARTIFACT,
    MODEL_NAME,
    SHA256_PARAM,
    VERIFIED_FILES,
    TrackingError,
    mlflow_at,
    mlflow_client,
    pinned_checksums,
    registry_uri,
    require_mlflow,
    resolve_tracking_uri,
)

CHAMPION = "champion"


@dataclass
class VersionInfo:
    """One registered version, as ``triage-ml versions`` shows it."""

    version: str
    run_id: str
    aliases: list[str] = field(default_factory=list)
    created: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def register_run(run_id: str, model_name: str = MODEL_NAME, tracking_uri: str | None = None) -> str:
    """Register the model logged by a tracked run as a new version; returns the version."""
    require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri)
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
        with mlflow_at(uri) as mlflow:
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
    require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri)
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
    require_mlflow()
    from datetime import UTC, datetime

    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri)
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
    require_mlflow()
    uri = resolve_tracking_uri(tracking_uri)
    return str(_resolve(mlflow_client(uri), model_uri).version)


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
    parsed. The returned bundle reports ``model_version`` as ``triage@7 (sha256:...)``.

    ``dst_path`` keeps the downloaded files (default: a temporary folder removed after
    loading); ``key`` is the bundle signing key (default: ``$TRIAGE_BUNDLE_KEY``).
    """
    require_mlflow()
    from mlflow.exceptions import MlflowException

    _parse_models_uri(model_uri)  # a wrong URI fails before any store is opened
    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri)
    mv = _resolve(client, model_uri)
    where = f"{model_uri} (version {mv.version}, run {mv.run_id})"
    try:
        run = client.get_run(mv.run_id)
    except MlflowException as err:
        raise TrackingError(f"{where}: the run that logged it is gone: {err.message}") from None
    expected = _recorded_checksums(run)
    missing = [n for n in VERIFIED_FILES if n not in expected]
    if missing and LEGACY_MODEL_FILE in expected:
        raise BundleError(
            f"{where}: logged by an older triage-ml, its model is a pickle ({LEGACY_MODEL_FILE}) "
            "and is not loaded because unpickling can run any code. Retrain and register the "
            "new run, or convert the bundle you trust ('triage-ml convert OLD NEW') and log it"
        )
    if missing:
        raise BundleError(
            f"{where}: the run records no sha256 for {', '.join(missing)}; it was not logged "
            "by triage-ml, so its artifact cannot be verified and is refused"
        )
    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="triage-"))
    try:
        with mlflow_at(uri) as mlflow:
            try:
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=f"models:/{mv.name}/{mv.version}",
                        dst_path=str(target),
                        tracking_uri=uri,
                        registry_uri=registry_uri(uri),
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
        bundle = load_bundle(bundle_dir, key=key, expected_sha256=pinned_checksums(expected))
    finally:
        if dst_path is None:
            shutil.rmtree(target, ignore_errors=True)
    bundle.version_label = f"{mv.name}@{mv.version}"
    if dst_path is None:
        bundle.path = None
    return bundle


def _bundle_in(model_dir: Path, where: str) -> Path:
    """The bundle folder inside a downloaded pyfunc model, as its MLmodel file names it."""
    from triage_ml.store.pyfunc import BUNDLE_ARTIFACT, PICKLED_MODEL

    try:
        spec = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        flavor = spec["flavors"]["python_function"]
        rel = flavor["artifacts"][BUNDLE_ARTIFACT]["path"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise BundleError(
            f"{where}: not a triage-ml model (its MLmodel names no '{BUNDLE_ARTIFACT}' artifact)"
        ) from None
    if (model_dir / PICKLED_MODEL).exists() or "python_model" in flavor:
        raise BundleError(
            f"{where}: the model holds {PICKLED_MODEL}, a pickled Python object that runs code "
            "when loaded; triage-ml logs its models from code and never loads that file. "
            "Log the bundle again with this version ('triage-ml train', or 'triage-ml convert' "
            "for an older bundle you trust) and register the new run"
        )
    path = (model_dir / rel).resolve()
    if not path.is_relative_to(model_dir.resolve()):
        raise BundleError(f"{where}: its MLmodel points outside the model folder; refusing it")
    return path
