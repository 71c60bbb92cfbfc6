"""`canaryline sink` for tests: in a thread of the test process, or as a real subprocess, and what it wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis

from registry_client.sink import PostgresTarget, RedisSource, Sink, Totals
from registry_client.store.redis import OUTCOMES_STREAM, RedisStore, log_key

CANARYLINE = Path(sys.executable).with_name("canaryline")
GROUP = "canaryline-sink"


@dataclass
class SinkThread:
    """A :class:`Sink` over ``redis_url`` and ``postgres_url`` run by a thread; stopped like SIGTERM does."""

    redis_url: str
    postgres_url: str
    consumer: str = "sink-test"
    batch: int = 500
    claim_idle_ms: int = 30_000
    timeout_s: float = 10.0
    retention_days: int | None = None
    retention_every_s: float = 3600.0
    stop_event: threading.Event = field(default_factory=threading.Event)
    totals: Totals | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> SinkThread:
        self.store = RedisStore(self.redis_url, socket_timeout=5)
        self.target = PostgresTarget(self.postgres_url, timeout_s=self.timeout_s)
        source = RedisSource(
            self.store,
            group=GROUP,
            consumer=self.consumer,
            batch=self.batch,
            block_ms=100,
            claim_idle_ms=self.claim_idle_ms,
        )
        self.sink = Sink(
            source,
            self.target,
            retry_max_s=0.5,
            plans_s=0.1,
            retention_days=self.retention_days,
            retention_every_s=self.retention_every_s,
        )
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.consumer}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.totals = self.sink.run(self.stop_event)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> Totals:
        self.stop_event.set()
        assert self._thread is not None
        self._thread.join(60)
        self.target.close()
        self.store.close()
        if self.error is not None:
            raise self.error
        assert self.totals is not None, "the sink thread did not finish"
        return self.totals


@contextmanager
def running_sink(redis_url: str, postgres_url: str, **options: Any) -> Iterator[SinkThread]:
    thread = SinkThread(redis_url, postgres_url, **options).start()
    try:
        yield thread
    finally:
        if not thread.stop_event.is_set():
            thread.stop()


@dataclass
class SinkProcess:
    """`canaryline sink` as a subprocess of its own (its own session), logging to ``logfile``."""

    redis_url: str
    postgres_url: str
    logfile: Path
    consumer: str
    settings: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SinkProcess:
        env = {
            **os.environ,
            "CANARYLINE_STORE": self.redis_url,
            "CANARYLINE_SINK_DSN": self.postgres_url,
            "CANARYLINE_SINK_CONSUMER": self.consumer,
            "CANARYLINE_SINK_BLOCK_MS": "200",
            "CANARYLINE_HOME": str(self.logfile.parent / "home"),
            **self.settings,
        }
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(CANARYLINE), "sink"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no batch finished, nothing acknowledged that was not already."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def lines(self, event: str) -> list[dict[str, Any]]:
        """This sink's JSON log lines of ``event`` (every run's, since the log file is appended to)."""
        found = []
        for raw in self.logfile.read_bytes().splitlines():
            if raw.startswith(b"{"):
                line = orjson.loads(raw)
                if line.get("event") == event:
                    found.append(line)
        return found


def pg_rows(url: str) -> list[str]:
    """Every prediction_id in the PostgreSQL log, one per row (a duplicate row shows twice)."""
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute("SELECT prediction_id FROM canaryline.predictions").fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [str(pid) for (pid,) in rows]


def pg_count(url: str) -> int:
    return len(pg_rows(url))


def pg_outcomes(url: str) -> int:
    """Outcomes in PostgreSQL: of requests plus of named predictions."""
    with psycopg.connect(url) as conn:
        try:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM canaryline.outcomes)"
                " + (SELECT count(*) FROM canaryline.prediction_outcomes)"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def pending(client: redis.Redis, models: list[str]) -> int:
    """Entries of the models' streams and the outcome journal the sinks' group has not acknowledged."""
    total = 0
    for stream in [OUTCOMES_STREAM, *(log_key(m) for m in models)]:
        try:
            info: dict[str, Any] = client.xpending(stream, GROUP)
        except redis.ResponseError:  # no group yet
            continue
        total += int(info["pending"])
    return total


def undelivered(client: redis.Redis, models: list[str]) -> int | None:
    """Entries of the models' streams and the outcome journal not yet delivered to the sinks' group (its lag);
    None before the group exists."""
    total = 0
    for stream in [OUTCOMES_STREAM, *(log_key(m) for m in models)]:
        try:
            groups: list[dict[str, Any]] = client.xinfo_groups(stream)
        except redis.ResponseError:
            return None
        mine = [g for g in groups if g["name"] in (GROUP, GROUP.encode())]
        if not mine:
            return None
        total += int(mine[0]["lag"] or 0)
    return total
