"""Several fine-tuned encoders served as one (``train.encoder.ensemble``; ``finetune`` extra).

``fine_tune_members`` fine-tunes N encoders on the same posts with consecutive seeds and
merges their ONNX graphs into one whose outputs are the members' mean label logits and mean
urgency, so the bundle, the runtime and the stack see a single encoder with the usual
signature.  Averaging logits (not probabilities) keeps the graph to one ``Mean`` per output;
for a softmax set it is the normalised geometric mean of the members' probabilities.

``fine_tune_cross_fitted`` (``train.encoder.cross_fit``) trains member k on its own rows
instead, and scores every post some member did not train on with the members that did not: the
stack is then fitted on those held-out scores.  Members trained on different rows share the
whole history's metadata standardisation, as the merged graph is scored with one config.

``distil_student`` (``train.encoder.distil``) fine-tunes one more encoder to the merged
graph's scores as well as to the labels, to be stored instead of the merged graph: one
member's scoring cost.

The merged graph costs N times the scoring of one member; onnx is needed only here, at
training time (the runtime reads the merged graph with onnxruntime alone).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from triage_ml.model.encoder.finetune import EncoderSettings, fine_tune
from triage_ml.model.encoder.runtime import EncoderRuntime

__all__ = [
    "CrossFitted",
    "distil_student",
    "fine_tune_cross_fitted",
    "fine_tune_members",
    "merge_members",
]

INPUTS = ("input_ids", "attention_mask", "meta")
OUTPUTS = ("label_logits", "urgency")
# what the runtime reads from the config before the graph runs (tokens, metadata scaling)
#: what every member's config must agree on to be scored as one graph: the labels, the
#: inputs' shape and scaling, and the base model (its tokenizer and padding id)
SHARED_CONFIG = (
    "label_names",
    "exclusive",
    "max_length",
    "n_meta",
    "meta_mean",
    "meta_scale",
    "base_model_sha256",
    "pad_id",
)


def _signature(model) -> dict[str, Any]:
    """What members must share to be averaged: input/output names, types and shapes, opsets."""

    def described(values) -> list[str]:
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or str(d.dim_value) for d in t.shape.dim]
            out.append(f"{v.name}: {t.elem_type} [{', '.join(dims)}]")
        return out

    return {
        "inputs": described(model.graph.input),
        "outputs": described(model.graph.output),
        "opsets": sorted(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import),
        "ir_version": model.ir_version,
    }


def merge_members(members: Sequence[bytes]) -> bytes:
    """One ONNX graph that feeds the same inputs to every member and averages their outputs.

    Members must share inputs, outputs (names, types, shapes: a label or metadata count that
    differs is refused, as ``Mean`` would broadcast it), opsets and IR version. Each member's
    names get an ``m<k>/`` prefix (``onnx.compose.add_prefix``); its prefixed inputs are
    ``Identity`` copies of the shared ones (onnxruntime folds them away). One member is
    returned unchanged.
    """
    import onnx
    from onnx import compose, helper

    if not members:
        raise ValueError("no encoder to merge")
    merged = onnx.ModelProto()
    for k, data in enumerate(members):
        model = onnx.load_from_string(bytes(data))
        found = _signature(model)
        if k == 0:
            names = (
                tuple(v.name for v in model.graph.input),
                tuple(v.name for v in model.graph.output),
            )
            if names != (INPUTS, OUTPUTS):
                raise ValueError(
                    f"encoder 0 has inputs {list(names[0])} and outputs {list(names[1])}; every "
                    f"member needs inputs {list(INPUTS)} and outputs {list(OUTPUTS)}"
                )
            if len(members) == 1:
                return bytes(data)
            # the merged model takes encoder 0's signature, IR version and opsets (copied
            # before the prefixes rename them); each member's nodes and weights are moved in
            # as it is read, so about one member's weights are copied at a time
            expected = found
            merged.ir_version = model.ir_version
            merged.opset_import.extend(model.opset_import)
            merged.graph.name = f"mean of {len(members)} encoders"
            merged.graph.input.extend(model.graph.input)
            merged.graph.output.extend(model.graph.output)
        for part, want in expected.items():
            if found[part] != want:
                raise ValueError(
                    f"encoder {k} cannot be averaged with encoder 0: its {part} are "
                    f"{found[part]}, encoder 0's {want}"
                )
        prefix = f"m{k}/"
        compose.add_prefix(model, prefix, inplace=True)
        merged.graph.node.extend(
            helper.make_node("Identity", [name], [prefix + name], name=f"{prefix}share_{name}")
            for name in INPUTS
        )
        merged.graph.node.extend(model.graph.node)
        merged.graph.initializer.extend(model.graph.initializer)
        merged.graph.value_info.extend(model.graph.value_info)
        del model
    for name in OUTPUTS:
        merged.graph.node.append(
            helper.make_node(
                "Mean", [f"m{k}/{name}" for k in range(len(members))], [name], name=f"mean_{name}"
            )
        )
    merged.producer_name = "triage-ml"
    data = merged.SerializeToString()
    del merged
    onnx.checker.check_model(data)
    return data


def fine_tune_members(
    texts: Sequence[str],
    meta: np.ndarray | None,
    Y: np.ndarray,
    urgency: np.ndarray | None,
    *,
    exclusive: bool,
    label_names: Sequence[str],
    settings: EncoderSettings,
    members: int = 1,
    progress: Callable[[str], None] | None = print,
) -> tuple[bytes, str, dict[str, Any]]:
    """``fine_tune`` ``members`` times (seeds ``settings.seed``, ``+1``, ...) on the same posts;
    returns ``(onnx_bytes, tokenizer_json, config)`` of the merged graph.

    Each member's export is checked against torch by ``fine_tune`` (the worst is the merged
    config's ``onnx_parity_max_abs_diff``); the merged graph is checked against the mean of its
    members' outputs on a few posts, within ``settings.parity_tol``
    (``config["ensemble"]["parity_max_abs_diff"]``).  With ``members=1`` this is ``fine_tune``.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    everything = np.arange(len(texts))
    graphs, configs, tokenizer_json = _fine_tune_each(
        texts, meta, Y, urgency, [everything] * members, exclusive, label_names, settings, progress
    )
    if members == 1:
        return graphs[0], tokenizer_json, configs[0]
    merged, config = _merge_checked(graphs, configs, tokenizer_json, texts, meta, settings)
    (progress or (lambda _msg: None))(
        f"merged {members} encoders into one graph ({len(merged) / 1e6:.1f} MB)"
    )
    return merged, tokenizer_json, config


