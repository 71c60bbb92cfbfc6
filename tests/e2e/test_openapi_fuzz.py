"""schemathesis against a real gateway process: every operation of its own /openapi.json, generated cases
(valid and invalid), each answer checked against the document (status, content type, headers, body schema),
never a 5xx, every request the document calls invalid refused, every token it names enforced.

Cases per operation: ``CANARYLINE_FUZZ_EXAMPLES`` (default 100, so the suite stays inside its budget);
``make fuzz`` runs 1,000. An operation with few distinct inputs (``GET /v2``) ends when hypothesis has
tried them all.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from service.rest.api_operations import BENTOML, OPERATIONS
from service.rest.openapi import document
from tests.support.servers import GatewayProcess
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, TOKEN_ENV

pytestmark = pytest.mark.e2e
EXAMPLES = int(os.environ.get("CANARYLINE_FUZZ_EXAMPLES", "100"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # an operation with security refuses a request without its token, or with a wrong one
    unsupported_method,  # a method the path does not take is a 405 with Allow
    negative_data_rejection,  # a request the document says is invalid is refused (4xx), never served
]
TOKENS = {"adminToken": ADMIN_TOKEN, "readToken": READ_TOKEN, "feedbackToken": FEEDBACK_TOKEN}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, iris_models) -> Iterator[GatewayProcess]:
    """One gateway for the run: model "fuzz" v1 (logistic regression) stable, v2 (tree) a sticky 50% canary."""
    home = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{home / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register("fuzz", iris_models["logreg"])
    registry.register("fuzz", iris_models["tree"])
    ControlPlane(registry).set_canary(
        "fuzz", "v2", weight=50, sticky=True, actor="tests", reason="r", expected_revision=None
    )
    registry.store.close()
    env = {"BENTOML_HOME": os.environ["BENTOML_HOME"], "CANARYLINE_STORE": url, "CANARYLINE_HOME": str(home / "home")}
    process = GatewayProcess(env={**env, **TOKEN_ENV}, logfile=home / "gateway.log").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


def negative_at(case: schemathesis.Case, location: ParameterLocation) -> bool:
    """Whether schemathesis made this case's ``location`` invalid on purpose (a negative case)."""
    return case.meta is not None and case.meta.is_negative_at(location)


def aim(case: schemathesis.Case) -> None:
    """Send half the cases to the served model (and one of its versions): a generated name is almost never one,
    and only a served model's answers show their bodies (a model's description, metadata, a prediction). A
    path made invalid on purpose is left as it is."""
    params = case.path_parameters or {}
    chooser = zlib.crc32(repr((case.operation.label, params, case.body, case.query)).encode())
    if chooser % 2 and not negative_at(case, ParameterLocation.PATH):
        for name in ("name", "model"):
            if name in params:
                params[name] = "fuzz"
        if "version" in params:
            params["version"] = ("v1", "v2")[chooser // 2 % 2]


def token_for(case: schemathesis.Case) -> dict[str, str]:
    """The Authorization header an operation's security asks for (the first scheme it names), else none; a
    negative case's own invalid Authorization is kept."""
    security = case.operation.definition.raw.get("security") or []
    if not security or (negative_at(case, ParameterLocation.HEADER) and "Authorization" in (case.headers or {})):
        return {}
    return {"Authorization": f"Bearer {TOKENS[next(iter(security[0]))]}"}


# The document of a gateway with the admin API on, built here so pytest can collect one test per operation
# (schemathesis's fixture-loaded schemas need a pytest private that pytest 9 removed); the first test pins
# that the gateway serves exactly this document.
DOCUMENT = document([*OPERATIONS, *BENTOML])
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_gateway_serves_the_fuzzed_document(fuzzed: GatewayProcess) -> None:
    """/openapi.json and BentoML's /docs.json both answer the document the cases below are generated from."""
    for path in ("/openapi.json", "/docs.json"):
        response = requests.get(fuzzed.url + path, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == DOCUMENT, path


def test_docs_json_takes_get_only_and_says_so(fuzzed: GatewayProcess) -> None:
    """A PUT to /docs.json is BentoML's 405 naming /docs.json with Allow (the alias once named /openapi.json)."""
    response = requests.put(fuzzed.url + "/docs.json", timeout=30)
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "method PUT is not allowed on /docs.json"
    assert "GET" in response.headers["allow"]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, fuzzed: GatewayProcess, session: requests.Session
) -> None:
    """Generated requests to each operation get a documented status, media type and body, never a 5xx."""
    aim(case)
    # KServe's :explain is documented as a 501 (the gateway serves predictions only): the one 5xx allowed.
    explain = case.operation.path.endswith(":explain")
    checks = [check for check in CHECKS if not explain or check is not not_a_server_error]
    response = case.call_and_validate(
        base_url=fuzzed.url, session=session, headers=token_for(case), checks=checks, timeout=30
    )
    assert response.status_code < 500 or (explain and response.status_code == 501), response.text
