"""Rollback propagation across replicas: admin call returned → each replica serves the new stable.

Each change promotes ``v2`` (waiting until every replica serves it), then rolls back through one
replica's admin API, taking turns. From the moment the rollback call has returned, every replica is
probed back-to-back with ``POST /predict``; its delay is when the first answer stamped with the old
stable came back. So a delay includes one request's round trip (the probe's resolution): an upper bound.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

from .http1 import Connection

__all__ = ["PropagationResult", "measure_rollbacks"]


@dataclass
class PropagationResult:
    changes: int = 0
    #: Every (change, replica) delay, ms; ``via_admin`` marks the replica that took the admin call.
    delays_ms: list[float] = field(default_factory=list)
    others_ms: list[float] = field(default_factory=list)
    admin_call_ms: list[float] = field(default_factory=list)
    timeouts: int = 0


async def _serves(conn: Connection, body: bytes, version: str, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` until a probe on ``conn`` is answered by ``version``; None on timeout."""
    while True:
        response = await conn.request("POST", "/predict", body)
        now = time.perf_counter()
        if response.status == 200 and response.headers.get("x-model-version") == version:
            return now - since
        if now - since > timeout:
            return None


async def _admin(conn: Connection, model: str, action: str, token: str, payload: dict[str, object]) -> None:
    response = await conn.request(
        "POST",
        f"/admin/models/{model}/{action}",
        orjson.dumps(payload),
        {"Authorization": f"Bearer {token}", "X-Canaryline-Actor": "bench"},
    )
    if response.status != 200:
        raise RuntimeError(f"admin {action} answered {response.status}: {response.body[:300]!r}")


async def _measure(
    urls: list[str], *, model: str, token: str, changes: int, body: bytes, stable: str, other: str
) -> PropagationResult:
    result = PropagationResult()
    conns = []
    for url in urls:
        host, port = url.removeprefix("http://").split(":")
        conns.append(Connection(host, int(port)))
    admin_conns = [Connection(c.host, c.port) for c in conns]
    try:
        for change in range(changes):
            via = change % len(conns)
            await _admin(admin_conns[via], model, "promote", token, {"version": other, "reason": "bench: promote"})
            t0 = time.perf_counter()
            await asyncio.gather(*(_serves(c, body, other, t0, 30) for c in conns))
            t_call = time.perf_counter()
            await _admin(admin_conns[via], model, "rollback", token, {"reason": "bench: rollback"})
            returned = time.perf_counter()
            result.admin_call_ms.append((returned - t_call) * 1000)
            delays = await asyncio.gather(*(_serves(c, body, stable, returned, 30) for c in conns))
            for i, delay in enumerate(delays):
                if delay is None:
                    result.timeouts += 1
                    continue
                result.delays_ms.append(delay * 1000)
                if i != via:
                    result.others_ms.append(delay * 1000)
            result.changes += 1
    finally:
        for conn in (*conns, *admin_conns):
            conn.close()
    return result


def measure_rollbacks(
    urls: list[str], *, model: str, token: str, changes: int, body: bytes, stable: str = "v1", other: str = "v2"
) -> PropagationResult:
    return asyncio.run(_measure(urls, model=model, token=token, changes=changes, body=body, stable=stable, other=other))
