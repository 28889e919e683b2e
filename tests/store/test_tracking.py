"""MLflow tracking, registry and the pyfunc model, against real MLflow stores.

A SQLite store in a temporary folder covers the round trip (log, register, promote, load,
roll back, tamper); one test starts a real ``mlflow server`` and one ``mlflow models serve``.
No test retrains: the session's bundle is logged as if ``triage-ml train`` had produced it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract import sha256_file
from triage_ml.store import registry, tracking
from triage_ml.store.bundle import (
    ARRAYS_FILE,
    MODEL_FILE,
    BundleError,
    load_bundle,
    save_bundle,
)

REPO = Path(__file__).resolve().parents[2]
MLFLOW = Path(sys.executable).with_name("mlflow")
IN_CI = os.environ.get("CI", "").lower() == "true"


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def holdout(params) -> pd.DataFrame:
    from triage_ml.contract.validation import validate_posts
    from triage_ml.synthetic.generator import generate_sample

    frame, _ = validate_posts(
        generate_sample(150, seed=11), label_set=params.labels.names, require_labels=True
    )
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory, triager, params, canonical_history, holdout):
    """A bundle with the metadata training writes, plus its plots: what ``train`` logs."""
    from triage_ml.contract.digest import fingerprint
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.decide.scoring import score_posts
    from triage_ml.evaluation.metrics import evaluate
    from triage_ml.evaluation.plots import write_plots
    from triage_ml.store.bundle import Bundle

    root = tmp_path_factory.mktemp("trained")
    playbook = load_playbook()
    preds = score_posts(Bundle(triager, playbook, {}), holdout, validated=True)
    metrics = evaluate(preds, holdout)
    out = save_bundle(
        root / "triage",
        triager,
        playbook,
        params.model_dump(mode="json"),
        extra_metadata={
            "data_fingerprint": fingerprint(canonical_history),
            "data_source": "data/sample.csv",
            "n_train": len(canonical_history),
            "n_test": len(holdout),
            "split": "time-ordered (latest posts held out)",
            "metrics": metrics,
            "training_seconds": 1.5,
        },
        key="",
    )
    write_plots(preds, holdout, root / "plots")
    return out, root / "plots", metrics


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def logged(trained, store) -> tracking.TrackedRun:
    bundle_dir, plots, _ = trained
    return tracking.log_bundle(bundle_dir, plots_dir=plots, tracking_uri=store, register=True)


@pytest.fixture
def mlflow_env(monkeypatch, store):
    """Point mlflow's own API (``pyfunc.load_model``) at the test store."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(store)
    yield mlflow
    mlflow.set_tracking_uri(None)