@dataclasses.dataclass
class CrossFitted:
    """What ``fine_tune_cross_fitted`` returns: the merged graph (as ``fine_tune_members``) and
    each held-out post's scores from the members that did not train on it."""

    onnx_bytes: bytes
    tokenizer_json: str
    config: dict[str, Any]
    held: np.ndarray
    """Sorted row indices held out by at least one member."""
    logits: np.ndarray
    """``(len(held), labels)``: the mean label logits of the members that held each row out."""
    urgency: np.ndarray
    """``(len(held),)``: their mean urgency."""


def fine_tune_cross_fitted(
    texts: Sequence[str],
    meta: np.ndarray | None,
    Y: np.ndarray,
    urgency: np.ndarray | None,
    *,
    fit_rows: Sequence[np.ndarray],
    exclusive: bool,
    label_names: Sequence[str],
    settings: EncoderSettings,
    quantize: bool = False,
    progress: Callable[[str], None] | None = print,
) -> CrossFitted:
    """One encoder per entry of ``fit_rows`` (seeds ``settings.seed``, ``+1``, ...), member k
    fine-tuned on the rows ``fit_rows[k]`` only, merged into one graph as ``fine_tune_members``.

    Every row outside some member's ``fit_rows`` is then scored by the members that did not
    train on it (int8 members when ``quantize``, as the bundle's weights will be): held-out
    scores for a stack fitted on many more posts than one shared holdout, from encoders that
    between them trained on nearly every post.  Most held-out posts are scored by one member
    while the bundle scores the mean of all of them, whose logits spread a little less: the
    stack is fitted on somewhat wider scores than it serves (``config["ensemble"]["holdouts"]``
    counts the posts by how many members scored them)."""
    if len(fit_rows) < 2:
        raise ValueError(f"cross-fitting needs at least 2 members, got {len(fit_rows)}")
    n = len(texts)
    say = progress or (lambda _msg: None)
    fit_rows = [np.asarray(rows, dtype=int) for rows in fit_rows]
    for k, rows in enumerate(fit_rows):
        if not _distinct_rows(rows, n):
            raise ValueError(f"fit_rows[{k}] must be distinct row numbers in [0, {n})")
    if all(len(rows) == n for rows in fit_rows):
        raise ValueError("every member trains on every post: no post is held out to stack on")
    graphs, configs, tokenizer_json = _fine_tune_each(
        texts, meta, Y, urgency, fit_rows, exclusive, label_names, settings, progress
    )
    merged, config = _merge_checked(graphs, configs, tokenizer_json, texts, meta, settings)
    texts = [str(t) for t in texts]
    meta_rows = None if meta is None else np.asarray(meta, np.float32).reshape(n, -1)
    logit_sum = np.zeros((n, len(label_names)))
    urgency_sum = np.zeros(n)
    scored = np.zeros(n, dtype=int)
    for k, (graph, member_config, rows) in enumerate(zip(graphs, configs, fit_rows, strict=True)):
        member_held = np.setdiff1d(np.arange(n), rows)
        if not len(member_held):
            continue
        say(f"encoder {k + 1} of {len(graphs)} scores its {len(member_held)} held-out posts")
        runtime = EncoderRuntime(graph, tokenizer_json, member_config, threads=settings.threads)
        if quantize:
            runtime = runtime.quantized()
        logits, urg = runtime.logits(
            [texts[i] for i in member_held],
            None if meta_rows is None else meta_rows[member_held],
        )
        logit_sum[member_held] += logits
        urgency_sum[member_held] += urg
        scored[member_held] += 1
    held = np.flatnonzero(scored)
    by_members = np.bincount(scored[held], minlength=len(fit_rows) + 1)
    config["ensemble"]["holdouts"] = {
        "fit_posts": [len(rows) for rows in fit_rows],
        "held_out_posts": int(len(held)),
        # the stack sees means of this many members; the bundle scores the mean of all N,
        # whose logits spread a little less (averaging)
        "held_out_posts_by_scoring_members": {
            str(m): int(c) for m, c in enumerate(by_members) if m and c
        },
        "combine": "each held-out post scored by the members that did not train on it",
    }
    return CrossFitted(
        onnx_bytes=merged,
        tokenizer_json=tokenizer_json,
        config=config,
        held=held,
        logits=logit_sum[held] / scored[held, None],
        urgency=urgency_sum[held] / scored[held],
    )


