"""The gateway's ASGI app over a real runtime (SQLite store, verified models): stamping and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from registry_client.registry import Registry
from registry_client.store import open_store
from service.composition import Runtime, build_runtime
from service.http import build_app
from service.settings import GatewaySettings
from tests.support.tokens import READ_TOKEN, TOKEN_SETTINGS, bearer

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def served(
    tmp_path: Path, model_name: str, iris_models, diabetes_ridge
) -> Iterator[tuple[TestClient, Runtime, str, str]]:
    """A runtime serving a classifier and a regressor, and a client on its app."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(model_name, iris_models["logreg"])
    regressor = model_name + "r"
    registry.register(regressor, diabetes_ridge, task="regression")
    settings = GatewaySettings(store=url, home=tmp_path, max_batch=50, max_body_bytes=4096, **TOKEN_SETTINGS)
    runtime = build_runtime(settings)
    with TestClient(build_app(runtime)) as client:
        yield client, runtime, model_name, regressor
    runtime.close()


def assert_error(response, status: int, code: str, message: str) -> dict:
    """Every refusal has the one error shape, with a request ID that is also in the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert message in body["error"]["message"]
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    return body


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


def test_client_request_id_is_honoured_and_logged(served) -> None:
    """A valid X-Request-ID is echoed and becomes the record's request_id."""
    client, runtime, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Request-ID": "order-77:a"})
    assert response.headers["x-request-id"] == "order-77:a" == response.json()["request_id"]
    [record] = runtime.store.predictions_for_request("order-77:a")
    assert (record.prediction_id, record.model_version, record.inputs) == (
        response.json()["prediction_id"],
        "v1",
        [ROW],
    )


def test_invalid_request_id_is_refused_not_echoed(served) -> None:
    """A bad X-Request-ID is a 400 naming the header and rule; a fresh ID is returned instead."""
    client, runtime, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Request-ID": "no spaces"})
    body = assert_error(
        response,
        400,
        "invalid_request_id",
        "header X-Request-ID must match ^[A-Za-z0-9._:-]{1,128}$",
    )
    assert body["error"]["request_id"] != "no spaces"
    assert runtime.store.count_predictions() == 0


def test_a_routing_key_header_breaking_its_rule_is_422(served) -> None:
    """X-Routing-Key longer than 256 characters is refused naming the header, as on the other protocols."""
    client, runtime, model, _ = served
    response = client.post("/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Routing-Key": "k" * 257})
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


def test_wrong_method_uses_the_error_shape(served) -> None:
    """GET /predict is a 405 in the same error shape."""
    client, _, _, _ = served
    assert_error(client.get("/predict"), 405, "method_not_allowed", "Method Not Allowed")
