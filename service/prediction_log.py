"""The prediction log writer: group commit from a background thread.

Requests put their record on a queue; one writer thread takes everything waiting (up to
``max_batch``) and writes it in one round trip, so under load many requests share one write.
In ``ack`` mode a request waits for its batch to be accepted before it answers; in ``async`` mode
it answers at once and the writer flushes as soon as it can (no timer: a record waits only for the
batch ahead of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict
from typing import Literal

import structlog

from registry_client.errors import CanarylineError
from registry_client.records import PredictionRecord
from registry_client.store import Store

from .errors import ServiceUnavailableError

__all__ = ["PredictionLog"]

log = structlog.get_logger("canaryline.log")
_STOP = object()
_Pending = tuple[PredictionRecord, "asyncio.Future[None] | None"]


class PredictionLog:
    def __init__(self, store: Store, *, mode: Literal["ack", "async"], max_batch: int) -> None:
        self.store = store
        self.mode = mode
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="canaryline-log-writer", daemon=True)
        self.written = 0
        self.failed = 0
        self.batches = 0

    def start(self) -> None:
        self._thread.start()

    async def write(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer; in ack mode, return once the store has accepted it."""
        if self.mode == "async":
            self._queue.put((record, None))
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((record, future))
        await future

    def submit(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer without waiting (shadow records, async mode)."""
        self._queue.put((record, None))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Pending] = [first]  # type: ignore[list-item]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            self.store.append_predictions([record for record, _ in batch])
            self.written += len(batch)
        except CanarylineError as exc:
            self.failed += len(batch)
            error = ServiceUnavailableError(
                f"the prediction could not be logged, so it is not served: {exc.message}",
                code="log_unavailable",
            )
            log.error("log_write_failed", records=len(batch), error=exc.message, mode=self.mode)
        self.batches += 1
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
        for _, future in batch:
            if future is not None:
                by_loop[future.get_loop()].append(future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we wrote: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, error)

    def close(self, timeout: float = 10.0) -> None:
        """Flush everything queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
