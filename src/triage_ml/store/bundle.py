"""The bundle: the one artifact from training to serving.

A directory holding the fitted `Triager` as data (``model.json``: labels, settings, the
feature pipeline and its vocabularies; ``model.npz``: the numeric arrays, read with
``allow_pickle=False``), the fine-tuned encoder as ONNX when there is one, the playbook it was
evaluated with, the parameters, and ``metadata.json`` with the sha256 of every other file. No
file of a bundle is a pickle, so loading one cannot run code: at worst a file is refused.

Every file is read once into memory, its checksum (and, when ``TRIAGE_BUNDLE_KEY`` is set, the
HMAC signature of the metadata) is checked on those bytes, and the model is parsed from the
very same bytes, so a file swapped between the check and the use is never loaded. A bundle is
written to a temporary sibling directory and renamed into place, so a reader never sees half
of one. Bundles of format 1 (a pickled ``model.joblib``) are refused with a message that says
to retrain or, for a bundle one trusts, to convert it (:func:`convert_bundle`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from triage_ml.decide.playbook import Playbook, parse_playbook
from triage_ml.model.state import StateError, from_state, parse_state, triager_state
from triage_ml.model.triager import Triager

FORMAT_VERSION = 2
MODEL_FILE = "model.json"
ARRAYS_FILE = "model.npz"
PLAYBOOK_FILE = "playbook.yaml"
PARAMS_FILE = "params.yaml"
METADATA_FILE = "metadata.json"
SIGNATURE_FILE = "signature"
KEY_ENV = "TRIAGE_BUNDLE_KEY"
#: The pickled model of format 1 bundles (refused by :func:`load_bundle`, read by convert).
LEGACY_MODEL_FILE = "model.joblib"
# the fine-tuned encoder (train.model: encoder), stored as ONNX + JSON beside the linear model
ENCODER_FILE = "encoder.onnx"
ENCODER_TOKENIZER_FILE = "encoder-tokenizer.json"
ENCODER_CONFIG_FILE = "encoder.json"
ENCODER_FILES = (ENCODER_FILE, ENCODER_TOKENIZER_FILE, ENCODER_CONFIG_FILE)
#: The files that make the model itself (their checksums make its version).
MODEL_FILES = (MODEL_FILE, ARRAYS_FILE, *ENCODER_FILES)
_PACKAGES = ("triage-ml", "scikit-learn", "numpy", "scipy", "pandas", "spacy")


class BundleError(RuntimeError):
    """A bundle is missing, incomplete, tampered with, unsigned or signed with another key."""


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


def model_digest(checksums: dict[str, str]) -> str:
    """One sha256 for the model's files (a change in any of them is a new model version)."""
    lines = "".join(f"{n}:{checksums[n]}\n" for n in sorted(MODEL_FILES) if n in checksums)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


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
        digest = model_digest(self.metadata.get("files", {}))[:12]
        name = self.version_label or self.metadata.get("name", "triage")
        return f"{name} (sha256:{digest})"

    @property
    def labels(self) -> list[str]:
        return list(self.triager.labels)


def _arrays_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


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
    state, arrays = triager_state(triager)
    files: dict[str, bytes] = {
        MODEL_FILE: json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        ARRAYS_FILE: _arrays_bytes(arrays),
        PLAYBOOK_FILE: yaml.safe_dump(playbook.model_dump(mode="json"), sort_keys=False).encode(
            "utf-8"
        ),
        PARAMS_FILE: yaml.safe_dump(params, sort_keys=False).encode("utf-8"),
    }
    encoder = triager.encoder
    if encoder is not None:
        files[ENCODER_FILE] = encoder.onnx_bytes
        files[ENCODER_TOKENIZER_FILE] = encoder.tokenizer_json.encode("utf-8")
        files[ENCODER_CONFIG_FILE] = json.dumps(encoder.config, indent=2, sort_keys=True).encode(
            "utf-8"
        )
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
        "files": {name: hashlib.sha256(raw).hexdigest() for name, raw in files.items()},
    }
    meta_bytes = json.dumps(metadata, indent=2, sort_keys=True, default=str).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, raw in files.items():
            (tmp / name).write_bytes(raw)
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


def _legacy_message(path: Path) -> str:
    return (
        f"{path}: this bundle was written by an older triage-ml (format 1: a pickled "
        f"{LEGACY_MODEL_FILE}), which is not loaded because unpickling a file can run any "
        "code. Retrain the model ('triage-ml train'), or, only if you trust where this bundle "
        f"came from, convert it: 'triage-ml convert {path} NEW_BUNDLE'"
    )


