"""The bundle: the one artifact from training to serving.

A directory holding the fitted `Triager` (joblib), the playbook it was evaluated with, the
parameters, and ``metadata.json`` with the sha256 of every other file. It is written to a
temporary sibling directory and renamed into place, so a reader never sees half a bundle.
Unpickling is code execution: loading verifies every checksum first and, when
``TRIAGE_BUNDLE_KEY`` is set, an HMAC signature of the metadata, refusing anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib
import yaml

from triage_ml.decide.playbook import Playbook, parse_playbook
from triage_ml.model.triager import Triager

FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
PLAYBOOK_FILE = "playbook.yaml"
PARAMS_FILE = "params.yaml"
METADATA_FILE = "metadata.json"
SIGNATURE_FILE = "signature"
KEY_ENV = "TRIAGE_BUNDLE_KEY"
# the fine-tuned encoder (train.model: encoder), stored as ONNX + JSON beside the linear model
ENCODER_FILE = "encoder.onnx"
ENCODER_TOKENIZER_FILE = "encoder-tokenizer.json"
ENCODER_CONFIG_FILE = "encoder.json"
ENCODER_FILES = (ENCODER_FILE, ENCODER_TOKENIZER_FILE, ENCODER_CONFIG_FILE)
_PACKAGES = ("triage-ml", "scikit-learn", "numpy", "scipy", "pandas", "spacy", "joblib")


class BundleError(RuntimeError):
    """A bundle is missing, incomplete, tampered with, unsigned or signed with another key."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sign(data: bytes, key: str) -> str:
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class Bundle:
    """A loaded (verified) bundle: the model, its playbook and what is known about it."""

    triager: Triager
    playbook: Playbook
    metadata: dict[str, Any]
    path: Path | None = None
    version_label: str | None = field(default=None)

    @property
    def model_version(self) -> str:
        """``NAME (sha256:...)``, or ``triage@7 (sha256:...)`` when loaded from the registry."""
        digest = self.metadata.get("files", {}).get(MODEL_FILE, "")[:12]
        name = self.version_label or self.metadata.get("name", "triage")
        return f"{name} (sha256:{digest})"

    @property
    def labels(self) -> list[str]:
        return list(self.triager.labels)


