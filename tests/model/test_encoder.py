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


META = np.column_stack([np.arange(40, dtype=np.float32), np.ones(40, np.float32)])


def _tune_multilabel(tune=fine_tune, **options) -> tuple[bytes, str, dict]:
    """``tune`` (``fine_tune`` or ``fine_tune_members``) on the 40 posts of ``_posts()`` with
    two labels, two metadata columns and urgency on two posts in three."""
    texts, y = _posts()
    urgency = np.where(np.arange(40) % 3 == 0, np.nan, y * 0.8).astype(np.float32)
    options.setdefault("settings", SETTINGS)
    return tune(
        texts,
        META,
        np.stack([y, 1 - y], axis=1),
        urgency,
        exclusive=False,
        label_names=["complaint", "praise"],
        progress=None,
        **options,
    )


@pytest.fixture(scope="module")
def multilabel():
    texts, y = _posts()
    onnx_bytes, tokenizer, config = _tune_multilabel()
    return texts, y, META, onnx_bytes, tokenizer, config


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
    from triage_ml.model.encoder.ensemble import fine_tune_members

    texts, y, meta, first, tokenizer, config = multilabel
    merged, _, merged_config = _tune_multilabel(fine_tune_members, members=2)
    assert merged_config["ensemble"]["seeds"] == [0, 1]
    json.dumps(merged_config)
    # the member with seed 0 is the module's model; the second is trained again apart, and the
    # merged graph must score the mean of the two scored apart
    second, _, second_config = _tune_multilabel(settings=dataclasses.replace(SETTINGS, seed=1))
    one = EncoderRuntime(first, tokenizer, config, threads=1).logits(texts, meta)
    two = EncoderRuntime(second, tokenizer, second_config, threads=1).logits(texts, meta)
    pair = EncoderRuntime(merged, tokenizer, merged_config, threads=1)
    both = pair.logits(texts, meta)
    assert np.abs(one[0] - two[0]).max() > 1e-3  # two seeds: two different encoders
    np.testing.assert_allclose(both[0], (one[0] + two[0]) / 2, atol=1e-4)
    np.testing.assert_allclose(both[1], (one[1] + two[1]) / 2, atol=1e-4)
    # int8 weights on the merged graph: smaller, and close to its fp32 probabilities
    small = pair.quantized()
    assert len(small.onnx_bytes) < 0.5 * len(merged)
    np.testing.assert_allclose(
        small.predict_proba(texts, meta), pair.predict_proba(texts, meta), atol=0.15
    )


def test_an_ensemble_of_an_exclusive_set_without_metadata_sums_to_one():
    from triage_ml.model.encoder.ensemble import fine_tune_members

    texts, y = _posts(24, seed=1)
    Y = np.eye(3)[np.where(y == 1, 0, np.arange(24) % 2 + 1)]
    merged, tokenizer, config = fine_tune_members(
        texts,
        None,
        Y,
        None,
        exclusive=True,
        label_names=["a", "b", "c"],
        settings=dataclasses.replace(SETTINGS, seed=3),
        members=2,
        progress=None,
    )
    assert config["ensemble"]["seeds"] == [3, 4] and config["n_meta"] == 0
    proba = EncoderRuntime(merged, tokenizer, config, threads=1).predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def _own_mean(meta: np.ndarray) -> list[float]:
    return meta.mean(axis=0).astype(np.float32).tolist()