def _read_metadata(path: Path, key: str | None) -> tuple[dict[str, Any], bytes]:
    """The metadata (and its raw bytes), its signature checked when ``key`` is given."""
    meta_path = path / METADATA_FILE
    if not path.is_dir():
        raise BundleError(f"{path}: no bundle directory here (train one with 'triage-ml train')")
    if not meta_path.is_file():
        raise BundleError(f"{path}: not a bundle, {METADATA_FILE} is missing")
    meta_bytes = meta_path.read_bytes()
    try:
        metadata = json.loads(meta_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{meta_path}: unreadable metadata ({err})") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("files", {}), dict):
        raise BundleError(f"{meta_path}: not bundle metadata (a JSON object with 'files')")
    if key:
        sig_path = path / SIGNATURE_FILE
        if not sig_path.is_file():
            raise BundleError(f"{path}: bundle is not signed and {KEY_ENV} is set; refusing it")
        expected = _sign(meta_bytes, key)
        signature = sig_path.read_bytes().decode("ascii", errors="replace").strip()
        if not hmac.compare_digest(signature, expected):
            raise BundleError(f"{path}: signature does not match {KEY_ENV}; refusing the bundle")
    return metadata, meta_bytes


def _read_checked(path: Path, files: dict[str, Any], names: list[str]) -> dict[str, bytes]:
    """Each file read once, its sha256 checked on the bytes that are then used."""
    out = {}
    for name in names:
        digest = files.get(name)
        if not isinstance(digest, str):
            raise BundleError(f"{path}: metadata records no checksum for {name}")
        file = path / name
        if not file.is_file():
            raise BundleError(f"{path}: {name} is missing")
        raw = file.read_bytes()
        if not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), digest):
            raise BundleError(f"{path}: checksum of {name} does not match metadata.json")
        out[name] = raw
    return out


