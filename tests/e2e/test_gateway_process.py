"""A real `canaryline serve` process: stamped predictions over HTTP, one record per 200, integrity."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import bentoml
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.load import fire
from tests.support.servers import wait_until
from tests.support.tokens import READ_TOKEN, bearer

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]


def test_real_gateway_serves_stamped_predictions(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """Over real HTTP: stamped 200, headers, BentoML's probes and metrics still answer."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(sqlite_url)
    response = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Request-ID": "abc-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["model_version"], body["request_id"], body["route"]) == (
        model_name,
        "v1",
        "abc-1",
        "stable",
    )
    assert response.headers["x-model-version"] == "v1"
    for probe in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(gateway.url + probe).status_code == 200
    assert gateway.stop() == 0


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
@pytest.mark.parametrize("log_mode", ["ack", "async"])
def test_concurrent_requests_have_exactly_one_record_each(
    request: pytest.FixtureRequest,
    gateway_factory,
    backend: str,
    log_mode: str,
    sqlite_url: str,
    model_name: str,
    iris_models,
) -> None:
    """Thousands of concurrent requests on two workers: distinct records equal 200 responses, none for refusals."""
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("redis_url")
    if backend == "redis":
        request.getfixturevalue("redis_client")  # flushed afterwards
    Registry(open_store(url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(url, workers=2, log_mode=log_mode)
    good = [{"model": model_name, "inputs": [ROW] * (1 + i % 3), "routing_key": f"u{i}"} for i in range(2000)]
    bad = [{"model": model_name, "inputs": [[1.0, 2.0]]} for _ in range(100)]
    responses = asyncio.run(fire(gateway.url, good + bad, concurrency=32))
    ok = [r.json()["prediction_id"] for r in responses if r.status_code == 200]
    assert len(ok) == 2000 and sum(r.status_code == 422 for r in responses) == 100
    assert gateway.stop() == 0  # a graceful stop flushes whatever async mode still held
    store = open_store(url)
    records = list(store.iter_predictions(model_name))
    assert len(records) == len({r.prediction_id for r in records}) == 2000
    assert {r.prediction_id for r in records} == set(ok)
    assert {r.instance for r in records}  # every record names the process that served it


def test_tampered_version_is_refused_and_other_models_keep_serving(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """A SHA-256 mismatch refuses that version with a log line; the gateway serves the other model."""
    registry = Registry(open_store(sqlite_url))
    good, bad = model_name + "a", model_name + "b"
    registry.register(good, iris_models["logreg"])
    registry.register(bad, iris_models["tree"])
    artifact = Path(bentoml.models.get(f"{bad}:v1").path_of("saved_model.pkl"))
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"\x00")
    gateway = gateway_factory(sqlite_url)
    assert httpx.post(gateway.url + "/predict", json={"model": good, "inputs": [ROW]}).status_code == 200
    refused = httpx.post(gateway.url + "/predict", json={"model": bad, "inputs": [ROW]})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_unavailable"
    assert "artifact SHA-256" in httpx.get(f"{gateway.url}/models/{bad}", headers=bearer(READ_TOKEN)).json()["error"]
    assert '"event": "plan_not_applied"' in gateway.log() and f'"model": "{bad}"' in gateway.log()


def test_a_model_registered_while_serving_is_picked_up(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """Registering a new model while the gateway runs makes it servable within a second, no restart."""
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, iris_models["logreg"])
    gateway = gateway_factory(sqlite_url)
    newcomer = model_name + "n"
    registry.register(newcomer, iris_models["tree"])
    answers: list[httpx.Response] = []

    def servable() -> bool:
        answers.append(httpx.post(gateway.url + "/predict", json={"model": newcomer, "inputs": [ROW]}))
        return answers[-1].status_code == 200

    with suppress(TimeoutError):
        wait_until(servable, 1.5, f"{newcomer} to be served")
    response = answers[-1]
    assert response.status_code == 200 and response.json()["model_version"] == "v1"


def served_requests(gateway) -> float:
    """The ok requests the gateway's /metrics reports, summed over its workers."""
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "canaryline_requests_total" and sample.labels.get("outcome") == "ok"
    )


def test_a_second_gateway_on_the_same_bentoml_home_keeps_the_first_ones_metrics(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """Two gateways share BENTOML_HOME: starting the second leaves the first one's /metrics counting."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    first = gateway_factory(sqlite_url, workers=2)
    for _ in range(20):
        assert httpx.post(first.url + "/predict", json={"inputs": [ROW]}).status_code == 200
    assert served_requests(first) == 20
    second = gateway_factory(sqlite_url)
    assert httpx.post(second.url + "/predict", json={"inputs": [ROW]}).status_code == 200
    assert served_requests(first) == 20
    assert httpx.post(first.url + "/predict", json={"inputs": [ROW]}).status_code == 200
    assert (served_requests(first), served_requests(second)) == (21, 1)


def test_serve_on_a_busy_port_exits_2_in_one_line_and_leaves_the_running_gateway_alone(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """`canaryline serve` on the port of a running gateway refuses in one line (exit 2); the first keeps its metrics."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    first = gateway_factory(sqlite_url)
    for _ in range(5):
        assert httpx.post(first.url + "/predict", json={"inputs": [ROW]}).status_code == 200
    env = {**os.environ, **first.env}
    canaryline = Path(sys.executable).with_name("canaryline")
    result = subprocess.run(
        [str(canaryline), "serve", "--port", str(first.port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and f"port {first.port}" in result.stderr, result.stderr
    assert served_requests(first) == 5
    assert httpx.post(first.url + "/predict", json={"inputs": [ROW]}).status_code == 200
    assert served_requests(first) == 6
