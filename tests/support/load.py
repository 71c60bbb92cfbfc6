"""Concurrent prediction load against a real gateway, from a background thread, keeping every answer."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

ROW = [5.1, 3.5, 1.4, 0.2]


async def fire(
    url: str, payloads: list[dict[str, Any]], concurrency: int = 16, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """POST every payload to /predict with at most ``concurrency`` requests in flight; the answers in order."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(payload: dict[str, Any]) -> httpx.Response:
            async with gate:
                return await client.post("/predict", json=payload)

        return await asyncio.gather(*(one(p) for p in payloads))


class Load:
    """``concurrency`` clients posting predictions back to back until stopped; each answer and when it came.

    A request that gets no answer within ``timeout`` seconds is kept as its exception: a hung gateway shows
    up as failures, not as a test that never ends.
    """

    def __init__(self, url: str, model: str, concurrency: int = 8, timeout: float = 30) -> None:
        self.url, self.model, self.concurrency, self.timeout = url, model, concurrency, timeout
        self.responses: list[httpx.Response] = []
        #: (sent, answered) times (time.monotonic()) of each answer, in the order of ``responses``.
        self.times: list[tuple[float, float]] = []
        self.failures: list[Exception] = []
        self.sent = 0  # requests sent so far, answered or not
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout) as client:

            async def worker() -> None:
                while not self._stop.is_set():
                    self.sent += 1
                    sent = time.monotonic()
                    try:
                        response = await client.post("/predict", json={"model": self.model, "inputs": [ROW]})
                    except httpx.HTTPError as exc:
                        self.failures.append(exc)
                        continue
                    self.times.append((sent, time.monotonic()))
                    self.responses.append(response)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    def served_between(self, start: float, end: float) -> int:
        """200s to requests sent after monotonic time ``start`` and answered before ``end``.

        Counting by send time too keeps out answers to requests that were already in flight at ``start``.
        """
        pairs = zip(self.times, self.responses, strict=False)
        return sum(start <= sent and answered < end and r.status_code == 200 for (sent, answered), r in pairs)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5 if timeout is None else timeout)
