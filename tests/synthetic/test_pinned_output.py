"""The synthetic history is pinned byte for byte.

Demos, notebooks, README figures and other tests are built on ``generate_sample(5000, seed=42)``.
A refactor of the generator (moving phrase banks to package data, splitting modules) must not
change a single byte of it: these hashes were taken from the code before such a refactor. If a
change to the generator is *meant* to change the history, update the hashes in the same commit
and say so.
"""

from __future__ import annotations

import hashlib

from triage_ml.synthetic import generate_sample


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_default_history_is_byte_identical() -> None:
    frame = generate_sample(5000, seed=42)
    assert (
        _sha256(frame.to_csv(index=False))
        == "f35950738cfb02e6c8421c7c3f88c412fb082e3632f24217e8b00a530cad3886"
    )


def test_history_with_noise_mask_is_byte_identical() -> None:
    frame, mask = generate_sample(5000, seed=42, return_noise_mask=True)
    assert (
        _sha256(frame.to_csv(index=False))
        == "f35950738cfb02e6c8421c7c3f88c412fb082e3632f24217e8b00a530cad3886"
    )
    assert _sha256(mask.to_csv()) == (
        "3f56cbdfdd915cb4e14fe51da74cdd67200ccb7f91d9c1f5e12c1d5cc623e1c9"
    )


def test_other_seed_and_start_are_byte_identical() -> None:
    frame = generate_sample(300, seed=7, start="2025-03-01")
    assert (
        _sha256(frame.to_csv(index=False))
        == "294f6fedb3d43243c8e9590c501697152056fb6f1d573c59e1871cec6971d3e6"
    )


def test_the_streamed_history_is_the_same_bytes() -> None:
    from triage_ml.synthetic import iter_sample

    chunks = list(iter_sample(300, seed=7, start="2025-03-01", chunk_rows=64))
    assert [len(c) for c in chunks] == [64, 64, 64, 64, 44]
    text = "".join(c.to_csv(index=False, header=i == 0) for i, c in enumerate(chunks))
    assert _sha256(text) == "294f6fedb3d43243c8e9590c501697152056fb6f1d573c59e1871cec6971d3e6"
