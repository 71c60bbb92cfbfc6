"""The prediction log writer: group commit from a background thread, with a local spool.

Requests hand their record to the writer thread, the records of one event-loop tick together
(:mod:`service.prediction_log.handoff`); the writer takes everything waiting (up to about ``max_batch``)
and writes it in one round trip, so under load many requests share one write and one wake-up.
``ack`` mode: a request answers only after its batch was accepted (by the store, or durably by the
spool). ``async`` mode: a request answers at once; the writer flushes as soon as it can.

**Store down.** A write that finds the store unreachable opens the store's breaker
(:class:`~service.prediction_log.breaker.Breaker`): from then on batches go straight to the spool (fsynced per
batch) without touching the store, and
predictions keep being served; while anything is spooled, new batches queue behind it there so order is
kept. A second thread, the drainer, retries off the acknowledgement path: with exponential backoff it
probes the store by draining the spool (one probe at a time), and drains the rest once it answers (records
are idempotent on prediction_id). So a store that stalls costs acknowledgements one socket timeout per
opening of the breaker, not one per retry.

**Spool full or failing.** When a batch does not fit under the spool's bound, or the disk refuses it
(ENOSPC, EROFS, EIO: the spool leaves the file as it was), the log refuses those records (503 with
``Retry-After``) and every new prediction up front, unless ``on_full="drop"``, which serves and counts
every dropped record. The spool has a breaker of its own: the drainer probes the disk with backoff, and
the log accepts again as soon as the disk takes writes or the store does (after draining the spool).

**Never stuck.** Every exception in either thread is caught, counted, logged, and the batch in hand is
settled (503 or dropped), so no request waits for ever; ``close`` flushes what it can within its deadline,
settles the rest, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from typing import Literal

import structlog

from registry_client.domain.records import PredictionRecord
from registry_client.errors import (
    CanarylineError,
    ServiceUnavailableError,
    SpoolUnavailableError,
    StoreUnavailableError,
)
from registry_client.store import BoundedLog, Store
from service.observability.metrics import Metrics
from service.prediction_log.acks import Pending, settle
from service.prediction_log.breaker import Breaker
from service.prediction_log.handoff import Handoff
from service.prediction_log.spool import Spool

__all__ = ["PredictionLog"]

log = structlog.get_logger("canaryline.log")
_STOP = object()
_DRAIN_BUDGET_S = 0.2  # longest the drainer sends spooled records before it looks at the breakers again
_RETRY_AFTER_S = 1


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
        store_breaker: Breaker | None = None,
        spool_breaker: Breaker | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.mode = mode
        self.max_batch = max_batch
        self.spool = spool
        self.on_full = on_full
        self.store_breaker = store_breaker or Breaker()
        self.spool_breaker = spool_breaker or Breaker()
        self._queue: queue.SimpleQueue[list[Pending] | object] = queue.SimpleQueue()
        self._handoff = Handoff(self._queue)
        self._carry: list[Pending] = []  # taken from the queue beyond max_batch: the writer's next batch
        self._writer = threading.Thread(target=self._run_writer, name="canaryline-log-writer", daemon=True)
        self._drainer = threading.Thread(target=self._run_drainer, name="canaryline-log-drainer", daemon=True)
        self._wake = threading.Event()  # the drainer has something to look at
        self._stopping = threading.Event()
        self.written = 0  # records the store accepted (directly or drained from the spool)
        self.spooled = 0  # records that went to the spool
        self.dropped = 0  # records dropped because the spool could not take them (on_full="drop")
        self.refused = 0  # records refused because the spool could not take them (their requests got 503)
        self.lost = 0  # async mode only: records answered before the spool turned out to be unable to keep them
        self.errors = 0  # unexpected exceptions caught in the writer and drainer threads
        self.batches = 0
        if spool.failure is not None:  # e.g. a read-only mount: the worker starts, refuses to be ready, retries
            self._spool_failed(spool.failure.message, spool.failure.errno_name)

    def start(self) -> None:
        self.metrics.spooled_bytes(self.spool.pending_bytes)  # a spool claimed from a stopped worker
        self.metrics.spool_state(available=self.spool.available)
        self._writer.start()
        self._drainer.start()
        self._wake.set()

    # -- the request side ----------------------------------------------------------------------
    def accepting(self) -> bool:
        """True while a record would be kept: by the store (nothing spooled ahead of it) or by the spool."""
        if self.mode == "off" or self.on_full == "drop":  # drop: serve and count what cannot be kept
            return True
        store_ok = self.store_breaker.closed and not self.spool.has_pending()
        return store_ok or (self.spool_breaker.closed and not self.spool.full)

    @property
    def refusing(self) -> bool:
        return not self.accepting()

    def check_accepting(self) -> None:
        """Refuse up front (503) while no record could be kept, so no prediction is served that cannot be logged."""
        if self.accepting():
            return
        why = f"spool unavailable: {self.spool.error}" if self.spool.error else "spool full"
        raise _unavailable(
            f"the prediction log is unavailable (store unreachable, {why}), so predictions are not served; they "
            "resume when the store answers again or the spool can be written"
        )

    async def write(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer; in ack mode, return once it is durably accepted."""
        if self.mode == "off":  # benchmark baseline only: nothing is logged
            return
        loop = asyncio.get_running_loop()
        if self.mode == "async":
            self._handoff.add(loop, Pending(record, None))
            return
        future: asyncio.Future[None] = loop.create_future()
        self._handoff.add(loop, Pending(record, future))
        await future

    def submit(self, record: PredictionRecord) -> None:
        """Hand ``record`` to the writer without waiting (shadow records)."""
        if self.mode != "off":
            self._handoff.put(Pending(record, None))

    def healthy(self) -> bool:
        """What readiness reports: the log accepts records and its spool can be written."""
        return self.accepting() and self.spool.available

    def stats(self) -> dict[str, int | bool | str | None]:
        return {
            "mode": self.mode,
            "written": self.written,
            "spooled": self.spooled,
            "dropped": self.dropped,
            "refused": self.refused,
            "lost": self.lost,
            "errors": self.errors,
            "spool_bytes": self.spool.pending_bytes,
            "spool_available": self.spool.available,
            "spool_error": self.spool.error,
            "store": self.store_breaker.state,
            "store_error": self.store_breaker.last_error,
            "refusing": self.refusing,
        }

    # -- the writer thread -----------------------------------------------------------------------
    def _run_writer(self) -> None:
        while True:
            batch, stopping = self._collect()
            if batch:
                try:
                    self._write(batch)
                except Exception as exc:  # the writer never dies: settle the batch, count, carry on
                    self._failed_in_thread("writer", exc, [p for p in batch if not p.settled])
            if stopping:
                return

    def _collect(self) -> tuple[list[Pending], bool]:
        """The next batch: at most ``max_batch`` records (the rest of a tick's records wait for the next one),
        and whether the writer is asked to stop (then everything taken, whatever its size)."""
        batch, self._carry = self._carry, []
        if not batch:
            first = self._queue.get()
            if first is _STOP:
                return [], True
            batch = list(first)  # type: ignore[call-overload]  # one tick's records
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.extend(item)  # type: ignore[arg-type]
        batch, self._carry = batch[: self.max_batch], batch[self.max_batch :]
        return batch, False

    def _write(self, batch: list[Pending]) -> None:
        self.batches += 1
        if self.store_breaker.closed and not self.spool.has_pending():
            records = [p.record for p in batch]
            try:
                self._append(records)
            except StoreUnavailableError as exc:
                self.store_breaker.failed(exc.message)
                log.warning("store_unreachable_spooling", records=len(records), error=exc.message)
                self._wake.set()
            except CanarylineError as exc:
                self._refuse(batch, f"the prediction could not be logged, so it is not served: {exc.message}")
                log.error("log_write_failed", records=len(records), error=exc.message)
                return
            else:
                self.written += len(records)
                self.metrics.logged("written", records)
                settle(batch, None)
                return
        self._spool(batch)

    def _spool(self, batch: list[Pending]) -> None:
        if not self.spool_breaker.closed:
            self._unkept(batch, f"spool unavailable: {self.spool.error}")
            return
        lines = self.spool.fitting([p.record for p in batch])
        if lines:
            try:
                self.spool.append(lines)
            except SpoolUnavailableError as exc:
                self._spool_failed(exc.message, exc.errno_name)
                self._unkept(batch, f"spool unavailable: {exc.message}")
                return
            kept = batch[: len(lines)]
            self.spooled += len(kept)
            self.metrics.logged("spooled", (p.record for p in kept))
            self.metrics.spooled_bytes(self.spool.pending_bytes)
            settle(kept, None)
            self._wake.set()
        if rest := batch[len(lines) :]:
            self._unkept(rest, "spool full (CANARYLINE_SPOOL_MAX_BYTES)")

    def _unkept(self, batch: list[Pending], why: str) -> None:
        """Records neither the store nor the spool could keep: dropped and counted, or refused (503)."""
        if self.on_full == "drop":
            self.dropped += len(batch)
            self.metrics.logged("dropped", (p.record for p in batch))
            log.error("log_records_dropped", records=len(batch), reason=why, dropped_total=self.dropped)
            settle(batch, None)
            return
        waiting = [p for p in batch if p.future is not None]
        self.lost += len(batch) - len(waiting)  # async-mode and shadow records whose answers already went out
        self.metrics.logged("dropped", (p.record for p in batch if p.future is None))
        log.error("log_records_refused", records=len(batch), reason=why, lost_total=self.lost)
        self._refuse(batch, f"the prediction log is unavailable (store unreachable, {why})")

    def _refuse(self, batch: list[Pending], message: str) -> None:
        waiting = [p for p in batch if p.future is not None]
        self.refused += len(waiting)
        self.metrics.logged("refused", (p.record for p in waiting))
        settle(batch, _unavailable(message))

    def _spool_failed(self, message: str, errno_name: str) -> None:
        was_closed = self.spool_breaker.closed
        self.spool_breaker.failed(message)
        self.metrics.spool_error(errno_name)
        if was_closed:  # one line per outage, not one per retry
            self.metrics.spool_state(available=False)
            log.error("spool_unavailable", error=message, folder=str(self.spool.folder))
        self._wake.set()

    # -- the drainer thread -----------------------------------------------------------------------
    def _run_drainer(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._idle_s())
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._recover()
            except Exception as exc:  # never dies either: the next wake tries again
                self._failed_in_thread("drainer", exc, [])
                self._stopping.wait(self.store_breaker.backoff.base_s)

    def _idle_s(self) -> float | None:
        """How long the drainer may sleep: until a breaker is due, at once while records drain, else until woken."""
        waits = []
        if not self.spool_breaker.closed:
            waits.append(self.spool_breaker.due_in())
        if self.spool.has_pending() or not self.store_breaker.closed:
            waits.append(self.store_breaker.due_in())
        return min(waits) if waits else None

    def _recover(self) -> None:
        if self.spool_breaker.try_probe():
            try:
                self.spool.probe()
            except SpoolUnavailableError as exc:
                self._spool_failed(exc.message, exc.errno_name)
            else:
                self.spool_breaker.succeeded()
                self.metrics.spool_state(available=True)
                log.info("spool_available", folder=str(self.spool.folder))
        if self.spool.has_pending():
            if self.store_breaker.closed or self.store_breaker.try_probe():
                self._drain(_DRAIN_BUDGET_S)
        elif self.store_breaker.try_probe():  # records were refused, nothing is spooled: ask the store itself
            try:
                self.store.ping()
            except CanarylineError as exc:
                self.store_breaker.failed(exc.message)
            else:
                self.store_breaker.succeeded()
                log.info("store_reachable_again")

    def _drain(self, budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            chunk = self.spool.next_chunk(self.max_batch)
            if chunk is None:
                break
            spool_file, records, consumed = chunk
            try:
                self._append(records)
            except CanarylineError as exc:
                self.store_breaker.failed(exc.message)
                return
            if not self.store_breaker.closed:
                self.store_breaker.succeeded()
                log.info("store_reachable_again")
            self.written += len(records)
            self.metrics.logged("written", records)
            self.spool.mark_drained(spool_file, consumed)
            self.metrics.spooled_bytes(self.spool.pending_bytes)
        if not self.spool.has_pending():
            log.info("spool_drained", written_total=self.written)
            if not self.spool_breaker.closed:
                self.spool_breaker.retry_now()  # draining freed the disk: try it again at once

    def _append(self, records: list[PredictionRecord]) -> None:
        started = time.perf_counter()
        try:
            self.store.append_predictions(records)
        finally:
            self.metrics.store_write(time.perf_counter() - started)
        if isinstance(self.store, BoundedLog):  # Redis: what MAXLEN trimming removed, counted per batch
            self.metrics.trimmed(self.store.take_trimmed())

    def _failed_in_thread(self, thread: str, exc: Exception, unsettled: list[Pending]) -> None:
        self.errors += 1
        self.metrics.writer_error(thread)
        log.exception("log_thread_error", thread=thread, records=len(unsettled), error=repr(exc))
        with contextlib.suppress(Exception):
            self._unkept(unsettled, f"the log writer failed: {exc!r}")

    # -- stopping -----------------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (to the store, or the spool when it is down) and drain what the store takes,
        all within ``timeout``; whatever is still queued then is refused (503) or counted lost, never waited on."""
        deadline = time.monotonic() + timeout
        if self._writer.is_alive():
            if gathered := self._handoff.drain():  # written in this tick, not handed over yet: flush them too
                self._queue.put(gathered)
            self._queue.put(_STOP)
            self._writer.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        self._wake.set()
        if self._drainer.is_alive():
            self._drainer.join(max(0.0, deadline - time.monotonic()))
        stuck = self._writer.is_alive() or self._drainer.is_alive()
        if not stuck and self.spool.has_pending() and deadline - time.monotonic() > 0:
            with contextlib.suppress(Exception):  # last chance before stopping; what remains waits for the next start
                self._drain(min(5.0, deadline - time.monotonic()))
        left = self._take_queued()
        if left:
            self._unkept(left, "the gateway is stopping")
        if stuck:
            log.error("log_close_timed_out", timeout_s=timeout, spool_bytes=self.spool.pending_bytes)
            return  # a thread is still inside a write: leave the files to the process's exit
        self.spool.close()

    def _take_queued(self) -> list[Pending]:
        left, self._carry = [*self._carry, *self._handoff.drain()], []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return left
            if isinstance(item, list):
                left.extend(item)


def _unavailable(message: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(message, code="log_unavailable", retry_after=_RETRY_AFTER_S)
