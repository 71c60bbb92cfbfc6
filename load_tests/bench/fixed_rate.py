"""Open-loop load at a fixed rate, for latency percentiles without coordinated omission.

Request ``i`` is due at ``start + i / rate`` and is sent then whether or not earlier ones have come back
(on an idle connection, or a new one up to ``max_connections``); its latency is counted from when it was
*due*, so a server that stalls is charged for every request that waited behind the stall. A closed-loop
generator (wrk, locust) instead stops sending while the server stalls and under-reports the tail.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .http1 import Connection

__all__ = ["FixedRateResult", "percentile", "quiet_gc", "run_fixed_rate"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class FixedRateResult:
    rate: float
    sent: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)
    late_starts: int = 0  # requests the generator itself sent more than 5 ms after they were due
    seconds: float = 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def _run(
    host: str, port: int, path: str, bodies: list[bytes], *, rate: float, seconds: float, max_connections: int
) -> FixedRateResult:
    result = FixedRateResult(rate=rate)
    idle: list[Connection] = []
    opened = 0
    freed = asyncio.Condition()

    async def one(body: bytes, due: float) -> None:
        nonlocal opened
        async with freed:
            while not idle and opened >= max_connections:
                await freed.wait()
            if idle:
                conn = idle.pop()
            else:
                conn, opened = Connection(host, port), opened + 1
        if time.perf_counter() - due > 0.005:
            result.late_starts += 1
        try:
            response = await conn.request("POST", path, body)
            ok = response.status == 200
            version = response.headers.get("x-model-version")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok, version = False, None
        result.latencies_ms.append((time.perf_counter() - due) * 1000.0)
        if ok:
            result.versions[version or "-"] += 1
        else:
            result.errors += 1
        async with freed:
            idle.append(conn)
            freed.notify()

    total = max(1, int(rate * seconds))
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(bodies[i % len(bodies)], due)))
    _, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:  # no answer within a minute: a failure, not a latency sample
        task.cancel()
    result.errors += len(pending)
    result.sent = total
    result.seconds = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return result


def run_fixed_rate(
    url: str, path: str, bodies: list[bytes], *, rate: float, seconds: float, max_connections: int = 64
) -> FixedRateResult:
    host, port = url.removeprefix("http://").split(":")
    with quiet_gc():
        return asyncio.run(
            _run(host, int(port), path, bodies, rate=rate, seconds=seconds, max_connections=max_connections)
        )


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No garbage-collection pauses in the measuring process while it measures.

    This process holds scikit-learn, BentoML's client side and the registry: a full collection of that
    heap took ~250 ms here, which would be charged to whichever server was being measured.
    """
    gc.collect()
    gc.freeze()  # what exists now is never scanned again
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