def test_cross_fitted_members_score_only_the_posts_they_did_not_train_on(multilabel):
    from triage_ml.model.encoder.ensemble import fine_tune_cross_fitted

    texts, y, meta, *_ = multilabel
    Y = np.stack([y, 1 - y], axis=1)
    urgency = (y * 0.8).astype(np.float32)
    options = dict(exclusive=False, label_names=["complaint", "praise"], progress=None)
    # member 0 trains on posts 0-29, member 1 on 10-34: 0-9 are held out by member 1 alone,
    # 30-34 by member 0 alone, 35-39 by both
    fit_rows = [np.arange(0, 30), np.arange(10, 35)]
    crossed = fine_tune_cross_fitted(
        texts, meta, Y, urgency, fit_rows=fit_rows, settings=SETTINGS, **options
    )
    np.testing.assert_array_equal(crossed.held, np.r_[0:10, 30:40])
    holdouts = crossed.config["ensemble"]["holdouts"]
    assert holdouts["held_out_posts"] == 20
    assert holdouts["held_out_posts_by_scoring_members"] == {"1": 15, "2": 5}
    assert crossed.config["ensemble"]["seeds"] == [0, 1]
    # each member fine-tuned apart on its rows (seeds 0 and 1), its metadata standardised as
    # the whole history's (one scaling serves the merged graph)
    alone = []
    for seed, rows in enumerate(fit_rows):
        member = fine_tune(
            [texts[i] for i in rows],
            meta[rows],
            Y[rows],
            urgency[rows],
            settings=dataclasses.replace(SETTINGS, seed=seed),
            meta_reference=meta,
            **options,
        )
        assert member[2]["meta_mean"] == crossed.config["meta_mean"] != _own_mean(meta[rows])
        alone.append(EncoderRuntime(*member, threads=1).logits(texts, meta))
    (first, first_urgency), (second, second_urgency) = alone
    assert np.abs(first - second).max() > 1e-3
    expected = np.r_[second[0:10], first[30:35], (first[35:40] + second[35:40]) / 2]
    np.testing.assert_allclose(crossed.logits, expected, atol=1e-4)
    expected_urgency = np.r_[
        second_urgency[0:10],
        first_urgency[30:35],
        (first_urgency[35:40] + second_urgency[35:40]) / 2,
    ]
    np.testing.assert_allclose(crossed.urgency, expected_urgency, atol=1e-4)
    # the bundle's graph is the mean of both members on every post
    merged = EncoderRuntime(crossed.onnx_bytes, crossed.tokenizer_json, crossed.config)
    np.testing.assert_allclose(merged.logits(texts, meta)[0], (first + second) / 2, atol=1e-4)


def test_cross_fitting_refuses_rows_it_cannot_hold_out(multilabel):
    from triage_ml.model.encoder.ensemble import fine_tune_cross_fitted

    texts, y, meta, *_ = multilabel
    Y = np.stack([y, 1 - y], axis=1)
    options = dict(exclusive=False, label_names=["complaint", "praise"], progress=None)
    for fit_rows, message in [
        ([np.arange(30)], "at least 2 members"),
        (
            [np.arange(30), np.r_[0:20, 5]],
            r"fit_rows\[1\] must be distinct row numbers in \[0, 40\)",
        ),
        ([np.arange(30), np.arange(10, 41)], r"fit_rows\[1\] must be distinct"),
        ([np.arange(40), np.arange(40)], "no post is held out"),
    ]:
        with pytest.raises(ValueError, match=message):
            fine_tune_cross_fitted(
                texts, meta, Y, None, fit_rows=fit_rows, settings=SETTINGS, **options
            )


