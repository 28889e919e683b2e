"""Every public name of triage_ml.monitor resolves, and none is shadowed by a module."""

from __future__ import annotations

import importlib
import pkgutil


def test_public_names_resolve_to_callables_or_constants() -> None:
    monitor = importlib.import_module("triage_ml.monitor")
    modules = {info.name for info in pkgutil.iter_modules(monitor.__path__)}
    for name in dir(monitor):
        assert name not in modules, f"{name} is also a module of triage_ml.monitor"
        value = getattr(monitor, name)
        assert value is not None
        if callable(value):
            assert value.__module__.startswith("triage_ml.monitor."), name
