"""Served and failed requests per model, version, plan revision, route and keyed, counted in-process and
added to the store once a second, off the request path.

A failed request writes no prediction record, so the rollout's error gate needs these counts. Counting
costs a request one lock and one dict update under a tuple key (about a microsecond); a background thread
swaps the dict out and adds it to the store in one round trip. When the store refuses, the counts are merged
back and retried on the next flush, so an outage delays them but loses none (until the worker stops: its
final flush is tried once).
"""

from __future__ import annotations

import threading

import structlog

from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.errors import CanarylineError
from registry_client.store import Store

__all__ = ["RequestTally"]

log = structlog.get_logger("canaryline.request_counts")
_Key = tuple[str, str, int, str, bool]


class RequestTally:
    def __init__(self, store: Store, *, flush_s: float = 1.0) -> None:
        self.store = store
        self.flush_s = flush_s
        self._counts: dict[_Key, list[int]] = {}
        self._buckets: dict[_Key, set[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self, model: str, version: str, revision: int, route: str, *, bucket: int | None, failed: bool) -> None:
        """One routed request, answered (``failed`` False) or refused after routing (hot path); ``bucket`` is
        its routing key's bucket when a sticky canary routed it by key."""
        key = (model, version, revision, route, bucket is not None)
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                entry = self._counts[key] = [0, 0]
            entry[1 if failed else 0] += 1
            if bucket is not None:
                self._buckets.setdefault(key, set()).add(bucket)

    def pending(self) -> int:
        """Requests counted but not yet in the store."""
        with self._lock:
            return sum(served + failed for served, failed in self._counts.values())

    def flush(self) -> None:
        """Add what was counted to the store; on a store error keep it for the next flush."""
        with self._lock:
            taken, self._counts = self._counts, {}
            buckets, self._buckets = self._buckets, {}
        if not taken:
            return
        counts = [
            RequestCount(CountKey(*key), served, failed, frozenset(buckets.get(key, ())))
            for key, (served, failed) in taken.items()
        ]
        try:
            self.store.add_request_counts(counts)
        except CanarylineError as exc:
            log.warning("request_counts_not_written", keys=len(counts), error=exc.message)
            with self._lock:
                for key, (served, failed) in taken.items():
                    entry = self._counts.setdefault(key, [0, 0])
                    entry[0] += served
                    entry[1] += failed
                for key, seen in buckets.items():
                    self._buckets.setdefault(key, set()).update(seen)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="canaryline-request-counts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception as exc:  # never dies: the counts stay for the next flush
                log.exception("request_counts_flush_failed", error=repr(exc))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        except Exception as exc:
            log.warning("request_counts_lost_at_stop", error=repr(exc), requests=self.pending())
