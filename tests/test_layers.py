"""The layers are a checked contract (import-linter, configured in pyproject.toml).

The repository keeps every contract, and each rule really bites: one import that breaks it,
added to a copy of the code, makes ``lint-imports`` fail and name the offending import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("src", "serve", "benchmarks")

pytestmark = pytest.mark.skipif(
    not LINT.exists(), reason="lint-imports is not installed (the 'dev' extra)"
)


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache", str(REPO / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_layer_contract() -> None:
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 broken" in out.stdout


@pytest.fixture(scope="module")
def code_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    for name in PACKAGES:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a lower layer importing a higher one
        (
            "src/triage_ml/contract/params.py",
            "from triage_ml.model import train",
            "triage_ml.contract is not allowed to import triage_ml.model",
        ),
        (
            "src/triage_ml/decide/scoring.py",
            "from triage_ml.store.bundle import Bundle",
            "triage_ml.decide is not allowed to import triage_ml.store",
        ),
        (
            "src/triage_ml/store/bundle.py",
            "from triage_ml.evaluation import metrics",
            "triage_ml.store is not allowed to import triage_ml.evaluation",
        ),
        (
            "src/triage_ml/review/tables.py",
            "import serve.app",
            "triage_ml.review is not allowed to import serve",
        ),
        (
            "serve/app.py",
            "from triage_ml import cli",
            "serve is not allowed to import triage_ml.cli",
        ),
        # siblings in one layer stay independent
        (
            "src/triage_ml/model/train.py",
            "from triage_ml.synthetic import generator",
            "triage_ml.model is not allowed to import triage_ml.synthetic",
        ),
        (
            "benchmarks/serving.py",
            "from triage_ml.cli import app",
            "benchmarks is not allowed to import triage_ml.cli",
        ),
        # the edges use a subpackage's public names, not its modules
        (
            "serve/loader.py",
            "from triage_ml.store.bundle import load_bundle",
            "serve is not allowed to import triage_ml.store.bundle",
        ),
        (
            "src/triage_ml/cli/train.py",
            "from triage_ml.store import tracking",
            "triage_ml.cli is not allowed to import triage_ml.store.tracking",
        ),
    ],
)
def test_an_import_against_the_layers_breaks_the_contract(code_copy, module, line, broken) -> None:
    path = code_copy / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(f"{original}\n{line}  # added by the test\n", encoding="utf-8")
        out = _lint(code_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert out.returncode == 1, out.stdout + out.stderr
    assert broken in " ".join(out.stdout.split()), out.stdout
