"""Fault tests on a real gateway: Redis stopped mid-load and started again; a spool too small to hold on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
import redis

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.load import ROW, Load
from tests.support.servers import RedisServer, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture
def redis_server(tmp_path: Path, redis_url: str) -> Iterator[RedisServer]:
    """A persistent redis-server of this test's own, which the test stops and starts."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


def wait_for_count(url: str, model: str, expected: int, timeout: float = 30) -> int:
    """The number of ``model``'s records once it reached ``expected``, or when ``timeout`` ran out."""
    store = open_store(url)
    try:
        with suppress(TimeoutError):
            wait_until(lambda: store.count_predictions(model) >= expected, timeout, f"{expected} records", 0.2)
        return store.count_predictions(model)
    finally:
        store.close()


@pytest.mark.parametrize("log_mode", ["ack", "async"])
def test_redis_outage_mid_load_loses_nothing(
    gateway_factory, redis_server: RedisServer, model_name: str, iris_models, log_mode: str
) -> None:
    """Redis down for 3 s under load: every request is a 200, the spool drains, one record per 200."""
    Registry(open_store(redis_server.url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(redis_server.url, workers=2, log_mode=log_mode)
    with Load(gateway.url, model_name) as load:
        time.sleep(1.5)
        redis_server.stop()
        stopped = time.monotonic()
        time.sleep(3)
        restarted = time.monotonic()
        redis_server.start()
        time.sleep(1.5)
    assert load.served_between(stopped, restarted) > 0, "nothing was answered while Redis was down"
    assert not load.failures, load.failures[:3]
    statuses = {r.status_code for r in load.responses}
    assert statuses == {200}, [r.text for r in load.responses if r.status_code != 200][:3]
    served = {r.json()["prediction_id"] for r in load.responses}
    assert wait_for_count(redis_server.url, model_name, len(served)) == len(served)
    logged = [r.prediction_id for r in open_store(redis_server.url).iter_predictions(model_name)]
    assert len(logged) == len(set(logged)) and set(logged) == served
    assert '"event": "store_unreachable_spooling"' in gateway.log()


def test_a_tiny_spool_answers_503_never_loses_silently(
    gateway_factory, redis_server: RedisServer, model_name: str, iris_models
) -> None:
    """Spool bound tiny and Redis down: 503s once it is full; afterwards records equal the 200s exactly."""
    Registry(open_store(redis_server.url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(redis_server.url, spool_max_bytes="4096")
    redis_server.stop()
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        responses = [client.post("/predict", json={"model": model_name, "inputs": [ROW]}) for _ in range(60)]
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes and set(codes) == {200, 503}
    assert all(r.json()["error"]["code"] == "log_unavailable" for r in responses if r.status_code == 503)
    redis_server.start()
    served = {r.json()["prediction_id"] for r in responses if r.status_code == 200}
    assert wait_for_count(redis_server.url, model_name, len(served)) == len(served)
    assert {r.prediction_id for r in open_store(redis_server.url).iter_predictions(model_name)} == served


#: How long Redis is stalled; over twice the store's 2 s socket timeout, like the incident's DEBUG SLEEP 5.
STALL_S = 5


def test_a_stalled_store_costs_acknowledgements_one_timeout_not_one_per_retry(
    gateway_factory, tmp_path: Path, redis_url: str, model_name: str, iris_models
) -> None:
    """Redis under DEBUG SLEEP 5 (from a second connection): after one 2 s socket timeout the breaker opens and
    records go to the spool at once, so the gateway answers at least 30% as many requests during the stall as
    in as long a window just before it, where a writer blocked by every retry manages about 10%; nothing is lost."""
    server = RedisServer(tmp_path / "redis", persistent=True, debug_command=True).start()
    try:
        Registry(open_store(server.url)).register(model_name, iris_models["logreg"])
        gateway = gateway_factory(server.url)
        side = redis.Redis.from_url(server.url, socket_timeout=None)  # redis-py 8 defaults to 5 s: the stall's length
        with Load(gateway.url, model_name) as load:
            time.sleep(1.0)  # warm: the first requests pay for connections and the first batches
            normal_from = time.monotonic()
            time.sleep(STALL_S)
            stall_from = time.monotonic()
            stall = threading.Thread(target=lambda: side.execute_command("DEBUG", "SLEEP", STALL_S))
            stall.start()
            stall.join()
            stall_to = time.monotonic()
            time.sleep(2.0)
        normal = load.served_between(normal_from, stall_from)
        during = load.served_between(stall_from, stall_to)
        side.close()
        assert not load.failures, load.failures[:3]
        assert {r.status_code for r in load.responses} == {200}
        assert during >= 0.3 * normal, f"{during} answered during the {STALL_S} s stall against {normal} before it"
        served = {r.json()["prediction_id"] for r in load.responses}
        assert wait_for_count(server.url, model_name, len(served)) == len(served)
        assert '"event": "store_unreachable_spooling"' in gateway.log()
    finally:
        server.stop()
