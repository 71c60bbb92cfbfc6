"""`canaryline sink` as a real process: SIGKILL mid-drain and restart, a PostgreSQL crash, SIGTERM, bad settings."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from registry_client.store.postgres import PostgresStore
from registry_client.store.redis import RedisStore, log_key
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S, PostgresServer, free_port, wait_until
from tests.support.sink import CANARYLINE, GROUP, SinkProcess, pending, pg_count, pg_rows, undelivered

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def spawn(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., SinkProcess]]:
    """Start `canaryline sink` processes on the test Redis; any still running after the test is killed."""
    started: list[SinkProcess] = []

    def start(postgres_url: str, consumer: str, log: str = "sink.log", **settings: str) -> SinkProcess:
        env = {f"CANARYLINE_SINK_{key.upper()}": value for key, value in settings.items()}
        started.append(SinkProcess(redis_url, postgres_url, tmp_path / log, consumer, env).start())
        return started[-1]

    yield start
    for sink in started:
        if sink.alive():
            sink.kill()


def _append(store: RedisStore, start: int, stop: int) -> None:
    for first in range(start, stop, 500):
        store.append_predictions([make_record(i, pid_width=6) for i in range(first, min(first + 500, stop))])


def _consumer_pending(client: redis.Redis, consumer: str) -> int:
    consumers: list[dict[str, Any]] = client.xinfo_consumers(log_key("iris"), GROUP)
    return sum(int(c["pending"]) for c in consumers if c["name"] in (consumer, consumer.encode()))


def test_a_sink_killed_mid_drain_loses_nothing_and_duplicates_nothing(
    redis_url: str, redis_client: redis.Redis, postgres_db: str, spawn: Callable[..., SinkProcess]
) -> None:
    """SIGKILL twice while draining 20,000 records; restarted under its own name, then under a new one that
    claims the dead one's entries: PostgreSQL ends with every record exactly once, nothing left pending."""
    store = RedisStore(redis_url)
    _append(store, 0, 20_000)
    total = 20_000
    settings = {"batch": "500", "claim_idle_ms": "1000"}
    first = spawn(postgres_db, "sink-a", "a.log", **settings)
    wait_until(lambda: pg_count(postgres_db) >= 3000, 120, "the first sink's first batches")
    first.kill()
    again = spawn(postgres_db, "sink-a", "a.log", **settings)
    wait_until(lambda: pg_count(postgres_db) >= 9000, 120, "the restarted sink's batches")
    again.kill()
    left_by_dead = _consumer_pending(redis_client, "sink-a")
    heir = spawn(postgres_db, "sink-b", "b.log", **settings)
    wait_until(
        lambda: pg_count(postgres_db) >= total and pending(redis_client, ["iris"]) == 0,
        180,
        "every record in PostgreSQL and acknowledged",
    )
    assert heir.terminate() == 0
    assert Counter(pg_rows(postgres_db)) == Counter(f"p{i:06d}" for i in range(total))
    assert undelivered(redis_client, ["iris"]) == 0
    if left_by_dead:  # the dead consumer held a batch: the heir claimed it
        assert any(line["origin"] == "claimed" for line in heir.lines("sink.batch"))
    store.close()


