"""The OpenAPI schema tells the truth: what it calls valid is accepted, what it calls invalid
is refused, and no answer is a 5xx (schemathesis, every check, a few hundred cases).

``python -m benchmarks.api_fuzz`` runs the same checks with more than 1,000 cases against the
real process; this is the CI-sized run, in process.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation

from benchmarks.api_fuzz import CONFIG as CONFIG_FILE
from benchmarks.api_fuzz import make_ids_unique
from serve.app import create_app
from serve.schemas import CREATED_AT_PATTERN, NOT_BLANK
from serve.settings import Settings, get_settings
from triage_ml.contract import validate_posts

KEY = "truth-key-" + "t" * 20
EXAMPLES = 25
CONFIG = schemathesis.Config.from_path(CONFIG_FILE)  # 413 for too many posts is a refusal


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator:
    root = tmp_path_factory.mktemp("truth") / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    values = {
        "model_root": root,
        "api_keys": (KEY,),
        "admin_keys": (KEY,),
        "max_batch": 20,  # 20 posts of 10,000 characters fit TRIAGE_MAX_CHARS
        "reload_interval": 0,
        "bundle_key": "",
        "gc_freeze": False,
    }
    if "allow_unsigned" in Settings.model_fields:  # the test bundle is unsigned
        values["allow_unsigned"] = True
    service = Settings(**values)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: service
    with TestClient(app):  # the lifespan loads the model and states the batch limit
        loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
        loaded.hook("map_case")(make_ids_unique)  # unique ids: the one rule JSON Schema lacks
        yield loaded


def _body_only(case) -> bool:
    """Cases whose query and headers are valid: the key is sent with every case (which would
    turn a 'missing key' case valid), and the body is the contract under test here. The
    benchmark's CLI run mutates every part."""
    components = case.meta.components if case.meta is not None else {}
    return all(
        info.mode == GenerationMode.POSITIVE
        for location, info in components.items()
        if location != ParameterLocation.BODY
    )


def all_checks() -> list:
    load_all_checks()
    return list(CHECKS.get_all())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_score_requests_are_judged_as_the_schema_says(schema, mode) -> None:
    operation = schema["/v1/score"]["POST"]
    checks = all_checks()
    assert {"positive_data_acceptance", "negative_data_rejection"} <= {c.__name__ for c in checks}
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode).filter(_body_only))
    def run(case) -> None:
        response = case.call(headers={"X-API-Key": KEY})
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks, headers={"X-API-Key": KEY})

    run()
    assert not [s for s in statuses if s >= 500], statuses
    if mode == GenerationMode.POSITIVE:
        assert statuses[200] >= EXAMPLES // 2, statuses
    else:
        assert statuses[422] + statuses[400] >= EXAMPLES // 2, statuses


@pytest.mark.parametrize(
    "body",
    [
        {"posts": [{"id": "a", "text": "x", "created_at": "0000-01-01T00:00:00Z"}]},
        {"posts": [{"id": "a", "text": "x" * 10_000 + " "}]},
        {"posts": [{"id": "a", "text": "\u3000\x1f"}]},
        {"posts": [{"id": "a", "text": "x", "created_at": "2023-02-29"}]},
        {"posts": [{"id": 1.5, "text": "x"}]},
    ],
    ids=["year 0", "text over maxLength as sent", "only spaces", "29 February 2023", "id 1.5"],
)
def test_requests_the_schema_calls_invalid_are_refused(schema, body) -> None:
    """Each of these was accepted (or refused) against the schema's word before."""
    import jsonschema

    spec = schema.raw_schema
    request = spec["components"]["schemas"]["ScoreRequest"]
    resolver = {"components": spec["components"], **request}
    assert not jsonschema.Draft202012Validator(resolver).is_valid(body)
    operation = schema["/v1/score"]["POST"]
    response = operation.Case(body=body, media_type="application/json").call(
        headers={"X-API-Key": KEY}
    )
    assert response.status_code == 422, response.text


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.from_regex(CREATED_AT_PATTERN, fullmatch=True), min_size=1, max_size=8))
def test_every_created_at_the_schema_allows_is_read_by_the_contract(values) -> None:
    frame = pd.DataFrame(
        {"id": [str(i) for i in range(len(values))], "text": "x", "created_at": values}
    )
    canonical, _ = validate_posts(frame, label_set=["complaint"])
    assert canonical["created_at"].notna().all()


def test_not_blank_is_exactly_what_the_service_trims() -> None:
    pattern = re.compile(NOT_BLANK)
    for code in range(0x3100):  # every whitespace character is below U+3100
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert (pattern.search(char) is None) == (char.strip() == ""), hex(code)
