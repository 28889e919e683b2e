"""The lazy public names of ``triage_ml.contract`` resolve to what they promise.

The package lists its names in a map from name to module; a name pointing at the wrong module,
or a module named like the function it holds (importing it would shadow the function), only
shows when someone uses the name.
"""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = {
    "triage_ml.contract": {
        "DataError": type,
        "LoadReport": type,
        "MAX_TEXT_CHARS": int,
        "DATE_RANGE": str,
        "ID_RULE": str,
        "MAX_FLOAT_ID": int,
        "MAX_YEAR": int,
        "MIN_YEAR": int,
        "URGENCY_LEVELS": dict,
        "fingerprint": types.FunctionType,
        "sha256_file": types.FunctionType,
        "label_matrix": types.FunctionType,
        "load_history": types.FunctionType,
        "read_table": types.FunctionType,
        "count_rows": types.FunctionType,
        "iter_table": types.FunctionType,
        "validate_chunks": types.FunctionType,
        "validate_posts": types.FunctionType,
        "ConfigError": type,
        "Params": type,
        "format_validation_error": types.FunctionType,
        "load_params": types.FunctionType,
        "PredictionWriter": type,
        "write_table": types.FunctionType,
        "write_table_chunks": types.FunctionType,
    },
    "triage_ml.scale": {
        "ScoreSummary": type,
        "score_file": types.FunctionType,
        "score_dataset_dask": types.FunctionType,
    },
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_public_name_resolves_to_its_kind(package: str) -> None:
    module = importlib.import_module(package)
    expected = PACKAGES[package]
    assert sorted(dir(module)) == sorted(expected)
    for name, kind in expected.items():
        value = getattr(module, name)
        assert isinstance(value, kind), f"{package}.{name} is {type(value).__name__}"
        if isinstance(value, type | types.FunctionType):
            assert value.__module__.startswith(package + "."), (name, value.__module__)


def test_names_survive_importing_every_submodule() -> None:
    import pkgutil

    for package, expected in PACKAGES.items():
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{package}.{info.name}")
        for name, kind in expected.items():
            assert isinstance(getattr(module, name), kind), f"{package}.{name} is shadowed"
