"""`canaryline sink` in the test process: Redis streams drained into PostgreSQL exactly once, plans copied."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from typing import cast

import pytest
import redis

from registry_client.domain.plan import Canary, Plan
from registry_client.sink import DEAD_LETTERS, PostgresTarget, RedisSource
from registry_client.sink.backfill import BACKFILLED
from registry_client.store.postgres import PostgresStore
from registry_client.store.redis import OUTCOMES_STREAM, RedisStore, log_key
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S, wait_until
from tests.support.sink import GROUP, pending, pg_count, pg_outcomes, pg_rows, running_sink, undelivered

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
DAY = 86400.0


def test_every_record_and_outcome_reaches_postgres_exactly_once(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """3,000 records of two models and their outcomes land in PostgreSQL once each, all acknowledged: outcomes
    posted before any sink ran (copied from their keys) and while it runs (from the journal)."""
    store = RedisStore(redis_url)
    records = [make_record(i, model="iris" if i % 3 else "wine", request_id=f"r{i}") for i in range(3000)]
    for start in range(0, len(records), 250):
        store.append_predictions(records[start : start + 250])
    store.append_predictions(records[:100])  # a gateway's retry: Redis skips it, and so must the sink
    now = time.time()
    for i in range(0, 3000, 10):
        store.put_outcome(f"r{i}", [i % 3], now, now)
    store.put_outcome("r0", [2], now, now + 1)  # replaced: the later one is what PostgreSQL keeps
    assert not redis_client.exists(OUTCOMES_STREAM)  # no sink yet: nothing journaled
    with running_sink(redis_url, postgres_db, batch=400) as sink:
        wait_until(lambda: redis_client.exists(BACKFILLED), 60, "the outcome keys copied")
        for i in range(5, 3000, 10):
            store.put_outcome(f"r{i}", [i % 3], now, now)
        store.put_outcome("r10", [0], now, now + 2)  # replaced while the sink runs
        store.put_outcome("r1", [1], now, now, prediction_id="p1")
        wait_until(lambda: pg_count(postgres_db) >= 3000 and pending(redis_client, ["iris", "wine"]) == 0, 60)
        wait_until(lambda: pg_outcomes(postgres_db) == 601 and undelivered(redis_client, []) == 0, 30, "the outcomes")
    assert sink.totals is not None and sink.totals.outcomes == 300 + 302  # copied from keys, then journaled
    rows = pg_rows(postgres_db)
    assert Counter(rows) == Counter(r.prediction_id for r in records)
    pg = PostgresStore(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    outcomes = pg.get_outcomes([f"r{i}" for i in range(3000)])
    assert len(outcomes) == 600
    assert outcomes["r0"].outcome == [2]
    assert outcomes["r10"].outcome == [0]
    assert outcomes["r20"].outcome == [2]
    assert outcomes["r15"].outcome == [0]
    assert pg.get_prediction_outcomes(["p1"])["p1"].outcome == [1]
    stored = [replace(r, ts=round(r.ts, 6)) for r in store.predictions_for_request("r7")]  # PostgreSQL keeps µs
    assert pg.predictions_for_request("r7") == stored
    pg.close()
    store.close()


def test_a_batch_written_but_never_acknowledged_is_not_written_twice(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """A sink that committed a batch and died before XACK: the next one rewrites nothing, and acknowledges it."""
    store = RedisStore(redis_url)
    store.append_predictions([make_record(i) for i in range(200)])
    target = PostgresTarget(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    first = RedisSource(store, group=GROUP, consumer="dead", batch=150, block_ms=100, claim_idle_ms=0)
    entries = first.new()
    assert len(entries) == 150
    batch = [make_record(i) for i in range(150)]
    assert target.write_predictions(batch) == 150  # committed; "dead" never acknowledges
    assert pending(redis_client, ["iris"]) == 150
    with running_sink(redis_url, postgres_db, consumer="heir", claim_idle_ms=200) as sink:
        wait_until(lambda: pending(redis_client, ["iris"]) == 0 and pg_count(postgres_db) == 200, 60)
    totals = sink.totals
    assert totals is not None
    assert (totals.predictions, totals.new) == (200, 50)  # the claimed 150 were duplicates, skipped
    assert sorted(pg_rows(postgres_db)) == sorted(f"p{i}" for i in range(200))
    target.close()
    store.close()


def test_two_sinks_in_one_group_split_the_work_without_duplicates(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """Two sinks draining one group each get a share; together they deliver every record once."""
    store = RedisStore(redis_url)
    with (
        running_sink(redis_url, postgres_db, consumer="a", batch=100) as a,
        running_sink(redis_url, postgres_db, consumer="b", batch=100) as b,
    ):
        # Appended 200 at a time; past 6,000, more until each sink has had a share: a sink still starting
        # under load can find the other has drained everything so far, through no fault of the group.
        appended = 0
        while appended < 6000 or (min(a.sink.totals.predictions, b.sink.totals.predictions) == 0 and appended < 60_000):
            store.append_predictions([make_record(i) for i in range(appended, appended + 200)])
            appended += 200
            if appended >= 6000:
                time.sleep(0.05)
        wait_until(lambda: pg_count(postgres_db) == appended and pending(redis_client, ["iris"]) == 0, 90)
    assert a.totals is not None and b.totals is not None
    assert a.totals.predictions > 0 and b.totals.predictions > 0
    assert a.totals.predictions + b.totals.predictions == appended  # no entry was delivered to both
    assert a.totals.new + b.totals.new == appended
    assert Counter(pg_rows(postgres_db)) == Counter(f"p{i}" for i in range(appended))
    store.close()


def test_refused_entries_are_set_aside_and_the_rest_written(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """An unreadable entry and a record PostgreSQL refuses (a NUL in text) go to the dead letters, with reasons."""
    store = RedisStore(redis_url)
    store.append_predictions([make_record(i) for i in range(10)])
    store.append_predictions([make_record(10, request_id="bad\x00id")])
    redis_client.xadd(log_key("iris"), {"pid": "junk", "r": b"not json"})
    store.append_predictions([make_record(i) for i in range(11, 20)])
    with running_sink(redis_url, postgres_db, batch=50):
        wait_until(lambda: pending(redis_client, ["iris"]) == 0 and redis_client.xlen(DEAD_LETTERS) == 2, 60)
    assert sorted(pg_rows(postgres_db)) == sorted(f"p{i}" for i in range(20) if i != 10)
    dead = cast("list[tuple[bytes, dict[bytes, bytes]]]", redis_client.xrange(DEAD_LETTERS))
    reasons = {fields[b"pid"]: fields[b"reason"].decode() for _, fields in dead}
    assert "unreadable entry" in reasons[b"junk"]
    assert "0x00" in reasons[b"p10"]
    store.close()


def test_plans_and_their_history_reach_postgres_for_eval(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """The gateways' plans and audit (Redis) are copied, later changes too, so eval on PostgreSQL has them."""
    store = RedisStore(redis_url)
    first = Plan.initial("iris", "v1", actor="tests", reason="first")
    store.save_plan(first, before=None, action="create")
    canary = first.evolve(actor="tests", reason="try v2", canary=Canary(version="v2", weight=10))
    store.save_plan(canary, before=first, action="canary")
    pg = PostgresStore(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    with running_sink(redis_url, postgres_db):
        wait_until(lambda: len(pg.history("iris")) == 2, 30, "the first two revisions")
        back = canary.evolve(actor="tests", reason="v2 is worse", canary=None)
        store.save_plan(back, before=canary, action="rollback")
        wait_until(lambda: len(pg.history("iris")) == 3, 30, "the rollback")
    assert pg.history("iris") == store.history("iris")
    assert pg.get_plan("iris") == store.get_plan("iris")
    pg.close()
    store.close()


def test_the_sink_runs_retention_on_its_schedule(redis_url: str, redis_client: redis.Redis, postgres_db: str) -> None:
    """With retention_days set, the sink drops the day partitions older than that, never a younger one."""
    store = RedisStore(redis_url)
    now = time.time()
    store.append_predictions([make_record(i, ts=now - 40 * DAY) for i in range(5)])
    store.append_predictions([make_record(i, ts=now - 2 * DAY) for i in range(5, 10)])
    store.append_predictions([make_record(i, ts=now) for i in range(10, 15)])
    with running_sink(redis_url, postgres_db, retention_days=30, retention_every_s=0.3):
        wait_until(lambda: pending(redis_client, ["iris"]) == 0, 60, "the records")
        wait_until(lambda: pg_count(postgres_db) == 10, 30, "the old partition dropped")
    assert sorted(pg_rows(postgres_db)) == sorted(f"p{i}" for i in range(5, 15))
    store.close()


def test_the_backfill_skips_what_it_cannot_write_and_copies_the_rest(
    redis_url: str, redis_client: redis.Redis, postgres_db: str
) -> None:
    """Outcome keys from before any sink: one not JSON and one PostgreSQL refuses (a NUL) stay behind; the
    others are copied, once, and the sink goes on draining."""
    store = RedisStore(redis_url)
    now = time.time()
    for i in range(5):
        store.put_outcome(f"r{i}", [i], now, now)
    store.put_outcome("r-nul", ["a\x00b"], now, now)
    redis_client.set("canaryline:outcome:junk", b"not json")
    store.append_predictions([make_record(i) for i in range(5)])
    with running_sink(redis_url, postgres_db) as sink:
        wait_until(lambda: redis_client.exists(BACKFILLED) and pg_count(postgres_db) == 5, 60, "backfill and drain")
    assert sink.totals is not None and sink.totals.outcomes == 5
    pg = PostgresStore(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    assert sorted(pg.get_outcomes([f"r{i}" for i in range(5)] + ["r-nul", "junk"])) == [f"r{i}" for i in range(5)]
    pg.close()
    store.close()
