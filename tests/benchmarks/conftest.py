"""Fixtures shared by the benchmarks' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.test_quality import write_datasets


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    """The synthetic data sets in the real files' shapes (``write_datasets``), one folder a
    test module."""
    return write_datasets(tmp_path_factory.mktemp("datasets"))
