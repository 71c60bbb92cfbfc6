"""The gateway's OpenAPI document: every mounted route is in it, it is valid OpenAPI 3.1, it is served."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from service.rest.http import unmatched
from service.rest.openapi import document, mounted_operations
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, bearer


@pytest.fixture
def served(tmp_path: Path, iris_models, model_name: str):
    """A gateway with the admin API on, serving one model."""
    with gateway(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, {model_name: [iris_models["logreg"]]}) as built:
        yield built


def _mounted(client) -> set[tuple[str, str]]:
    """Every (method, path template) the app routes, but the protocols' catch-alls (their 404 and 405)."""
    return {
        (method, route.path.replace(":path}", "}"))
        for route in client.app.router.routes
        if isinstance(route, Route) and route.endpoint is not unmatched
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_mounted_route_is_documented(served) -> None:
    """Each route of the app (admin and rollout routes included) is an operation of /openapi.json."""
    doc = served.client.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    missing = _mounted(served.client) - documented
    assert not missing, f"routes without an operation in service/rest/api_operations.py: {sorted(missing)}"
    assert len(_mounted(served.client)) >= 38  # native, feedback, admin, rollouts, v2, v1, console, the document


def test_a_route_without_an_operation_is_caught() -> None:
    """The coverage check sees a route the table lacks: mounted_operations leaves it out of the document."""
    extra = Route("/not-documented", unmatched, methods=["GET"])
    assert all(op.path != "/not-documented" for op in mounted_operations([extra]))


def test_the_document_is_valid_openapi_3_1(served) -> None:
    """openapi-spec-validator accepts the served document as OpenAPI 3.1."""
    doc = served.client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_security_names_the_token_each_route_needs(served) -> None:
    """Reads take the read or admin token, mutations the admin token, feedback its own, predictions none."""
    paths = served.client.get("/openapi.json").json()["paths"]
    assert paths["/models"]["get"]["security"] == [{"readToken": []}, {"adminToken": []}]
    assert paths["/admin/models/{model}/promote"]["post"]["security"] == [{"adminToken": []}]
    assert paths["/feedback"]["post"]["security"] == [{"feedbackToken": []}]
    assert paths["/predict"]["post"]["security"] == []
    assert "401" in paths["/admin/models/{model}/canary"]["post"]["responses"]
    assert "401" not in paths["/v2/models/{name}/infer"]["post"]["responses"]


def test_errors_use_each_protocols_one_body(served) -> None:
    """Errors under /v2 and /v1 are ProtocolError ({"error": message}), elsewhere NativeError."""
    paths = served.client.get("/openapi.json").json()["paths"]
    v2 = paths["/v2/models/{name}/infer"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    native = paths["/predict"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert v2 == {"$ref": "#/components/schemas/ProtocolError"}
    assert native == {"$ref": "#/components/schemas/NativeError"}


def test_request_bodies_come_from_the_routes_models(served) -> None:
    """The admin canary body is the route's own pydantic model; the rollout body is the spec less model and actor."""
    schemas = served.client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["CanaryBody"]["required"]) == {"reason", "version", "weight"}
    assert "model" not in schemas["RolloutStart"]["properties"]
    assert "actor" not in schemas["RolloutStart"]["properties"]
    assert "steps" in schemas["RolloutStart"]["properties"]


def test_without_the_admin_api_its_routes_are_not_documented(tmp_path: Path, iris_models, model_name: str) -> None:
    """A gateway with CANARYLINE_ADMIN_API off documents no /admin route."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with gateway(url, tmp_path, {model_name: [iris_models["logreg"]]}, admin_api=False) as built:
        paths = built.client.get("/openapi.json", headers=bearer(ADMIN_TOKEN)).json()["paths"]
    assert "/predict" in paths
    assert not [path for path in paths if path.startswith("/admin")]


def test_the_document_holds_bentomls_routes_too() -> None:
    """The health routes BentoML answers around the app are documented in every gateway's document."""
    paths = document(mounted_operations([]))["paths"]
    assert {"/livez", "/healthz", "/readyz", "/metrics", "/docs.json"} <= set(paths)
