"""The prediction log when its spool's disk fails: a real 256 KiB tmpfs that fills up or is read-only.

Redis (a real redis-server of the test's own) is stopped, so every record goes to the spool; the disk
then fails under it. The writer must survive, refuse (503) or drop and count, leave no torn line, and
recover by itself once the store or the disk is back.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from registry_client.domain.records import PredictionRecord
from registry_client.errors import ServiceUnavailableError
from registry_client.store.redis import RedisStore
from service.prediction_log.spool import Spool
from service.prediction_log.writer import PredictionLog
from tests.support.filesystems import remount, small_tmpfs
from tests.support.records import make_record
from tests.support.servers import RedisServer, wait_until

pytestmark = pytest.mark.redis
#: Longer than any write may take: a writer that died leaves its requests waiting for ever.
HANG_S = 20


@pytest.fixture
def redis_server(tmp_path: Path, redis_url: str) -> Iterator[RedisServer]:
    """A persistent redis-server of this test's own, which the test stops and starts."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs for the spool."""
    with small_tmpfs(tmp_path / "disk") as mounted:
        yield mounted


def records(start: int, count: int) -> list[PredictionRecord]:
    return [make_record(i, pid_width=5) for i in range(start, start + count)]


def make_log(server: RedisServer, folder: Path, **kwargs) -> tuple[PredictionLog, RedisStore]:
    store = RedisStore(server.url, socket_timeout=0.5)
    log = PredictionLog(
        store,
        mode="ack",
        max_batch=64,
        spool=Spool(folder, max_bytes=64 << 20),  # far over the disk: the disk fills first
        **kwargs,
    )
    log.start()
    return log, store


def write_all(log: PredictionLog, batch: list[PredictionRecord]) -> list[BaseException | None]:
    """Write ``batch`` concurrently; each result is None (acknowledged) or the error; a hang fails the test."""

    async def run() -> list[BaseException | None]:
        results = await asyncio.wait_for(asyncio.gather(*(log.write(r) for r in batch), return_exceptions=True), HANG_S)
        return [r if isinstance(r, BaseException) else None for r in results]

    return asyncio.run(run())


def spooled_lines(folder: Path) -> list[bytes]:
    """Every line of every spool file; asserts each is a whole, parseable record (no torn line)."""
    lines: list[bytes] = []
    for path in sorted(folder.glob("spool-*.jsonl")):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line: {data[-80:]!r}"
        for line in data.splitlines():
            PredictionRecord(**orjson.loads(line))
            lines.append(line)
    return lines


def test_a_full_disk_refuses_with_503_and_the_log_recovers_when_redis_returns(
    redis_server: RedisServer, disk: Path
) -> None:
    """ENOSPC from the spool: the writes it cannot keep get 503 with Retry-After, the writer lives on, no torn
    line is left, new writes are refused up front, and once Redis is back every acknowledged record lands."""
    log, store = make_log(redis_server, disk / "spool")
    redis_server.stop()
    results = [*write_all(log, records(0, 1200)), *write_all(log, records(1200, 400))]
    acked = {f"p{i:05d}" for i, error in enumerate(results) if error is None}
    refused = [error for error in results if error is not None]
    assert acked and refused, "the disk should fill up part of the way"
    assert all(isinstance(e, ServiceUnavailableError) and e.code == "log_unavailable" for e in refused)
    assert all(e.retry_after is not None for e in refused if isinstance(e, ServiceUnavailableError))
    assert len(spooled_lines(disk / "spool")) == len(acked) == log.spooled
    stats = log.stats()
    assert stats["spool_available"] is False and "ENOSPC" in str(stats["spool_error"])
    with pytest.raises(ServiceUnavailableError, match="spool"):
        log.check_accepting()

    redis_server.start()
    wait_until(lambda: not log.refusing and not log.spool.has_pending(), 15, "the spool to drain")
    assert write_all(log, records(1600, 50)) == [None] * 50
    stored = {r.prediction_id for r in store.iter_predictions("iris")}
    assert stored == acked | {f"p{i:05d}" for i in range(1600, 1650)}
    assert log.stats()["spool_available"] is True
    log.close()


def test_a_full_disk_in_drop_mode_serves_and_counts_every_lost_record(redis_server: RedisServer, disk: Path) -> None:
    """on_full=drop and ENOSPC: every write is acknowledged, each record the disk could not take is counted."""
    log, store = make_log(redis_server, disk / "spool", on_full="drop")
    redis_server.stop()
    assert write_all(log, records(0, 1600)) == [None] * 1600
    assert log.dropped > 0 and log.spooled + log.dropped == 1600
    assert len(spooled_lines(disk / "spool")) == log.spooled
    redis_server.start()
    wait_until(lambda: not log.spool.has_pending(), 15, "the spool to drain")
    assert store.count_predictions("iris") == log.spooled
    log.close()


def test_a_read_only_spool_at_start_up_refuses_while_redis_is_down_and_recovers_when_writable(
    redis_server: RedisServer, disk: Path
) -> None:
    """A spool folder on a read-only mount: the log still starts, serves through Redis, says the spool is
    unavailable (EROFS), refuses while Redis is down, and takes records again once the disk is writable."""
    remount(disk, "ro")
    log, store = make_log(redis_server, disk / "spool")
    stats = log.stats()
    assert stats["spool_available"] is False and errno.errorcode[errno.EROFS] in str(stats["spool_error"])
    assert write_all(log, records(0, 10)) == [None] * 10  # Redis answers: the spool is not needed
    redis_server.stop()
    results = write_all(log, records(10, 10))
    assert all(isinstance(e, ServiceUnavailableError) for e in results)
    with pytest.raises(ServiceUnavailableError):
        log.check_accepting()
    remount(disk, "rw")
    wait_until(lambda: log.stats()["spool_available"] is True and not log.refusing, 15, "the spool to recover")
    assert write_all(log, records(20, 10)) == [None] * 10
    redis_server.start()
    wait_until(lambda: store.count_predictions("iris") == 20, 15, "the spool to drain")
    assert {r.prediction_id for r in store.iter_predictions("iris")} == {
        f"p{i:05d}" for i in (*range(10), *range(20, 30))
    }
    log.close()
