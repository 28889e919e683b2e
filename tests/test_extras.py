"""The install contract: pyproject.toml declares what the code imports, in the right extra.

The core install is what ``src/triage_ml`` imports outside its guarded extras; every declared
package is imported somewhere (or says why not); ``triage_ml._extras.EXTRA_MODULES``, which
names the extra in a missing-extra message, agrees with pyproject.toml.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from triage_ml._extras import EXTRA_MODULES

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Declared, never imported by our code: each says why it is there.
NOT_IMPORTED = {
    "httptools": "uvicorn's C HTTP parser, used by uvicorn when installed",
    "uvloop": "uvicorn's event loop, used by uvicorn when installed",
    "dvc": "the pipeline's command-line tool (dvc repro, dvc metrics diff)",
    "ipykernel": "the kernel the review notebook runs on",
    "torch": "pinned here (a plain torch is a CUDA build of GBs); sentence-transformers imports it",
    "onnxruntime": "the encoder extra: scoring a fine-tuned encoder exported to ONNX",
    "tokenizers": "the encoder extra: the fine-tuned encoder's tokenizer without torch",
    "transformers": "the finetune extra: training the encoder (also under sentence-transformers)",
    "ruff": "command-line tool (lint and format)",
    "import-linter": "command-line tool (lint-imports, the layer contract)",
    "pytest-timeout": "pytest plugin (the per-test timeout in pyproject.toml)",
    "psycopg": "the PostgreSQL driver SQLAlchemy loads for a postgresql:// feedback store",
    "dask": "the scale extra: the task library distributed schedules (named for its pin)",
}


def _dist(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _self_extras(requirements: list[str]) -> set[str]:
    """The extras a requirement list pulls in through ``triage-ml[...]``."""
    found = set()
    for req in requirements:
        match = re.fullmatch(r"\s*triage-ml\[([^\]]+)\]\s*", req)
        if match:
            found |= {name.strip() for name in match.group(1).split(",")}
    return found


def _closure(extra: str) -> set[str]:
    """The distributions ``pip install triage-ml[extra]`` asks for (without the core)."""
    dists = {_dist(r) for r in EXTRAS[extra]} - {"triage-ml"}
    for inner in _self_extras(EXTRAS[extra]):
        dists |= _closure(inner)
    return dists


@cache
def _modules_of() -> dict[str, set[str]]:
    """Top-level modules of each installed distribution."""
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            out.setdefault(_dist(dist), set()).add(module)
    return out


def _modules(dist: str) -> set[str]:
    # a package that is not installed here: its module is its name, as for most packages
    return _modules_of().get(dist) or {dist.replace("-", "_")}


def _imports(paths) -> set[str]:
    """Top-level names of every absolute import (module level or inside functions)."""
    found: set[str] = set()
    for path in paths:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            code = "\n".join(
                "".join(line for line in c["source"] if not line.lstrip().startswith(("%", "!")))
                for c in cells
                if c["cell_type"] == "code"
            )
        else:
            code = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
    ours = {"triage_ml", "serve", "benchmarks", "tests", "conftest", "__future__"}
    return {name for name in found - ours if name not in sys.stdlib_module_names}


def _files(*folders: str) -> list[Path]:
    return [p for f in folders for p in sorted((REPO / f).rglob("*.py"))]


@cache
def _imported_anywhere() -> frozenset[str]:
    notebooks = (REPO / "notebooks").glob("*.ipynb")
    return frozenset(_imports([*_files("src", "serve", "benchmarks", "tests"), *notebooks]))


CORE = {_dist(r) for r in PROJECT["dependencies"]}
GUARDED = {module for modules in EXTRA_MODULES.values() for module in modules}


def test_the_core_install_is_what_the_library_imports_outside_its_extras() -> None:
    imported = _imports(_files("src/triage_ml")) - GUARDED
    core_modules = {m for dist in CORE for m in _modules(dist)}
    assert imported - core_modules == set(), "imported by the library, not in the core install"
    unused = {dist for dist in CORE if not _modules(dist) & imported}
    assert unused == set(), "in the core install, imported by nothing in src/triage_ml"


def test_the_service_needs_only_the_core_and_the_serve_extra() -> None:
    # starlette comes with fastapi (serve imports its types directly)
    allowed = {m for d in CORE | _closure("serve") for m in _modules(d)} | {"starlette"}
    assert _imports(_files("serve")) - allowed == set()


@pytest.mark.parametrize(
    "dist", sorted(CORE | {d for extra in EXTRAS for d in _closure(extra)} - {"triage-ml"})
)
def test_every_declared_package_is_imported_somewhere_or_says_why(dist) -> None:
    if dist in NOT_IMPORTED:
        return
    assert _modules(dist) & _imported_anywhere(), f"{dist} is declared and imported nowhere"


@pytest.mark.parametrize(
    ("extra", "module"), [(e, m) for e, ms in EXTRA_MODULES.items() for m in ms]
)
def test_the_extra_named_in_a_message_installs_the_module(extra, module) -> None:
    providers = {dist for dist in _closure(extra) if module in _modules(dist)}
    assert providers, f"pip install 'triage-ml[{extra}]' would not install {module}"


def test_dev_installs_every_extra_the_tests_need() -> None:
    others = set(EXTRAS) - {"dev"}
    assert _self_extras(EXTRAS["dev"]) == others
    assert {"pytest", "import-linter", "httpx", "schemathesis"} <= _closure("dev")


def test_torch_is_pinned_and_only_behind_finetune() -> None:
    pinned = [r for r in EXTRAS["finetune"] if _dist(r) == "torch"]
    assert pinned == ["torch==2.13.0"], "an unpinned torch resolves a CUDA build of several GB"
    for extra in set(EXTRAS) - {"finetune", "dev"}:
        assert "torch" not in _closure(extra), extra
    assert "torch" not in CORE
