"""What a user of the core install gets: a fresh venv with ``pip install triage-ml`` and no
extra imports the package, answers every command's ``--help``, trains from a file and scores a
bundle; a command that needs an extra says which one in one line (exit 2, no traceback).

Also the setup script's contract: only its own progress lines, the tools' output in a log that
is shown when a step fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from triage_ml._extras import EXTRA_MODULES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _copy_project(dst: Path) -> Path:
    """The files a wheel is built from, without the checkout's build leftovers."""
    dst.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dst / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("src", "serve"):
        shutil.copytree(REPO / name, dst / name, ignore=skip)
    return dst


def _run(args, cwd: Path, timeout: int = 300, env: dict | None = None):
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TRIAGE_TRACKING": "1", **(env or {})},
    )


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding the core install only (pip's cache keeps this quick)."""
    root = tmp_path_factory.mktemp("core-install")
    project = _copy_project(root / "project")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    out = _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", project],
        cwd=root,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return venv / "bin"


# what a core dependency brings along anyway
COMES_WITH_CORE = {"jinja2": "spaCy depends on it"}


def test_the_core_install_has_no_extra(core, tmp_path) -> None:
    modules = sorted({m for mods in EXTRA_MODULES.values() for m in mods} - set(COMES_WITH_CORE))
    code = (
        "import json, sys; from importlib.util import find_spec; "
        f"print(json.dumps([m for m in {modules!r} if find_spec(m) is not None]))"
    )
    out = _run([core / "python", "-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_the_package_and_its_api_import(core, tmp_path) -> None:
    code = "import triage_ml; print(sorted(n for n in triage_ml.__all__ if getattr(triage_ml, n)))"
    out = _run([core / "python", "-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "score_posts" in out.stdout and "load_bundle" in out.stdout


def test_every_command_answers_help(core, tmp_path) -> None:
    code = (
        "from triage_ml.cli import app; "
        "print(' '.join(c.name or c.callback.__name__ for c in app.registered_commands))"
    )
    listed = _run([core / "python", "-c", code], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split()
    assert {"sample", "train", "predict", "serve", "review", "versions"} <= set(commands)
    for args in ([], *([c] for c in commands)):
        out = _run([core / "triage-ml", *args, "--help"], cwd=tmp_path)
        assert out.returncode == 0, (args, out.stdout + out.stderr)
        assert "Usage" in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["triage-ml", "serve"], "serve"),
        (["python", "-m", "serve"], "serve"),
        (["triage-ml", "review", "--model", "m", "--data", "d.csv", "--out", "o"], "review"),
        (["triage-ml", "versions"], "pipeline"),
        (["triage-ml", "train", "--out", "m", "--register"], "pipeline"),
    ],
)
def test_a_command_that_needs_an_extra_says_which_in_one_line(core, tmp_path, args, extra):
    out = _run([core / args[0], *args[1:]], cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert f"needs the '{extra}' extra" in lines[0]
    assert f"pip install 'triage-ml[{extra}]'" in lines[0]


def test_the_core_install_trains_from_a_file_and_scores(core, tmp_path) -> None:
    (tmp_path / "params.yaml").write_text("train:\n  calibration:\n    cv: 2\n")
    steps = [
        ["sample", "--rows", "400", "--out", "history.csv"],
        ["train", "--data", "history.csv", "--params", "params.yaml", "--out", "models/triage"]
        + ["--metrics-out", "metrics.json", "--plots-dir", "plots"],
        ["predict", "--model", "models/triage", "--data", "history.csv", "--out", "out.jsonl"],
    ]
    outputs = []
    for args in steps:
        out = _run([core / "triage-ml", *args], cwd=tmp_path, timeout=600)
        assert out.returncode == 0, (args, out.stdout + out.stderr)
        outputs.append(out)
    assert json.loads((tmp_path / "metrics.json").read_text())["macro_f1"] > 0
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 400
    assert not (tmp_path / "plots").exists()
    notes = outputs[1].stderr
    assert "plots skipped" in notes and "'review' extra" in notes
    assert "not logged to MLflow" in notes and "'pipeline' extra" in notes
    assert "Traceback" not in notes


def _setup(project: Path):
    env = {"PYTHON": sys.executable, "TRIAGE_SKIP_APT": "1", "EXTRAS": "dev"}
    return _run(["bash", "scripts/setup.sh"], cwd=project, timeout=600, env=env)


def _tiny_project(root: Path, pyproject: str) -> Path:
    """scripts/setup.sh beside a tiny project instead of triage-ml."""
    (root / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    (root / "pyproject.toml").write_text(textwrap.dedent(pyproject))
    (root / "tiny").mkdir()
    (root / "tiny" / "__init__.py").write_text("")
    return root


TINY = """\
    [build-system]
    requires = ["setuptools>=77"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "tiny"
    version = "0.1"
    license = "Apache-2.0"

    [project.optional-dependencies]
    dev = []

    [tool.setuptools]
    packages = ["tiny"]
"""


def test_setup_prints_only_its_own_progress_lines(tmp_path) -> None:
    project = _tiny_project(tmp_path, TINY)
    out = _setup(project)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert lines and all(line.startswith("setup: ") for line in lines), lines
    assert "Successfully installed" in (project / ".venv" / "install.log").read_text()
    again = _setup(project)
    assert again.returncode == 0 and again.stdout + again.stderr == "", "up to date: silent"


def test_setup_shows_the_log_when_the_install_fails(tmp_path) -> None:
    project = _tiny_project(tmp_path, TINY.replace('version = "0.1"', 'version = "not-a-version"'))
    out = _setup(project)
    assert out.returncode != 0
    assert out.stdout.startswith("setup: ") and "setup: failed:" in out.stderr
    log = (project / ".venv" / "install.log").read_text().splitlines()
    assert log[-1] in out.stderr, "the end of the install log is shown"
