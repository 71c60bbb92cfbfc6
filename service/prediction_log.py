"""The prediction log writer: group commit from a background thread, with a local spool.

Requests put their record on a queue; one writer thread takes everything waiting (up to
``max_batch``) and writes it in one round trip, so under load many requests share one write.
``ack`` mode: a request answers only after its batch was accepted (by the store, or durably by the
spool). ``async`` mode: a request answers at once; the writer flushes as soon as it can.

When the store is unreachable, batches go to the spool (fsynced per batch) and predictions keep being
served; while anything is spooled, new batches queue behind it there so order is kept, and the writer
drains the spool into the store once it answers again (records are idempotent on prediction_id). When
the spool is full the log refuses records (503) unless ``on_full="drop"``, which serves and counts
every dropped record. ``close`` flushes everything that is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections import defaultdict
from typing import Literal

import structlog

from registry_client.errors import CanarylineError, StoreUnavailableError
from registry_client.records import PredictionRecord
from registry_client.store import Store

from .errors import ServiceUnavailableError
from .metrics import Metrics
from .spool import Spool

__all__ = ["PredictionLog"]

log = structlog.get_logger("canaryline.log")
_STOP = object()
_RETRY_S = 0.25  # how often a down store is tried again while records wait in the spool
_DRAIN_BUDGET_S = 0.2  # longest the writer drains before it looks at new records again
_Pending = tuple[PredictionRecord, "asyncio.Future[None] | None"]


class PredictionLog:
    def __init__(
        self,
        store: Store,
        *,
        mode: Literal["ack", "async", "off"],
        max_batch: int,
        spool: Spool,
        on_full: Literal["reject", "drop"] = "reject",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.mode = mode
        self.max_batch = max_batch
        self.spool = spool
        self.on_full = on_full
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="canaryline-log-writer", daemon=True)
        self._next_try = 0.0
        #: True while the spool is full and on_full is "reject": new predictions are refused up front.
        self.refusing = False
        self.written = 0  # records the store accepted (directly or drained from the spool)
        self.spooled = 0  # records that went to the spool
        self.dropped = 0  # records dropped because the spool was full (on_full="drop")
        self.refused = 0  # records refused because the spool was full (their requests got 503)
        self.lost = 0  # async mode only: records answered before the spool turned out to be full
        self.batches = 0

    def start(self) -> None:
        self.metrics.spooled_bytes(self.spool.pending_bytes)  # a spool claimed from a stopped worker
        self._thread.start()

    def check_accepting(self) -> None:
        """Refuse up front (503) while the spool is full, so no prediction is served that cannot be logged."""
        if self.refusing:
            raise ServiceUnavailableError(
                "the prediction log is unavailable (store unreachable and local spool full), so predictions "
                "are not served; they resume when the store answers again",
                code="log_unavailable",
            )

    async def write(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer; in ack mode, return once it is durably accepted."""
        if self.mode == "off":  # benchmark baseline only: nothing is logged
            return
        if self.mode == "async":
            self._queue.put((record, None))
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((record, future))
        await future

    def submit(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer without waiting (shadow records)."""
        if self.mode != "off":
            self._queue.put((record, None))

    def stats(self) -> dict[str, int | bool | str]:
        return {
            "mode": self.mode,
            "written": self.written,
            "spooled": self.spooled,
            "dropped": self.dropped,
            "refused": self.refused,
            "lost": self.lost,
            "spool_bytes": self.spool.pending_bytes,
            "refusing": self.refusing,
        }

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._collect()
            if self.spool.has_pending():
                self._drain()
            if batch:
                self._write(batch)
        if self.spool.has_pending():
            self._next_try = 0.0
            self._drain(budget_s=5.0)  # last chance before stopping; what remains waits for the next start

    def _collect(self) -> tuple[list[_Pending], bool]:
        timeout = _RETRY_S if self.spool.has_pending() else None
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        batch: list[_Pending] = [first]  # type: ignore[list-item]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
        return batch, False

    def _write(self, batch: list[_Pending]) -> None:
        records = [record for record, _ in batch]
        self.batches += 1
        if not self.spool.has_pending() and time.monotonic() >= self._next_try:
            try:
                self._append(records)
                self.written += len(records)
                self.metrics.logged("written", records)
                self._settle(batch, None)
                return
            except StoreUnavailableError as exc:
                self._next_try = time.monotonic() + _RETRY_S
                log.warning("store_unreachable_spooling", records=len(records), error=exc.message)
            except CanarylineError as exc:
                self.refused += len(records)
                self.metrics.logged("refused", records)
                log.error("log_write_failed", records=len(records), error=exc.message)
                self._settle(
                    batch, _unavailable(f"the prediction could not be logged, so it is not served: {exc.message}")
                )
                return
        self._spool(batch, records)

    def _spool(self, batch: list[_Pending], records: list[PredictionRecord]) -> None:
        lines = self.spool.fitting(records)
        if lines:
            self.spool.append(lines)
            self.spooled += len(lines)
            self.metrics.logged("spooled", records[: len(lines)])
            self.metrics.spooled_bytes(self.spool.pending_bytes)
            self._settle(batch[: len(lines)], None)
        rest = batch[len(lines) :]
        if not rest:
            return
        if self.on_full == "drop":
            self.dropped += len(rest)
            self.metrics.logged("dropped", (record for record, _ in rest))
            log.error("log_records_dropped", records=len(rest), reason="spool full", dropped_total=self.dropped)
            self._settle(rest, None)
            return
        self.refusing = True
        waiting = sum(future is not None for _, future in rest)
        self.refused += waiting
        self.lost += len(rest) - waiting  # async-mode records whose answers already went out
        self.metrics.logged("refused", (record for record, future in rest if future is not None))
        self.metrics.logged("dropped", (record for record, future in rest if future is None))
        log.error("log_spool_full", records=len(rest), spool_bytes=self.spool.pending_bytes, lost=self.lost)
        self._settle(rest, _unavailable("the prediction log is unavailable (store unreachable, spool full)"))

    def _drain(self, budget_s: float = _DRAIN_BUDGET_S) -> None:
        now = time.monotonic()
        if now < self._next_try:
            return
        deadline = now + budget_s
        while time.monotonic() < deadline:
            chunk = self.spool.next_chunk(self.max_batch)
            if chunk is None:
                break
            spool_file, records, consumed = chunk
            try:
                self._append(records)
            except CanarylineError:
                self._next_try = time.monotonic() + _RETRY_S
                return
            self.written += len(records)
            self.metrics.logged("written", records)
            self.spool.mark_drained(spool_file, consumed)
            self.metrics.spooled_bytes(self.spool.pending_bytes)
            self.refusing = False  # there is room again
        if not self.spool.has_pending():
            log.info("spool_drained", written_total=self.written)

    def _append(self, records: list[PredictionRecord]) -> None:
        started = time.perf_counter()
        try:
            self.store.append_predictions(records)
        finally:
            self.metrics.store_write(time.perf_counter() - started)

    @staticmethod
    def _settle(batch: list[_Pending], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
        for _, future in batch:
            if future is not None:
                by_loop[future.get_loop()].append(future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we wrote: nobody waits any more
                loop.call_soon_threadsafe(_resolve, futures, error)

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued (to the store, or the spool when it is down), then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self.spool.close()


def _unavailable(message: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(message, code="log_unavailable")


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
