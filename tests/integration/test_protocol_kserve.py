"""KServe's v1 protocol over the ASGI app and a real runtime: stamped predictions, routing and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from service.dataplane.routing import bucket, canary_threshold
from tests.support.gateways import canaried_gateway

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def served(tmp_path: Path, model_name: str, iris_models) -> Iterator[tuple[TestClient, object, str]]:
    """A runtime serving one classifier: v1 stable, v2 a sticky 50% canary."""
    with canaried_gateway(tmp_path, model_name, iris_models, max_batch=50, max_body_bytes=4096) as built:
        yield built.client, built.runtime, model_name


def predict(client: TestClient, model: str, body: dict | bytes, **kwargs):
    content = orjson.dumps(body) if isinstance(body, dict) else body
    return client.post(f"/v1/models/{model}:predict", content=content, **kwargs)


def assert_v1_error(response, status: int, message: str) -> None:
    """A refusal is exactly {"error": "<message>"}, with a request ID in the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and message in body["error"], body
    assert response.headers["x-request-id"]


def test_predict_is_stamped_and_logged_once(served) -> None:
    """{"instances"} in, predictions plus the stamp out; the call is one record under the request ID."""
    client, runtime, model = served
    response = predict(client, model, {"instances": [ROW, ROW]}, headers={"X-Request-ID": "kv1-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == [0, 0] and len(body["probabilities"]) == 2
    assert (body["model"], body["request_id"], body["revision"]) == (model, "kv1-1", 2)
    assert body["model_version"] == {"stable": "v1", "canary": "v2"}[body["route"]]
    assert response.headers["x-model-version"] == body["model_version"]
    [record] = runtime.store.predictions_for_request("kv1-1")
    assert (record.prediction_id, record.model_version, record.route, record.inputs) == (
        body["prediction_id"],
        body["model_version"],
        body["route"],
        [ROW, ROW],
    )


def test_any_request_id_of_the_rule_is_honoured(served) -> None:
    """X-Request-ID with spaces and slashes is the record's request_id and is echoed in body and header."""
    client, runtime, model = served
    response = predict(client, model, {"instances": [ROW]}, headers={"X-Request-ID": "order 77/line 2"})
    assert response.status_code == 200, response.text
    assert response.json()["request_id"] == response.headers["x-request-id"] == "order 77/line 2"
    [record] = runtime.store.predictions_for_request("order 77/line 2")
    assert record.prediction_id == response.json()["prediction_id"]


def test_version_header_pins(served) -> None:
    """X-Model-Version pins as on /predict; a version not served is a 404 listing the served ones."""
    client, _, model = served
    body = predict(client, model, {"instances": [ROW]}, headers={"X-Model-Version": "v2"}).json()
    assert (body["model_version"], body["route"]) == ("v2", "pinned")
    missing = predict(client, model, {"instances": [ROW]}, headers={"X-Model-Version": "v9"})
    assert_v1_error(missing, 404, "does not serve version 'v9'; versions being served: v1, v2")


def test_routing_key_header_or_field_is_sticky(served) -> None:
    """X-Routing-Key or a routing_key field sends a key to the same version every time."""
    client, _, model = served
    keys = [f"user-{i}" for i in range(100)]
    to_canary = next(k for k in keys if bucket(model, k) < canary_threshold(50))
    to_stable = next(k for k in keys if bucket(model, k) >= canary_threshold(50))
    for _ in range(3):
        canary = predict(client, model, {"instances": [ROW]}, headers={"X-Routing-Key": to_canary}).json()
        assert (canary["model_version"], canary["route"]) == ("v2", "canary")
        stable = predict(client, model, {"instances": [ROW], "routing_key": to_stable}).json()
        assert (stable["model_version"], stable["route"]) == ("v1", "stable")


def test_model_listing_and_readiness(served) -> None:
    """GET /v1/models lists served models; GET /v1/models/{name} is ready, or a 404 for an unknown one."""
    client, _, model = served
    assert client.get("/v1/models").json() == {"models": [model]}
    assert client.get(f"/v1/models/{model}").json() == {"name": model, "ready": True}
    assert_v1_error(client.get("/v1/models/nope"), 404, "model 'nope' is not served")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "body is not valid JSON"),
        (b"[]", 422, "body must be a JSON object with field 'instances'"),
        ({"inputs": [ROW]}, 422, "field 'instances' is required"),
        ({"instances": {"a": 1}}, 422, "field 'instances.a' must be a list"),  # columns of named inputs
        ({"instances": []}, 422, "must hold at least one row"),
        ({"instances": [ROW] * 51}, 422, "holds 51 rows, more than the limit of 50"),
        ({"instances": [5.1, 3.5]}, 422, "field 'instances[0]' must be a list holding at least one number"),
        ({"instances": [[]]}, 422, "field 'instances[0]' must be a list holding at least one number"),
        ({"instances": [ROW, ROW[:3]]}, 422, "field 'instances[1]' has 3 values but instances[0] has 4"),
        ({"instances": [[1, 2, 3, "x"]]}, 422, "field 'instances[0][3]' must be a number, not a string"),
        ({"instances": [ROW[:3]]}, 422, "expects 4 features per row"),
        (b'{"instances": [[1, 2, 3, NaN]]}', 422, "field 'instances[0][3]' must be a finite number"),
        (b'{"instances": [[1, 2, 3, -Infinity]]}', 422, "field 'instances[0][3]' must be a finite number"),
        ({"instances": [ROW], "routing_key": ""}, 422, "field 'routing_key' must be a non-empty string"),
    ],
)
def test_bad_instances_get_the_error_body_and_no_record(served, body, status: int, message: str) -> None:
    """Each bad request is a 4xx with exactly {"error": message}; nothing is predicted or logged."""
    client, runtime, model = served
    assert_v1_error(predict(client, model, body), status, message)
    assert runtime.store.count_predictions() == 0


