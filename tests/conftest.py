"""Shared fixtures: a small synthetic history and one bundle trained on it per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def params():
    from triage_ml.contract.params import Params

    return Params.model_validate({"train": {"calibration": {"cv": 3}}})


@pytest.fixture(scope="session")
def sample_history() -> pd.DataFrame:
    from triage_ml.synthetic.generator import generate_sample

    return generate_sample(1200, seed=7)


@pytest.fixture(scope="session")
def canonical_history(sample_history, params) -> pd.DataFrame:
    from triage_ml.contract.validation import validate_posts

    frame, _ = validate_posts(sample_history, label_set=params.labels.names, require_labels=True)
    return frame


@pytest.fixture(scope="session")
def triager(canonical_history, params):
    from triage_ml.model.train import fit

    return fit(canonical_history, params)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, triager, params) -> Path:
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import save_bundle

    out = tmp_path_factory.mktemp("bundles") / "triage"
    save_bundle(out, triager, load_playbook(), params.model_dump(mode="json"), key="")
    return out


@pytest.fixture(scope="session")
def bundle(bundle_dir):
    from triage_ml.store.bundle import load_bundle

    return load_bundle(bundle_dir, key="")
