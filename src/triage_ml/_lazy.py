"""Lazy public names for the package and its subpackages.

Each ``__init__`` names what it offers and where it lives; the module behind a name is imported
on first use, so ``import triage_ml`` (and every CLI ``--help``) stays fast and never pulls an
optional extra that the caller does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in its modules."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(import_module(names[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
