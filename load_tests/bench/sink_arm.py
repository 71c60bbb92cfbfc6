"""The ``gw-sink`` arm: the gateway acks to Redis while ``canaryline sink`` drains it into PostgreSQL.

The sink runs as its own process, pinned to the server core with the gateway and Redis (it competes with
them for the core, as it would on a shared node), and its CPU is counted in the arm's CPU per request.
``BENCH_SINK_CORE=load`` pins it to the load generator's core instead: the sink on another machine, as
``deploy/kubernetes/sink.yaml`` runs it (its CPU is still counted; the load generator shares its core).
PostgreSQL is not pinned and its CPU is not counted, as in the ``gw-postgres`` arm. After each run the arm
waits until the sink has caught up (nothing undelivered or pending in its group) and reports how long that
took: throughput is only sustainable if the sink keeps up, and ``drain_s`` near 0 says it does.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import redis

from load_tests.processes import Server

__all__ = ["backlog", "sink_server", "wait_drained"]

GROUP = "canaryline-sink"
_BIN = Path(sys.executable).parent


def sink_server(
    workdir: Path, redis_url: str, postgres_url: str, *, batch: int = 2000, consumer: str = "bench-sink"
) -> Server:
    """``canaryline sink`` from ``redis_url`` into ``postgres_url``; ready once it logged ``sink.started``."""
    logfile = workdir / f"{consumer}.log"
    env = {
        "CANARYLINE_HOME": str(workdir / "sink"),
        "CANARYLINE_STORE": redis_url,
        "CANARYLINE_SINK_DSN": postgres_url,
        "CANARYLINE_SINK_BATCH": str(batch),
        "CANARYLINE_SINK_CONSUMER": consumer,
    }

    def started() -> bool:
        return logfile.exists() and b'"sink.started"' in logfile.read_bytes()

    return Server("sink", [str(_BIN / "canaryline"), "sink"], started, logfile, url=redis_url, env=env)


def backlog(redis_url: str) -> int:
    """Entries of the prediction streams the sink's group has not delivered or not acknowledged yet."""
    client = redis.Redis.from_url(redis_url)
    try:
        total = 0
        for stream in client.scan_iter(match="canaryline:log:*", _type="stream"):
            groups: list[dict[str, Any]] = client.xinfo_groups(stream)
            mine = next((g for g in groups if g["name"] in (GROUP, GROUP.encode())), None)
            total += int(client.xlen(stream)) if mine is None else int(mine["lag"] or 0) + int(mine["pending"])
        return total
    finally:
        client.close()


def wait_drained(redis_url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the sink has caught up; how long it took and what was left when the wait began."""
    started = time.monotonic()
    left = first = backlog(redis_url)
    while left and time.monotonic() - started < timeout:
        time.sleep(0.05)
        left = backlog(redis_url)
    return {"sink_backlog_at_end": first, "drain_s": round(time.monotonic() - started, 2), "sink_behind": left}
