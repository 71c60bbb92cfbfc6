"""Per-version micro-batching: concurrent requests routed to one version share one model call.

scikit-learn's fixed cost per ``predict`` call (input validation) dwarfs its cost per row, so the rows
of every request that reaches the same version in one event-loop tick are stacked into one call and
the results split back. No timer: the first request of a tick schedules the flush with ``call_soon``,
so a request alone is predicted at once (no added latency), and under load requests batch themselves.
If a batched call fails, each request is retried alone, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.dataplane.model_pool import ServingVersion

__all__ = ["Batcher"]

_Result = tuple[list[Any], list[list[float]] | None]


class Batcher:
    """Batches for one loaded version; holds no reference to it (the gateway keys batchers weakly by it)."""

    def __init__(self, *, max_rows: int) -> None:
        self.max_rows = max_rows
        self._pending: list[tuple[list[Any], asyncio.Future[_Result]]] = []
        self._serving: ServingVersion | None = None
        self._rows = 0
        self.calls = 0  # model calls made, for tests and metrics
        self.requests = 0

    async def predict(self, serving: ServingVersion, rows: list[Any]) -> _Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Result] = loop.create_future()
        if not self._pending:
            self._serving = serving
            loop.call_soon(self._flush)
        self._pending.append((rows, future))
        self._rows += len(rows)
        if self._rows >= self.max_rows:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self._pending, self._rows = self._pending, [], 0
        serving, self._serving = self._serving, None
        if not batch or serving is None:
            return
        self.requests += len(batch)
        if len(batch) == 1:
            self._settle_one(serving, *batch[0])
            return
        stacked = [row for rows, _ in batch for row in rows]
        self.calls += 1
        try:
            predictions, probabilities = serving.predict(stacked)
        except Exception:
            for rows, future in batch:
                self._settle_one(serving, rows, future)
            return
        start = 0
        for rows, future in batch:
            end = start + len(rows)
            if not future.done():
                future.set_result(
                    (predictions[start:end], probabilities[start:end] if probabilities is not None else None)
                )
            start = end

    def _settle_one(self, serving: ServingVersion, rows: list[Any], future: asyncio.Future[_Result]) -> None:
        self.calls += 1
        try:
            result = serving.predict(rows)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