def _tiny(n_labels: int = 2, n_meta: int = 3, opset: int = 17, scale: float = 1.0) -> bytes:
    """An encoder-shaped graph without an encoder: logits = meta @ W, urgency = sum of logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    W = np.arange(n_meta * n_labels, dtype=np.float32).reshape(n_meta, n_labels) * scale
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["meta", "W"], ["label_logits"]),
            helper.make_node("ReduceSum", ["label_logits", "axes"], ["urgency"], keepdims=0),
        ],
        "tiny",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("meta", TensorProto.FLOAT, ["batch", n_meta]),
        ],
        outputs=[
            helper.make_tensor_value_info("label_logits", TensorProto.FLOAT, ["batch", n_labels]),
            helper.make_tensor_value_info("urgency", TensorProto.FLOAT, ["batch"]),
        ],
        initializer=[
            numpy_helper.from_array(W, "W"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_merging_averages_every_member_through_one_mean_per_output():
    import onnx
    import onnxruntime as ort

    from triage_ml.model.encoder.ensemble import merge_members

    members = [_tiny(scale=s) for s in (1.0, 2.0, 6.0)]
    merged = merge_members(members)
    graph = onnx.load_from_string(merged).graph
    means = {n.output[0]: list(n.input) for n in graph.node if n.op_type == "Mean"}
    assert means == {
        "label_logits": ["m0/label_logits", "m1/label_logits", "m2/label_logits"],
        "urgency": ["m0/urgency", "m1/urgency", "m2/urgency"],
    }
    assert merge_members(members[:1]) == members[0]
    feed = {
        "input_ids": np.zeros((2, 4), np.int64),
        "attention_mask": np.ones((2, 4), np.int64),
        "meta": np.array([[1, 0, 0], [0.5, 1, 2]], np.float32),
    }
    run = ort.InferenceSession(merged, providers=["CPUExecutionProvider"]).run(None, feed)
    alone = [
        ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feed) for m in members
    ]
    np.testing.assert_allclose(run[0], np.mean([a[0] for a in alone], axis=0), rtol=1e-6)
    np.testing.assert_allclose(run[1], np.mean([a[1] for a in alone], axis=0), rtol=1e-6)
    np.testing.assert_allclose(run[0], feed["meta"] @ (np.arange(6).reshape(3, 2) * 3.0), rtol=1e-6)


def test_merging_refuses_members_scored_with_different_configs():
    from triage_ml.model.encoder.ensemble import _merge_checked

    config = {
        "label_names": ["a", "b"],
        "exclusive": False,
        "max_length": 8,
        "n_meta": 3,
        "meta_mean": [0.0, 0.0, 0.0],
        "meta_scale": [1.0, 1.0, 1.0],
    }
    other = {**config, "meta_mean": [0.0, 5.0, 0.0]}  # standardised on other posts
    with pytest.raises(ValueError, match=r"disagree on 'meta_mean'"):
        _merge_checked([_tiny(), _tiny(scale=2.0)], [config, other], "", ["x"], None, SETTINGS)
    # fine-tuned from another base model: its tokens and padding mean something else
    mpnet = {**config, "base_model_sha256": "b" * 64, "pad_id": 1}
    with pytest.raises(ValueError, match=r"disagree on 'base_model_sha256'"):
        _merge_checked([_tiny(), _tiny()], [{**config, "base_model_sha256": "a" * 64}, mpnet],
                       "", ["x"], None, SETTINGS)  # fmt: skip


def test_merging_refuses_members_that_cannot_be_averaged():
    import onnx
    from onnx import helper

    from triage_ml.model.encoder.ensemble import merge_members

    with pytest.raises(ValueError, match="no encoder to merge"):
        merge_members([])
    # another label count would broadcast through Mean: refused, naming both shapes
    with pytest.raises(ValueError, match=r"encoder 1 cannot be averaged .* outputs are .*\b3\]"):
        merge_members([_tiny(), _tiny(n_labels=3)])
    with pytest.raises(ValueError, match=r"encoder 2 cannot be averaged .* inputs"):
        merge_members([_tiny(), _tiny(), _tiny(n_meta=4)])
    with pytest.raises(ValueError, match=r"its opsets are \['ai.onnx 18'\], encoder 0's"):
        merge_members([_tiny(), _tiny(opset=18)])
    other = onnx.load_from_string(_tiny())
    other.graph.output[1].name = "score"
    other.graph.node.append(helper.make_node("Identity", ["urgency"], ["score"]))
    with pytest.raises(ValueError, match=r"encoder 0 has .* outputs \['label_logits', 'score'\]"):
        merge_members([other.SerializeToString(), _tiny()])


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
                    "quantize": True,
                },
            }
        }
    )
    import onnx

    tri = fit(canonical_history.head(200), params)
    assert tri.encoder.config["ensemble"]["seeds"] == [5, 6]
    assert tri.encoder.config["quantized"] == "int8-dynamic"  # the merged graph, quantized
    graph = onnx.load_from_string(tri.encoder.onnx_bytes).graph
    means = sorted(list(n.input) for n in graph.node if n.op_type == "Mean")
    assert means == [["m0/label_logits", "m1/label_logits"], ["m0/urgency", "m1/urgency"]]
    out = save_bundle(
        tmp_path / "pair", tri, load_playbook(), params.model_dump(mode="json"), key=""
    )
    loaded = load_bundle(out, key="").triager
    posts = canonical_history.tail(10)
    np.testing.assert_array_equal(loaded.predict_proba(posts), tri.predict_proba(posts))
    assert loaded.encoder.config["ensemble"]["members"] == 2


def _fit_recording_the_stack(history, monkeypatch, **encoder):
    """``fit`` the first 200 posts of ``history`` with two small encoders (seeds 5 and 6) and
    the ``encoder`` options; returns the Triager, the params, those posts and each ``fit_stack``
    call's ``(encoder logits, labels)``."""
    from triage_ml.contract.params import Params
    from triage_ml.model import stack
    from triage_ml.model.train import fit

    fitted_on = []

    def recording_fit_stack(lin, enc, Y, *args, **kwargs):
        fitted_on.append((enc, Y))
        return stack_fit(lin, enc, Y, *args, **kwargs)

    stack_fit = stack.fit_stack
    monkeypatch.setattr(stack, "fit_stack", recording_fit_stack)
    small = {"epochs": 1, "max_length": 16, "batch_size": 16, "threads": 2, "seed": 5}
    params = Params.model_validate(
        {
            "train": {
                "model": "encoder",
                "calibration": {"cv": 3},
                "encoder": {**small, "ensemble": 2, **encoder},
            }
        }
    )
    history = history.head(200)
    return fit(history, params), params, history, fitted_on


