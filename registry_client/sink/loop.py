"""The sink's loop: read a batch from Redis, write it to PostgreSQL, acknowledge it, and again.

One batch at a time (at most ``CANARYLINE_SINK_BATCH`` entries in memory), from, in this order: this
consumer's own unacknowledged entries (after a start, and after every error), entries a dead consumer left
idle for ``claim_idle_ms`` (looked for once per ``claim_idle_ms / 2``), then new entries. A batch's
prediction records go to PostgreSQL in one binary ``COPY`` transaction, its outcomes in another, and only
then is the batch acknowledged in Redis. So:

- **at least once from Redis**: an entry is acknowledged only after PostgreSQL committed it; a sink killed
  at any point leaves it pending, to be delivered again;
- **exactly once into PostgreSQL**: a delivered-again record is skipped by its ``prediction_id``, and an
  outcome never replaces one received later (``outcomes.merge_outcomes``);
- **outages**: any error from PostgreSQL or Redis ends the batch unacknowledged; the loop waits (from 0.1 s,
  doubling up to ``retry_max_s``) and reads its own pending entries again, so the same batch is retried,
  memory stays one batch, and Redis keeps everything until PostgreSQL is back;
- **refused values**: a batch PostgreSQL refuses for a value (``is_bad_data``) is written record by
  record, and the records it still refuses are set aside in ``canaryline:sink:dead`` with the reason;
- **SIGTERM** (``stop``): the batch in hand is finished and acknowledged, then the loop returns.

Before its first batch, it copies the outcomes Redis held before the journal existed
(:mod:`~registry_client.sink.backfill`). Every batch logs one ``sink.batch`` line (entries, new rows,
duplicates, outcomes, timings, the group's lag as last read, every 5 s) and moves the metrics
(:mod:`~registry_client.sink.metrics`). Between batches, every ``plans_s``, it copies plan changes
(:mod:`~registry_client.sink.mirror`) and the version catalog with its registry audit
(:mod:`~registry_client.sink.catalog`), and, when ``retention_days`` is set, runs retention every
``retention_every_s`` (``prune`` takes the partition lock, so sinks running it at once drop each partition
once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import structlog

from registry_client.domain.records import OutcomeRecord
from registry_client.errors import StoreError, StoreSchemaError
from registry_client.sink import backfill
from registry_client.sink.batch import Batch, split
from registry_client.sink.catalog import VersionMirror
from registry_client.sink.metrics import SinkMetrics
from registry_client.sink.mirror import PlanMirror
from registry_client.sink.source import Entry, RedisSource
from registry_client.sink.target import PostgresTarget, is_bad_data

__all__ = ["Sink", "Totals"]

log = structlog.get_logger("canaryline.sink")
T = TypeVar("T")
E = TypeVar("E")
_FIRST_RETRY_S = 0.1
_LAG_EVERY_S = 5.0


@dataclass
class Totals:
    """What one run of the sink did."""

    batches: int = 0
    entries: int = 0
    predictions: int = 0
    new: int = 0
    outcomes: int = 0
    set_aside: int = 0
    gone: int = 0
    errors: int = 0


@dataclass
class _Schedule:
    every_s: float
    due: float = field(default=0.0)

    def take(self) -> bool:
        """True when due now, and then not again for ``every_s`` (a failed run waits its turn too)."""
        now = time.monotonic()
        if self.every_s <= 0 or now < self.due:
            return False
        self.due = now + self.every_s
        return True


class Sink:
    def __init__(
        self,
        source: RedisSource,
        target: PostgresTarget,
        *,
        retry_max_s: float = 5.0,
        plans_s: float = 1.0,
        retention_days: int | None = None,
        retention_every_s: float = 3600.0,
    ) -> None:
        self.source = source
        self.target = target
        self.mirror = PlanMirror(source.store, target)
        self.versions = VersionMirror(source.store, target)
        self.retry_max_s = retry_max_s
        self.retention_days = retention_days
        self.totals = Totals()
        self.metrics = SinkMetrics()
        #: The group's lag when last read (every 5 s), None before.
        self.lag: int | None = None
        self._plans = _Schedule(plans_s)
        self._retention = _Schedule(retention_every_s if retention_days else 0.0)
        self._claims = _Schedule(max(source.claim_idle_ms / 2000, 0.05))
        self._lag = _Schedule(_LAG_EVERY_S)
        self._recovering = True
        self._backfilled = False

    def _backfill(self) -> None:
        """Copy the outcomes Redis held before the journal existed, once per Redis (``backfill``)."""
        self.source.streams()  # creates the journal first: what is posted from now on is journaled
        client = self.source.client
        if not backfill.backfilled(client):
            copied = 0
            for page in backfill.stored_outcomes(client):
                items: list[tuple[None, OutcomeRecord]] = [(None, outcome) for outcome in page]
                self._isolating(items, [], self.target.write_outcomes, lambda _: 0)  # leaves what was written
                copied += len(items)
                self.totals.outcomes += len(items)
                self.metrics.outcomes.inc(len(items))
            backfill.mark_backfilled(client)
            log.info("sink.backfill", outcomes=copied)
        self._backfilled = True

    def run(self, stop: threading.Event) -> Totals:
        """Drain until ``stop`` is set; StoreSchemaError (a database newer than this code) ends it too."""
        delay = _FIRST_RETRY_S
        while not stop.is_set():
            try:
                self.step()
                delay = _FIRST_RETRY_S
            except StoreSchemaError:
                raise
            except (StoreError, redis.RedisError) as exc:
                self.totals.errors += 1
                self.metrics.errors.labels(type(exc).__name__).inc()
                self._recovering = True  # read this consumer's pending entries again: the same batch
                log.warning("sink.retry", error=str(exc), kind=type(exc).__name__, retry_in_s=round(delay, 2))
                stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
        log.info("sink.stopped", consumer=self.source.consumer, **vars(self.totals))
        return self.totals

    def step(self) -> None:
        """One turn: the jobs due, then one batch (waiting up to ``block_ms`` for one)."""
        if not self._backfilled:
            self._backfill()
        if self._plans.take():
            self.copy_catalog()
        if self._retention.take() and self.retention_days:
            pruned = self.target.prune(self.retention_days)
            log.info(
                "sink.retention",
                days=self.retention_days,
                cutoff=pruned.cutoff.isoformat(),
                partitions=pruned.partitions,
                predictions=pruned.predictions,
                outcomes=pruned.outcomes,
            )
        if self._lag.take():
            self.lag = self.source.lag()
            if self.lag is not None:
                self.metrics.lag.set(self.lag)
        origin, entries = self._next()
        if entries:
            self.deliver(origin, entries)

    def copy_catalog(self) -> None:
        """Copy plan changes, then the versions and registry audit PostgreSQL lacks."""
        audits = self.versions.read()  # before the plans: each model read has its plan copied just below
        if copied := self.mirror.sync():
            log.info("sink.plans", audit_entries=copied)
        if versions := self.versions.copy(audits):
            log.info(
                "sink.versions", registered=versions.registered, archived=versions.archived, waiting=versions.waiting
            )

    def _next(self) -> tuple[str, list[Entry]]:
        if self._recovering:
            entries = self.source.own_pending()
            if entries:
                return "pending", entries
            self._recovering = False
        if self._claims.take():
            claimed, gone = self.source.claim()
            self.totals.gone += gone
            self.metrics.lost.inc(gone)
            if claimed:
                return "claimed", claimed
        return "new", self.source.new()

    def deliver(self, origin: str, entries: list[Entry]) -> None:
        """Write ``entries`` to PostgreSQL, then acknowledge them; raises (nothing acknowledged) on an error."""
        started = time.perf_counter()
        batch = split(entries)
        new = sum(self._isolating(batch.predictions, batch.refused, self.target.write_predictions, int))
        self._isolating(batch.outcomes, batch.refused, self.target.write_outcomes, lambda _: 0)
        written = time.perf_counter()
        self.source.set_aside(batch.refused)
        self.source.ack([entry for entry, _ in (*batch.predictions, *batch.outcomes)] + batch.gone)
        self._count(batch, new)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        log.info(
            "sink.batch",
            origin=origin,
            entries=len(entries),
            predictions=len(batch.predictions),
            new=new,
            duplicates=len(batch.predictions) - new,
            outcomes=len(batch.outcomes),
            set_aside=len(batch.refused),
            gone=len(batch.gone),
            write_ms=round((written - started) * 1000, 1),
            total_ms=round((time.perf_counter() - started) * 1000, 1),
            **({"lag": self.lag} if self.lag is not None else {}),
        )

    def _count(self, batch: Batch, new: int) -> None:
        t = self.totals
        t.batches += 1
        t.entries += len(batch.predictions) + len(batch.outcomes) + len(batch.refused) + len(batch.gone)
        t.predictions += len(batch.predictions)
        t.new += new
        t.outcomes += len(batch.outcomes)
        t.set_aside += len(batch.refused)
        t.gone += len(batch.gone)
        m = self.metrics
        m.records.labels("new").inc(new)
        m.records.labels("duplicate").inc(len(batch.predictions) - new)
        m.outcomes.inc(len(batch.outcomes))
        m.set_aside.inc(len(batch.refused))
        m.lost.inc(len(batch.gone))

    @staticmethod
    def _isolating(
        items: list[tuple[E, T]],
        refused: list[tuple[E, str]],
        write: Callable[[Sequence[T]], Any],
        counted: Callable[[Any], int],
    ) -> list[int]:
        """``write`` every item at once; when PostgreSQL refuses a value, one by one, moving the items it still
        refuses to ``refused`` (and out of ``items``). What each successful write counted."""
        if not items:
            return []
        try:
            return [counted(write([value for _, value in items]))]
        except StoreError as exc:
            if not is_bad_data(exc):
                raise
        counts, kept = [], []
        for entry, value in items:
            try:
                counts.append(counted(write([value])))
                kept.append((entry, value))
            except StoreError as exc:
                if not is_bad_data(exc):
                    raise
                refused.append((entry, exc.message))
        items[:] = kept
        return counts
