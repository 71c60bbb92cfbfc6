"""The middleware that gives the answers BentoML would write in plain text the gateway's JSON error body,
over a real Starlette app built the way BentoML builds its own (its default 404, 405 and 500 answers)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from service.rest.fallback import FallbackErrorsMiddleware


def _livez(_request) -> Response:
    return PlainTextResponse("\n")


def _json_404(_request) -> Response:
    return JSONResponse({"error": "model 'x' is not served"}, status_code=404)


def _crash(_request) -> Response:
    raise RuntimeError("a bug")


@pytest.fixture
def client():
    """A Starlette app with BentoML's kind of routes and default error answers, behind the middleware, and an
    app mounted inside it as the gateway's is."""
    mounted = Starlette(routes=[Route("/crash", _crash)])
    app = Starlette(
        routes=[Route("/livez", _livez), Route("/v2/models/x", _json_404), Mount("/app", mounted)],
        middleware=[Middleware(FallbackErrorsMiddleware)],
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_native(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}, body
    assert (body["error"]["code"], body["error"]["message"]) == (code, message)
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    assert int(response.headers["content-length"]) == len(response.content)


def test_unknown_paths_get_the_native_error_body(client) -> None:
    """Starlette's plain 'Not Found' becomes a 404 naming the method and path."""
    assert_native(client.get("/nope"), 404, "no_route", "no route GET /nope")
    assert_native(client.post("/admin/x"), 404, "no_route", "no route POST /admin/x")


def test_wrong_methods_keep_their_allow_header(client) -> None:
    """Starlette's plain 'Method Not Allowed' becomes a 405 naming method and path, with Allow kept."""
    response = client.delete("/livez")
    assert_native(response, 405, "method_not_allowed", "method DELETE is not allowed on /livez")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_protocol_paths_get_the_protocol_body(client) -> None:
    """Under /v2 and /v1 the body is the protocols' {"error": "<message>"}."""
    response = client.get("/v2/nope")
    assert response.status_code == 404 and response.json() == {"error": "no route GET /v2/nope"}
    assert client.put("/v1/x").json() == {"error": "no route PUT /v1/x"}


def test_a_crash_is_a_json_500(client) -> None:
    """An unhandled exception in the mounted app (whose own error middleware answers in plain text) becomes a
    500 in the error body."""
    assert_native(client.get("/app/crash"), 500, "internal_error", "Internal Server Error")


def test_other_answers_pass_through_untouched(client) -> None:
    """A 200 and a JSON 404 written by the app are sent exactly as written."""
    ok = client.get("/livez")
    assert (ok.status_code, ok.text, ok.headers["content-type"]) == (200, "\n", "text/plain; charset=utf-8")
    assert client.get("/v2/models/x").json() == {"error": "model 'x' is not served"}