def test_train_encoder_cross_fit_stacks_on_every_post_some_encoder_held_out(
    canonical_history, monkeypatch
):
    from triage_ml.contract.labels import label_matrix
    from triage_ml.model.train import holdout_split

    tri, params, history, fitted_on = _fit_recording_the_stack(
        canonical_history, monkeypatch, cross_fit=True
    )
    # the union of the two members' holdouts (seeds 5 and 6), more than either alone
    labels = label_matrix(history, list(params.labels.names)).astype(int)
    held = [holdout_split(labels, 0.15, seed)[1] for seed in (5, 6)]
    union = np.union1d(*held)
    assert len(union) > max(len(h) for h in held)
    # the stack is fitted once, on those posts' labels, in row order
    assert len(fitted_on) == 1
    np.testing.assert_array_equal(fitted_on[0][1], labels[union])
    recorded = tri.encoder.config["ensemble"]
    assert recorded["seeds"] == [5, 6] and recorded["holdouts"]["held_out_posts"] == len(union)
    assert recorded["holdouts"]["fit_posts"] == [len(history) - len(h) for h in held]
    assert np.isfinite(tri.predict_proba(history.tail(10))).all()


@pytest.mark.parametrize("exclusive", [True, False])
def test_soft_targets_teach_the_student_what_the_teachers_say_not_the_labels(exclusive):
    texts, y = _posts(32, seed=2)
    Y = np.stack([y, 1 - y], axis=1)
    # teachers that say the opposite of every label, confidently
    contrary = np.where(Y == 1, -4.0, 4.0).astype(np.float32)
    settings = dataclasses.replace(SETTINGS, epochs=2, distil_weight=1.0)
    options = dict(exclusive=exclusive, label_names=["bad", "good"], progress=None)
    student = fine_tune(texts, None, Y, None, settings=settings, soft_targets=contrary, **options)
    plain = fine_tune(texts, None, Y, None, settings=settings, **options)
    p_student = EncoderRuntime(*student, threads=1).predict_proba(texts)[:, 0]
    p_plain = EncoderRuntime(*plain, threads=1).predict_proba(texts)[:, 0]
    # "bad" is label 0 of the bad posts (y == 1): the labels teach it, the teachers unteach it
    assert p_plain[y == 1].mean() > p_plain[y == 0].mean()
    assert p_student[y == 1].mean() < p_student[y == 0].mean()


def test_soft_targets_of_the_wrong_shape_are_refused():
    texts, y = _posts(8)
    with pytest.raises(ValueError, match=r"soft_targets must be 8 x 2 finite logits"):
        fine_tune(
            texts,
            None,
            np.stack([y, 1 - y], axis=1),
            None,
            exclusive=False,
            label_names=["a", "b"],
            settings=SETTINGS,
            progress=None,
            soft_targets=np.zeros((8, 3)),
        )


