"""The Open Inference Protocol (v2) over the ASGI app and a real runtime: metadata, infer, stamps and errors."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from registry_client.settings import GatewaySettings
from service.composition import Runtime, build_runtime
from service.dataplane.routing import bucket, canary_threshold
from service.rest import tensors
from service.rest.app import build_app
from tests.support.gateways import canaried_gateway
from tests.support.tokens import TOKEN_SETTINGS

ROW = [5.1, 3.5, 1.4, 0.2]
ROW2 = [6.7, 3.0, 5.2, 2.3]


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    model: str  # v1 logistic regression stable, v2 tree as a sticky 50% canary
    regressor: str


@pytest.fixture
def served(tmp_path: Path, model_name: str, iris_models, diabetes_ridge) -> Iterator[Served]:
    """A runtime serving a classifier with a sticky canary, and a regressor."""
    with canaried_gateway(
        tmp_path, model_name, iris_models, regressor=diabetes_ridge, max_batch=50, max_body_bytes=4096
    ) as built:
        yield Served(built.client, built.runtime, model_name, model_name + "r")


def tensor(data, shape=None, datatype="FP64", name="input-0") -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data), len(data[0])], "data": data}


def infer(served: Served, body: dict | bytes, path: str | None = None, **kwargs):
    url = path or f"/v2/models/{served.model}/infer"
    if isinstance(body, dict):
        return served.client.post(url, content=orjson.dumps(body), **kwargs)
    return served.client.post(url, content=body, **kwargs)


def keys_for(model: str) -> tuple[str, str]:
    """A routing key the 50% sticky canary takes, and one it leaves on stable."""
    keys = [f"user-{i}" for i in range(100)]
    threshold = canary_threshold(50)
    return (
        next(k for k in keys if bucket(model, k) < threshold),
        next(k for k in keys if bucket(model, k) >= threshold),
    )


def assert_v2_error(response, status: int, message: str) -> None:
    """A refusal is the spec's body, exactly {"error": "<message>"}, with a request ID in the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    assert message in body["error"], body["error"]
    assert response.headers["x-request-id"]


def test_server_metadata_and_health(served) -> None:
    """/v2 names the server; live and ready answer 200 once a model is served."""
    body = served.client.get("/v2").json()
    assert body["name"] == "canaryline" and body["version"] and body["extensions"] == []
    assert served.client.get("/v2/health/live").status_code == 200
    ready = served.client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


def test_v2_with_a_trailing_slash_is_server_metadata(served) -> None:
    """GET /v2/ is the same server metadata as GET /v2, not a 404."""
    response = served.client.get("/v2/")
    assert response.status_code == 200 and response.json() == served.client.get("/v2").json()


def test_not_ready_before_any_model_is_served(tmp_path: Path) -> None:
    """With nothing served, /v2/health/ready is the spec's 4xx with an error body; live stays 200."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
    try:
        with TestClient(build_app(runtime)) as client:
            assert_v2_error(client.get("/v2/health/ready"), 400, "no model is served")
            assert client.get("/v2/health/live").status_code == 200
    finally:
        runtime.close()


def test_classifier_metadata_matches_the_model(served) -> None:
    """Inputs are [-1, n_features] FP64; outputs are INT64 labels and FP64 [-1, n_classes] probabilities."""
    body = served.client.get(f"/v2/models/{served.model}").json()
    assert body == {
        "name": served.model,
        "versions": ["v1", "v2"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [
            {"name": "predictions", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    assert served.client.get(f"/v2/models/{served.model}/versions/v2").json()["inputs"] == body["inputs"]


def test_regressor_metadata(served) -> None:
    """A regressor has FP64 predictions and no probabilities."""
    regressor = served.client.get(f"/v2/models/{served.regressor}").json()
    assert regressor["inputs"][0]["shape"] == [-1, 10]
    assert regressor["outputs"] == [{"name": "predictions", "datatype": "FP64", "shape": [-1]}]


def test_metadata_and_readiness_errors(served) -> None:
    """An unknown model or a version not served is a 404 in the spec's body, naming what is served."""
    assert_v2_error(served.client.get("/v2/models/nope"), 404, "model 'nope' is not served")
    assert_v2_error(
        served.client.get(f"/v2/models/{served.model}/versions/v9"),
        404,
        "does not serve version 'v9'; versions being served: v1, v2",
    )
    assert_v2_error(served.client.get("/v2/models/nope/ready"), 404, "model 'nope' is not served")
    assert_v2_error(served.client.get(f"/v2/models/{served.model}/versions/v9/ready"), 404, "version 'v9'")


