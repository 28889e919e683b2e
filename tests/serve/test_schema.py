"""Property-based run over the OpenAPI schema (schemathesis): no input, valid or not, is a 5xx.

Every operation gets at least 50 generated requests: schema-valid and schema-invalid bodies
(schemathesis' positive and negative modes) and valid, wrong or missing API keys. Each
response must be a non-5xx whose status code, content type and body match the schema.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from serve.app import create_app
from serve.feedback import get_feedback_store
from serve.settings import Settings, get_settings
from triage_ml.feedback import open_store

KEY, ADMIN = "schema-key-" + "k" * 20, "schema-admin-" + "a" * 20
EXAMPLES = 60
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
OPERATIONS = [
    ("POST", "/v1/score"),
    ("GET", "/v1/model"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/feedback"),
    ("DELETE", "/v1/feedback/{post_id}"),
    ("GET", "/v1/review-queue"),
]


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator:
    root = tmp_path_factory.mktemp("schema") / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    service = Settings(
        model_root=root,
        api_keys=(KEY,),
        admin_keys=(ADMIN,),
        max_batch=25,
        max_body_bytes=300_000,
        reload_interval=0,
        bundle_key="",
        allow_unsigned=True,
        gc_freeze=False,
    )
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: service
    store = open_store(f"sqlite:///{root.parent / 'feedback.db'}")  # never the project's file
    app.dependency_overrides[get_feedback_store] = lambda: store
    with TestClient(app):  # runs the lifespan: the model is loaded for every generated call
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def _keys(valid: str) -> st.SearchStrategy[str | None]:
    printable = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
    return st.one_of(st.just(valid), st.none(), printable)


def test_schema_lists_every_operation(schema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_generated_requests_never_get_a_server_error(schema, method: str, path: str) -> None:
    operation = schema[path][method]
    valid_key = ADMIN if "admin" in path else KEY
    has_inputs = path == "/v1/score"
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_inputs else [None]
    statuses: Counter[int] = Counter()

    for mode in modes:
        cases = operation.as_strategy(mode or GenerationMode.POSITIVE)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, key=_keys(valid_key))
        def run(case, key: str | None) -> None:
            headers = {"X-API-Key": key} if key is not None else {}
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        run()

    assert sum(statuses.values()) >= 50, statuses
    assert not [s for s in statuses if s >= 500], statuses
    if has_inputs:  # valid posts were scored and invalid ones refused, both many times
        assert statuses[200] >= 5 and statuses[422] + statuses[400] >= 10, statuses
    if path != "/healthz" and path != "/readyz" and path != "/metrics":
        assert statuses[401] >= 1, statuses