def test_a_distilled_student_is_one_encoder_that_records_its_teachers(multilabel):
    import onnx

    from triage_ml.model.encoder.ensemble import distil_student, fine_tune_members

    texts, y, meta, *_ = multilabel
    teachers = _tune_multilabel(fine_tune_members, members=2)
    Y = np.stack([y, 1 - y], axis=1)
    rows = np.arange(5, 40)
    onnx_bytes, tokenizer, config = distil_student(
        texts,
        meta,
        Y,
        (y * 0.8).astype(np.float32),
        rows=rows,
        teachers=teachers,
        exclusive=False,
        label_names=["complaint", "praise"],
        settings=SETTINGS,
        progress=None,
    )
    graph = onnx.load_from_string(onnx_bytes).graph
    assert not [n for n in graph.node if n.op_type == "Mean"]  # one encoder, not the mean
    assert len(onnx_bytes) < 0.6 * len(teachers[0])
    assert "ensemble" not in config
    recorded = config["distilled"]
    assert recorded["teachers"]["seeds"] == [0, 1] and recorded["student_seed"] == 2
    assert recorded["student_posts"] == 35 and recorded["distil_weight"] == 0.5
    assert config["n_train"] == 35 and config["meta_mean"] == teachers[2]["meta_mean"]
    assert config["train_seconds"] > teachers[2]["train_seconds"]
    with pytest.raises(ValueError, match="at least 2 encoders"):
        distil_student(
            texts,
            meta,
            Y,
            None,
            rows=rows,
            teachers=_tune_multilabel(),
            exclusive=False,
            label_names=["complaint", "praise"],
            settings=SETTINGS,
            progress=None,
        )


@pytest.mark.parametrize("cross_fit", [False, True])
def test_train_encoder_distil_stores_the_student_and_stacks_on_held_out_scores(
    canonical_history, monkeypatch, cross_fit
):
    import onnx

    from triage_ml.contract.labels import label_matrix
    from triage_ml.model.encoder.finetune import _standardise
    from triage_ml.model.encoder.inputs import encoder_meta
    from triage_ml.model.train import holdout_split

    tri, params, history, fitted_on = _fit_recording_the_stack(
        canonical_history, monkeypatch, cross_fit=cross_fit, distil=True, quantize=cross_fit
    )
    graph = onnx.load_from_string(tri.encoder.onnx_bytes).graph
    assert not [n for n in graph.node if n.op_type == "Mean"]
    recorded = tri.encoder.config["distilled"]
    assert recorded["teachers"]["seeds"] == [5, 6] and recorded["student_seed"] == 7
    labels = label_matrix(history, list(params.labels.names)).astype(int)
    splits = [holdout_split(labels, 0.15, seed) for seed in ((5, 6) if cross_fit else (5,))]
    held = np.union1d(*[h for _, h in splits]) if cross_fit else splits[0][1]
    trained_on = np.union1d(*[f for f, _ in splits]) if cross_fit else splits[0][0]
    assert recorded["student_posts"] == len(trained_on)
    ((enc, Y),) = fitted_on
    np.testing.assert_array_equal(Y, labels[held])
    student = tri.encoder_logits(history.iloc[held])[0]
    meta = encoder_meta(history, tri.encoder_channels_)
    if cross_fit:
        # the student trained on nearly every post: the stack keeps the members' held-out scores
        assert np.abs(enc - student).max() > 1e-3
        assert recorded["stack_fitted_on"] == "the members' held-out scores (cross_fit)"
        assert tri.encoder.config["quantized"] == "int8-dynamic"  # the student, quantized
        reference = meta  # the members' metadata scaling: the whole history's
    else:
        # the student did not see the held-out posts: the stack is fitted on its own scores
        np.testing.assert_allclose(enc, student, atol=1e-4)
        assert recorded["stack_fitted_on"] == "the student's held-out scores"
        reference = meta[trained_on]  # as the members': the posts they trained on
    expected_mean = _standardise(np.asarray(meta, np.float64), np.asarray(reference, np.float64))[1]
    np.testing.assert_allclose(tri.encoder.config["meta_mean"], expected_mean, rtol=1e-5)
    whole = _standardise(np.asarray(meta, np.float64))[1]
    fit_only = _standardise(np.asarray(meta, np.float64), np.asarray(meta[trained_on], np.float64))
    assert np.abs(whole - fit_only[1]).max() > 0  # the two scalings differ: the check can fail
    assert np.isfinite(tri.predict_proba(history.tail(10))).all()
