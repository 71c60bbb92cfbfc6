"""Metrics of a real runtime (SQLite, verified models) driven through the ASGI app: exact values per series."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from registry_client.store.redis import RedisStore
from service.observability.metrics import LATENCY_BUCKETS, Metrics
from service.prediction_log.spool import Spool
from service.prediction_log.writer import PredictionLog
from tests.support.gateways import Gateway, canaried_gateway
from tests.support.records import make_record
from tests.support.servers import RedisServer, wait_until
from tests.support.tokens import FEEDBACK_TOKEN, bearer

ROW = [5.1, 3.5, 1.4, 0.2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

FEEDBACK = bearer(FEEDBACK_TOKEN)


@dataclasses.dataclass
class Served(Gateway):
    model: str
    regressor: str


@pytest.fixture
def served(tmp_path: Path, model_name: str, iris_models, diabetes_ridge) -> Iterator[Served]:
    """A runtime serving a classifier (stable v1, canary v2 at 50%) and a regressor."""
    with canaried_gateway(tmp_path, model_name, iris_models, regressor=diabetes_ridge) as built:
        yield Served(built.client, built.runtime, built.control, model_name, model_name + "r")


def test_requests_are_counted_by_version_route_and_outcome(served: Served) -> None:
    """Each answer counts once under the version and route that served it; refusals before routing under ""."""
    client, model = served.client, served.model
    expected: Counter[tuple[str, str, str, str]] = Counter()
    for i in range(20):
        body = client.post("/predict", json={"model": model, "inputs": [ROW], "routing_key": f"user-{i}"}).json()
        expected[(model, body["model_version"], body["route"], "ok")] += 1
    for _ in range(3):
        assert client.post(
            "/predict", json={"model": model, "inputs": [ROW]}, headers={"X-Model-Version": "v1"}
        ).is_success
        expected[(model, "v1", "pinned", "ok")] += 1
    narrow = client.post("/predict", json={"model": model, "inputs": [[1.0]]}, headers={"X-Model-Version": "v2"})
    assert narrow.status_code == 422
    expected[(model, "v2", "pinned", "client_error")] += 1
    assert client.post("/predict", content=b"{not json").status_code == 400
    assert client.post("/predict", json={"model": "nobody", "inputs": [ROW]}).status_code == 404
    assert client.post("/predict", json={"model": model, "inputs": [ROW], "version": "v9"}).status_code == 404
    expected[("", "", "", "client_error")] += 3  # bad JSON, unknown model, unserved pin: refused before routing

    assert {v for (_, v, r, _) in expected if r in ("stable", "canary")} == {"v1", "v2"}  # both arms served
    counted = {
        (labels["model"], labels["version"], labels["route"], labels["outcome"]): value
        for labels, value in ((dict(k), v) for k, v in served.samples("canaryline_requests_total").items())
        if value
    }
    assert counted == dict(expected)
    per_series: Counter[tuple[str, str, str]] = Counter()
    for (m, version, route, _), count in expected.items():
        per_series[(m, version, route)] += count
    for (m, version, route), count in per_series.items():
        assert served.value("canaryline_request_duration_seconds_count", model=m, version=version, route=route) == count
    assert LATENCY_BUCKETS[0] == 0.0001 and LATENCY_BUCKETS[-1] == 10  # sub-millisecond to seconds


def test_log_records_are_counted_by_version_and_route(served: Served) -> None:
    """In ack mode a 200 means its record was written, so the counter matches the answers at once."""
    client, model = served.client, served.model
    answered: Counter[tuple[str, str]] = Counter()
    for i in range(10):
        body = client.post("/predict", json={"model": model, "inputs": [ROW], "routing_key": f"k{i}"}).json()
        answered[(body["model_version"], body["route"])] += 1
    for (version, route), count in answered.items():
        assert served.value("canaryline_log_records_written_total", model=model, version=version, route=route) == count
    assert (served.value("canaryline_log_store_write_duration_seconds_count") or 0) >= 1
    assert served.value("canaryline_log_spool_bytes") == 0


def test_outcomes_update_counters_and_online_accuracy(served: Served, iris) -> None:
    """Outcomes count per version and route, and the accuracy / MAE gauges follow them as they arrive."""
    client, model = served.client, served.model
    X, y = iris
    correct = 0
    for i in range(8):
        headers = {"X-Request-ID": f"acc-{i}", "X-Model-Version": "v1"}
        body = client.post("/predict", json={"model": model, "inputs": [list(X[i * 10])]}, headers=headers).json()
        truth = int(y[i * 10]) if i % 4 else (int(y[i * 10]) + 1) % 3  # every fourth outcome disagrees
        correct += body["predictions"][0] == truth
        answer = client.post("/feedback", json={"request_id": f"acc-{i}", "outcome": truth}, headers=FEEDBACK)
        assert answer.status_code == 202
        labels = {"model": model, "version": "v1"}
        assert served.value("canaryline_online_accuracy_ratio", **labels) == pytest.approx(correct / (i + 1))
    labels = {"model": model, "version": "v1", "route": "pinned"}
    assert served.value("canaryline_outcomes_received_total", **labels) == 8
    assert served.value("canaryline_outcomes_joined_total", **labels) == 8
    assert served.value("canaryline_outcome_rows_total", **labels) == 8
    assert served.value("canaryline_outcome_correct_rows_total", **labels) == correct
    assert 0 < correct < 8  # both right and wrong outcomes were counted

    rows = [[0.02] * 10, [-0.03] * 10]
    body = client.post("/predict", json={"model": served.regressor, "inputs": rows}, headers={"X-Request-ID": "mae"})
    predictions = body.json()["predictions"]
    mae = {"request_id": "mae", "outcome": [100.0, 200.0]}
    assert client.post("/feedback", json=mae, headers=FEEDBACK).status_code == 202
    mae = (abs(predictions[0] - 100.0) + abs(predictions[1] - 200.0)) / 2
    regressor = {"model": served.regressor, "version": "v1"}
    assert served.value("canaryline_online_mean_absolute_error", **regressor) == pytest.approx(mae)
    route = {**regressor, "route": "stable"}
    assert served.value("canaryline_outcome_absolute_error_total", **route) == pytest.approx(2 * mae)
    assert served.value("canaryline_outcome_rows_total", **route) == 2


def test_plan_gauges_follow_changes_and_load_failures_count(served: Served, iris_models) -> None:
    """Revision, canary weight and loaded versions follow each applied plan; a tampered version counts a failure."""
    model, plans = served.model, served.runtime.plans
    assert served.value("canaryline_plan_revision", model=model) == 2
    assert served.value("canaryline_plan_canary_weight_ratio", model=model) == 0.5
    assert served.value("canaryline_version_loaded", model=model, version="v2") == 1
    served.control.clear_canary(model, actor="test", reason="done", expected_revision=2)
    plans.refresh()
    assert served.value("canaryline_plan_revision", model=model) == 3
    assert served.value("canaryline_plan_canary_weight_ratio", model=model) == 0
    assert served.value("canaryline_version_loaded", model=model, version="v2") == 0  # unloaded
    served.control.registry.register(model, iris_models["logreg_c01"])
    artifact = Path(bentoml.models.get(f"{model}:v3").path_of("saved_model.pkl"))
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"\x00")
    served.control.promote(model, "v3", actor="test", reason="broken", expected_revision=3)
    plans.refresh()
    assert served.value("canaryline_version_load_failures_total", model=model, version="v3") == 1
    assert served.value("canaryline_plan_revision", model=model) == 3  # the previous revision keeps serving


def test_a_traceparent_reaches_the_record(served: Served) -> None:
    """The trace ID of a W3C traceparent is stored with the prediction, so a record leads to its trace."""
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "X-Request-ID": "traced"}
    assert served.client.post("/predict", json={"model": served.model, "inputs": [ROW]}, headers=headers).is_success
    [record] = served.runtime.store.predictions_for_request("traced")
    assert record.trace_id == TRACE_ID


def test_metrics_can_be_built_many_times_in_one_process() -> None:
    """Each Metrics has its own registry: building it again never raises 'Duplicated timeseries'."""
    first, second = Metrics(), Metrics(CollectorRegistry())
    first.observe_request("m", "v1", "stable", 200, 0.001)
    labels = {"model": "m", "version": "v1", "route": "stable", "outcome": "ok"}
    assert first.registry.get_sample_value("canaryline_requests_total", labels) == 1
    assert second.registry.get_sample_value("canaryline_requests_total", labels) is None
    assert b"canaryline_requests_total" in generate_latest(first.registry)


@pytest.mark.redis
def test_spool_metrics_follow_a_store_outage(tmp_path: Path, redis_url: str) -> None:
    """Store down: records count as spooled and the spool gauge grows; back up: they count as written, gauge 0."""
    server = RedisServer(tmp_path / "redis").start()
    metrics = Metrics()
    store = RedisStore(server.url, socket_timeout=0.5)  # the log does not own its store: closed below
    log = PredictionLog(
        store,
        mode="ack",
        max_batch=16,
        spool=Spool(tmp_path / "spool", max_bytes=1 << 20),
        metrics=metrics,
    )
    log.start()
    labels = {"model": "iris", "version": "v1", "route": "stable"}
    try:
        server.stop()
        asyncio.run(_write(log, range(5)))
        assert metrics.registry.get_sample_value("canaryline_log_records_spooled_total", labels) == 5
        assert metrics.registry.get_sample_value("canaryline_log_spool_bytes") == log.spool.pending_bytes > 0
        server.start()
        asyncio.run(_write(log, range(5, 7)))
        # the writer sets the gauge just after it marks a chunk drained, in its own thread: wait for both
        wait_until(
            lambda: (
                not log.spool.has_pending() and metrics.registry.get_sample_value("canaryline_log_spool_bytes") == 0
            ),
            what="the spool to drain and its gauge to read 0",
        )
        assert metrics.registry.get_sample_value("canaryline_log_records_written_total", labels) == 7
    finally:
        log.close()
        store.close()
        server.stop()


async def _write(log: PredictionLog, numbers: range) -> None:
    await asyncio.gather(*(log.write(make_record(i, pid_width=3)) for i in numbers))
