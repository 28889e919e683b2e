"""Service settings from the environment (prefix ``TRIAGE_``), validated once per process.

Everything a deployment changes lives here, so the same image runs anywhere: which model to
serve (a bundle under the model root, or a registry alias), the playbook, API keys, limits and
the server itself. Keys are secrets: they come from the environment, never from the repo, and
never appear in a repr or a log line.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REGISTRY_PREFIX = "models:/"
_REGISTRY_URI = re.compile(r"^models:/[A-Za-z0-9][\w.\-]*(@[A-Za-z0-9][\w\-]*|/\d+)$")
_BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
KEY_HELP = (
    "a comma-separated list of keys, e.g. "
    "TRIAGE_API_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
)


def check_model_name(value: str) -> str:
    """A bundle name inside the model root, or a registry URI; never a path.

    Where the service loads models from is fixed by the operator, never by a request: ``..``,
    separators and absolute paths are refused here, and the resolved directory is checked
    again against the root when loading.
    """
    value = value.strip()
    if value.startswith(REGISTRY_PREFIX):
        if not _REGISTRY_URI.match(value):
            raise ValueError(
                f"{value!r} is not a registered model URI; use models:/NAME@ALIAS "
                "(e.g. models:/triage@champion) or models:/NAME/VERSION (e.g. models:/triage/3)"
            )
        return value
    if not _BUNDLE_NAME.match(value) or ".." in value:
        raise ValueError(
            f"{value!r} is not a bundle name: give the name of a bundle directory inside "
            "TRIAGE_MODEL_ROOT (letters, digits, '.', '_', '-'; no '/', '\\' or '..'), "
            "or a registry URI such as models:/triage@champion"
        )
    return value


def _split_keys(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"not a JSON list ({err.msg}); use {KEY_HELP}") from None
        else:
            value = text.split(",")
    if isinstance(value, list | tuple):
        keys = [k.get_secret_value() if isinstance(k, SecretStr) else str(k) for k in value]
        return tuple(k.strip() for k in keys if k.strip())
    return value


class Settings(BaseSettings):
    """``TRIAGE_*`` environment variables; the field name in capitals is the variable's suffix."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="forbid", frozen=True)

    model_root: Path = Path("models")
    """Directory holding the bundles the service may load; nothing outside it is ever loaded."""
    model: str = "triage"
    """Bundle directory name inside ``model_root``, or ``models:/NAME@ALIAS`` from MLflow."""
    playbook: Path | None = None
    """Engagement playbook YAML; unset = the playbook inside the bundle (as ``predict``)."""
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    """Keys accepted in ``X-API-Key`` for scoring and model info; empty = no key needed."""
    admin_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    """Keys for ``/v1/admin/*``; empty = admin endpoints disabled."""
    bundle_key: SecretStr | None = None
    """``TRIAGE_BUNDLE_KEY``: when set, unsigned or wrongly signed bundles are refused."""
    allow_unsigned: bool = False
    """Serve bundles without checking a signature. Off by default: with no ``bundle_key`` the
    service then refuses every bundle; turn it on only where the model folder (or registry)
    is writable by trusted people alone."""
    max_batch: int = Field(1000, ge=1, le=100_000)
    """Most posts in one request; more is a 413."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    """Largest request body in bytes; more is a 413 (1,000 posts of 10,000 characters fit)."""
    max_chars: int = Field(200_000, ge=10_000, le=100_000_000)
    """Most characters of post text in one request (all posts together); more is a 413. Scoring
    costs about 2-5 microseconds per character, so this bounds one request's CPU time."""
    max_concurrent: int = Field(32, ge=1, le=10_000)
    """Most requests one worker handles at once (health, readiness and metrics excepted); more
    is a 503 with Retry-After."""
    reload_interval: float = Field(10.0, ge=0.0)
    """Seconds between checks of the bundle / registry alias for a new model; 0 = never."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    """Worker processes; each loads the model and watches for new ones itself."""
    gc_freeze: bool = True
    """Freeze the loaded model's objects out of the cyclic garbage collector (``gc.freeze``):
    a full collection of a large model otherwise stalls one request for ~100 ms now and then."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = True
    drift_window: int = Field(5000, ge=0, le=1_000_000)
    """Scored posts per worker kept (as numbers, never text) for the drift gauges; 0 = off."""
    drift_interval: float = Field(30.0, gt=0.0)
    """Seconds between refreshes of the drift gauges from the window."""
    shadow_model: str | None = None
    """A challenger scored beside the serving model (a bundle name in the model root, or
    ``models:/NAME/VERSION``); both decisions go to ``shadow_log``. Unset = no shadow."""
    shadow_log: Path = Path("shadow.jsonl")
    """JSONL file the shadow decisions are appended to (ids, labels, tiers, versions; no text)."""
    review_pool: Path | None = None
    """CSV, JSONL or Parquet file of unlabelled posts that ``GET /v1/review-queue`` ranks for
    labelling (once per model version and file change, off the request path). Unset = the
    route answers 409."""

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("shadow_model")
    @classmethod
    def _shadow_model_name(cls, value: str | None) -> str | None:
        return check_model_name(value) if value and value.strip() else None

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        return _split_keys(value)

    @property
    def from_registry(self) -> bool:
        return self.model.startswith(REGISTRY_PREFIX)

    @property
    def signing_key(self) -> str:
        """The bundle key for :func:`triage_ml.bundle.load_bundle` ("" = no signature check)."""
        return self.bundle_key.get_secret_value() if self.bundle_key else ""

    def unsigned_refusal(self) -> str | None:
        """Why no bundle may be loaded (no key to check signatures, unsigned not allowed)."""
        if self.signing_key or self.allow_unsigned:
            return None
        return (
            "TRIAGE_BUNDLE_KEY is not set, so no bundle signature can be checked and the service "
            "refuses to load a model: set TRIAGE_BUNDLE_KEY to the key the bundle was signed "
            "with at training, or TRIAGE_ALLOW_UNSIGNED=true to serve unsigned bundles from a "
            "model folder only trusted people can write"
        )

    def describe_model(self) -> str:
        """Where the model comes from, for messages and ``/v1/model``."""
        if self.from_registry:
            return self.model
        return str(self.model_root / self.model)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once (tests override this)."""
    return Settings()
