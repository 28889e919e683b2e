"""A bundle with reference statistics, built from the session's model without retraining."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def heldout_posts(params):
    from triage_ml.contract.validation import validate_posts
    from triage_ml.synthetic.generator import generate_sample

    frame, _ = validate_posts(generate_sample(1500, seed=1000), label_set=params.labels.names)
    return frame


@pytest.fixture(scope="session")
def profile(triager, canonical_history, heldout_posts):
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.decide.scoring import score_posts
    from triage_ml.monitor.signals import reference_profile
    from triage_ml.store.bundle import Bundle

    preds = score_posts(
        Bundle(triager, load_playbook(), {}), heldout_posts, validated=True, with_reasons=False
    )
    return reference_profile(triager, canonical_history, heldout_posts, preds)


@pytest.fixture(scope="session")
def monitored_bundle(triager, profile):
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import Bundle

    return Bundle(triager, load_playbook(), {"reference": profile, "name": "triage"})