def test_model_readiness(served) -> None:
    """A served model and a served version are ready (200)."""
    assert served.client.get(f"/v2/models/{served.model}/ready").json() == {"name": served.model, "ready": True}
    body = served.client.get(f"/v2/models/{served.model}/versions/v2/ready").json()
    assert body == {"name": served.model, "ready": True, "version": "v2"}


def test_infer_is_stamped_and_logged_once(served) -> None:
    """The response names the served version, echoes id, and the call has exactly one stamped record."""
    response = infer(served, {"id": "order-9", "inputs": [tensor([ROW, ROW2])]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == served.model and body["id"] == "order-9"
    params = body["parameters"]
    assert params["request_id"] == "order-9" and params["revision"] == 2
    assert body["model_version"] == {"stable": "v1", "canary": "v2"}[params["route"]]
    predictions, probabilities = body["outputs"]
    assert predictions["name"] == "predictions" and predictions["datatype"] == "INT64"
    assert predictions["shape"] == [2] and len(predictions["data"]) == 2
    assert probabilities["name"] == "probabilities" and probabilities["datatype"] == "FP64"
    assert probabilities["shape"] == [2, 3] and len(probabilities["data"]) == 6
    assert response.headers["x-request-id"] == "order-9"
    assert response.headers["x-model-version"] == body["model_version"]
    [record] = served.runtime.store.predictions_for_request("order-9")
    assert (record.prediction_id, record.model_version, record.route, record.revision) == (
        params["prediction_id"],
        body["model_version"],
        params["route"],
        2,
    )
    assert record.inputs == [ROW, ROW2] and record.predictions == predictions["data"]


def test_null_optional_fields_are_absent_fields(served) -> None:
    """kserve's own datamodels send every optional field, as null: id, parameters, a tensor's parameters,
    outputs and an output's parameters. Each null means absent (the spec allows them all to be missing)."""
    body: dict[str, Any] = {
        "id": None,
        "parameters": None,
        "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "parameters": None, "data": ROW}],
        "outputs": None,
    }
    response = infer(served, body)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == response.json()["parameters"]["request_id"]
    body["outputs"] = [{"name": "predictions", "parameters": None}]
    body["parameters"] = {"routing_key": None}
    chosen = infer(served, body)
    assert chosen.status_code == 200, chosen.text
    assert [o["name"] for o in chosen.json()["outputs"]] == ["predictions"]
    assert served.runtime.store.count_predictions() == 2


def test_gzip_bodies_are_served_and_bombs_refused(served) -> None:
    """A gzip infer body is served; one over the limit once decompressed is a 413 in the spec's body."""
    small = gzip.compress(orjson.dumps({"id": "gz-v2", "inputs": [tensor([ROW])]}))
    response = infer(served, small, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json()["id"] == "gz-v2"
    big = gzip.compress(orjson.dumps({"inputs": [tensor([ROW] * 50)], "parameters": {"pad": "x" * 10_000}}))
    assert_v2_error(infer(served, big, headers={"Content-Encoding": "gzip"}), 413, "once decompressed")
    assert_v2_error(infer(served, small, headers={"Content-Encoding": "zstd"}), 415, "'zstd' is not supported")
    assert len(served.runtime.store.predictions_for_request("gz-v2")) == 1 == served.runtime.store.count_predictions()


def test_flat_and_nested_data_give_the_same_answer(served) -> None:
    """Row-major flat data and data nested as rows are the same tensor."""
    pin = f"/v2/models/{served.model}/versions/v1/infer"
    nested = infer(served, {"inputs": [tensor([ROW, ROW2])]}, pin).json()
    flat = infer(served, {"inputs": [tensor(ROW + ROW2, [2, 4])]}, pin).json()
    assert nested["outputs"] == flat["outputs"]


def test_without_id_the_answer_carries_the_header_or_a_generated_id(served) -> None:
    """No id: the answer's id and parameters.request_id are X-Request-ID when sent, else a new one."""
    generated = infer(served, {"inputs": [tensor([ROW])]})
    body = generated.json()
    assert body["id"] == body["parameters"]["request_id"] == generated.headers["x-request-id"]
    header = infer(served, {"inputs": [tensor([ROW])]}, headers={"X-Request-ID": "req 1"}).json()
    assert header["id"] == header["parameters"]["request_id"] == "req 1"
    assert len(served.runtime.store.predictions_for_request("req 1")) == 1


@pytest.mark.parametrize("request_id", ["order 77/line 2", "zählung-1", "x" * 200, "a/b?c=d&e", " padded "])
def test_any_id_is_echoed_exactly_and_kept_on_the_record(served, request_id: str) -> None:
    """OIP allows any string as id: it is echoed as given and is the record's request_id; the X-Request-ID
    header carries it only when it is header-safe (printable ASCII, no surrounding space)."""
    response = infer(served, {"id": request_id, "inputs": [tensor([ROW])]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == body["parameters"]["request_id"] == request_id
    header_safe = request_id.isascii() and request_id.strip() == request_id
    assert response.headers.get("x-request-id") == (request_id if header_safe else None)
    [record] = served.runtime.store.predictions_for_request(request_id)
    assert record.request_id == request_id and record.prediction_id == body["parameters"]["prediction_id"]


@pytest.mark.parametrize(
    ("datatype", "row"),
    [("FP32", ROW), ("FP16", ROW), ("INT64", [5, 3, 1, 0]), ("INT8", [5, 3, 1, 0]), ("UINT32", [5, 3, 1, 0])],
)
def test_numeric_datatypes_are_accepted(served, datatype: str, row: list) -> None:
    """Float and integer tensors are served; the record keeps the values sent."""
    response = infer(served, {"id": f"dt-{datatype}", "inputs": [tensor([row], datatype=datatype)]})
    assert response.status_code == 200, response.text
    [record] = served.runtime.store.predictions_for_request(f"dt-{datatype}")
    assert record.inputs == [row]


def test_version_path_pins(served) -> None:
    """/versions/{v}/infer serves v with route pinned; a version not served is the native 404 message."""
    body = infer(served, {"inputs": [tensor([ROW])]}, f"/v2/models/{served.model}/versions/v2/infer").json()
    assert (body["model_version"], body["parameters"]["route"]) == ("v2", "pinned")
    missing = infer(served, {"inputs": [tensor([ROW])]}, f"/v2/models/{served.model}/versions/v9/infer")
    assert_v2_error(missing, 404, f"model {served.model!r} does not serve version 'v9'; versions being served: v1, v2")
    native = served.client.post("/predict", json={"model": served.model, "inputs": [ROW], "version": "v9"})
    assert native.json()["error"]["message"] == missing.json()["error"]


def test_routing_key_from_parameters_or_header_is_sticky(served) -> None:
    """parameters.routing_key (or X-Routing-Key) sends a key to the canary or stable, every time."""
    to_canary, to_stable = keys_for(served.model)
    for _ in range(3):
        canary = infer(served, {"parameters": {"routing_key": to_canary}, "inputs": [tensor([ROW])]}).json()
        assert (canary["model_version"], canary["parameters"]["route"]) == ("v2", "canary")
        stable = infer(served, {"inputs": [tensor([ROW])]}, headers={"X-Routing-Key": to_stable}).json()
        assert (stable["model_version"], stable["parameters"]["route"]) == ("v1", "stable")


def test_requested_outputs_only(served) -> None:
    """With outputs named, only those come back, in that order."""
    body = infer(served, {"inputs": [tensor([ROW])], "outputs": [{"name": "predictions"}]}).json()
    assert [o["name"] for o in body["outputs"]] == ["predictions"]
    both = {"inputs": [tensor([ROW])], "outputs": [{"name": "probabilities"}, {"name": "predictions"}]}
    assert [o["name"] for o in infer(served, both).json()["outputs"]] == ["probabilities", "predictions"]


def test_regressor_infer(served) -> None:
    """A regressor answers FP64 predictions only."""
    regressor = infer(served, {"inputs": [tensor([[0.01] * 10])]}, f"/v2/models/{served.regressor}/infer").json()
    assert [(o["name"], o["datatype"]) for o in regressor["outputs"]] == [("predictions", "FP64")]
    assert regressor["outputs"][0]["shape"] == [1] and isinstance(regressor["outputs"][0]["data"][0], float)


def _bad(**changes) -> dict:
    body = {"inputs": [tensor([ROW])]}
    inputs = changes.pop("inputs", None)
    body["inputs"][0].update(changes)
    if inputs is not None:
        body["inputs"] = inputs
    return body


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "body is not valid JSON"),
        (b"[]", 422, "body must be a JSON object"),
        ({"id": "x"}, 422, "field 'inputs' is required"),
        (_bad(inputs=[tensor([ROW]), tensor([ROW])]), 422, "several input tensors are DataFrame columns"),
        (_bad(inputs={"name": "x"}), 422, "is an object"),
        (_bad(inputs=["x"]), 422, "must be a tensor object"),
        (_bad(name=""), 422, "field 'inputs[0].name' must be a non-empty string"),
        (_bad(datatype="BYTES"), 422, "has datatype 'BYTES'; supported datatypes: FP16, FP32, FP64"),
        (_bad(datatype=None), 422, "has datatype None"),
        (_bad(shape=[4], data=ROW), 422, "has shape [4]; the model takes a 2-D shape [rows, features]"),
        (_bad(shape=[1, 2, 2], data=ROW), 422, "has shape [1, 2, 2]"),
        (_bad(shape=[1, -4]), 422, "has shape [1, -4]"),
        (_bad(shape=[1, "4"]), 422, "has shape [1, '4']"),
        (_bad(shape=[0, 4], data=[]), 422, "it must hold at least one row"),
        (_bad(shape=[1, 0], data=[]), 422, "rows must hold at least one feature"),
        (_bad(shape=[51, 4], data=ROW * 51), 422, "holds 51 rows, more than the limit of 50"),
        (_bad(shape=[2, 4], data=ROW + ROW[:3]), 422, "has shape [2, 4] (8 values) but data holds 7"),
        (_bad(shape=[2, 4], data=[ROW]), 422, "has shape [2, 4] but data holds 1 rows"),
        (_bad(shape=[2, 4], data=[ROW, ROW[:3]]), 422, "but data[1] holds 3 values"),
        (_bad(shape=[1, 3], data=[ROW[:3]]), 422, "expects 4 features per row"),
        (_bad(data=None), 422, "needs field 'data': a list of 4 numbers"),
        (_bad(data=[[1, 2, 3, "x"]]), 422, "input 'input-0' data[0][3] must be a number, not a string"),
        (_bad(data=[[1, 2, 3, True]]), 422, "data[0][3] must be a number, not a boolean"),
        (_bad(data=[1, 2, 3, [4]], shape=[1, 4]), 422, "data[3] must be a number, not a list"),
        (_bad(datatype="INT32", data=[[5, 3, 1.5, 0]]), 422, "data[0][2] must be an integer for INT32"),
        (_bad(datatype="INT8", data=[[5, 3, 300, 0]]), 422, "data[0][2] is 300, out of range for INT8"),
        (_bad(datatype="UINT8", data=[[5, 3, -1, 0]]), 422, "is -1, out of range for UINT8"),
        (_bad(datatype="FP32", data=[[5, 3, 1e39, 0]]), 422, "must be in range for FP32"),
        (_bad(parameters={"binary_data_size": 16}), 400, "binary tensor data is not supported"),
        ({"id": 7, "inputs": [tensor([ROW])]}, 400, "field 'id' must be a string"),
        ({"id": "nl-1\n", "inputs": [tensor([ROW])]}, 400, "field 'id' must be 1-256 characters with no control"),
        ({"id": "", "inputs": [tensor([ROW])]}, 400, "field 'id' must be 1-256 characters"),
        ({"id": "x" * 257, "inputs": [tensor([ROW])]}, 400, "field 'id' must be 1-256 characters"),
        ({"parameters": [], "inputs": [tensor([ROW])]}, 422, "field 'parameters' must be an object"),
        ({"parameters": {"routing_key": 5}, "inputs": [tensor([ROW])]}, 422, "parameter 'routing_key' must be"),
        ({"parameters": {"routing_key": "k" * 257}, "inputs": [tensor([ROW])]}, 422, "at most 256 characters"),
        ({"outputs": "predictions", "inputs": [tensor([ROW])]}, 422, "field 'outputs' must be a list"),
        ({"outputs": [{"nom": "x"}], "inputs": [tensor([ROW])]}, 422, "field 'outputs[0].name' must be a string"),
        ({"outputs": [{"name": "logits"}], "inputs": [tensor([ROW])]}, 422, "has no output 'logits'"),
    ],
)
def test_bad_tensors_get_the_spec_error_body_and_no_record(served, body, status: int, message: str) -> None:
    """Each bad request is a 4xx with exactly {"error": message}; nothing reaches a model or the log."""
    assert_v2_error(infer(served, body), status, message)
    assert served.runtime.store.count_predictions() == 0


@pytest.mark.parametrize(
    ("raw", "message"), [(b"NaN", "not nan"), (b"Infinity", "not inf"), (b"-Infinity", "not -inf")]
)
def test_non_finite_numbers_are_refused(served, raw: bytes, message: str) -> None:
    """NaN and infinities (not JSON, but sent by some encoders) are 422s naming the element."""
    body = b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, ' + raw + b"]}]}"
    response = infer(served, body)
    assert_v2_error(response, 422, f"input 'x' data[3] must be a finite number for FP64, {message}")
    assert served.runtime.store.count_predictions() == 0


def test_transport_refusals(served) -> None:
    """Binary bodies, oversized bodies, a bad X-Request-ID, unknown models and paths use the spec's body."""
    binary = infer(served, {"inputs": [tensor([ROW])]}, headers={"Inference-Header-Content-Length": "10"})
    assert_v2_error(binary, 400, "binary tensor data is not supported")
    big = {"inputs": [tensor([ROW] * 40)], "parameters": {"pad": "x" * 4096}}
    assert_v2_error(infer(served, big), 413, "over the limit of 4096 bytes")
    bad_header = infer(served, {"inputs": [tensor([ROW])]}, headers={"X-Request-ID": "x" * 257})
    assert_v2_error(bad_header, 400, "header X-Request-ID must be 1-256 characters")
    assert bad_header.headers["x-request-id"] != "x" * 257
    assert_v2_error(infer(served, {"inputs": [tensor([ROW])]}, "/v2/models/nope/infer"), 404, "'nope' is not served")
    assert_v2_error(served.client.get(f"/v2/models/{served.model}/config"), 404, "no route GET")
    assert_v2_error(served.client.post("/v2/health/live"), 405, "method POST is not allowed")
    assert_v2_error(served.client.request("TRACE", "/v2/health/live"), 405, "method TRACE is not allowed")
    assert_v2_error(served.client.request("OPTIONS", "/v2/nope"), 404, "no route OPTIONS /v2/nope")
    assert served.runtime.store.count_predictions() == 0


def test_datatype_of_labels() -> None:
    """Labels map to the datatype that carries them: BOOL, INT64, FP64 or BYTES."""
    assert [tensors.datatype_of(v) for v in ([True], [1, 2], [1, 2.5], ["a"], [None])] == [
        "BOOL",
        "INT64",
        "FP64",
        "BYTES",
        "BYTES",
    ]


def test_infer_calls_are_counted_like_native_predictions(served) -> None:
    """An answered infer counts as ok under its model, version and route; a refusal as a client error."""
    body = infer(served, {"inputs": [tensor([ROW])]}, f"/v2/models/{served.model}/versions/v1/infer").json()
    assert (body["model_version"], body["parameters"]["route"]) == ("v1", "pinned")
    infer(served, b"{")
    sample = served.runtime.gateway.metrics.registry.get_sample_value
    labels = {"model": served.model, "version": "v1", "route": "pinned"}
    assert sample("canaryline_requests_total", {**labels, "outcome": "ok"}) == 1
    unrouted = {"model": "", "version": "", "route": "", "outcome": "client_error"}
    assert sample("canaryline_requests_total", unrouted) == 1


def test_a_broken_routing_key_header_is_refused_even_beside_a_parameter(served) -> None:
    """X-Routing-Key over 256 characters is a 422 naming the header, also when parameters.routing_key is valid."""
    body = {"parameters": {"routing_key": "user-1"}, "inputs": [tensor([ROW])]}
    response = infer(served, body, headers={"X-Routing-Key": "k" * 257})
    assert response.status_code == 422, response.text
    assert "header X-Routing-Key must be a non-empty string of at most 256" in response.json()["error"]
