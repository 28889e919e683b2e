"""The exclusive stack forms compared by ``benchmarks.quality.stack_forms``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from benchmarks.quality import stack_forms
from benchmarks.quality.stack_forms import FORMS, PRODUCT, Form, fit_form
from triage_ml.model.stack import fit_stack, stack_logits


def _draws(rng: np.random.Generator, n: int, shift: np.ndarray, urgency_weight: np.ndarray):
    """Held-out logits of two models and labels drawn from a softmax that also has a class
    shift and an urgency term the two models' logits lack."""
    k = len(shift)
    truth = rng.normal(size=(n, k))
    lin = truth + rng.normal(scale=1.0, size=(n, k))
    enc = truth + rng.normal(scale=0.5, size=(n, k))
    urgency = rng.uniform(size=n)
    p = softmax(1.5 * truth + shift + np.outer(urgency, urgency_weight), axis=1)
    y = (p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1).clip(max=k - 1)
    return lin, enc, urgency, y


def test_the_product_form_is_the_product_stack() -> None:
    rng = np.random.default_rng(0)
    lin, enc, urgency, y = _draws(rng, 600, np.zeros(4), np.zeros(4))
    Y = np.eye(4)[y]
    weights = fit_stack(lin, enc, Y, exclusive=True, balanced=True)
    ours = fit_form(FORMS[PRODUCT], lin, enc, urgency, y)(lin, enc, urgency)
    np.testing.assert_allclose(ours, stack_logits(weights, lin, enc), atol=1e-4)


def test_class_biases_recover_a_shift_the_models_miss() -> None:
    rng = np.random.default_rng(1)
    shift = np.array([1.0, 0.0, 0.0, -1.0])
    lin, enc, urgency, y = _draws(rng, 6000, shift, np.zeros(4))
    form = Form(bias=True)
    z = fit_form(form, lin, enc, urgency, y, penalty=1e-6)(
        np.zeros((1, 4)), np.zeros((1, 4)), np.zeros(1)
    )[0]
    # biases are the logits of an all-zero post; the balanced fit also removes the label
    # frequencies the shift causes, so only the order and the sign of the ends are asserted
    assert z[0] > z[1] and z[0] > z[2] and z[3] < z[1] and z[3] < z[2]


def test_urgency_weights_follow_the_urgency_term() -> None:
    rng = np.random.default_rng(2)
    lin, enc, urgency, y = _draws(rng, 6000, np.zeros(4), np.array([-2.0, 0.0, 0.0, 2.0]))
    f = fit_form(Form(urgency=True), lin, enc, urgency, y, penalty=1e-6)
    zeros = np.zeros((2, 4))
    z = f(zeros, zeros, np.array([0.0, 1.0]))
    lift = z[1] - z[0]  # what a fully urgent post adds to each class's logit
    # attenuated like any logistic fit on noisy inputs, but in the urgency term's direction
    assert lift[3] - lift[0] > 1.0
    assert lift[0] < min(lift[1], lift[2]) and lift[3] > max(lift[1], lift[2])


def test_per_class_weights_fit_one_pair_per_class() -> None:
    rng = np.random.default_rng(3)
    lin, enc, urgency, y = _draws(rng, 3000, np.zeros(3), np.zeros(3))
    # class 0 trusts only the linear model's logit: its encoder column is noise
    enc[:, 0] = rng.normal(size=len(y))
    f = fit_form(Form(per_class_weights=True), lin, enc, urgency, y)
    only_enc = f(np.zeros((1, 3)), np.eye(3), np.zeros(1))  # enc one-hot per row
    b = np.diag(only_enc)
    assert b[0] < 0.5 * min(b[1], b[2])


def test_a_task_without_an_exclusive_cv_protocol_is_refused(datasets) -> None:
    with pytest.raises(SystemExit, match="exclusive stacks on CV folds"):
        stack_forms.run("twitter-complaints", [0], 2, datasets)


def test_the_recorded_functions_are_where_fit_looks_them_up() -> None:
    import pkgutil

    from triage_ml.model import fit_stack as public_fit_stack
    from triage_ml.model import fit_urgency_blend

    assert pkgutil.resolve_name(stack_forms._FIT_STACK) is public_fit_stack
    assert pkgutil.resolve_name(stack_forms._FIT_BLEND) is fit_urgency_blend
    source = Path(stack_forms.__file__).parents[2] / "src/triage_ml/model/train.py"
    assert "from triage_ml.model.stack import fit_stack, fit_urgency_blend" in source.read_text()


def test_the_tool_end_to_end_refits_the_product_stack_from_what_it_was_fitted_on(
    datasets, monkeypatch
) -> None:
    """``run`` on the synthetic severity set with a tiny fine-tuning: every form is scored on
    every fold, and the product's form, refitted from the held-out logits the tool recorded,
    gives each fold's test posts the logits the fitted product itself gives them."""
    pytest.importorskip("torch", reason="needs the finetune extra")
    pytest.importorskip("onnxruntime", reason="needs the encoder extra")
    from benchmarks.quality.systems import OursSystem
    from benchmarks.quality.tasks import TASKS, load_task, make_folds, task_params

    def tiny(task: str):
        committed = task_params(task)
        raw = committed.model_dump(mode="python", exclude_unset=True)
        raw["train"]["encoder"] = {"epochs": 1, "max_length": 16, "batch_size": 8, "threads": 2}
        return type(committed).model_validate(raw)

    fitted: list[OursSystem] = []
    product_logits: list[np.ndarray] = []

    class Recording(OursSystem):
        def fit(self, *args, **kwargs) -> None:
            super().fit(*args, **kwargs)
            fitted.append(self)

    def recording_fit_form(form, *args, **kwargs):
        apply = fit_form(form, *args, **kwargs)

        def applied(*inputs):
            z = apply(*inputs)
            if form == FORMS[PRODUCT]:
                product_logits.append(z)
            return z

        return applied

    monkeypatch.setattr(stack_forms, "task_params", tiny)
    monkeypatch.setattr(stack_forms, "OursSystem", Recording)
    monkeypatch.setattr(stack_forms, "fit_form", recording_fit_form)
    result = stack_forms.run("severity", [0], 2, datasets)

    assert set(result["folds_scores"]) == {*FORMS, "encoder alone"}
    assert all(len(v) == 2 for v in result["folds_scores"].values())
    assert set(result["spearman_expected_level"]) == set(FORMS)
    data = load_task(TASKS["severity"], datasets, stack_forms.encoder_params(tiny("severity")))
    assert len(fitted) == 2 and all(s.triager_.encoder is not None for s in fitted)
    for system, (_, test_idx), z in zip(
        fitted, make_folds(data, 2, 0), product_logits, strict=True
    ):
        test = data.frame.iloc[test_idx].reset_index(drop=True)
        ours = system.triager_.logits(test)[0]
        # softmax logits are defined up to a constant per post
        np.testing.assert_allclose(
            z - z.mean(axis=1, keepdims=True), ours - ours.mean(axis=1, keepdims=True), atol=1e-5
        )
