"""The fine-tuned encoder family: fine-tuning, ONNX export, torch-free scoring, the stack with
the linear model, the bundle and occlusion reasons. Tiny models on CPU (seconds)."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch", reason="needs the finetune extra: pip install -e '.[finetune]'")
pytest.importorskip("onnxruntime", reason="needs the encoder extra: pip install -e '.[encoder]'")

from triage_ml.model.encoder.finetune import EncoderSettings, fine_tune  # noqa: E402
from triage_ml.model.encoder.runtime import EncoderRuntime, quantize_int8  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BAD = ["terrible", "broken", "refund", "awful", "worst"]
GOOD = ["thanks", "great", "love", "lovely", "perfect"]
SETTINGS = EncoderSettings(epochs=1, max_length=16, batch_size=8, head_lr=5e-3, lr=1e-4, threads=2)


def _posts(n: int = 40, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, y = [], []
    for i in range(n):
        bad = i % 2 == 0
        texts.append(f"@shop my order was {(BAD if bad else GOOD)[rng.integers(5)]} today")
        y.append(int(bad))
    return texts, np.array(y)


@pytest.fixture(scope="module")
def multilabel():
    texts, y = _posts()
    Y = np.stack([y, 1 - y], axis=1)
    meta = np.column_stack([np.arange(40, dtype=np.float32), np.ones(40, np.float32)])
    urgency = np.where(np.arange(40) % 3 == 0, np.nan, y * 0.8).astype(np.float32)
    onnx_bytes, tokenizer, config = fine_tune(
        texts,
        meta,
        Y,
        urgency,
        exclusive=False,
        label_names=["complaint", "praise"],
        settings=SETTINGS,
        progress=None,
    )
    return texts, y, meta, onnx_bytes, tokenizer, config


def test_export_matches_torch_and_config_is_json(multilabel):
    *_, config = multilabel
    assert config["onnx_parity_max_abs_diff"] < 1e-4
    assert config["n_meta"] == 2 and config["meta_scale"][1] == 1.0  # constant column: finite
    assert config["urgency_trained"] is True
    json.dumps(config)


def test_runtime_scores_in_input_order_and_learns(multilabel):
    texts, y, meta, onnx_bytes, tokenizer, config = multilabel
    runtime = EncoderRuntime(onnx_bytes, tokenizer, config, threads=1, batch_size=7)
    logits, urgency = runtime.logits(texts, meta)
    assert logits.shape == (40, 2) and urgency.shape == (40,)
    assert ((urgency >= 0) & (urgency <= 1)).all()
    one, _ = runtime.logits(texts[3:4], meta[3:4])  # length-sorted batches, order restored
    np.testing.assert_allclose(one[0], logits[3], atol=1e-4)
    p = runtime.predict_proba(texts, meta)[:, 0]
    assert p[y == 1].mean() > p[y == 0].mean()


def test_runtime_pickles_without_its_session(multilabel):
    texts, _, meta, onnx_bytes, tokenizer, config = multilabel
    runtime = EncoderRuntime(onnx_bytes, tokenizer, config, threads=1)
    before = runtime.logits(texts[:4], meta[:4])[0]
    clone = pickle.loads(pickle.dumps(runtime))
    assert clone._session is None and clone._tokenizer is None
    np.testing.assert_allclose(clone.logits(texts[:4], meta[:4])[0], before, atol=1e-6)


def test_int8_quantization_is_smaller_and_still_scores(multilabel):
    texts, _, meta, onnx_bytes, tokenizer, config = multilabel
    small = quantize_int8(onnx_bytes)
    assert len(small) < 0.5 * len(onnx_bytes)
    logits, _ = EncoderRuntime(small, tokenizer, config, threads=1).logits(texts[:5], meta[:5])
    assert logits.shape == (5, 2) and np.isfinite(logits).all()


def test_exclusive_set_uses_softmax_and_needs_no_metadata_or_urgency():
    texts, y = _posts(24, seed=1)
    Y = np.eye(3)[np.where(y == 1, 0, np.arange(24) % 2 + 1)]
    onnx_bytes, tokenizer, config = fine_tune(
        texts,
        None,
        Y,
        np.full(24, np.nan),
        exclusive=True,
        label_names=["a", "b", "c"],
        settings=SETTINGS,
        progress=None,
    )
    assert config["n_meta"] == 0 and config["urgency_trained"] is False
    runtime = EncoderRuntime(onnx_bytes, tokenizer, config, threads=1)
    np.testing.assert_allclose(runtime.predict_proba(texts).sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="expects 0 metadata columns"):
        runtime.logits(texts, np.zeros((24, 1), np.float32))


def test_an_ensemble_is_one_graph_scoring_the_mean_of_its_members(multilabel):
    from triage_ml.model.encoder.ensemble import fine_tune_members, merge_members

    texts, y, meta, first, tokenizer, config = multilabel
    Y = np.stack([y, 1 - y], axis=1)
    urgency = np.where(np.arange(40) % 3 == 0, np.nan, y * 0.8).astype(np.float32)
    merged, _, merged_config = fine_tune_members(
        texts,
        meta,
        Y,
        urgency,
        exclusive=False,
        label_names=["complaint", "praise"],
        settings=SETTINGS,
        members=2,
        progress=None,
    )
    ensemble = merged_config["ensemble"]
    assert ensemble["members"] == 2 and ensemble["seeds"] == [0, 1]
    assert ensemble["parity_max_abs_diff"] < 1e-4
    assert merged_config["train_seconds"] == pytest.approx(sum(ensemble["train_seconds"]), 0.01)
    json.dumps(merged_config)
    # the member with seed 0 is the module's model: rebuild the second one from the merge's
    # own inputs and check the merged outputs against the two members scored apart
    second, _, second_config = fine_tune(
        texts,
        meta,
        Y,
        urgency,
        exclusive=False,
        label_names=["complaint", "praise"],
        settings=dataclasses.replace(SETTINGS, seed=1),
        progress=None,
    )
    one = EncoderRuntime(first, tokenizer, config, threads=1).logits(texts, meta)
    two = EncoderRuntime(second, tokenizer, second_config, threads=1).logits(texts, meta)
    both = EncoderRuntime(merged, tokenizer, merged_config, threads=1).logits(texts, meta)
    assert np.abs(one[0] - two[0]).max() > 1e-3  # two seeds: two different encoders
    np.testing.assert_allclose(both[0], (one[0] + two[0]) / 2, atol=1e-4)
    np.testing.assert_allclose(both[1], (one[1] + two[1]) / 2, atol=1e-4)
    # the same merge from the two graphs; one graph merges to itself; int8 still works
    np.testing.assert_allclose(
        EncoderRuntime(merge_members([first, second]), tokenizer, config, threads=1).logits(
            texts, meta
        )[0],
        both[0],
        atol=1e-5,
    )
    assert merge_members([first]) == first
    small = EncoderRuntime(merged, tokenizer, merged_config, threads=1).quantized()
    assert len(small.onnx_bytes) < 0.5 * len(merged)
    assert np.isfinite(small.logits(texts[:4], meta[:4])[0]).all()


def test_merging_refuses_nothing_and_a_graph_of_another_signature(multilabel):
    import onnx
    from onnx import helper

    from triage_ml.model.encoder.ensemble import merge_members

    first = multilabel[3]
    with pytest.raises(ValueError, match="no encoder to merge"):
        merge_members([])
    other = onnx.load_from_string(first)
    other.graph.output[1].name = "score"
    other.graph.node.append(helper.make_node("Identity", ["urgency"], ["score"]))
    with pytest.raises(ValueError, match=r"encoder 1 has .* outputs \['label_logits', 'score'\]"):
        merge_members([first, other.SerializeToString()])


# -- the encoder family inside triage-ml ------------------------------------------------------


@pytest.fixture(scope="module")
def encoder_triager(canonical_history):
    from triage_ml.contract.params import Params
    from triage_ml.model.train import fit

    params = Params.model_validate(
        {
            "train": {
                "model": "encoder",
                "calibration": {"cv": 3},
                "encoder": {"epochs": 2, "max_length": 32, "batch_size": 16, "threads": 2},
            }
        }
    )
    return fit(canonical_history.head(500), params), params


def test_encoder_family_stacks_monotone_and_scores_like_the_contract(
    encoder_triager, canonical_history
):
    tri, _ = encoder_triager
    assert tri.family == "encoder"
    assert tri.stack_.shape == (len(tri.labels), 3) and (tri.stack_[:, :2] >= 0).all()
    posts = canonical_history.tail(40)
    scores = tri.score(posts)
    assert scores.probabilities.shape == (40, len(tri.labels))
    assert ((scores.probabilities >= 0) & (scores.probabilities <= 1)).all()
    assert scores.urgency is not None and ((scores.urgency >= 0) & (scores.urgency <= 1)).all()


def test_removing_the_top_reason_lowers_that_labels_probability(encoder_triager):
    tri, _ = encoder_triager
    k = tri.labels.index("complaint")
    posts = pd.DataFrame(
        {
            "id": ["a", "b"],
            "text": [
                "my order never arrived and nobody answers, still waiting for a refund",
                "app keeps crashing when I pay, this is not acceptable",
            ],
        }
    )
    from triage_ml.contract.validation import validate_posts

    frame, _ = validate_posts(posts, label_set=tri.labels)
    scores = tri.score(frame)
    for i in range(2):
        assert scores.predicted[i, k]
        mine = [r for r in scores.reasons[i] if r["label"] == "complaint"]
        assert mine, "a predicted complaint comes with reasons"
        top = mine[0]["signal"]
        assert top in frame["text"].iloc[i].split()  # a word of that post
        without = frame.iloc[[i]].copy()
        words = without["text"].iloc[0].split()
        words.remove(top)
        without["text"] = " ".join(words)
        lower = tri.predict_proba(without)[0, k]
        assert lower < scores.probabilities[i, k]
        assert scores.probabilities[i, k] - lower == pytest.approx(mine[0]["weight"], abs=1e-3)


def test_encoder_bundle_round_trip_scores_the_same_without_torch(
    encoder_triager, canonical_history, tmp_path
):
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import ENCODER_FILE, BundleError, load_bundle, save_bundle

    tri, params = encoder_triager
    out = save_bundle(
        tmp_path / "enc", tri, load_playbook(), params.model_dump(mode="json"), key=""
    )
    assert (out / ENCODER_FILE).is_file() and tri.encoder is not None
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["model_family"] == "encoder" and ENCODER_FILE in metadata["files"]
    loaded = load_bundle(out, key="")
    assert not list(out.glob("*.joblib")) and not list(out.glob("*.pkl"))
    posts = canonical_history.tail(20)
    a, b = tri.score(posts), loaded.triager.score(posts)  # bit-identical, reasons included
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.needs_human, b.needs_human)
    np.testing.assert_array_equal(a.urgency, b.urgency)
    assert a.reasons == b.reasons
    np.testing.assert_array_equal(loaded.triager.stack_, tri.stack_)

    code = (
        "import sys, pandas as pd; from triage_ml import load_bundle, score_posts;"
        f"b = load_bundle({str(out)!r}, key='');"
        "r = score_posts(b, pd.DataFrame({'id': ['x'], 'text': ['my order never came']}));"
        "assert len(r.records()) == 1;"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch loaded'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    onnx = out / ENCODER_FILE
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match="checksum of encoder.onnx"):
        load_bundle(out, key="")


def test_a_quantized_twin_scores_close_and_leaves_the_original_alone(
    encoder_triager, canonical_history
):
    tri, _ = encoder_triager
    twin = tri.quantized()
    assert twin.encoder.config["quantized"] == "int8-dynamic"
    assert "quantized" not in tri.encoder.config and twin.encoder is not tri.encoder
    assert len(twin.encoder.onnx_bytes) < 0.5 * len(tri.encoder.onnx_bytes)
    posts = canonical_history.tail(20)
    np.testing.assert_allclose(twin.predict_proba(posts), tri.predict_proba(posts), atol=0.15)


def test_train_encoder_ensemble_trains_and_stores_one_merged_encoder(canonical_history, tmp_path):
    from triage_ml.contract.params import Params
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.model.train import fit
    from triage_ml.store.bundle import load_bundle, save_bundle

    params = Params.model_validate(
        {
            "train": {
                "model": "encoder",
                "calibration": {"cv": 3},
                "encoder": {
                    "epochs": 1,
                    "max_length": 16,
                    "batch_size": 16,
                    "threads": 2,
                    "seed": 5,
                    "ensemble": 2,
                },
            }
        }
    )
    tri = fit(canonical_history.head(200), params)
    assert tri.encoder.config["ensemble"]["seeds"] == [5, 6]
    out = save_bundle(
        tmp_path / "pair", tri, load_playbook(), params.model_dump(mode="json"), key=""
    )
    loaded = load_bundle(out, key="").triager
    posts = canonical_history.tail(10)
    np.testing.assert_array_equal(loaded.predict_proba(posts), tri.predict_proba(posts))
    assert loaded.encoder.config["ensemble"]["members"] == 2
