"""External consumers read the Redis prediction log through its consumer group, at least once."""

from __future__ import annotations

import orjson
import pytest
import redis

from registry_client.domain.records import PredictionRecord
from registry_client.store.redis import CONSUMER_GROUP, RedisStore, log_key
from tests.support.records import make_record

pytestmark = pytest.mark.redis


def record(i: int) -> PredictionRecord:
    return make_record(i)


def test_consumer_group_delivers_every_record_at_least_once(redis_url: str, redis_client: redis.Redis) -> None:
    """The stream's 'canaryline' group hands out each record; an unacknowledged one is delivered again."""
    store = RedisStore(redis_url)
    store.append_predictions([record(i) for i in range(5)])
    stream = log_key("iris")
    first = redis_client.xreadgroup(CONSUMER_GROUP, "analyst-1", {stream: ">"}, count=10)
    entries = first[0][1]
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in entries] == [f"p{i}" for i in range(5)]
    redis_client.xack(stream, CONSUMER_GROUP, *[entry_id for entry_id, _ in entries[:3]])
    # analyst-1 crashed before acknowledging the last two: another consumer claims them.
    claimed = redis_client.xautoclaim(stream, CONSUMER_GROUP, "analyst-2", min_idle_time=0, start_id="0")[1]
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in claimed] == ["p3", "p4"]
    store.append_predictions([record(5)])
    later = redis_client.xreadgroup(CONSUMER_GROUP, "analyst-2", {stream: ">"}, count=10)
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in later[0][1]] == ["p5"]
    store.close()
