"""The naming rule at every HTTP route that names a model or version in its path: a name that breaks it is a 4xx
in the path's one error body naming the rule, before anything (a store, BentoML, the body) is read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.rest.api_operations import OPERATIONS, Operation
from service.rest.http import uses_protocol_body
from tests.support.gateways import Gateway, canaried_gateway
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, bearer

MODEL = f"named-{uuid.uuid4().hex[:8]}"  # the session's BentoML store is shared; never in a test's id
TOKENS = {"admin": ADMIN_TOKEN, "read": READ_TOKEN, "feedback": FEEDBACK_TOKEN}
NAMED = [op for op in OPERATIONS if "{name}" in op.path or "{model}" in op.path]
#: Path segments (as sent, percent-encoded) that break the rule, and the name the message quotes.
BAD_MODELS = {"a%20b": "a b", "x:y": "x:y", "UPPER": "UPPER", "-x": "-x"}
BAD_VERSIONS = {"latest": "latest", "V1": "V1", "v1%20": "v1 "}
#: Registering creates the model it names: a name that breaks the rule is refused as invalid (422), not unknown.
CREATES = ("POST", "/registry/models/{model}/versions")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, iris_models) -> Iterator[Gateway]:
    """MODEL v1 stable and v2 a 50% canary, with the admin API on."""
    with canaried_gateway(Path(tmp_path_factory.mktemp("names")), MODEL, iris_models) as built:
        yield built


def call(served: Gateway, op: Operation, model: str, version: str = "v1"):
    path = op.path.replace("{name}", model).replace("{model}", model).replace("{version}", version)
    headers = bearer(TOKENS[op.gate]) if op.gate is not None else {}
    return served.client.request(op.method, path, headers=headers)


def assert_refused(response, op: Operation, quoted: str) -> None:
    creates = (op.method, op.path) == CREATES
    assert response.status_code == (422 if creates else 404), response.text
    body = response.json()
    if uses_protocol_body(op.path):
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        message = body["error"]
    else:
        assert set(body["error"]) == {"code", "message", "request_id"}, body
        assert body["error"]["code"] == ("invalid_version" if creates else "not_found"), body
        message = body["error"]["message"]
    assert repr(quoted) in message and ("must match ^" if creates else "names match ^") in message, message


@pytest.mark.parametrize("segment", BAD_MODELS)
@pytest.mark.parametrize("op", NAMED, ids=lambda op: f"{op.method} {op.path}")
def test_a_model_name_that_breaks_the_rule_is_refused_naming_it(served: Gateway, op: Operation, segment: str) -> None:
    """Each route with a model in its path answers 404 naming the rule (422 for registering), never a 5xx."""
    assert_refused(call(served, op, segment), op, BAD_MODELS[segment])


@pytest.mark.parametrize("segment", BAD_VERSIONS)
@pytest.mark.parametrize("op", [op for op in NAMED if "{version}" in op.path], ids=lambda op: f"{op.method} {op.path}")
def test_a_version_name_that_breaks_the_rule_is_refused_naming_it(served: Gateway, op: Operation, segment: str) -> None:
    """Each route with a version in its path answers 404 naming the rule for 'latest', 'V1' or 'v1 '."""
    assert_refused(call(served, op, MODEL, segment), op, BAD_VERSIONS[segment])


def test_a_registration_under_a_bad_version_name_is_refused_before_the_file_is_read(served: Gateway) -> None:
    """POST …/versions?version=latest is a 422 naming the rule, whatever the body (none is read)."""
    response = served.client.post(
        f"/registry/models/{MODEL}/versions",
        params={"framework": "xgboost", "version": "latest"},
        content=b"not a model",
        headers=bearer(ADMIN_TOKEN),
    )
    assert response.status_code == 422, response.text
    assert "version 'latest' is invalid: it must match ^" in response.json()["error"]["message"]


@pytest.mark.parametrize("op", NAMED, ids=lambda op: f"{op.method} {op.path}")
def test_a_model_segment_with_a_newline_is_a_documented_refusal(served: Gateway, op: Operation) -> None:
    """A model segment holding a newline is refused with a status the operation documents, and every such
    operation documents 404: through uvicorn such a path can match no route at all (schemathesis sent
    '%F1%A1%99%BC%C2%A5%0A' to the registration route and got an undocumented 404 no_route)."""
    response = call(served, op, "a%0A")
    assert response.status_code in op.errors, response.text
    assert 404 in op.errors, f"{op.method} {op.path} does not document 404"
