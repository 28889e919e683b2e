"""The service loads no model it cannot verify, and a hostile model file runs nothing.

Without ``TRIAGE_BUNDLE_KEY`` the service refuses every bundle unless ``TRIAGE_ALLOW_UNSIGNED``
is on. With it on, a bundle folder rewritten by someone who can write it (the checksums in
metadata.json updated to match) is refused by the model watcher and by an admin reload: the
old model keeps serving and the payload, which would create a marker file if it were ever
unpickled, never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.loader import ModelHolder, source_for
from serve.settings import Settings, get_settings

ADMIN = "adm-" + "d" * 30


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _rewrite(bundle: Path, name: str, raw: bytes, **metadata) -> None:
    (bundle / name).write_bytes(raw)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["files"][name] = hashlib.sha256(raw).hexdigest()
    meta.update(metadata)
    (bundle / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def _legacy_pickle(bundle: Path, marker: Path) -> None:
    _rewrite(bundle, "model.joblib", pickle.dumps(Payload(marker)), format_version=1)


def _object_array(bundle: Path, marker: Path) -> None:
    with np.load(bundle / "model.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["coef"] = np.array([Payload(marker)], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _rewrite(bundle, "model.npz", buffer.getvalue())


def _json_class(bundle: Path, marker: Path) -> None:
    state = json.loads((bundle / "model.json").read_text())
    state["features"]["py/reduce"] = [{"py/function": "builtins.open"}, [str(marker), "w"]]
    _rewrite(bundle, "model.json", json.dumps(state).encode())


HOSTILE = {
    "legacy pickle": (_legacy_pickle, "triage-ml convert"),
    "npz object array": (_object_array, "only numeric arrays"),
    "json with a class": (_json_class, "Extra inputs are not permitted"),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture
def model_root(tmp_path: Path, bundle_dir: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    return root


def _settings(root: Path, **overrides) -> Settings:
    values = {
        "model_root": root,
        "admin_keys": (ADMIN,),
        "reload_interval": 0,
        "gc_freeze": False,
        **overrides,
    }
    return Settings(**values)


def _client(settings: Settings) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


def test_without_a_key_the_service_refuses_unsigned_bundles(model_root: Path) -> None:
    with _client(_settings(model_root)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "TRIAGE_ALLOW_UNSIGNED=true" in r.json()["detail"]
        assert "TRIAGE_BUNDLE_KEY" in r.json()["detail"]
    with _client(_settings(model_root, allow_unsigned=True)) as c:
        assert c.get("/readyz").status_code == 200


def test_triage_ml_serve_says_what_to_set(model_root: Path) -> None:
    from serve.server import configure
    from triage_ml.contract import ConfigError

    saved = dict(os.environ)
    try:
        with pytest.raises(ConfigError, match="TRIAGE_ALLOW_UNSIGNED=true"):
            configure(model=str(model_root / "triage"))
        os.environ["TRIAGE_ALLOW_UNSIGNED"] = "true"
        assert configure(model=str(model_root / "triage")).allow_unsigned is True
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_the_watcher_refuses_a_hostile_bundle_and_keeps_serving(model_root, tmp_path, case):
    holder = ModelHolder(source_for(_settings(model_root, allow_unsigned=True)))
    assert holder.reload().loaded
    before = holder.current.version
    marker = tmp_path / "PWNED"
    HOSTILE[case][0](model_root / "triage", marker)

    async def watch_until_refused() -> None:
        watcher = asyncio.create_task(holder.watch(0.05))
        for _ in range(400):  # the watcher's own loop picks the change up
            await asyncio.sleep(0.05)
            if holder.last_error is not None:
                break
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    asyncio.run(watch_until_refused())
    assert holder.last_error is not None and HOSTILE[case][1] in holder.last_error
    assert holder.current.version == before
    assert not marker.exists(), "the payload ran"


def test_an_admin_reload_refuses_a_hostile_bundle(model_root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    with _client(_settings(model_root, allow_unsigned=True)) as c:
        _object_array(model_root / "triage", marker)
        r = c.post("/v1/admin/reload", headers={"X-API-Key": ADMIN})
        assert r.status_code == 409
        assert "only numeric arrays" in r.json()["detail"]
        assert c.get("/readyz").status_code == 200  # the old model still serves
    assert not marker.exists(), "the payload ran"
