"""Standard clients against a real gateway process: tritonclient (v2) and plain KServe v1 JSON."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from service.dataplane.routing import bucket, canary_threshold

pytestmark = pytest.mark.e2e
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def gateway(gateway_factory, sqlite_url: str, model_name: str, iris_models):
    """A gateway serving v1 (logistic regression) stable and v2 (tree) as a sticky 50% canary."""
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, iris_models["logreg"])
    registry.register(model_name, iris_models["tree"])
    ControlPlane(registry).set_canary(
        model_name, "v2", weight=50, sticky=True, actor="tests", reason="canary", expected_revision=None
    )
    registry.store.close()
    return gateway_factory(sqlite_url)


@pytest.fixture
def client(gateway):
    connection = triton.InferenceServerClient(gateway.url.removeprefix("http://"))
    yield connection
    connection.close()


def tensor(rows: list[list[float]], datatype: str = "FP64") -> triton.InferInput:
    data = triton.InferInput("input-0", [len(rows), len(rows[0])], datatype)
    data.set_data_from_numpy(np.array(rows, dtype=np.float64 if datatype == "FP64" else np.float32), binary_data=False)
    return data


def outputs() -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in ("predictions", "probabilities")]


def test_health_and_metadata(client, model_name: str) -> None:
    """Health, server and model metadata as tritonclient reads them; metadata matches the model."""
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(model_name) and client.is_model_ready(model_name, "v2")
    assert not client.is_model_ready(model_name, "v9")
    assert client.get_server_metadata()["name"] == "canaryline"
    metadata = client.get_model_metadata(model_name)
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (model_name, ["v1", "v2"], "sklearn")
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert metadata["outputs"] == [
        {"name": "predictions", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]
    with pytest.raises(InferenceServerException, match="does not serve version 'v9'"):
        client.get_model_metadata(model_name, "v9")


def test_infer_is_stamped_and_logged_once(client, sqlite_url: str, model_name: str) -> None:
    """An infer call comes back with the version and id, and is exactly one stamped record in the store."""
    result = client.infer(model_name, [tensor(ROWS)], outputs=outputs(), request_id="triton-1")
    response = result.get_response()
    assert (response["model_name"], response["id"]) == (model_name, "triton-1")
    params = response["parameters"]
    assert response["model_version"] == {"stable": "v1", "canary": "v2"}[params["route"]]
    assert result.as_numpy("predictions").shape == (2,)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1)
    store = open_store(sqlite_url)
    [record] = store.predictions_for_request("triton-1")
    assert (record.prediction_id, record.model_version, record.route, record.revision) == (
        params["prediction_id"],
        response["model_version"],
        params["route"],
        2,
    )
    assert record.predictions == result.as_numpy("predictions").tolist()
    # Without requested outputs tritonclient asks for binary ones; the JSON answer still decodes.
    plain = client.infer(model_name, [tensor(ROWS[:1], "FP32")], model_version="v1")
    assert plain.as_numpy("predictions").tolist() == [0]
    generated = plain.get_response()["parameters"]["request_id"]
    assert plain.get_response()["id"] == generated and len(store.predictions_for_request(generated)) == 1
    store.close()


def test_pinning_and_routing_keys(client, model_name: str) -> None:
    """model_version pins (404 when not served); the routing_key parameter keeps a key on its version."""
    pinned = client.infer(model_name, [tensor(ROWS)], model_version="v2", outputs=outputs()).get_response()
    assert (pinned["model_version"], pinned["parameters"]["route"]) == ("v2", "pinned")
    with pytest.raises(InferenceServerException, match="does not serve version 'v9'") as refused:
        client.infer(model_name, [tensor(ROWS)], model_version="v9", outputs=outputs())
    assert refused.value.status() == "404"
    keys = [f"user-{i}" for i in range(100)]
    to_canary = next(k for k in keys if bucket(model_name, k) < canary_threshold(50))
    to_stable = next(k for k in keys if bucket(model_name, k) >= canary_threshold(50))
    for key, expected in ((to_canary, "v2"), (to_stable, "v1")):
        for _ in range(3):
            result = client.infer(model_name, [tensor(ROWS)], outputs=outputs(), parameters={"routing_key": key})
            assert result.get_response()["model_version"] == expected


def test_bad_tensors_are_refused_with_the_spec_body(client, gateway, model_name: str) -> None:
    """A wrong width, datatype or NaN is a 4xx whose {"error"} tritonclient surfaces."""
    with pytest.raises(InferenceServerException, match="expects 4 features per row") as wrong_width:
        client.infer(model_name, [tensor([row[:3] for row in ROWS])], outputs=outputs())
    assert wrong_width.value.status() == "422"
    strings = triton.InferInput("input-0", [1, 4], "BYTES")
    strings.set_data_from_numpy(np.array([["a", "b", "c", "d"]], dtype=np.object_), binary_data=False)
    with pytest.raises(InferenceServerException, match="has datatype 'BYTES'"):
        client.infer(model_name, [strings], outputs=outputs())
    nan = b'{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, NaN]}]}'
    response = httpx.post(f"{gateway.url}/v2/models/{model_name}/infer", content=nan)
    assert response.status_code == 422
    assert response.json() == {"error": "input 'input-0' data[3] must be a finite number for FP64, not nan"}


def test_kserve_v1_json(gateway, sqlite_url: str, model_name: str) -> None:
    """Plain KServe v1 JSON: stamped predictions, pinning by header, one record per call."""
    url = f"{gateway.url}/v1/models/{model_name}:predict"
    response = httpx.post(url, json={"instances": ROWS}, headers={"X-Request-ID": "kv1-e2e"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == 2 and body["request_id"] == "kv1-e2e"
    assert response.headers["x-model-version"] == body["model_version"]
    pinned = httpx.post(url, json={"instances": ROWS}, headers={"X-Model-Version": "v2"}).json()
    assert (pinned["model_version"], pinned["route"]) == ("v2", "pinned")
    assert httpx.get(f"{gateway.url}/v1/models/{model_name}").json() == {"name": model_name, "ready": True}
    store = open_store(sqlite_url)
    [record] = store.predictions_for_request("kv1-e2e")
    assert (record.model_version, record.prediction_id) == (body["model_version"], body["prediction_id"])
    store.close()
