"""The gateway's ASGI app over a real runtime (SQLite store, verified models): stamping and errors."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from registry_client.settings import GatewaySettings
from service.composition import Runtime, build_runtime
from service.rest.app import build_app
from tests.support.assertions import assert_error
from tests.support.gateways import canaried_gateway, gateway
from tests.support.tokens import READ_TOKEN, TOKEN_SETTINGS, bearer

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def served(
    tmp_path: Path, model_name: str, iris_models, diabetes_ridge
) -> Iterator[tuple[TestClient, Runtime, str, str]]:
    """A runtime serving a classifier and a regressor, and a client on its app."""
    regressor = model_name + "r"
    models = {model_name: [iris_models["logreg"]], regressor: [diabetes_ridge]}
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with gateway(url, tmp_path, models, regression={regressor}, max_batch=50, max_body_bytes=4096) as built:
        yield built.client, built.runtime, model_name, regressor


def test_prediction_is_stamped(served) -> None:
    """200 carries model, version, request and prediction IDs, route, predictions and probabilities."""
    client, _, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW, ROW]})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["model_version"], body["route"], body["revision"]) == (
        model,
        "v1",
        "stable",
        1,
    )
    assert body["predictions"] == [0, 0]
    assert len(body["probabilities"]) == 2 and abs(sum(body["probabilities"][0]) - 1) < 1e-9
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers["x-model-version"] == "v1"
    assert body["prediction_id"] != body["request_id"]


def test_regressors_answer_without_probabilities(served) -> None:
    """A regression model returns numbers and no probabilities field."""
    client, _, _, regressor = served
    body = client.post("/predict", json={"model": regressor, "inputs": [[0.01] * 10]}).json()
    assert isinstance(body["predictions"][0], float) and "probabilities" not in body


@pytest.mark.parametrize(
    ("sent", "request_id"),
    [
        ("order-77:a", "order-77:a"),
        ("req 1", "req 1"),
        ("order 77/line 2", "order 77/line 2"),
        ("x" * 200, "x" * 200),
        ("zählung-1".encode(), "zählung-1"),  # header bytes are UTF-8
    ],
)
def test_client_request_id_is_honoured_and_logged(served, sent: str | bytes, request_id: str) -> None:
    """Any X-Request-ID of the rule is echoed exactly in the body and becomes the record's request_id; the
    response header carries it only when it is printable ASCII."""
    client, runtime, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Request-ID": sent})
    assert response.status_code == 200, response.text
    assert response.json()["request_id"] == request_id
    assert response.headers.get("x-request-id") == (request_id if request_id.isascii() else None)
    [record] = runtime.store.predictions_for_request(request_id)
    assert (record.request_id, record.prediction_id, record.model_version, record.inputs) == (
        request_id,
        response.json()["prediction_id"],
        "v1",
        [ROW],
    )


@pytest.mark.parametrize(
    ("sent", "rule"),
    [
        ("x" * 257, "header X-Request-ID must be 1-256 characters"),
        ("a\x01b", "no control characters"),
        ("del\x7f", "no control characters"),
    ],
)
def test_invalid_request_id_is_refused_not_echoed(served, sent: str | bytes, rule: str) -> None:
    """A bad X-Request-ID is a 400 naming the header and rule; a fresh ID is returned instead, nothing logged."""
    client, runtime, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Request-ID": sent})
    body = assert_error(response, 400, "invalid_request_id", rule)
    assert body["error"]["request_id"] != sent
    assert runtime.store.count_predictions() == 0


@pytest.mark.parametrize("body_key", [None, "user-1"], ids=["header-only", "body-key-too"])
def test_a_routing_key_header_breaking_its_rule_is_422(served, body_key: str | None) -> None:
    """X-Routing-Key longer than 256 characters is refused naming the header, as on the other protocols, even
    when the body's routing_key (which wins) is valid: a broken header is never silently ignored."""
    client, runtime, model, _ = served
    body = {"model": model, "inputs": [ROW], **({"routing_key": body_key} if body_key else {})}
    response = client.post("/predict", json=body, headers={"X-Routing-Key": "k" * 257})
    assert_error(response, 422, "invalid_input", "header X-Routing-Key must be a non-empty string of at most 256")
    assert runtime.store.count_predictions() == 0


