"""Shadow traffic: mirror sampled primary requests to the shadow version, off the request path.

Shadow predictions run in a separate, lower-priority process (one per gateway worker), never in the
worker that answers clients: a CPU-bound shadow in the same process would hold the GIL and delay every
primary request (measured: a 20 ms shadow took a 1.7 ms primary median to 31 ms). The request path
only submits a job when fewer than ``queue_size`` are in flight; otherwise the job is dropped and
counted. When a result comes back it is logged as its own record (``shadow: true``, ``route:
"shadow"``, the primary's request_id, its own prediction_id and latency) and compared with the primary.
The client never waits for any of it, and a failing shadow never touches the primary answer.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from registry_client.domain.identifiers import new_id
from registry_client.domain.records import PredictionRecord
from registry_client.registry.registry import load_version
from service.dataplane.model_pool import ServingVersion
from service.dataplane.outputs import check_finite
from service.observability.metrics import Metrics
from service.prediction_log.writer import PredictionLog

__all__ = ["ShadowJob", "ShadowRunner", "run_shadow"]

log = structlog.get_logger("canaryline.shadow")
_SHADOW_NICE = 10
_CACHE_SIZE = 8

# -- in the shadow process ---------------------------------------------------------------------
_loaded: OrderedDict[tuple[str, str], ServingVersion] = OrderedDict()  # this process's own cache


def _start_shadow_process() -> None:
    os.nice(_SHADOW_NICE)  # primaries get the CPU first when both want it
    # The gateway worker owns this process's lifetime (it shuts the pool down gracefully); a signal sent
    # to the whole process group must not kill in-flight shadow work behind its back.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _serving(model: str, version: str, sha256: str | None) -> ServingVersion:
    key = (model, version)
    serving = _loaded.get(key)
    if serving is None:
        # verifies the SHA-256 the worker read from the store's record (model.yaml's only when none is given)
        serving = ServingVersion.from_loaded(load_version(model, version, sha256=sha256))
        serving.warm_up()
        _loaded[key] = serving
        # Full collections here would walk every loaded model and BentoML besides (100-200 ms for the 100-tree
        # forest of load_tests), stealing the core from the worker: keep what is loaded out of their reach.
        gc.collect()
        gc.freeze()
        while len(_loaded) > _CACHE_SIZE:
            _loaded.popitem(last=False)
    _loaded.move_to_end(key)
    return serving


def run_shadow(
    model: str, version: str, rows: list[Any] | None, sha256: str | None = None
) -> tuple[list[Any], Any, float]:
    """Predict ``rows`` with ``model:version`` (``None`` only loads it), whose files must have ``sha256``;
    returns predictions, probabilities, ms."""
    serving = _serving(model, version, sha256)
    if rows is None:
        return [], None, 0.0
    if serving.n_features is not None and len(rows[0]) != serving.n_features:
        raise ValueError(f"rows have {len(rows[0])} features, the shadow expects {serving.n_features}")
    started = time.perf_counter()
    predictions, probabilities = serving.predict(rows)
    check_finite(model, version, predictions, probabilities)  # a failed shadow run, never a record of nulls
    return predictions, probabilities, (time.perf_counter() - started) * 1000.0


# -- in the gateway worker ---------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class ShadowJob:
    model: str
    version: str
    request_id: str
    revision: int
    rows: list[Any]
    primary_predictions: list[Any]
    trace_id: str | None
    primary_id: str | None = None  # the prediction_id of the primary prediction mirrored
    sha256: str | None = None  # the store record's digest of the shadow version's files


class ShadowRunner:
    def __init__(
        self, log_writer: PredictionLog, *, queue_size: int, instance: str, metrics: Metrics | None = None
    ) -> None:
        self.log_writer = log_writer
        self.metrics = metrics or Metrics()
        self.queue_size = queue_size
        self.instance = instance
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        # (model, shadow version) → count
        self.submitted: Counter[tuple[str, str]] = Counter()
        self.ready: set[tuple[str, str]] = set()  # loaded (and verified) in the shadow process
        self.runs: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.disagreements: Counter[tuple[str, str]] = Counter()
        self.compared_rows: Counter[tuple[str, str]] = Counter()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_shadow_process
                )
            return self._executor

    def prepare(self, model: str, version: str, sha256: str | None = None) -> None:
        """Start the shadow process and load ``version`` there (verified against ``sha256``, the store record's)
        before the first mirrored request."""
        try:
            self._pool().submit(run_shadow, model, version, None, sha256).add_done_callback(
                partial(self._prepared, model, version)
            )
        except RuntimeError as exc:  # shutting down
            log.warning("shadow_prepare_failed", model=model, model_version=version, error=str(exc))

    def _prepared(self, model: str, version: str, future: Future[tuple[list[Any], Any, float]]) -> None:
        if future.cancelled() or future.exception() is not None:
            log.warning("shadow_prepare_failed", model=model, model_version=version, error=str(future.exception()))
        else:
            self.ready.add((model, version))
            log.info("shadow_ready", model=model, model_version=version)

    def offer(self, job: ShadowJob) -> bool:
        """Submit ``job`` without waiting; False (and counted) when ``queue_size`` jobs are in flight."""
        key = (job.model, job.version)
        with self._lock:
            if self._in_flight >= self.queue_size:
                self.dropped[key] += 1
                self.metrics.shadow_event("dropped", *key)
                return False
            self._in_flight += 1
            self.submitted[key] += 1
        self.metrics.shadow_event("submitted", *key)
        submitted_at = time.time()
        try:
            future = self._pool().submit(run_shadow, job.model, job.version, job.rows, job.sha256)
        except (RuntimeError, BrokenProcessPool) as exc:
            self._finish(job, key, submitted_at, error=exc)
            return False
        future.add_done_callback(partial(self._done, job, submitted_at))
        return True

    def _done(self, job: ShadowJob, submitted_at: float, future: Future[tuple[list[Any], Any, float]]) -> None:
        if future.cancelled():  # queued when the worker shut down: shadow work is best-effort, so count it
            with self._lock:
                self._in_flight -= 1
                self.dropped[(job.model, job.version)] += 1
            self.metrics.shadow_event("dropped", job.model, job.version)
            return
        exc = future.exception()
        self._finish(job, (job.model, job.version), submitted_at, error=exc, result=None if exc else future.result())

    def _finish(
        self,
        job: ShadowJob,
        key: tuple[str, str],
        submitted_at: float,
        *,
        error: BaseException | None,
        result: tuple[list[Any], Any, float] | None = None,
    ) -> None:
        with self._lock:
            self._in_flight -= 1
            if isinstance(error, BrokenProcessPool):
                self._executor = None  # the shadow process died: the next job starts a new one
                self.ready.clear()
        if error is not None or result is None:
            self.errors[key] += 1
            self.metrics.shadow_event("error", *key)
            log.warning(
                "shadow_failed",
                request_id=job.request_id,
                model=job.model,
                model_version=job.version,
                route="shadow",
                revision=job.revision,
                trace_id=job.trace_id,
                error=f"{type(error).__name__}: {error}",
            )
            return
        predictions, probabilities, latency_ms = result
        disagreements = sum(a != b for a, b in zip(predictions, job.primary_predictions, strict=True))
        self.runs[key] += 1
        self.compared_rows[key] += len(predictions)
        self.disagreements[key] += disagreements
        self.metrics.shadow_ran(job.model, job.version, len(predictions), disagreements)
        self.log_writer.submit(
            PredictionRecord(
                prediction_id=new_id(),
                request_id=job.request_id,
                ts=submitted_at,
                model=job.model,
                model_version=job.version,
                route="shadow",
                revision=job.revision,
                inputs=job.rows,
                predictions=predictions,
                probabilities=probabilities,
                latency_ms=latency_ms,
                instance=self.instance,
                shadow=True,
                trace_id=job.trace_id,
                primary_id=job.primary_id,
            )
        )

    def stats(self, model: str) -> dict[str, dict[str, int]]:
        """Counters for ``model`` by shadow version, as GET /models/{name} shows them."""
        versions = {v for (m, v) in (*self.submitted, *self.dropped, *self.ready) if m == model}
        return {
            v: {
                "ready": (model, v) in self.ready,
                "submitted": self.submitted[(model, v)],
                "runs": self.runs[(model, v)],
                "errors": self.errors[(model, v)],
                "dropped": self.dropped[(model, v)],
                "disagreements": self.disagreements[(model, v)],
                "compared_rows": self.compared_rows[(model, v)],
                "in_flight": self._in_flight,
            }
            for v in sorted(versions)
        }

    def close(self) -> None:
        """Finish the running job and log its record; jobs still queued are cancelled and counted as dropped."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
