"""One MLflow tracking server for several data scientists: a real ``mlflow server`` (SQLite
backend store, artifacts under a local folder served by the server) that ``triage-ml train
--tracking-uri`` logs and registers to, and that ``models:/`` URIs load from."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("mlflow", reason="the 'pipeline' extra (MLflow) is not installed")

from triage_ml.cli import app  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [
            str(mlflow_cli),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "server.log").open("w"),
        start_new_session=True,  # its own process group: stopped with all its workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, "mlflow server did not answer /health"
                time.sleep(1)
        yield url, root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_train_registers_on_a_shared_server_and_models_uris_load(
    server, bundle_dir, tmp_path, monkeypatch
) -> None:
    import mlflow

    from triage_ml.store import list_versions, load_registered, log_bundle

    url, root = server
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runner = CliRunner()
    data = tmp_path / "history.csv"
    assert runner.invoke(app, ["sample", "--rows", "400", "--out", str(data)]).exit_code == 0
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"calibration": {"cv": 2}}}))
    # data scientist A trains and registers through the server
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--params",
            str(params),
            "--out",
            str(tmp_path / "models" / "a"),
            "--tracking-uri",
            url,
            "--register",
        ],
    )
    assert result.exit_code == 0, result.output
    # data scientist B, elsewhere, logs another model to the same server
    log_bundle(bundle_dir, tracking_uri=url, register=True, run_name="scientist-b")

    versions = {v.version: v for v in list_versions(tracking_uri=url)}
    assert set(versions) == {"1", "2"}
    # the artifacts went through the server into its artifact folder, not a client's disk
    assert list((root / "artifacts").rglob("metadata.json"))
    assert not (tmp_path / "mlartifacts").exists()

    first = load_registered("models:/triage/1", tracking_uri=url)
    assert first.model_version.startswith("triage@1 ")
    mlflow.set_tracking_uri(url)
    try:
        model = mlflow.pyfunc.load_model("models:/triage/2")
    finally:
        mlflow.set_tracking_uri(None)
    posts = pd.DataFrame({"id": ["p-1"], "text": ["Still waiting for my refund!!"]})
    flat = model.predict(posts)
    assert list(flat["id"]) == ["p-1"] and flat["model_version"][0].startswith("triage@2 ")