def save_bundle(
    out: str | Path,
    triager: Triager,
    playbook: Playbook,
    params: dict[str, Any],
    extra_metadata: dict[str, Any] | None = None,
    key: str | None = None,
) -> Path:
    """Write a bundle atomically; an existing bundle at ``out`` is replaced only on success.

    ``key`` (default: ``$TRIAGE_BUNDLE_KEY``) signs the metadata with HMAC-SHA256.
    """
    out = Path(out)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        names = [MODEL_FILE, PLAYBOOK_FILE, PARAMS_FILE]
        encoder = triager.encoder
        if encoder is not None:
            (tmp / ENCODER_FILE).write_bytes(encoder.onnx_bytes)
            (tmp / ENCODER_TOKENIZER_FILE).write_text(encoder.tokenizer_json, encoding="utf-8")
            (tmp / ENCODER_CONFIG_FILE).write_text(
                json.dumps(encoder.config, indent=2, sort_keys=True), encoding="utf-8"
            )
            names += ENCODER_FILES
        triager.encoder = None  # the encoder travels as ONNX, never inside the pickle
        try:
            joblib.dump(triager, tmp / MODEL_FILE, compress=3)
        finally:
            triager.encoder = encoder
        (tmp / PLAYBOOK_FILE).write_text(
            yaml.safe_dump(playbook.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        (tmp / PARAMS_FILE).write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        metadata = {
            "format_version": FORMAT_VERSION,
            "name": out.name,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "labels": list(triager.labels),
            "exclusive": triager.exclusive,
            "thresholds": dict(zip(triager.labels, map(float, triager.thresholds_), strict=True)),
            "abstain_band": triager.abstain_band,
            "has_urgency_model": triager.urgency_coef_ is not None,
            "model_family": triager.family,
            "packages": package_versions(),
            **(extra_metadata or {}),
            "signed": bool(key),
            "files": {name: sha256_file(tmp / name) for name in names},
        }
        meta_bytes = json.dumps(metadata, indent=2, sort_keys=True, default=str).encode("utf-8")
        (tmp / METADATA_FILE).write_bytes(meta_bytes)
        if key:
            (tmp / SIGNATURE_FILE).write_text(_sign(meta_bytes, key), encoding="ascii")
        backup = None
        if out.exists():
            backup = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(backup)
        tmp.rename(out)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def verify_bundle(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """Check a bundle's files against its metadata (and signature); return the metadata."""
    path = Path(path)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    meta_path = path / METADATA_FILE
    if not path.is_dir():
        raise BundleError(f"{path}: no bundle directory here (train one with 'triage-ml train')")
    if not meta_path.is_file():
        raise BundleError(f"{path}: not a bundle, {METADATA_FILE} is missing")
    meta_bytes = meta_path.read_bytes()
    try:
        metadata = json.loads(meta_bytes)
    except json.JSONDecodeError as err:
        raise BundleError(f"{meta_path}: unreadable metadata ({err})") from None
    if metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {metadata.get('format_version')!r} is not supported "
            f"(this triage-ml reads format {FORMAT_VERSION}); retrain the model"
        )
    if key:
        sig_path = path / SIGNATURE_FILE
        if not sig_path.is_file():
            raise BundleError(f"{path}: bundle is not signed and {KEY_ENV} is set; refusing it")
        expected = _sign(meta_bytes, key)
        if not hmac.compare_digest(sig_path.read_text(encoding="ascii").strip(), expected):
            raise BundleError(f"{path}: signature does not match {KEY_ENV}; refusing the bundle")
    files = metadata.get("files") or {}
    for name in (MODEL_FILE, PLAYBOOK_FILE, PARAMS_FILE, *(n for n in ENCODER_FILES if n in files)):
        file = path / name
        if name not in files:
            raise BundleError(f"{path}: metadata records no checksum for {name}")
        if not file.is_file():
            raise BundleError(f"{path}: {name} is missing")
        if not hmac.compare_digest(sha256_file(file), files[name]):
            raise BundleError(f"{path}: checksum of {name} does not match metadata.json")
    return metadata


#: Where the pickled classes of bundles written before the subpackage layout now live.
_LEGACY_MODULES = {
    "triage_ml.normalise": "triage_ml.model.normalise",
    "triage_ml.features": "triage_ml.model.features",
    "triage_ml.embeddings": "triage_ml.model.embeddings",
}


def _alias_legacy_modules() -> None:
    """Let bundles pickled under the old flat module names find their classes (same code)."""
    import importlib
    import sys

    for old, new in _LEGACY_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


def load_bundle(
    path: str | Path, key: str | None = None, expected_sha256: dict[str, str] | None = None
) -> Bundle:
    """Verify, then load a bundle. ``expected_sha256`` (e.g. recorded on an MLflow run) must
    match the bundle's own checksums too."""
    path = Path(path)
    metadata = verify_bundle(path, key)
    if expected_sha256:
        for name, digest in expected_sha256.items():
            if metadata["files"].get(name) != digest:
                raise BundleError(
                    f"{path}: {name} is not the artifact that was logged (sha256 differs)"
                )
    _alias_legacy_modules()
    triager = joblib.load(path / MODEL_FILE)
    if not isinstance(triager, Triager):
        raise BundleError(f"{path}: {MODEL_FILE} does not hold a Triager")
    if ENCODER_FILE in metadata["files"]:
        triager.encoder = _load_encoder(path, metadata["files"])
    elif getattr(triager, "stack_", None) is not None:
        raise BundleError(f"{path}: an encoder model without its {ENCODER_FILE}; retrain it")
    playbook = parse_playbook(
        yaml.safe_load((path / PLAYBOOK_FILE).read_text(encoding="utf-8")),
        str(path / PLAYBOOK_FILE),
    )
    return Bundle(triager=triager, playbook=playbook, metadata=metadata, path=path)


def _load_encoder(path: Path, checksums: dict[str, str]):
    """The encoder's ONNX graph, tokenizer and config, each checked against its checksum on
    the very bytes that are then used (no second read between the check and the use)."""
    from triage_ml._extras import require

    require("onnxruntime", "encoder", "scoring an encoder model")
    require("tokenizers", "encoder", "scoring an encoder model")
    from triage_ml.model.encoder.runtime import EncoderRuntime

    data = {}
    for name in ENCODER_FILES:
        raw = (path / name).read_bytes()
        if not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), checksums[name]):
            raise BundleError(f"{path}: checksum of {name} does not match metadata.json")
        data[name] = raw
    config = json.loads(data[ENCODER_CONFIG_FILE])
    return EncoderRuntime(
        data[ENCODER_FILE],
        data[ENCODER_TOKENIZER_FILE].decode("utf-8"),
        config,
        threads=(config.get("settings") or {}).get("threads"),
    )