@pytest.mark.parametrize(
    ("payload", "status", "code", "message"),
    [
        (b"{", 400, "invalid_json", "body is not valid JSON"),
        (b'{"inputs": [[1, 2, 3]]}', 422, "wrong_width", "expects 4 features per row"),
        (
            b'{"inputs": [[1, 2, 3, "x"]]}',
            422,
            "invalid_input",
            "field 'inputs[0][3]' must be a number",
        ),
        (
            b'{"inputs": [[1, 2, 3, NaN]]}',
            422,
            "invalid_input",
            "field 'inputs[0][3]' must be a finite number",
        ),
        (
            b'{"inputs": [[1, 2, 3, Infinity]]}',
            422,
            "invalid_input",
            "field 'inputs[0][3]' must be a finite number",
        ),
        (b'{"inputs": []}', 422, "empty_batch", "at least one row"),
        (
            b'{"inputs": ' + orjson.dumps([ROW] * 51) + b"}",
            422,
            "batch_too_large",
            "more than the limit of 50",
        ),
        (
            b'{"model": "nope", "inputs": [[1, 2, 3, 4]]}',
            404,
            "unknown_model",
            "model 'nope' is not served",
        ),
        (b'{"model": "MODEL"}', 422, "missing_field", "field 'inputs' is required"),
    ],
)
def test_bad_input_gets_one_error_shape_and_no_record(
    served, payload: bytes, status: int, code: str, message: str
) -> None:
    """Each bad input is a 4xx in the one error shape, never reaches the model and is not logged."""
    client, runtime, model, _ = served
    if b'"model"' not in payload:
        payload = payload.replace(b"{", b'{"model": "' + model.encode() + b'", ', 1) if payload != b"{" else payload
    payload = payload.replace(b"MODEL", model.encode())
    assert_error(client.post("/predict", content=payload), status, code, message)
    assert runtime.store.count_predictions() == 0


def test_inputs_that_make_the_model_answer_nan_are_refused(served) -> None:
    """1e308 makes the classifier's probabilities NaN and the regressor's prediction infinite: a 422 naming
    the model, version and row, never a null in the answer, and no record."""
    client, runtime, model, regressor = served
    classified = client.post("/predict", json={"model": model, "inputs": [ROW, [1e308] * 4]})
    assert_error(
        classified, 422, "non_finite_output", f"model {model!r} version 'v1' returned a non-finite probability"
    )
    assert "for row 1" in classified.json()["error"]["message"]
    regressed = client.post("/predict", json={"model": regressor, "inputs": [[1e308] * 10]})
    assert_error(
        regressed, 422, "non_finite_output", f"model {regressor!r} version 'v1' returned a non-finite prediction"
    )
    assert runtime.store.count_predictions() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"inputs": [[5.1, 3.5, ' + b"1" * 400 + b", 0.2]]}", "inputs[0][2]"),
        (b'{"inputs": [[5.1, 3.5, -' + b"7" * 400 + b", 0.2]]}", "inputs[0][2]"),
    ],
)
def test_integers_beyond_float64_are_422(served, payload: bytes, field: str) -> None:
    """A 400-digit integer literal is a 422 naming the element (it used to overflow NumPy: a 500)."""
    client, runtime, model, _ = served
    body = payload.replace(b"{", b'{"model": "' + model.encode() + b'", ', 1)
    assert_error(
        client.post("/predict", content=body),
        422,
        "invalid_input",
        f"field '{field}' is out of range for a 64-bit float",
    )
    assert runtime.store.count_predictions() == 0


def test_bodies_over_the_limit_are_413(served) -> None:
    """A body over CANARYLINE_MAX_BODY_BYTES is refused with 413, declared or streamed."""
    client, runtime, model, _ = served
    big = orjson.dumps({"model": model, "inputs": [ROW] * 40, "pad": "x" * 5000})
    assert_error(
        client.post("/predict", content=big),
        413,
        "payload_too_large",
        "over the limit of 4096 bytes",
    )
    streamed = client.post("/predict", content=iter([big[:3000], big[3000:]]))
    assert_error(streamed, 413, "payload_too_large", "over the limit of 4096 bytes")
    assert runtime.store.count_predictions() == 0


