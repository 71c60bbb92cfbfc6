"""External consumers read the Redis prediction log through its consumer group, at least once."""

from __future__ import annotations

from typing import cast

import orjson
import pytest
import redis

from registry_client.store.redis import CONSUMER_GROUP, RedisStore, log_key
from tests.support.records import make_record

pytestmark = pytest.mark.redis
#: Stream entries as redis-py returns them without decoding: (entry ID, fields).
Entries = list[tuple[bytes, dict[bytes, bytes]]]


def read_new(client: redis.Redis, stream: str, consumer: str) -> Entries:
    """Up to 10 entries of ``stream`` never delivered to the group, handed to ``consumer``."""
    reply = cast("list[tuple[bytes, Entries]]", client.xreadgroup(CONSUMER_GROUP, consumer, {stream: ">"}, count=10))
    return reply[0][1]


def test_consumer_group_delivers_every_record_at_least_once(redis_url: str, redis_client: redis.Redis) -> None:
    """The stream's 'canaryline' group hands out each record; an unacknowledged one is delivered again."""
    store = RedisStore(redis_url)
    store.append_predictions([make_record(i) for i in range(5)])
    stream = log_key("iris")
    entries = read_new(redis_client, stream, "analyst-1")
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in entries] == [f"p{i}" for i in range(5)]
    redis_client.xack(stream, CONSUMER_GROUP, *[entry_id for entry_id, _ in entries[:3]])
    # analyst-1 crashed before acknowledging the last two: another consumer claims them.
    claimed = cast(
        "list[Entries]", redis_client.xautoclaim(stream, CONSUMER_GROUP, "analyst-2", min_idle_time=0, start_id="0")
    )[1]
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in claimed] == ["p3", "p4"]
    store.append_predictions([make_record(5)])
    later = read_new(redis_client, stream, "analyst-2")
    assert [orjson.loads(fields[b"r"])["prediction_id"] for _, fields in later] == ["p5"]
    store.close()
