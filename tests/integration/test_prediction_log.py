"""The prediction log against a real Redis that is stopped and started: spool, drain, bounds, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from registry_client.domain.records import PredictionRecord
from registry_client.errors import ServiceUnavailableError
from registry_client.store.redis import RedisStore
from service.prediction_log.spool import Spool
from service.prediction_log.writer import PredictionLog
from tests.support.records import make_record
from tests.support.servers import RedisServer, wait_until

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_server(tmp_path: Path, redis_url: str) -> Iterator[RedisServer]:
    """A redis-server of this test's own (persistent, so a restart keeps what it had), which it may stop."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


def make_log(server: RedisServer, folder: Path, **kwargs) -> tuple[PredictionLog, RedisStore]:
    store = RedisStore(server.url, socket_timeout=0.5)
    log = PredictionLog(
        store,
        mode=kwargs.pop("mode", "ack"),
        max_batch=64,
        spool=Spool(folder, max_bytes=kwargs.pop("max_bytes", 1 << 20)),
        **kwargs,
    )
    log.start()
    return log, store


async def write_all(log: PredictionLog, records: list[PredictionRecord]) -> list[BaseException | None]:
    results = await asyncio.gather(*(log.write(r) for r in records), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


def test_records_are_spooled_while_redis_is_down_and_drained_after(redis_server: RedisServer, tmp_path: Path) -> None:
    """Redis stopped: writes still succeed via the spool; Redis back: all land, in order, exactly once."""
    log, store = make_log(redis_server, tmp_path / "spool")
    assert asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(100)])) == [None] * 100
    redis_server.stop()
    assert asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(100, 400)])) == [None] * 300
    assert log.spooled == 300 and log.spool.pending_bytes > 0
    redis_server.start()
    assert asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(400, 450)])) == [None] * 50
    wait_until(lambda: not log.spool.has_pending())
    ids = [r.prediction_id for r in store.iter_predictions("iris")]
    assert ids == [f"p{i:05d}" for i in range(450)]
    log.close()


def test_a_full_spool_refuses_in_reject_mode(redis_server: RedisServer, tmp_path: Path) -> None:
    """With a tiny spool, writes beyond it fail with 503 and new requests are refused until it drains."""
    log, store = make_log(redis_server, tmp_path / "spool", max_bytes=2048)
    redis_server.stop()
    results = asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(200)]))
    accepted = [r for r, e in zip(range(200), results, strict=True) if e is None]
    refused = [e for e in results if e is not None]
    assert accepted and refused and all(isinstance(e, ServiceUnavailableError) for e in refused)
    with pytest.raises(ServiceUnavailableError, match="spool full"):
        log.check_accepting()
    redis_server.start()
    wait_until(lambda: not log.spool.has_pending() and not log.refusing)
    assert {r.prediction_id for r in store.iter_predictions("iris")} == {f"p{i:05d}" for i in accepted}
    assert (log.refused, log.dropped) == (len(refused), 0)
    log.close()


def test_a_full_spool_drops_and_counts_in_drop_mode(redis_server: RedisServer, tmp_path: Path) -> None:
    """on_full=drop serves every request and counts each record it could not keep."""
    log, store = make_log(redis_server, tmp_path / "spool", max_bytes=2048, on_full="drop")
    redis_server.stop()
    assert asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(200)])) == [None] * 200
    assert log.dropped > 0 and log.spooled + log.dropped == 200
    redis_server.start()
    wait_until(lambda: not log.spool.has_pending())
    assert store.count_predictions("iris") == log.spooled
    log.close()


def test_a_stopped_process_spool_is_claimed_and_drained(redis_server: RedisServer, tmp_path: Path) -> None:
    """Records spooled by a log that stopped while Redis was down are drained by the next one."""
    log, _ = make_log(redis_server, tmp_path / "spool")
    redis_server.stop()
    assert asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(50)])) == [None] * 50
    log.close()  # the store is still down: the records stay in the spool file
    assert any(p.stat().st_size > 0 for p in (tmp_path / "spool").glob("spool-*.jsonl"))
    redis_server.start()
    successor, store = make_log(redis_server, tmp_path / "spool")
    successor.submit(make_record(50, pid_width=5))  # wakes the writer, which drains the claimed file first
    wait_until(lambda: store.count_predictions("iris") == 51)
    successor.close()
    assert list((tmp_path / "spool").glob("spool-*.jsonl")) == []


def test_async_mode_flushes_without_waiting(redis_server: RedisServer, tmp_path: Path) -> None:
    """In async mode write() returns at once and the records reach Redis within 50 ms of a quiet log."""
    log, store = make_log(redis_server, tmp_path / "spool", mode="async")
    asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(20)]))
    with suppress(TimeoutError):
        wait_until(lambda: store.count_predictions("iris") >= 20, 0.05, "the records to reach Redis", 0.002)
    assert store.count_predictions("iris") == 20
    log.close()


def test_off_mode_logs_nothing(redis_server: RedisServer, tmp_path: Path) -> None:
    """CANARYLINE_LOG_MODE=off, the benchmark baseline, writes neither primary nor shadow records."""
    log, store = make_log(redis_server, tmp_path / "spool", mode="off")
    asyncio.run(write_all(log, [make_record(i, pid_width=5) for i in range(10)]))
    log.submit(make_record(10, pid_width=5))
    log.close()
    assert store.count_predictions("iris") == 0 and log.written == 0
