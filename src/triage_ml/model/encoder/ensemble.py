"""Several fine-tuned encoders served as one (``train.encoder.ensemble``; ``finetune`` extra).

``fine_tune_members`` fine-tunes N encoders on the same posts with consecutive seeds and
merges their ONNX graphs into one whose outputs are the members' mean label logits and mean
urgency, so the bundle, the runtime and the stack see a single encoder with the usual
signature.  Averaging logits (not probabilities) keeps the graph to one ``Mean`` per output;
for a softmax set it is the normalised geometric mean of the members' probabilities.

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

__all__ = ["fine_tune_members", "merge_members"]

INPUTS = ("input_ids", "attention_mask", "meta")
OUTPUTS = ("label_logits", "urgency")


def merge_members(members: Sequence[bytes]) -> bytes:
    """One ONNX graph that feeds the same inputs to every member and averages their outputs.

    Each member's names get a ``m<k>/`` prefix (``onnx.compose.add_prefix``); its prefixed
    inputs are ``Identity`` copies of the shared ones (onnxruntime folds them away).  One
    member is returned unchanged.
    """
    import onnx
    from onnx import compose, helper

    if not members:
        raise ValueError("no encoder to merge")
    if len(members) == 1:
        return bytes(members[0])
    models = [onnx.load_from_string(bytes(m)) for m in members]
    first = models[0]
    for k, model in enumerate(models):
        inputs = tuple(i.name for i in model.graph.input)
        outputs = tuple(o.name for o in model.graph.output)
        if inputs != INPUTS or outputs != OUTPUTS:
            raise ValueError(
                f"encoder {k} has inputs {list(inputs)} and outputs {list(outputs)}; "
                f"every member needs inputs {list(INPUTS)} and outputs {list(OUTPUTS)}"
            )
        if list(model.opset_import) != list(first.opset_import):
            raise ValueError(f"encoder {k} was exported with another opset than encoder 0")

    nodes, initializers, value_info = [], [], []
    for k, model in enumerate(models):
        prefix = f"m{k}/"
        graph = compose.add_prefix(model, prefix).graph
        nodes += [helper.make_node("Identity", [name], [prefix + name]) for name in INPUTS]
        nodes += list(graph.node)
        initializers += list(graph.initializer)
        value_info += list(graph.value_info)
    for name in OUTPUTS:
        nodes.append(helper.make_node("Mean", [f"m{k}/{name}" for k in range(len(models))], [name]))
    graph = helper.make_graph(
        nodes,
        f"mean of {len(models)} encoders",
        inputs=list(first.graph.input),
        outputs=list(first.graph.output),
        initializer=initializers,
        value_info=value_info,
    )
    merged = helper.make_model(
        graph, opset_imports=list(first.opset_import), producer_name="triage-ml"
    )
    merged.ir_version = first.ir_version
    onnx.checker.check_model(merged)
    return merged.SerializeToString()


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
    parity_tol: float = 1e-4,
) -> tuple[bytes, str, dict[str, Any]]:
    """``fine_tune`` ``members`` times (seeds ``settings.seed``, ``+1``, ...) on the same posts;
    returns ``(onnx_bytes, tokenizer_json, config)`` of the merged graph.

    The merged graph is checked against the mean of its members' own outputs on a few posts
    (``config["ensemble"]["parity_max_abs_diff"]``).  With ``members=1`` this is ``fine_tune``.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    say = progress or (lambda _msg: None)
    graphs: list[bytes] = []
    configs: list[dict[str, Any]] = []
    tokenizer_json = ""
    for k in range(members):
        seed = settings.seed + k
        if members > 1:
            say(f"encoder {k + 1} of {members} (seed {seed})")
        onnx_bytes, tokenizer_json, config = fine_tune(
            texts,
            meta,
            Y,
            urgency,
            exclusive=exclusive,
            label_names=label_names,
            settings=dataclasses.replace(settings, seed=seed),
            progress=progress,
        )
        graphs.append(onnx_bytes)
        configs.append(config)
    if members == 1:
        return graphs[0], tokenizer_json, configs[0]

    merged = merge_members(graphs)
    config = {
        **configs[0],
        "settings": {**configs[0]["settings"], "seed": settings.seed},
        "train_seconds": round(sum(c["train_seconds"] for c in configs), 2),
        "onnx_parity_max_abs_diff": max(c["onnx_parity_max_abs_diff"] for c in configs),
    }
    texts = [str(t) for t in texts]
    k = min(8, len(texts))
    probe_meta = None if meta is None else np.asarray(meta, np.float32).reshape(len(texts), -1)
    probe_meta = None if probe_meta is None else probe_meta[:k]
    outputs = [
        EncoderRuntime(g, tokenizer_json, c, threads=settings.threads).logits(texts[:k], probe_meta)
        for g, c in zip(graphs, configs, strict=True)
    ]
    logits, urg = EncoderRuntime(merged, tokenizer_json, config, threads=settings.threads).logits(
        texts[:k], probe_meta
    )
    diff = max(
        float(np.abs(logits - np.mean([o[0] for o in outputs], axis=0)).max(initial=0.0)),
        float(np.abs(urg - np.mean([o[1] for o in outputs], axis=0)).max(initial=0.0)),
    )
    if diff > parity_tol:
        raise RuntimeError(
            f"the merged encoder differs from the mean of its members by {diff:.2e} "
            f"(> {parity_tol:.0e})"
        )
    config["ensemble"] = {
        "members": members,
        "seeds": [c["settings"]["seed"] for c in configs],
        "train_seconds": [c["train_seconds"] for c in configs],
        "parity_max_abs_diff": diff,
        "combine": "mean of label logits and of urgency",
    }
    say(f"merged {members} encoders into one graph ({len(merged) / 1e6:.1f} MB)")
    return merged, tokenizer_json, config
