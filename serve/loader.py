"""Which model is serving, and how a new one replaces it.

Each worker process holds one :class:`LoadedModel` and swaps it with a single assignment, so a
request that started on the old model finishes on it and no request ever sees half a reload.
A new model is taken only after it has been verified (checksums, and the HMAC signature: with
no ``TRIAGE_BUNDLE_KEY`` every bundle is refused unless ``TRIAGE_ALLOW_UNSIGNED`` is on) and
has scored a test post; anything else is refused with a reason and the old model keeps serving.

Several workers do not share memory, so an admin call reaches only one of them. Every worker
therefore also polls its source (the bundle directory's files, or the registry alias) and
reloads itself when it changes: the way to roll out a model to all workers is to replace the
bundle (``triage-ml train --out`` writes atomically) or to move the alias.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from serve.settings import Settings
from triage_ml.contract import ConfigError
from triage_ml.decide import Playbook, load_playbook, score_posts, score_records
from triage_ml.store import Bundle, BundleError, load_bundle

log = logging.getLogger("serve")


def _probe() -> pd.DataFrame:
    return pd.DataFrame({"id": ["probe"], "text": ["my order never arrived, please help"]})


class Source(Protocol):
    """Where models come from: a cheap change signal and a verified load."""

    description: str

    def fingerprint(self) -> str: ...

    def load(self) -> Bundle: ...


class LocalSource:
    """A bundle directory inside the configured model root."""

    def __init__(self, root: Path, name: str, key: str) -> None:
        self.root = Path(root)
        self.name = name
        self.key = key
        self.description = str(self.root / name)

    def path(self) -> Path:
        """The bundle's directory, refused when it resolves outside the root (a symlink)."""
        root = self.root.resolve()
        path = (self.root / self.name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise BundleError(
                f"{self.description} resolves to {path}, outside the model root {root}; "
                "refusing to load it"
            )
        return path

    def fingerprint(self) -> str:
        """Changes whenever a file of the bundle is replaced, rewritten or the directory is
        swapped (names, inodes, sizes, modification times): cheap enough to poll."""
        digest = hashlib.sha256()
        try:
            path = self.path()
            stat = path.stat()
            digest.update(f"{stat.st_ino}:{stat.st_mtime_ns}".encode())
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                s = entry.stat()
                digest.update(f"|{entry.name}:{s.st_ino}:{s.st_size}:{s.st_mtime_ns}".encode())
        except (OSError, BundleError) as err:
            return f"unavailable:{type(err).__name__}"
        return digest.hexdigest()

    def load(self) -> Bundle:
        return load_bundle(self.path(), key=self.key)


class RegistrySource:
    """A registered MLflow model (``models:/triage@champion``), via triage_ml.store.registry.

    mlflow is imported only here, so serving a local bundle never imports it.
    """

    def __init__(self, uri: str, key: str) -> None:
        self.uri = uri
        self.key = key
        self.description = uri

    def fingerprint(self) -> str:
        from triage_ml.store import registered_version

        try:
            return f"version:{registered_version(self.uri)}"
        except Exception as err:  # registry unreachable: try again at the next poll
            return f"unavailable:{type(err).__name__}"

    def load(self) -> Bundle:
        from triage_ml.store import load_registered

        if self.key:
            return load_registered(self.uri, key=self.key)
        return load_registered(self.uri)


class RefusedSource:
    """Any source while signatures cannot be checked and unsigned bundles are not allowed."""

    def __init__(self, source: Source, reason: str) -> None:
        self.source = source
        self.reason = reason
        self.description = source.description

    def fingerprint(self) -> str:
        return self.source.fingerprint()

    def load(self) -> Bundle:
        raise BundleError(f"{self.description}: {self.reason}")


def source_for(settings: Settings) -> Source:
    source: Source
    if settings.from_registry:
        source = RegistrySource(settings.model, settings.signing_key)
    else:
        source = LocalSource(settings.model_root, settings.model, settings.signing_key)
    refusal = settings.unsigned_refusal()
    return source if refusal is None else RefusedSource(source, refusal)


@dataclass(frozen=True)
class LoadedModel:
    """A verified bundle and the playbook it scores with; never mutated once serving."""

    bundle: Bundle
    playbook: Playbook
    playbook_source: str
    source: str
    fingerprint: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def version(self) -> str:
        return self.bundle.model_version


@dataclass(frozen=True)
class ReloadOutcome:
    loaded: bool
    changed: bool
    model_version: str | None
    previous_version: str | None
    detail: str


class ModelHolder:
    """The serving model of this worker, its reloads and the reason of the last refusal."""

    def __init__(
        self, source: Source, playbook_path: Path | None = None, gc_freeze: bool = False
    ) -> None:
        self.source = source
        self.playbook_path = playbook_path
        self.gc_freeze = gc_freeze
        self.current: LoadedModel | None = None
        self.last_error: str | None = "the model has not been loaded yet"
        self._refused: str | None = None
        self._lock = threading.Lock()

    def _fingerprint(self) -> str:
        fp = self.source.fingerprint()
        if self.playbook_path is not None:
            try:
                s = self.playbook_path.stat()
                fp += f"|playbook:{s.st_ino}:{s.st_size}:{s.st_mtime_ns}"
            except OSError:
                fp += "|playbook:missing"
        return fp

    def _load(self, fingerprint: str) -> LoadedModel:
        bundle = self.source.load()
        if self.playbook_path is not None:
            playbook, playbook_source = load_playbook(self.playbook_path), str(self.playbook_path)
            unknown = playbook.unknown_labels(bundle.labels)
            if unknown:
                log.warning(
                    "playbook %s names labels the model does not predict: %s",
                    playbook_source,
                    unknown,
                )
        else:
            playbook, playbook_source = bundle.playbook, "bundle"
        try:  # a model that cannot score a plain post must not replace one that can
            score_posts(bundle, _probe(), playbook)
            # the single-post path too: also builds its tables now, before the heap is frozen
            score_records(bundle, _probe().to_dict("records"), playbook)
        except Exception as err:
            raise BundleError(
                f"{self.source.description}: the model cannot score a test post "
                f"({type(err).__name__}); refusing it"
            ) from None
        return LoadedModel(bundle, playbook, playbook_source, self.source.description, fingerprint)

    def reload(self, force: bool = True) -> ReloadOutcome:
        """Load the source now (``force``) or only when it changed; swap on success.

        Never raises: a refusal is reported in the outcome and the current model stays.
        """
        with self._lock:
            previous = self.current
            before = previous.version if previous else None
            fingerprint = self._fingerprint()
            if not force and (
                (previous is not None and fingerprint == previous.fingerprint)
                or fingerprint == self._refused
            ):
                return ReloadOutcome(previous is not None, False, before, before, "unchanged")
            started = time.perf_counter()
            try:
                loaded = self._load(fingerprint)
            except Exception as err:  # whatever a refused model raises: report it, keep serving
                self._refused = fingerprint
                self.last_error = _reason(err)
                _count_reload("refused")
                keeps = f"; still serving {before}" if before else "; no model is serving yet"
                log.warning("model refused: %s%s", self.last_error, keeps)
                return ReloadOutcome(False, False, before, before, self.last_error + keeps)
            self.current = loaded  # the swap: one assignment, atomic for readers
            del previous
            if self.gc_freeze:
                _freeze_heap()
            self._refused = None
            self.last_error = None
            _count_reload("loaded")
            _set_model_info(before, loaded.version)
            changed = loaded.version != before
            log.info(
                "model %s loaded from %s in %.2f s%s",
                loaded.version,
                loaded.source,
                time.perf_counter() - started,
                f" (was {before})" if before and changed else "",
            )
            detail = f"loaded {loaded.version} from {loaded.source}"
            return ReloadOutcome(True, changed, loaded.version, before, detail)

    async def watch(self, interval: float) -> None:
        """Poll the source every ``interval`` seconds and reload when it changes."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.reload, False)
            except Exception:  # keep watching whatever happens
                log.error("model watcher: %s", "".join(traceback.format_exc(limit=-3)))


def _freeze_heap() -> None:
    """Move every live object (the model's hundreds of thousands of vocabulary entries) out of
    the collector's reach, so that full collections stay short. Unfreezing first lets the
    collection free a replaced model's reference cycles; that one pause happens per reload."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _reason(err: Exception) -> str:
    if isinstance(err, BundleError | ConfigError | OSError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _count_reload(outcome: str) -> None:
    from serve.metrics import get_metrics

    get_metrics().reloads.labels(outcome=outcome).inc()


def _set_model_info(before: str | None, after: str) -> None:
    from serve.metrics import get_metrics

    info = get_metrics().model_info
    if before is not None:
        info.labels(model_version=before).set(0)
    info.labels(model_version=after).set(1)