def test_postgres_crash_is_waited_out_with_redis_keeping_the_entries(
    redis_url: str, redis_client: redis.Redis, spawn: Callable[..., SinkProcess]
) -> None:
    """PostgreSQL stopped with `pg_ctl stop -m immediate` under a running sink: nothing is acknowledged while
    it is down, the sink retries, and after the restart it catches up with every record exactly once."""
    server = PostgresServer().start()
    try:
        store = RedisStore(redis_url)
        sink = spawn(server.url, "sink-pg", batch="300", retry_max_s="0.5")
        _append(store, 0, 1000)
        wait_until(lambda: pg_count(server.url) == 1000 and pending(redis_client, ["iris"]) == 0, 120)
        server.stop("immediate")
        _append(store, 1000, 3000)
        now = 1.7e9
        store.put_outcome("r5", [1], now, now)
        wait_until(lambda: len(sink.lines("sink.retry")) >= 3, 60, "the sink retrying")
        kept = pending(redis_client, ["iris"]) + (undelivered(redis_client, ["iris"]) or 0)
        assert kept == 2001  # every entry since the crash (records and the outcome) is still in Redis, unacknowledged
        assert sink.alive()
        server.start()
        wait_until(
            lambda: (
                pg_count(server.url) == 3000
                and pending(redis_client, ["iris"]) == 0
                and undelivered(redis_client, ["iris"]) == 0
            ),
            120,
            "the sink catching up after the restart",
        )
        assert sink.terminate() == 0
        assert Counter(pg_rows(server.url)) == Counter(f"p{i:06d}" for i in range(3000))
        analyst = PostgresStore(server.url, timeout_s=LOADED_TIMEOUT_S)
        assert analyst.get_outcomes(["r5"])["r5"].outcome == [1]
        analyst.close()
        store.close()
    finally:
        server.stop("immediate")
        server.remove()


def test_sigterm_finishes_the_batch_in_hand_and_exits_zero(
    redis_url: str, redis_client: redis.Redis, postgres_db: str, spawn: Callable[..., SinkProcess]
) -> None:
    """SIGTERM while draining: the sink exits 0 with nothing of its own left pending, and says what it did."""
    store = RedisStore(redis_url)
    _append(store, 0, 10_000)
    sink = spawn(postgres_db, "sink-t", batch="200")
    wait_until(lambda: pg_count(postgres_db) >= 1000, 120, "the first batches")
    assert sink.terminate() == 0
    assert _consumer_pending(redis_client, "sink-t") == 0
    (stopped,) = sink.lines("sink.stopped")
    assert stopped["new"] == pg_count(postgres_db)
    store.close()


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The sink's /metrics as {(sample name, labels): value}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_what_reached_postgres(
    redis_url: str, redis_client: redis.Redis, postgres_db: str, spawn: Callable[..., SinkProcess]
) -> None:
    """With CANARYLINE_SINK_METRICS_PORT, /metrics counts the new records, the outcomes and the lag."""
    store = RedisStore(redis_url)
    _append(store, 0, 3000)
    store.put_outcome("r1", [0], 1.7e9, 1.7e9)
    port = free_port()
    spawn(postgres_db, "sink-m", metrics_port=str(port))
    wait_until(lambda: pg_count(postgres_db) == 3000 and pending(redis_client, ["iris"]) == 0, 120, "the drain")

    def settled() -> bool:
        try:
            found = _metrics(port)
        except httpx.HTTPError:
            return False
        return (
            found.get(("canaryline_sink_records_total", (("result", "new"),))) == 3000
            and found.get(("canaryline_sink_outcomes_total", ())) == 1
            and found.get(("canaryline_sink_lag_entries", ())) == 0
        )

    wait_until(settled, 30, "the metrics to show the drain")
    found = _metrics(port)
    assert found[("canaryline_sink_records_total", (("result", "duplicate"),))] == 0
    assert found[("canaryline_sink_lost_total", ())] == 0
    store.close()


def test_the_sink_refuses_to_start_in_one_line(redis_url: str, tmp_path: Path) -> None:
    """A missing database, a store that is not Redis, or no DSN: exit non-zero with one line naming it."""

    def run(store: str, dsn: str | None) -> subprocess.CompletedProcess[str]:
        env = {"CANARYLINE_STORE": store, "CANARYLINE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        if dsn is not None:
            env["CANARYLINE_SINK_DSN"] = dsn
        return subprocess.run(
            [str(CANARYLINE), "sink"], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    missing = run(redis_url, "postgresql://postgres@127.0.0.1:1/nowhere")
    assert missing.returncode == 1
    assert "sink refusing to start" in missing.stderr and "127.0.0.1:1" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    not_redis = run(f"sqlite:///{tmp_path / 'x.db'}", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert not_redis.returncode == 2
    assert "drains a Redis store" in not_redis.stderr
    no_dsn = run(redis_url, None)
    assert no_dsn.returncode == 2
    assert "CANARYLINE_SINK_DSN" in no_dsn.stderr