def distil_student(
    texts: Sequence[str],
    meta: np.ndarray | None,
    Y: np.ndarray,
    urgency: np.ndarray | None,
    *,
    rows: np.ndarray,
    teachers: tuple[bytes, str, dict[str, Any]],
    exclusive: bool,
    label_names: Sequence[str],
    settings: EncoderSettings,
    meta_reference: np.ndarray | None = None,
    stacked_on: str = "the student's held-out scores",
    progress: Callable[[str], None] | None = print,
) -> tuple[bytes, str, dict[str, Any]]:
    """One encoder fine-tuned on ``rows`` to the teachers' merged graph's label logits there
    (``settings.distil_weight`` of the label loss) and to the labels (the rest); urgency as
    usual. Its seed follows the teachers' (``settings.seed + members``); its metadata is
    standardised by the mean and scale of ``meta_reference`` (default: all of ``meta``), which
    should be what the teachers' was standardised by. Its config records what it learned from
    and what the stack is fitted on (``config["distilled"]``, ``stacked_on``); returns
    ``(onnx_bytes, tokenizer_json, config)``."""
    graph, tokenizer_json, teacher_config = teachers
    members = int(teacher_config.get("ensemble", {}).get("members", 1))
    if members < 2:
        raise ValueError("distilling needs a merged graph of at least 2 encoders to learn from")
    say = progress or (lambda _msg: None)
    rows = np.asarray(rows, dtype=int)
    n = len(texts)
    if not len(rows) or not _distinct_rows(rows, n):
        raise ValueError(f"rows must be distinct row numbers in [0, {n}), at least one")
    texts = [str(t) for t in texts]
    meta_rows = None if meta is None else np.asarray(meta, np.float32).reshape(n, -1)
    say(f"the {members} encoders score the student's {len(rows)} posts")
    teacher = EncoderRuntime(graph, tokenizer_json, teacher_config, threads=settings.threads)
    soft, _ = teacher.logits(
        [texts[i] for i in rows], None if meta_rows is None else meta_rows[rows]
    )
    seed = settings.seed + members
    say(f"student encoder (seed {seed}, {len(rows)} posts) learns from the {members} encoders")
    Y = np.asarray(Y)
    onnx_bytes, tokenizer_json, config = fine_tune(
        [texts[i] for i in rows],
        None if meta_rows is None else meta_rows[rows],
        Y[rows],
        None if urgency is None else np.asarray(urgency)[rows],
        exclusive=exclusive,
        label_names=label_names,
        settings=dataclasses.replace(settings, seed=seed),
        progress=progress,
        meta_reference=meta_rows if meta_reference is None else meta_reference,
        soft_targets=soft,
    )
    # how often the soft targets agree with the labels on the student's posts
    taught = soft.argmax(1) if exclusive else soft > 0
    agree = taught == (Y[rows].argmax(1) if exclusive else Y[rows] > 0.5)
    config["distilled"] = {
        "teachers": teacher_config["ensemble"],
        "teachers_train_seconds": teacher_config["train_seconds"],
        "student_seed": seed,
        "student_posts": int(len(rows)),
        "distil_weight": float(settings.distil_weight),
        "teachers_agree_with_labels": round(float(agree.mean()), 4),
        "stack_fitted_on": stacked_on,
    }
    config["train_seconds"] = round(config["train_seconds"] + teacher_config["train_seconds"], 2)
    return onnx_bytes, tokenizer_json, config