def _posts(holdout: pd.DataFrame, n: int = 40) -> pd.DataFrame:
    """Posts as a caller sends them: contract columns, ISO timestamps, no labels."""
    posts = holdout.head(n)[
        ["id", "text", "created_at", "channel", "author_followers", "author_verified"]
    ].copy()
    posts["created_at"] = posts["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    posts["author_followers"] = posts["author_followers"].astype(float)
    posts["author_verified"] = posts["author_verified"].astype(bool)
    return posts.reset_index(drop=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """Stop the whole process group (the server's workers too)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ------------------------------------------------------------------------------ unit tests


def test_importing_tracking_and_cli_does_not_import_mlflow():
    code = (
        "import sys, triage_ml.store.tracking, triage_ml.store.registry, triage_ml.cli, "
        "triage_ml.decide.scoring; "
        "assert 'mlflow' not in sys.modules, 'mlflow imported at import time'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"train": {"classifier": {"C": 8.0}}}, {"train.classifier.C": "8.0"}),
        ({"labels": {"names": ["a", "b"]}}, {"labels.names": '["a", "b"]'}),
        ({"train": {"playbook": None}}, {"train.playbook": "null"}),
        ({"data": {"path": "data/x.csv"}}, {"data.path": "data/x.csv"}),
        ({"labels": {"re-order?": True}}, {"labels.re-order_": "true"}),
    ],
)
def test_params_are_flattened_to_strings(params, expected):
    assert tracking.params_to_log(params) == expected


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"macro_f1": 0.8}, {"macro_f1": 0.8}),
        ({"per_label": {"complaint": {"f1": 0.9}}}, {"per_label.complaint.f1": 0.9}),
        ({"per_label": {"x": {"pr_auc": None}}}, {}),
        ({"n_posts": 10}, {"n_posts": 10.0}),
        ({"flag": True, "name": "x", "nan": float("nan")}, {}),
    ],
)
def test_only_numeric_metrics_are_logged(metrics, expected):
    assert tracking.metrics_to_log(metrics) == expected


def test_default_store_is_sqlite_in_the_project_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    uri = tracking.resolve_tracking_uri()
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert tracking._artifact_location(uri) == (tmp_path.resolve() / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert tracking._artifact_location("http://127.0.0.1:5000") is None
    assert tracking.resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/triage", "triage@champion", ""])
def test_load_registered_rejects_uris_it_cannot_verify(uri, store):
    with pytest.raises(BundleError, match="models:/NAME@ALIAS"):
        registry.load_registered(uri, store)


# ---------------------------------------------------------------------- SQLite round trip


def test_run_records_params_metrics_plots_and_checksums(logged, trained, store):
    from mlflow import MlflowClient

    bundle_dir, _, metrics = trained
    run = MlflowClient(store).get_run(logged.run_id)
    params, tags = run.data.params, run.data.tags
    assert params["train.classifier.C"] == "8.0"
    assert params["train.calibration.cv"] == "3"
    assert params["labels.names"] == json.dumps(list(load_bundle(bundle_dir).labels))
    assert len(params["data.fingerprint"]) >= 16
    for name in ("model.json", "model.npz", "playbook.yaml", "params.yaml", "metadata.json"):
        assert params[f"bundle.sha256.{name}"] == sha256_file(bundle_dir / name)
    assert run.data.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert "per_label.complaint.f1" in run.data.metrics
    if tracking.git_state(tracking.project_root()):
        assert len(tags["mlflow.source.git.commit"]) == 40
    assert tags["triage.model_version"].startswith("triage (sha256:")
    artifacts = {a.path for a in MlflowClient(store).list_artifacts(logged.run_id)}
    assert {"plots", "metrics.json"} <= artifacts
    plots = {a.path for a in MlflowClient(store).list_artifacts(logged.run_id, "plots")}
    assert {"plots/confusion.png", "plots/precision_recall.png", "plots/calibration.png"} <= plots


def test_logged_model_has_signature_and_a_made_up_example(logged, store, mlflow_env):
    from triage_ml.store.pyfunc import example_posts

    info = mlflow_env.models.get_model_info(logged.model_uri)
    inputs = {c.name: c.required for c in info.signature.inputs.inputs}
    assert inputs["id"] and inputs["text"] and not inputs["created_at"]
    outputs = [c.name for c in info.signature.outputs.inputs]
    assert outputs[:3] == ["id", "p_complaint", "is_complaint"]
    assert outputs[-1] == "model_version"
    local = Path(mlflow_env.artifacts.download_artifacts(logged.model_uri))
    example = json.loads((local / "input_example.json").read_text())
    texts = [row[example["columns"].index("text")] for row in example["data"]]
    assert texts == list(example_posts()["text"])
    requirements = (local / "requirements.txt").read_text()
    assert "triage-ml==" in requirements and "scikit-learn==" in requirements
    # logged from code: no pickled object anywhere in the logged model
    assert not [p for p in local.rglob("*") if p.suffix in (".pkl", ".joblib", ".pickle")]
    flavor = info.flavors["python_function"]
    assert Path(flavor["model_code_path"]).name == "pyfunc_model.py"


def test_register_promote_load_and_roll_back(logged, trained, store, holdout):
    from triage_ml.decide.scoring import score_posts

    bundle_dir, plots, _ = trained
    assert logged.version == "1"
    assert registry.promote("1", tracking_uri=store) is None
    champion = registry.load_registered("models:/triage@champion", store)
    assert champion.model_version.startswith("triage@1 (sha256:")
    assert champion.path is None  # the download was temporary

    local = load_bundle(bundle_dir, key="")
    posts = _posts(holdout)
    got = score_posts(champion, posts).flat()
    want = score_posts(local, posts).flat()
    pd.testing.assert_frame_equal(
        got.drop(columns="model_version"), want.drop(columns="model_version")
    )

    second = tracking.log_bundle(bundle_dir, plots_dir=plots, tracking_uri=store, register=True)
    assert second.version == "2"
    assert registry.promote(2, tracking_uri=store) == "1"
    assert registry.registered_version("models:/triage@champion", store) == "2"
    assert registry.load_registered("models:/triage@champion", store).model_version.startswith(
        "triage@2 "
    )
    assert registry.promote("1", tracking_uri=store) == "2"  # rollback
    listed = {v.version: v for v in registry.list_versions(tracking_uri=store)}
    assert listed["1"].aliases == ["champion"] and listed["2"].aliases == []
    assert listed["1"].metrics["macro_f1"] > 0
    keep = Path(store.removeprefix("sqlite:///")).parent / "kept"
    kept = registry.load_registered("models:/triage/2", store, dst_path=keep)
    assert kept.path is not None and (kept.path / MODEL_FILE).is_file()


def test_unknown_alias_and_version_are_clear_errors(logged, store):
    with pytest.raises(BundleError, match="triage-ml promote"):
        registry.load_registered("models:/triage@staging", store)
    with pytest.raises(BundleError, match="no version 99 .*registered versions: "):
        registry.promote("99", tracking_uri=store)


def test_pyfunc_gives_the_bundle_predictions(logged, trained, holdout, mlflow_env):
    from triage_ml.decide.scoring import score_posts

    local = load_bundle(trained[0], key="")
    posts = _posts(holdout)
    want = score_posts(local, posts).flat()

    by_run = mlflow_env.pyfunc.load_model(logged.model_uri).predict(posts)
    pd.testing.assert_frame_equal(by_run, want)

    by_version = mlflow_env.pyfunc.load_model("models:/triage/1").predict(posts)
    assert (by_version["model_version"] == local.model_version.replace("triage", "triage@1")).all()
    pd.testing.assert_frame_equal(
        by_version.drop(columns="model_version"), want.drop(columns="model_version")
    )


def test_pyfunc_reports_contract_errors_as_invalid_input(logged, holdout, mlflow_env):
    from mlflow.exceptions import MlflowException

    model = mlflow_env.pyfunc.load_model(logged.model_uri)
    posts = _posts(holdout, 3)
    posts.loc[1, "text"] = "   "
    with pytest.raises(MlflowException, match="text") as err:
        model.predict(posts)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_tampered_artifact_is_refused(trained, store, mlflow_env):
    """A model.npz swapped in the artifact store, with metadata.json rewritten to match, is
    accepted by the bundle's own check but refused against the checksums on the MLflow run."""
    from mlflow import MlflowClient

    bundle_dir, _, _ = trained
    run = tracking.log_bundle(bundle_dir, tracking_uri=store, register=True, model_name="tamper")
    model_id = run.model_uri.removeprefix("models:/")
    location = MlflowClient(store).get_logged_model(model_id).artifact_location
    stored = Path(location.removeprefix("file://")) / "artifacts" / "triage"
    assert stored.is_dir(), f"artifact store layout changed: {location}"

    # an attacker with write access to the artifact store, not to the tracking database
    with np.load(stored / ARRAYS_FILE, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["thresholds"] = arrays["thresholds"] * 0 + 0.01
    np.savez_compressed(stored / ARRAYS_FILE, **arrays)
    meta = json.loads((stored / "metadata.json").read_text())
    meta["files"][ARRAYS_FILE] = sha256_file(stored / ARRAYS_FILE)
    (stored / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    load_bundle(stored, key="")  # self-consistent: the bundle check alone cannot tell

    with pytest.raises(BundleError, match="not the artifact that was logged"):
        registry.load_registered(f"models:/tamper/{run.version}", store)
    with pytest.raises(BundleError, match="not the artifact that was logged"):
        mlflow_env.pyfunc.load_model(f"models:/tamper/{run.version}")


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_registered_model_with_a_pickled_python_model_is_refused(trained, store, tmp_path):
    """Someone with write access to the artifact store adds a python_model.pkl and points the
    MLmodel at it: the models:/ load path refuses the model and runs nothing."""
    import pickle

    from mlflow import MlflowClient

    bundle_dir, _, _ = trained
    run = tracking.log_bundle(bundle_dir, tracking_uri=store, register=True, model_name="pkl")
    model_id = run.model_uri.removeprefix("models:/")
    location = MlflowClient(store).get_logged_model(model_id).artifact_location
    model_dir = Path(location.removeprefix("file://"))
    assert (model_dir / "MLmodel").is_file(), f"artifact store layout changed: {location}"
    assert not list(model_dir.rglob("*.pkl"))  # logged from code
    marker = tmp_path / "PWNED"
    (model_dir / "python_model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    import yaml

    spec = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = spec["flavors"]["python_function"]
    flavor.pop("model_code_path", None)
    flavor["python_model"] = "python_model.pkl"
    (model_dir / "MLmodel").write_text(yaml.safe_dump(spec))

    with pytest.raises(BundleError, match="python_model.pkl, a pickled Python object"):
        registry.load_registered(f"models:/pkl/{run.version}", store)
    assert not marker.exists(), "the payload ran"


def test_cli_register_promote_and_versions(logged, store):
    from typer.testing import CliRunner

    from triage_ml.cli import app

    runner = CliRunner()
    env = {"MLFLOW_TRACKING_URI": store}
    out = runner.invoke(app, ["register", logged.run_id, "--name", "cli"], env=env)
    assert out.exit_code == 0, out.output
    assert "cli version 1" in out.output
    out = runner.invoke(app, ["promote", "1", "--name", "cli"], env=env)
    assert out.exit_code == 0, out.output
    assert "cli@champion: nothing -> version 1" in out.output
    out = runner.invoke(app, ["versions", "--name", "cli"], env=env)
    assert out.exit_code == 0 and "champion" in out.output
    out = runner.invoke(app, ["promote", "5", "--name", "cli"], env=env)
    assert out.exit_code == 2 and "no version 5" in out.output
    out = runner.invoke(app, ["register", "not-a-run", "--name", "cli"], env=env)
    assert out.exit_code == 2


def test_cli_train_tracks_by_default_and_never_needs_mlflow(tmp_path, monkeypatch):
    """Default: the run is logged. --no-track / TRIAGE_TRACKING=0: MLflow is not touched. A
    broken store only warns: the bundle is what counts."""
    from typer.testing import CliRunner

    from triage_ml import cli
    from triage_ml.synthetic.generator import generate_sample

    generate_sample(240, seed=5).to_csv(tmp_path / "posts.csv", index=False)
    (tmp_path / "params.yaml").write_text(
        "train:\n  calibration:\n    cv: 2\n  features:\n    char_ngrams: [2, 3]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["train", "--data", "posts.csv", "--params", "params.yaml"]
    runner = CliRunner()

    out = runner.invoke(cli.app, [*args, "--out", "models/a"], env={"TRIAGE_TRACKING": "1"})
    assert out.exit_code == 0, out.output
    assert (tmp_path / "mlflow.db").is_file() and "mlflow run" in out.output

    def refuse(*_, **__):
        raise AssertionError("tracking was called")

    monkeypatch.setattr(tracking, "log_bundle", refuse)
    out = runner.invoke(cli.app, [*args, "--out", "models/b"], env={"TRIAGE_TRACKING": "0"})
    assert out.exit_code == 0, out.output
    assert (tmp_path / "models/b/metadata.json").is_file()

    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    broken = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/posts.csv/x.db"}  # a file, not a dir
    out = runner.invoke(cli.app, [*args, "--out", "models/c", "--track"], env=broken)
    assert out.exit_code == 0, out.output
    assert "not logged to MLflow" in out.output and (tmp_path / "models/c").is_dir()
    out = runner.invoke(cli.app, [*args, "--out", "models/d", "--no-track", "--register"])
    assert out.exit_code == 2 and "--register needs tracking" in out.output


# ------------------------------------------------------------------- real server processes


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_mlflow_server_run_version_and_alias(tmp_path, trained):
    from mlflow import MlflowClient

    if not MLFLOW.exists():
        pytest.fail("mlflow executable missing") if IN_CI else pytest.skip("no mlflow executable")
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=tmp_path,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        if not _wait_http(f"{uri}/health", proc, 180):
            message = (
                f"mlflow server did not answer: {(tmp_path / 'server.log').read_text()[-2000:]}"
            )
            pytest.fail(message) if IN_CI else pytest.skip(message)
        bundle_dir, plots, metrics = trained
        run = tracking.log_bundle(bundle_dir, plots_dir=plots, tracking_uri=uri, register=True)
        assert registry.promote(run.version, tracking_uri=uri) is None

        client = MlflowClient(uri)
        got = client.get_run(run.run_id)
        assert got.info.status == "FINISHED"
        assert got.data.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"])
        assert client.get_model_version("triage", run.version).run_id == run.run_id
        assert client.get_model_version_by_alias("triage", "champion").version == run.version
        bundle = registry.load_registered("models:/triage@champion", uri)
        assert bundle.model_version.startswith(f"triage@{run.version} (sha256:")
        # artifacts went through the server (proxied), not to a path on this side
        assert any((tmp_path / "artifacts").rglob(MODEL_FILE))
    finally:
        _stop(proc)
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mlflow_models_serve_local_env(tmp_path, logged, store, holdout):
    """``mlflow models serve --env-manager local`` answers /invocations with the flat form."""
    if not MLFLOW.exists():
        pytest.fail("mlflow executable missing") if IN_CI else pytest.skip("no mlflow executable")
    registry.promote("1", tracking_uri=store)
    port = _free_port()
    # mlflow execs `uvicorn` by name: the venv must be on PATH (as when it is activated)
    path = f"{MLFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PATH": path}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            str(MLFLOW),
            "models",
            "serve",
            "-m",
            "models:/triage@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=tmp_path,
    )
    try:
        if not _wait_http(f"http://127.0.0.1:{port}/ping", proc, 180):
            pytest.fail(
                f"mlflow models serve did not start: {(tmp_path / 'serve.log').read_text()}"
            )
        posts = _posts(holdout, 5)
        body = json.dumps({"dataframe_records": posts.to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            rows = json.loads(resp.read())["predictions"]
        assert [r["id"] for r in rows] == list(posts["id"])
        assert rows[0]["model_version"].startswith("triage@1 (sha256:")
        assert {"p_complaint", "priority_tier", "respond_by", "reasons"} <= set(rows[0])

        posts.loc[0, "text"] = ""
        bad = json.dumps({"dataframe_records": posts.to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=bad,
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=60)
        assert err.value.code == 400
        assert "text" in json.loads(err.value.read())["message"]
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(tmp_path / "mlruns", ignore_errors=True)