def _read_bundle(path: Path, key: str | None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Metadata and the verified bytes of every file a format 2 bundle is loaded from."""
    metadata, _ = _read_metadata(path, key)
    files = metadata.get("files") or {}
    version = metadata.get("format_version")
    if version == 1 or LEGACY_MODEL_FILE in files:
        raise BundleError(_legacy_message(path))
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {version!r} is not supported "
            f"(this triage-ml reads format {FORMAT_VERSION}); retrain the model"
        )
    names = [MODEL_FILE, ARRAYS_FILE, PLAYBOOK_FILE, PARAMS_FILE]
    names += [n for n in ENCODER_FILES if n in files]
    return metadata, _read_checked(path, files, names)


def verify_bundle(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """Check a bundle's files against its metadata (and signature); return the metadata."""
    path = Path(path)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    return _read_bundle(path, key)[0]


def read_arrays(raw: bytes, where: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive, refusing pickled (object) arrays and anything that
    is not an archive of plain ``.npy`` arrays."""
    import zlib

    unreadable = (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as err:  # a pickle: allow_pickle=False refuses it
        raise BundleError(f"{where}: refused ({err}); only numeric arrays are read") from None
    except unreadable as err:
        raise BundleError(f"{where}: unreadable array archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BundleError(f"{where}: not an .npz archive of arrays")
    with archive:
        try:
            return {name: archive[name] for name in archive.files}
        except ValueError as err:  # object arrays: allow_pickle=False refuses them
            raise BundleError(f"{where}: refused ({err}); only numeric arrays are read") from None
        except unreadable as err:
            raise BundleError(f"{where}: unreadable array archive ({err})") from None


def _parse_model(path: Path, data: dict[str, bytes]) -> Triager:
    try:
        state = parse_state(data[MODEL_FILE])
    except StateError as err:
        raise BundleError(f"{path / MODEL_FILE}: {err}") from None
    arrays = read_arrays(data[ARRAYS_FILE], str(path / ARRAYS_FILE))
    try:
        return from_state(state, arrays)
    except StateError as err:
        raise BundleError(f"{path / ARRAYS_FILE}: {err}") from None


def _parse_yaml(path: Path, name: str, raw: bytes) -> Any:
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise BundleError(f"{path / name}: unreadable YAML ({err})") from None


def load_bundle(
    path: str | Path, key: str | None = None, expected_sha256: dict[str, str] | None = None
) -> Bundle:
    """Verify, then load a bundle. ``expected_sha256`` (e.g. recorded on an MLflow run) must
    match the bundle's own checksums too."""
    path = Path(path)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    metadata, data = _read_bundle(path, key)
    if expected_sha256:
        for name, digest in expected_sha256.items():
            if metadata["files"].get(name) != digest:
                raise BundleError(
                    f"{path}: {name} is not the artifact that was logged (sha256 differs)"
                )
    triager = _parse_model(path, data)
    if ENCODER_FILE in data:
        triager.encoder = _encoder_from(path, data)
    elif triager.stack_ is not None:
        raise BundleError(f"{path}: an encoder model without its {ENCODER_FILE}; retrain it")
    playbook = parse_playbook(
        _parse_yaml(path, PLAYBOOK_FILE, data[PLAYBOOK_FILE]), str(path / PLAYBOOK_FILE)
    )
    return Bundle(triager=triager, playbook=playbook, metadata=metadata, path=path)


def _encoder_from(path: Path, data: dict[str, bytes]):
    """The encoder's ONNX graph, tokenizer and config, from their verified bytes."""
    from triage_ml._extras import require

    require("onnxruntime", "encoder", "scoring an encoder model")
    require("tokenizers", "encoder", "scoring an encoder model")
    from triage_ml.model.encoder.runtime import EncoderRuntime

    try:
        config = json.loads(data[ENCODER_CONFIG_FILE])
        tokenizer = data[ENCODER_TOKENIZER_FILE].decode("utf-8")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: unreadable encoder files ({err})") from None
    if not isinstance(config, dict):
        raise BundleError(f"{path / ENCODER_CONFIG_FILE}: not a JSON object")
    threads = (config.get("settings") or {}).get("threads")
    if threads is not None and not isinstance(threads, int):
        raise BundleError(f"{path / ENCODER_CONFIG_FILE}: settings.threads must be a number")
    return EncoderRuntime(data[ENCODER_FILE], tokenizer, config, threads=threads)


# ---------------------------------------------------------------------------------------------
# format 1 (pickle) -> format 2, for bundles the user trusts

#: Where the pickled classes of bundles written before the subpackage layout now live.
_LEGACY_MODULES = {
    "triage_ml.normalise": "triage_ml.model.normalise",
    "triage_ml.features": "triage_ml.model.features",
    "triage_ml.embeddings": "triage_ml.model.embeddings",
}
#: Metadata that save_bundle writes itself; everything else carries over on conversion.
_OWN_METADATA = {
    "format_version",
    "name",
    "created_at",
    "labels",
    "exclusive",
    "thresholds",
    "abstain_band",
    "has_urgency_model",
    "model_family",
    "packages",
    "signed",
    "files",
}


def _alias_legacy_modules() -> None:
    """Let bundles pickled under the old flat module names find their classes (same code)."""
    import importlib
    import sys

    for old, new in _LEGACY_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


def convert_bundle(old: str | Path, new: str | Path, key: str | None = None) -> Path:
    """Rewrite a format 1 bundle (pickled ``model.joblib``) as a format 2 bundle (no pickle).

    This UNPICKLES the old model, which runs whatever code the file holds: call it only for
    a bundle you trust (one you trained yourself). Its checksums are checked first (and its
    signature, when it is signed and ``key`` is given); the new bundle is signed with ``key``
    (default: ``$TRIAGE_BUNDLE_KEY``). Predictions of the converted bundle are the same.
    """
    import joblib

    old, new = Path(old), Path(new)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    if old.resolve() == new.resolve():
        raise BundleError(f"{new}: write the converted bundle to another folder than {old}")
    signed = (old / SIGNATURE_FILE).is_file()
    metadata, _ = _read_metadata(old, key if signed else None)
    files = metadata.get("files") or {}
    if LEGACY_MODEL_FILE not in files:
        if metadata.get("format_version") == FORMAT_VERSION:
            raise BundleError(f"{old}: already a format {FORMAT_VERSION} bundle; nothing to do")
        raise BundleError(f"{old}: no {LEGACY_MODEL_FILE} recorded in its metadata")
    names = [LEGACY_MODEL_FILE, PLAYBOOK_FILE, PARAMS_FILE]
    names += [n for n in ENCODER_FILES if n in files]
    data = _read_checked(old, files, names)
    _alias_legacy_modules()
    triager = joblib.load(io.BytesIO(data[LEGACY_MODEL_FILE]))
    if not isinstance(triager, Triager):
        raise BundleError(f"{old}: {LEGACY_MODEL_FILE} does not hold a Triager")
    if ENCODER_FILE in data:
        triager.encoder = _encoder_from(old, data)
    playbook = parse_playbook(
        _parse_yaml(old, PLAYBOOK_FILE, data[PLAYBOOK_FILE]), str(old / PLAYBOOK_FILE)
    )
    params = _parse_yaml(old, PARAMS_FILE, data[PARAMS_FILE]) or {}
    extra = {k: v for k, v in metadata.items() if k not in _OWN_METADATA}
    extra["converted_from"] = {
        "format_version": metadata.get("format_version"),
        "created_at": metadata.get("created_at"),
        LEGACY_MODEL_FILE: files[LEGACY_MODEL_FILE],
    }
    return save_bundle(new, triager, playbook, params, extra_metadata=extra, key=key)