def _distinct_rows(rows: np.ndarray, n: int) -> bool:
    """Whether ``rows`` are distinct row numbers in ``[0, n)`` (an empty array is)."""
    distinct = len(np.unique(rows)) == len(rows)
    return distinct and (not len(rows) or 0 <= rows.min() <= rows.max() < n)


def _fine_tune_each(
    texts: Sequence[str],
    meta: np.ndarray | None,
    Y: np.ndarray,
    urgency: np.ndarray | None,
    fit_rows: Sequence[np.ndarray],
    exclusive: bool,
    label_names: Sequence[str],
    settings: EncoderSettings,
    progress: Callable[[str], None] | None,
) -> tuple[list[bytes], list[dict[str, Any]], str]:
    """``fine_tune`` member k (seed ``settings.seed + k``) on the rows ``fit_rows[k]``."""
    members = len(fit_rows)
    if members > 1:
        from triage_ml._extras import require

        require("onnx", "finetune", "merging encoders (train.encoder.ensemble)")
    say = progress or (lambda _msg: None)
    meta_rows = None if meta is None else np.asarray(meta)
    Y, urgency = np.asarray(Y), None if urgency is None else np.asarray(urgency)
    graphs: list[bytes] = []
    configs: list[dict[str, Any]] = []
    tokenizer_json = ""
    for k, rows in enumerate(fit_rows):
        seed = settings.seed + k
        if members > 1:
            say(f"encoder {k + 1} of {members} (seed {seed}, {len(rows)} posts)")
        # the metadata is standardised as all the posts' (the same when rows are all of them)
        onnx_bytes, tokenizer_json, config = fine_tune(
            [texts[i] for i in rows],
            None if meta_rows is None else meta_rows[rows],
            Y[rows],
            None if urgency is None else urgency[rows],
            exclusive=exclusive,
            label_names=label_names,
            settings=dataclasses.replace(settings, seed=seed),
            progress=progress,
            meta_reference=meta_rows,
        )
        graphs.append(onnx_bytes)
        configs.append(config)
    return graphs, configs, tokenizer_json


def _merge_checked(
    graphs: list[bytes],
    configs: list[dict[str, Any]],
    tokenizer_json: str,
    texts: Sequence[str],
    meta: np.ndarray | None,
    settings: EncoderSettings,
) -> tuple[bytes, dict[str, Any]]:
    """The merged graph and its config, checked against the mean of the members' outputs on a
    few posts, within ``settings.parity_tol``."""
    for key in SHARED_CONFIG:
        values = [c.get(key) for c in configs]
        if any(v != values[0] for v in values[1:]):
            raise ValueError(
                f"the encoders disagree on {key!r} ({values}): the merged graph is scored "
                "with one config, so every member needs the same"
            )
    merged = merge_members(graphs)
    config = {
        **configs[0],
        "train_seconds": round(sum(c["train_seconds"] for c in configs), 2),
        "onnx_parity_max_abs_diff": max(c["onnx_parity_max_abs_diff"] for c in configs),
        # a member whose posts had no known urgency would average an untrained head in
        "urgency_trained": all(c.get("urgency_trained") for c in configs),
    }
    k = min(8, len(texts))
    probe = [str(t) for t in texts[:k]]
    probe_meta = None if meta is None else np.asarray(meta, np.float32).reshape(len(texts), -1)[:k]
    outputs = [
        EncoderRuntime(g, tokenizer_json, c, threads=settings.threads).logits(probe, probe_meta)
        for g, c in zip(graphs, configs, strict=True)
    ]
    logits, urg = EncoderRuntime(merged, tokenizer_json, config, threads=settings.threads).logits(
        probe, probe_meta
    )
    diff = max(
        float(np.abs(logits - np.mean([o[0] for o in outputs], axis=0)).max(initial=0.0)),
        float(np.abs(urg - np.mean([o[1] for o in outputs], axis=0)).max(initial=0.0)),
    )
    if diff > settings.parity_tol:
        raise RuntimeError(
            f"the merged encoder differs from the mean of its members by {diff:.2e} "
            f"(> {settings.parity_tol:.0e})"
        )
    config["ensemble"] = {
        "members": len(graphs),
        "seeds": [c["settings"]["seed"] for c in configs],
        "train_seconds": [c["train_seconds"] for c in configs],
        "parity_max_abs_diff": diff,
        "combine": "mean of label logits and of urgency",
    }
    return merged, config
