"""Shadow traffic on real gateway processes: mirrored after the answer, logged, and never felt by primaries."""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import suppress
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from registry_client.client.gateway import GatewayClient
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.load import fire
from tests.support.servers import admin_client, wait_until

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]
NEGATIVE_ROW = [-5.1, -3.5, -1.4, -0.2]  # no flower measures that, but the linear models still answer


def wait_for_shadow(client: GatewayClient, model: str, version: str, offered: int, timeout: float = 60) -> dict:
    """Shadow counters once every one of ``offered`` mirrored requests has run, failed or been dropped."""

    def stats() -> dict[str, Any]:
        return client.model(model)["shadow"].get(version, {})

    def done(counters: dict[str, Any]) -> int:
        return counters.get("runs", 0) + counters.get("errors", 0) + counters.get("dropped", 0)

    with suppress(TimeoutError):
        wait_until(lambda: done(stats()) >= offered, timeout, f"{offered} shadow runs of {version}", 0.1)
    final = stats()
    assert done(final) == offered, final
    return final


def wait_for_shadow_ready(client: GatewayClient, model: str, version: str, timeout: float = 60) -> None:
    """Until the shadow process has loaded ``version`` (so the first mirrored request does not load it)."""

    def ready() -> object:
        return client.model(model)["shadow"].get(version, {}).get("ready")

    wait_until(ready, timeout, f"shadow {version} to become ready", 0.1)


def _sequential_latencies(url: str, n: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n):
            started = time.perf_counter()
            response = client.post("/predict", json={"inputs": [ROW], "routing_key": f"k{i}"})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
    return latencies


def test_a_slow_shadow_runs_after_the_answer(gateway_factory, sqlite_url: str, model_name: str, iris) -> None:
    """With a shadow far slower than the primary at 100 %, primaries answer in under half the shadow's own
    time (they would take longer than it if they waited for it); every shadow run is logged.

    How much a shadow costs the primaries on a shared CPU is the benchmark's shadow arm, not a timed test."""
    X, y = iris
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, LogisticRegression(max_iter=500).fit(X, y))
    registry.register(model_name, RandomForestClassifier(n_estimators=1500, random_state=0).fit(X, y))
    gateway = gateway_factory(sqlite_url)
    client = admin_client(gateway)
    client.set_shadow(model_name, "v2", sample=100, reason="slow shadow")
    wait_for_shadow_ready(client, model_name, "v2")
    primaries = _sequential_latencies(gateway.url, 40)
    stats = wait_for_shadow(client, model_name, "v2", 40)
    assert stats["runs"] == 40 and stats["errors"] == 0
    gateway.stop()
    records = list(open_store(sqlite_url).iter_predictions(model_name))
    shadows = [r for r in records if r.shadow]
    assert len(shadows) == stats["runs"]
    shadow_ms = statistics.median(r.latency_ms for r in shadows)
    assert statistics.median(primaries) * 1000 < shadow_ms / 2, (statistics.median(primaries), shadow_ms)
    primary_of = {r.request_id: r for r in records if not r.shadow}
    for record in shadows:
        primary = primary_of[record.request_id]
        assert (record.model_version, record.route, primary.model_version) == ("v2", "shadow", "v1")
        assert record.prediction_id != primary.prediction_id and record.inputs == primary.inputs
        assert record.primary_id == primary.prediction_id  # what an outcome naming the primary joins through


def test_failing_and_overloaded_shadows_never_touch_primaries(
    gateway_factory, sqlite_url: str, model_name: str, iris
) -> None:
    """A shadow that errors on every request, or whose queue is full, leaves every primary a 200 and is counted."""
    X, y = iris
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, LogisticRegression(max_iter=500).fit(X, y))
    # Takes square roots first: on the negative measurements sent below it computes NaN and scikit-learn
    # refuses to predict, while the primary answers them (every version of a model has the same width).
    registry.register(
        model_name, make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression(max_iter=500)).fit(X, y)
    )
    registry.register(model_name, RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y))  # slow
    gateway = gateway_factory(sqlite_url, shadow_queue="2")
    client = admin_client(gateway)
    client.set_shadow(model_name, "v2", sample=100, reason="broken shadow")
    failing = asyncio.run(fire(gateway.url, [{"inputs": [NEGATIVE_ROW]}] * 100))
    assert all(r.status_code == 200 and r.json()["model_version"] == "v1" for r in failing)
    client.set_shadow(model_name, "v3", sample=100, reason="slow shadow, tiny queue")
    burst = asyncio.run(fire(gateway.url, [{"inputs": [ROW]}] * 200, concurrency=32))
    assert all(r.status_code == 200 for r in burst)
    failing_stats = wait_for_shadow(client, model_name, "v2", 100)
    assert failing_stats["runs"] == 0 and failing_stats["errors"] == failing_stats["submitted"] > 0
    burst_stats = wait_for_shadow(client, model_name, "v3", 200)
    assert burst_stats["dropped"] > 0 and burst_stats["errors"] == 0
    assert burst_stats["submitted"] == burst_stats["runs"] <= 200 - burst_stats["dropped"]
    assert '"event": "shadow_failed"' in gateway.log()