def test_transport_refusals(served) -> None:
    """A bad X-Request-ID, an unknown model and an unknown path use the same body; nothing is logged."""
    client, runtime, model = served
    bad = predict(client, model, {"instances": [ROW]}, headers={"X-Request-ID": "a\x01b"})
    assert_v1_error(bad, 400, "header X-Request-ID must be 1-256 characters with no control characters")
    assert bad.headers["x-request-id"] != "a\x01b"
    assert_v1_error(predict(client, "nope", {"instances": [ROW]}), 404, "model 'nope' is not served")
    assert_v1_error(client.post(f"/v1/models/{model}/explain", content=b"{}"), 404, "no route POST")
    assert_v1_error(client.request("TRACE", f"/v1/models/{model}"), 405, "method TRACE is not allowed")
    assert runtime.store.count_predictions() == 0


def test_root_is_kserve_liveness(served) -> None:
    """GET / answers KServe v1's liveness body, which kserve's client reads (`status` == "alive")."""
    client, _, _ = served
    response = client.get("/")
    assert response.status_code == 200 and response.json() == {"status": "alive"}


def test_explain_is_not_implemented(served) -> None:
    """:explain is a 501 in the v1 error body naming the model (an unknown model stays a 404); nothing logged."""
    client, runtime, model = served
    explained = client.post(f"/v1/models/{model}:explain", json={"instances": [ROW]})
    assert_v1_error(explained, 501, f"model {model!r} has no explainer")
    assert_v1_error(client.post("/v1/models/nope:explain", json={"instances": [ROW]}), 404, "'nope' is not served")
    assert runtime.store.count_predictions() == 0


def test_predictions_are_counted_like_native_ones(served) -> None:
    """An answered v1 predict counts as ok under its model, version and route."""
    client, runtime, model = served
    predict(client, model, {"instances": [ROW]}, headers={"X-Model-Version": "v2"})
    labels = {"model": model, "version": "v2", "route": "pinned", "outcome": "ok"}
    assert runtime.gateway.metrics.registry.get_sample_value("canaryline_requests_total", labels) == 1


def test_a_broken_routing_key_header_is_refused_even_beside_a_field(served) -> None:
    """X-Routing-Key over 256 characters is a 422 naming the header, also when the routing_key field is valid."""
    client, runtime, model = served
    before = runtime.store.count_predictions()
    body = {"instances": [ROW], "routing_key": "user-1"}
    response = predict(client, model, body, headers={"X-Routing-Key": "k" * 257})
    assert_v1_error(response, 422, "header X-Routing-Key must be a non-empty string of at most 256")
    assert runtime.store.count_predictions() == before
