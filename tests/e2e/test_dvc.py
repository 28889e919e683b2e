"""The DVC pipeline end to end, in a throwaway copy of the project (small sample, offline).

What a data scientist does on a fresh clone: ``dvc repro`` (every stage runs, metrics and plots
appear, the train stage logs an MLflow run in the project's own SQLite store), then an
experiment with one parameter changed (only train and evaluate re-run) and
``dvc metrics diff`` / ``dvc params diff`` to compare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DVC = VENV_BIN / "dvc"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _project_files() -> list[str]:
    """Tracked files plus new ones not yet committed (never ignored ones: data, models)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.pop("TRIAGE_TRACKING", None)
    env.update(
        DVC_NO_ANALYTICS="1",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # as with the venv activated
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git repository holding a copy of the project with a small sample in params.yaml."""
    if not DVC.exists():
        pytest.fail(f"dvc is a core dependency but {DVC} is missing")
    root = tmp_path_factory.mktemp("project")
    for rel in _project_files():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["sample"]["rows"] = 400
    params["train"]["calibration"]["cv"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _env()
    _run(["git", "init", "-q"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-q", "-m", "copy"], root, env)
    return root


@pytest.fixture(scope="module")
def reproduced(project) -> tuple[Path, str]:
    """The project after its first ``dvc repro`` (every test that needs a baseline uses this,
    so each one runs alone as well as after the others)."""
    return project, _run([str(DVC), "repro"], project, _env())


def test_repro_runs_every_stage_and_tracks_the_run(reproduced):
    project, out = reproduced
    env = _env()
    for stage in ("sample", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out

    metrics = json.loads((project / "eval/metrics.json").read_text())
    assert metrics["n_posts"] == 60 and 0 < metrics["macro_f1"] <= 1
    for plot in ("confusion.png", "precision_recall.png", "calibration.png"):
        assert (project / "eval" / plot).stat().st_size > 1000
    assert (project / "models/triage/metadata.json").is_file()
    assert "up to date" in _run([str(DVC), "status"], project, env)

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("triage").experiment_id])
    assert len(runs) == 1
    assert runs[0].data.params["sample.rows"] == "400"
    assert runs[0].data.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert len(runs[0].data.tags["mlflow.source.git.commit"]) == 40
    assert any((project / "mlartifacts").rglob("model.npz"))

    _run(["git", "add", "dvc.lock", "eval/metrics.json"], project, env)
    _run(["git", "commit", "-q", "-m", "baseline"], project, env)
    shown = json.loads(_run([str(DVC), "metrics", "show", "--json"], project, env).strip())
    assert shown  # metrics are readable by DVC


def test_experiment_changes_one_param_and_reruns_only_what_reads_it(reproduced):
    project, _ = reproduced
    env = _env()
    changed = ["git", "status", "--porcelain", "dvc.lock", "eval/metrics.json"]
    if _run(changed, project, env).strip():  # the baseline, unless the repro test committed it
        _run(["git", "add", "dvc.lock", "eval/metrics.json"], project, env)
        _run(["git", "commit", "-q", "-m", "baseline"], project, env)
    env["TRIAGE_TRACKING"] = "0"  # and the switch: no new MLflow run
    out = _run([str(DVC), "exp", "run", "-S", "train.classifier.C=0.5"], project, env)
    assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out
    assert "Running stage 'sample'" not in out

    diff = json.loads(_run([str(DVC), "metrics", "diff", "--json"], project, env).strip())
    assert "macro_f1" in diff["eval/metrics.json"]
    params = json.loads(_run([str(DVC), "params", "diff", "--json"], project, env).strip())
    changed = params["params.yaml"]["train.classifier.C"]
    assert (changed["old"], changed["new"]) == (8.0, 0.5)
    shown = _run([str(DVC), "exp", "show", "--no-pager", "--csv"], project, env)
    assert "0.5" in shown

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert len(client.search_runs([client.get_experiment_by_name("triage").experiment_id])) == 1
