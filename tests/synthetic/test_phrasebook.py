"""The phrase book: package data read once, on first use, with errors that say what is wrong."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from importlib import resources

import pytest

import triage_ml.synthetic
from triage_ml.synthetic.phrasebook import FAMILIES, PHRASES_FILE, _build, phrasebook


@pytest.fixture(scope="module")
def raw() -> dict:
    text = resources.files("triage_ml.synthetic").joinpath(PHRASES_FILE).read_text("utf-8")
    return json.loads(text)


def test_read_on_first_use_not_at_import_and_only_once() -> None:
    code = (
        "import triage_ml.synthetic.generator as g\n"
        "from triage_ml.synthetic.phrasebook import phrasebook\n"
        "before = phrasebook.cache_info().misses\n"
        "g.generate_sample(20, seed=1)\n"
        "g.generate_sample(20, seed=2)\n"
        "info = phrasebook.cache_info()\n"
        "print(before, info.misses, info.hits)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    before, misses, hits = map(int, out.split())
    assert before == 0, "phrases.json was read at import time"
    assert misses == 1 and hits >= 1


def test_every_bank_is_used_and_every_family_has_its_tables(raw: dict) -> None:
    used = {row["core"] for row in raw["scenarios"]}
    used |= {key for row in raw["scenarios"] for key in row["details"]}
    used |= {row["closers"] for row in raw["scenarios"] if row["closers"]}
    assert used == set(raw["banks"])
    book = phrasebook()
    for family in FAMILIES:
        assert book.emoji[family] and book.hashtags[family] and book.url_hosts[family]
    assert {s.family for s in book.scenarios} == set(FAMILIES)


def _with(raw: dict, **changes) -> dict:
    broken = copy.deepcopy(raw)
    broken["scenarios"][0].update(changes)
    return broken


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"core": "complaint_deliveries"}, r"scenario 'delivery' names the bank 'complaint_del"),
        ({"details": ["nope"]}, r"bank 'nope', which is not under 'banks'"),
        ({"closers": "gone"}, r"bank 'gone'"),
        ({"family": "rant"}, r"scenario 'delivery' has family 'rant'; valid: complaint, lead"),
    ],
)
def test_broken_scenario_rows_are_explained(raw: dict, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(_with(raw, **changes))


def test_public_names_resolve() -> None:
    assert sorted(dir(triage_ml.synthetic)) == [
        "CHANNELS",
        "LABELS",
        "generate_sample",
        "iter_sample",
    ]
    assert callable(triage_ml.synthetic.generate_sample)
    assert triage_ml.synthetic.LABELS[0] == "complaint"
    assert "twitter" in triage_ml.synthetic.CHANNELS
