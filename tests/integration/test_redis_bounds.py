"""The Redis store says what it keeps: trimmed records counted in the metrics, eval warned about lost history."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import cast

import orjson
import pytest
import redis

from registry_client.registry.registry import Registry
from registry_client.store import BoundedLog, open_store
from registry_client.store.redis import RedisStore, log_key
from service.observability.metrics import Metrics
from service.prediction_log.spool import Spool
from service.prediction_log.writer import PredictionLog
from tests.support.cli import canaryline
from tests.support.records import make_record

pytestmark = pytest.mark.redis

MAXLEN = 100


def test_every_trimmed_record_is_counted_by_the_store(redis_url: str, redis_client: redis.Redis) -> None:
    """Approximate MAXLEN trimming: records written - records held = what the store says it trimmed."""
    store = RedisStore(redis_url, stream_maxlen=MAXLEN)
    try:
        taken = 0
        for start in range(0, 1500, 50):
            store.append_predictions([make_record(i, pid_width=4) for i in range(start, start + 50)])
            taken += sum(store.take_trimmed().values())
        held = int(redis_client.xlen(log_key("iris")))
        assert held < 1500 and taken == 1500 - held
        bounds = store.log_bounds("iris")
        assert (bounds.trimmed, bounds.max_records) == (taken, MAXLEN)
        [(_, fields)] = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(log_key("iris"), count=1))
        assert bounds.oldest_ts == orjson.loads(fields[b"r"])["ts"]
        store.append_predictions([make_record(7, pid_width=4)])  # already logged: nothing added, nothing trimmed
        assert store.take_trimmed() == {}
    finally:
        store.close()


def test_the_log_writer_counts_trimmed_records_in_the_metrics(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """canaryline_log_trimmed_records_total{model} equals the records the stream no longer holds."""
    metrics = Metrics()
    store = RedisStore(redis_url, stream_maxlen=MAXLEN)
    assert isinstance(store, BoundedLog)
    log = PredictionLog(
        store, mode="ack", max_batch=64, spool=Spool(tmp_path / "spool", max_bytes=1 << 20), metrics=metrics
    )
    log.start()

    async def write() -> None:
        await asyncio.gather(*(log.write(make_record(i, pid_width=4)) for i in range(1200)))

    try:
        asyncio.run(write())
    finally:
        log.close()
        store.close()
    held = int(redis_client.xlen(log_key("iris")))
    trimmed = metrics.registry.get_sample_value("canaryline_log_trimmed_records_total", {"model": "iris"})
    assert held < 1200 and trimmed == 1200 - held


def test_eval_warns_when_its_window_reaches_past_the_oldest_record_held(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, model_name: str, iris_models
) -> None:
    """After trimming, eval says so on stderr and in --json; a window starting after the oldest record does not."""
    store = open_store(redis_url, stream_maxlen=MAXLEN)
    Registry(store).register(model_name, iris_models["logreg"])
    records = [make_record(i, model=model_name, pid_width=4) for i in range(600)]
    for start in range(0, 600, 100):
        store.append_predictions(records[start : start + 100])
    store.close()
    env_url = redis_url
    done = canaryline("eval", model_name, "--json", store_url=env_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "oldest record the store still holds" in done.stderr
    [warning] = orjson.loads(done.stdout)["warnings"]
    assert f"has trimmed {600 - int(redis_client.xlen(log_key(model_name))):,}" in warning
    assert "PostgreSQL" in warning
    later = canaryline("eval", model_name, "--json", "--since", repr(time.time()), store_url=env_url, home=tmp_path)
    assert later.returncode == 0, later.stderr
    assert orjson.loads(later.stdout)["warnings"] == [] and "warning:" not in later.stderr