def test_gzip_bodies_are_served(served) -> None:
    """A Content-Encoding: gzip body is decompressed and served, and logged like any other."""
    client, runtime, model, _ = served
    body = gzip.compress(orjson.dumps({"model": model, "inputs": [ROW, ROW]}))
    response = client.post("/predict", content=body, headers={"Content-Encoding": "gzip", "X-Request-ID": "gz-1"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [0, 0]
    assert len(runtime.store.predictions_for_request("gz-1")) == 1


@pytest.mark.parametrize(
    ("body", "encoding", "status", "code", "message"),
    [
        (
            gzip.compress(b'{"inputs": [' + b"[5.1, 3.5, 1.4, 0.2], " * 400 + b"[1, 2, 3, 4]]}", mtime=0),
            "gzip",
            413,
            "payload_too_large",
            "over the limit of 4096 bytes once decompressed (CANARYLINE_MAX_BODY_BYTES)",
        ),
        (b"definitely not gzip", "gzip", 400, "invalid_encoding", "body is not valid gzip"),
        (gzip.compress(b'{"inputs": [[1, 2, 3, 4]]}', mtime=0)[:-4], "gzip", 400, "invalid_encoding", "ends inside"),
        (b'{"inputs": [[1, 2, 3, 4]]}', "br", 415, "unsupported_encoding", "Content-Encoding 'br' is not supported"),
    ],
)
def test_bad_encodings_get_the_error_shape_and_no_record(
    served, body: bytes, encoding: str, status: int, code: str, message: str
) -> None:
    """A body over the limit once decompressed is a 413, corrupt gzip a 400 and an unknown encoding a 415."""
    client, runtime, _, _ = served
    response = client.post("/predict", content=body, headers={"Content-Encoding": encoding})
    assert_error(response, status, code, message)
    assert runtime.store.count_predictions() == 0


def test_model_is_required_when_several_are_served(served) -> None:
    """Omitting 'model' works with one model served; with two it is a 422 naming them."""
    client, _, model, regressor = served
    assert_error(
        client.post("/predict", json={"inputs": [ROW]}),
        422,
        "missing_field",
        f"serves 2 models ({model}, {regressor})",
    )


def test_one_record_per_200(served) -> None:
    """Every 200 has exactly one record with its prediction_id; refusals add none."""
    client, runtime, model, _ = served
    ok = [client.post("/predict", json={"model": model, "inputs": [ROW]}).json()["prediction_id"] for _ in range(30)]
    for _ in range(5):
        client.post("/predict", json={"model": model, "inputs": [[1]]})
    assert sorted(r.prediction_id for r in runtime.store.iter_predictions(model)) == sorted(ok)


def test_models_endpoints_show_plan_and_versions(served) -> None:
    """GET /models lists served models; GET /models/{name} shows plan and loaded versions; unknown is 404."""
    client, _, model, regressor = served
    names = [m["model"] for m in client.get("/models", headers=bearer(READ_TOKEN)).json()["models"]]
    assert names == sorted([model, regressor])
    detail = client.get(f"/models/{model}", headers=bearer(READ_TOKEN)).json()
    assert detail["plan"]["stable"] == "v1" and list(detail["versions"]) == ["v1"]
    assert detail["versions"]["v1"]["n_features"] == 4
    assert_error(
        client.get("/models/nope", headers=bearer(READ_TOKEN)), 404, "unknown_model", "model 'nope' is not served"
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message"),
    [
        ("GET", "/predict", 405, "method_not_allowed", "method GET is not allowed on /predict"),
        ("TRACE", "/models", 405, "method_not_allowed", "method TRACE is not allowed on /models"),
        ("GET", "/nope", 404, "no_route", "no route GET /nope"),
        ("DELETE", "/models/x/y", 404, "no_route", "no route DELETE /models/x/y"),
    ],
)
def test_wrong_methods_and_unknown_paths_use_the_error_shape(
    served, method: str, path: str, status: int, code: str, message: str
) -> None:
    """A wrong method is a 405 and an unknown path a 404, in the one error shape, naming method and path."""
    client, _, _, _ = served
    response = client.request(method, path)
    assert_error(response, status, code, message)
    if status == 405:
        assert "GET" in response.headers["allow"] or "POST" in response.headers["allow"]


@pytest.fixture
def canaried(tmp_path: Path, model_name: str, iris_models) -> Iterator[tuple[TestClient, Runtime, str]]:
    """v1 (logistic regression) stable and v2 (a float32 tree) a sticky 50% canary."""
    with canaried_gateway(tmp_path, model_name, iris_models) as built:
        yield built.client, built.runtime, model_name


def test_a_lone_surrogate_routing_key_is_422_on_every_protocol(canaried) -> None:
    """A routing key "\\ud800" with a sticky canary is a 422 naming the field (the bucket hash used to fail
    encoding it: a 500), on /predict, KServe v1 and OIP v2; nothing is logged."""
    client, runtime, model = canaried
    native = client.post("/predict", content=b'{"inputs": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "\\ud800"}')
    assert_error(native, 422, "invalid_input", "field 'routing_key' must be valid Unicode text")
    v1 = client.post(
        f"/v1/models/{model}:predict", content=b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "\\ud800"}'
    )
    assert v1.status_code == 422 and "field 'routing_key' must be valid Unicode" in v1.json()["error"]
    v2 = client.post(
        f"/v2/models/{model}/infer",
        content=b'{"parameters": {"routing_key": "\\udfff"}, "inputs": [{"name": "x", "datatype": "FP64", '
        b'"shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}',
    )
    assert v2.status_code == 422 and "field 'parameters.routing_key' must be valid Unicode" in v2.json()["error"]
    assert runtime.store.count_predictions() == 0


def test_inputs_a_model_refuses_are_422_naming_it(canaried) -> None:
    """The tree scores in float32, and scikit-learn refuses 1e308 with a ValueError: a 422 naming the model and
    version on every protocol (it used to be a 500), and no record."""
    client, runtime, model = canaried
    native = client.post("/predict", json={"inputs": [[1e308] * 4], "version": "v2"})
    assert_error(native, 422, "model_rejected_input", f"model {model!r} version 'v2' cannot score these inputs")
    assert "too large for dtype('float32')" in native.json()["error"]["message"]
    v1 = client.post(
        f"/v1/models/{model}:predict", json={"instances": [[1e308] * 4]}, headers={"X-Model-Version": "v2"}
    )
    assert v1.status_code == 422 and "version 'v2' cannot score these inputs" in v1.json()["error"]
    tensor = {"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1e308] * 4}
    v2 = client.post(f"/v2/models/{model}/versions/v2/infer", json={"inputs": [tensor]})
    assert v2.status_code == 422 and "version 'v2' cannot score these inputs" in v2.json()["error"]
    v2_nan = client.post(f"/v2/models/{model}/versions/v1/infer", json={"inputs": [tensor]})
    assert v2_nan.status_code == 422 and "version 'v1' returned a non-finite probability" in v2_nan.json()["error"]
    assert runtime.store.count_predictions() == 0


def test_a_gateway_serving_nothing_says_where_it_looked(tmp_path: Path) -> None:
    """With no model registered, the 404 names the store and BentoML's model store it read, and the
    settings that choose them, so a user on the wrong home sees why."""
    settings = GatewaySettings(store=f"sqlite:///{tmp_path / 'empty.db'}", home=tmp_path, **TOKEN_SETTINGS)
    runtime = build_runtime(settings)
    try:
        with TestClient(build_app(runtime)) as client:
            response = client.post("/predict", json={"model": "wine", "inputs": [[1.0]]})
    finally:
        runtime.close()
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert f"in store sqlite:///{tmp_path / 'empty.db'}" in message
    assert str(settings.model_store()) in message and "BENTOML_HOME" in message
