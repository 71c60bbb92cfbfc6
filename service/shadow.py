"""Shadow traffic: mirror sampled primary requests to the shadow version, off the request path.

The request path only offers a job to a bounded queue (``put_nowait``); a full queue drops the job
and counts it. One thread per worker runs the shadow predictions, logs each as its own record
(``shadow: true``, ``route: "shadow"``, the primary's request_id, its own prediction_id and latency)
and counts runs, errors and disagreements with the primary. The client never waits for any of it,
and a failing shadow never touches the primary answer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog

from registry_client.records import PredictionRecord

from .ids import new_id
from .model_pool import ServingVersion
from .prediction_log import PredictionLog

__all__ = ["ShadowJob", "ShadowRunner"]

log = structlog.get_logger("canaryline.shadow")
_STOP = object()


@dataclass(slots=True, frozen=True)
class ShadowJob:
    serving: ServingVersion
    request_id: str
    revision: int
    rows: list[list[float]]
    primary_version: str
    primary_predictions: list[Any]
    trace_id: str | None


class ShadowRunner:
    def __init__(self, log_writer: PredictionLog, *, queue_size: int, instance: str) -> None:
        self.log_writer = log_writer
        self.instance = instance
        self._queue: queue.Queue[ShadowJob | object] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="canaryline-shadow", daemon=True)
        # (model, shadow version) → count; written by the shadow thread (drops: by request threads).
        self.runs: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.disagreements: Counter[tuple[str, str]] = Counter()
        self.compared_rows: Counter[tuple[str, str]] = Counter()

    def start(self) -> None:
        self._thread.start()

    def offer(self, job: ShadowJob) -> bool:
        """Queue ``job`` without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped[(job.serving.info.model, job.serving.info.version)] += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            assert isinstance(job, ShadowJob)
            self._shadow(job)

    def _shadow(self, job: ShadowJob) -> None:
        info = job.serving.info
        key = (info.model, info.version)
        started = time.perf_counter()
        ts = time.time()
        try:
            if job.serving.n_features is not None and len(job.rows[0]) != job.serving.n_features:
                raise ValueError(f"rows have {len(job.rows[0])} features, the shadow expects {job.serving.n_features}")
            predictions, probabilities = job.serving.predict(job.rows)
        except Exception as exc:
            self.errors[key] += 1
            log.warning(
                "shadow_failed",
                request_id=job.request_id,
                model=info.model,
                model_version=info.version,
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        self.runs[key] += 1
        self.compared_rows[key] += len(predictions)
        self.disagreements[key] += sum(a != b for a, b in zip(predictions, job.primary_predictions, strict=True))
        self.log_writer.submit(
            PredictionRecord(
                prediction_id=new_id(),
                request_id=job.request_id,
                ts=ts,
                model=info.model,
                model_version=info.version,
                route="shadow",
                revision=job.revision,
                inputs=job.rows,
                predictions=predictions,
                probabilities=probabilities,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                instance=self.instance,
                shadow=True,
                trace_id=job.trace_id,
            )
        )

    def stats(self, model: str) -> dict[str, dict[str, int]]:
        """Counters for ``model`` by shadow version, as GET /models/{name} shows them."""
        versions = {v for (m, v) in (*self.runs, *self.errors, *self.dropped) if m == model}
        return {
            v: {
                "runs": self.runs[(model, v)],
                "errors": self.errors[(model, v)],
                "dropped": self.dropped[(model, v)],
                "disagreements": self.disagreements[(model, v)],
                "compared_rows": self.compared_rows[(model, v)],
            }
            for v in sorted(versions)
        }

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued shadow jobs (bounded by the queue size), then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
