"""Edges of HTTP that only a real gateway process shows: what BentoML and uvicorn answer around our app,
and bad input that must be a 4xx with no record instead of a 500, a null or no reply at all."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Iterator

import httpx
import pytest

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from service.dataplane.routing import bucket, canary_threshold
from tests.support.servers import GatewayProcess
from tests.support.tokens import TOKEN_ENV

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]
HUGE = b"1" * 400  # an integer literal no float64 holds


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, iris_models) -> Iterator[tuple[GatewayProcess, Store, str]]:
    """One gateway for the module: "iris" v1 (logistic regression) stable, v2 (tree) a sticky 50% canary."""
    home = tmp_path_factory.mktemp("edges")
    url = f"sqlite:///{home / 'store.db'}"
    model = f"edges{home.name[-6:].lower()}".replace("_", "")
    registry = Registry(open_store(url))
    registry.register(model, iris_models["logreg"])
    registry.register(model, iris_models["tree"])
    ControlPlane(registry).set_canary(
        model, "v2", weight=50, sticky=True, actor="tests", reason="r", expected_revision=None
    )
    registry.store.close()
    env = {
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        "CANARYLINE_STORE": url,
        "CANARYLINE_HOME": str(home / "home"),
        **TOKEN_ENV,
    }
    process = GatewayProcess(env=env, logfile=home / "gateway.log").start()
    store = open_store(url)
    try:
        yield process, store, model
    finally:
        process.stop()
        store.close()


def raw_http(port: int, request: bytes) -> bytes:
    """Send bytes that may not be valid HTTP and read the reply until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def assert_native_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    """The gateway's one error body, with the request ID in the header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}, body
    assert body["error"]["code"] == code and message in body["error"]["message"], body
    assert response.headers["x-request-id"] == body["error"]["request_id"]


def test_an_id_ending_in_a_newline_is_refused_not_logged_and_unanswered(gateway) -> None:
    """An OIP id of "nl-1\\n" is a 400 naming the rule and writes no record (a `$` match used to log it, and
    then the server could not write the ID into the response header, so the client got no answer)."""
    process, store, model = gateway
    before = store.count_predictions()
    body = {"id": "nl-1\n", "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": ROW}]}
    response = httpx.post(f"{process.url}/v2/models/{model}/infer", json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert "field 'id' must be 1-256 characters with no control characters" in response.json()["error"]
    assert store.predictions_for_request("nl-1\n") == [] and store.count_predictions() == before


def test_a_non_ascii_id_is_answered_in_the_body_only(gateway) -> None:
    """An id that cannot go into a header is answered (200), echoed in the body and logged exactly."""
    process, store, model = gateway
    body = {"id": "zählung-1", "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": ROW}]}
    response = httpx.post(f"{process.url}/v2/models/{model}/infer", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "zählung-1" and "x-request-id" not in response.headers
    assert [r.request_id for r in store.predictions_for_request("zählung-1")] == ["zählung-1"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/predict", b'{"inputs": [[5.1, 3.5, ' + HUGE + b", 0.2]]}", "inputs[0][2]"),
        ("/v1/models/{model}:predict", b'{"instances": [[5.1, 3.5, ' + HUGE + b", 0.2]]}", "instances[0][2]"),
    ],
)
def test_an_integer_too_large_for_a_float_is_422(gateway, path: str, body: bytes, field: str) -> None:
    """A 400-digit integer literal is a 422 naming the element, not a 500 from NumPy; nothing is logged."""
    process, store, model = gateway
    before = store.count_predictions()
    response = httpx.post(process.url + path.format(model=model), content=body, timeout=10)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    message = message if isinstance(message, str) else message["message"]
    assert f"field '{field}' is out of range for a 64-bit float" in message
    assert store.count_predictions() == before


def test_a_lone_surrogate_routing_key_is_422(gateway) -> None:
    """A routing key "\\ud800" with a sticky canary is a 422 naming the field, not a 500 from the bucket hash."""
    process, store, model = gateway
    before = store.count_predictions()
    body = b'{"model": "' + model.encode() + b'", "inputs": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "\\ud800"}'
    response = httpx.post(f"{process.url}/predict", content=body, timeout=10)
    assert_native_error(response, 422, "invalid_input", "field 'routing_key' must be valid Unicode")
    assert store.count_predictions() == before


def test_inputs_the_model_cannot_score_are_422_not_null_or_500(gateway) -> None:
    """1e308 makes the logistic regression's probabilities NaN (refused, never null) and the float32 tree
    refuse its input (a 422 naming the model, never a 500); neither writes a record."""
    process, store, model = gateway
    keys = [f"user-{i}" for i in range(200)]
    to_stable = next(k for k in keys if bucket(model, k) >= canary_threshold(50))
    to_canary = next(k for k in keys if bucket(model, k) < canary_threshold(50))
    before = store.count_predictions()
    stable = httpx.post(
        f"{process.url}/predict", json={"inputs": [ROW, [1e308] * 4], "routing_key": to_stable}, timeout=10
    )
    assert_native_error(stable, 422, "non_finite_output", f"model {model!r} version 'v1' returned a non-finite")
    assert "row 1" in stable.json()["error"]["message"]
    canary = httpx.post(f"{process.url}/predict", json={"inputs": [[1e308] * 4], "routing_key": to_canary}, timeout=10)
    assert_native_error(canary, 422, "model_rejected_input", f"model {model!r} version 'v2' cannot score")
    assert store.count_predictions() == before


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message"),
    [
        ("GET", "/nope", 404, "no_route", "no route GET /nope"),
        ("POST", "/admin/nope", 404, "no_route", "no route POST /admin/nope"),
        ("DELETE", "/livez", 405, "method_not_allowed", "method DELETE is not allowed on /livez"),
        ("POST", "/metrics", 405, "method_not_allowed", "method POST is not allowed on /metrics"),
        ("TRACE", "/readyz", 405, "method_not_allowed", "method TRACE is not allowed on /readyz"),
        ("PUT", "/predict", 405, "method_not_allowed", "method PUT is not allowed on /predict"),
    ],
)
def test_unknown_paths_and_methods_answer_the_json_error_shape(
    gateway, method: str, path: str, status: int, code: str, message: str
) -> None:
    """What BentoML's router would answer in plain text (unknown path, wrong method on its own routes) and
    every method but GET and HEAD on /readyz come back in the one JSON error shape."""
    process, _, _ = gateway
    assert_native_error(httpx.request(method, process.url + path, timeout=10), status, code, message)


def test_readyz_answers_get_and_head(gateway) -> None:
    """/readyz keeps answering GET (with detail) and HEAD."""
    process, _, model = gateway
    assert httpx.get(f"{process.url}/readyz", timeout=10).json()["models"] == {model: 2}
    head = httpx.head(f"{process.url}/readyz", timeout=10)
    assert head.status_code == 200 and head.content == b""


def test_root_answers_kserve_v1_liveness(gateway) -> None:
    """GET / is KServe's v1 liveness body, which kserve's client parses (`status` == "alive")."""
    process, _, _ = gateway
    response = httpx.get(process.url + "/", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "alive"}


def test_v2_with_a_trailing_slash_is_server_metadata(gateway) -> None:
    """GET /v2/ answers like GET /v2."""
    process, _, _ = gateway
    assert httpx.get(process.url + "/v2/", timeout=10).json() == httpx.get(process.url + "/v2", timeout=10).json()


def test_a_gzip_body_is_served_through_the_real_server(gateway) -> None:
    """A Content-Encoding: gzip body is decompressed and served like the plain one."""
    process, store, _ = gateway
    body = gzip.compress(b'{"inputs": [[5.1, 3.5, 1.4, 0.2]]}')
    response = httpx.post(
        f"{process.url}/predict",
        content=body,
        headers={"Content-Encoding": "gzip", "X-Request-ID": "gz-e2e-1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert len(store.predictions_for_request("gz-e2e-1")) == 1


def test_malformed_http_is_uvicorns_plain_400(gateway) -> None:
    """Bytes that are not HTTP/1.1 never reach the app: uvicorn answers its own plain-text 400 (its h11
    protocol hard-codes that reply; BentoML passes uvicorn no option for it) and the gateway keeps serving."""
    process, _, _ = gateway
    reply = raw_http(process.port, b"GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ") and reply.endswith(b"Invalid HTTP request received.")
    assert httpx.get(f"{process.url}/livez", timeout=10).status_code == 200


def test_kserve_v1_explain_is_501(gateway) -> None:
    """:explain is a 501 in KServe's error body: the gateway serves predictions only."""
    process, _, model = gateway
    response = httpx.post(f"{process.url}/v1/models/{model}:explain", json={"instances": [ROW]}, timeout=10)
    assert response.status_code == 501, response.text
    assert "has no explainer" in response.json()["error"]
