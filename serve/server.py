"""Starting the service: uvicorn with the host, port and workers from the settings.

``triage-ml serve`` and ``python -m serve`` land here. Command-line options are written to
the ``TRIAGE_*`` environment before uvicorn starts, so that every worker process (which
imports ``serve.app`` afresh) reads the same settings.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from serve.metrics import MULTIPROC_ENV
from serve.settings import REGISTRY_PREFIX, Settings, check_model_name, get_settings
from triage_ml import require_extra
from triage_ml.contract import ConfigError, format_validation_error
from triage_ml.store import verify_bundle


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the service's own ``serve`` logger at the same level."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["serve"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def configure(
    model: str | None = None,
    playbook: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> Settings:
    """Apply command-line options over the environment and check the result.

    ``model`` is a bundle directory (served from its parent as the model root) or a
    ``models:/`` URI. A local bundle is verified now, so a wrong path fails here and not in
    every worker.
    """
    env: dict[str, str] = {}
    if model is not None:
        if model.startswith(REGISTRY_PREFIX):
            env["TRIAGE_MODEL"] = model
        else:
            path = Path(model).expanduser().absolute()
            try:
                check_model_name(path.name)
            except ValueError as err:
                raise ConfigError(f"--model {model}: {err}") from None
            env["TRIAGE_MODEL_ROOT"] = str(path.parent)
            env["TRIAGE_MODEL"] = path.name
    if playbook is not None:
        env["TRIAGE_PLAYBOOK"] = str(Path(playbook).expanduser().absolute())
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            env[f"TRIAGE_{name}"] = str(value)
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except ValidationError as err:
        raise ConfigError(f"invalid TRIAGE_* settings\n{format_validation_error(err)}") from None
    if settings.from_registry:
        require_extra("pipeline", f"serving {settings.model}")
    refusal = settings.unsigned_refusal()
    if refusal is not None:
        raise ConfigError(refusal)
    if not settings.from_registry:
        verify_bundle(settings.model_root / settings.model, key=settings.signing_key)
    if settings.playbook is not None and not settings.playbook.is_file():
        raise ConfigError(f"{settings.playbook}: playbook file not found (TRIAGE_PLAYBOOK)")
    return settings


def run(settings: Settings | None = None) -> None:
    """Serve until interrupted. Several workers share metrics through a temporary
    ``PROMETHEUS_MULTIPROC_DIR`` unless one is configured."""
    import uvicorn

    settings = settings or get_settings()
    created = None
    if settings.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        created = tempfile.mkdtemp(prefix="triage-metrics-")
        os.environ[MULTIPROC_ENV] = created
    try:
        uvicorn.run(
            "serve.app:app",
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=log_config(settings.log_level),
            log_level=settings.log_level,
            access_log=settings.access_log,
            timeout_graceful_shutdown=10,
        )
    finally:
        if created:
            shutil.rmtree(created, ignore_errors=True)
