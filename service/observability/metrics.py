"""Prometheus metrics: every series canaryline exports, defined here and nowhere else.

Names carry the ``canaryline_`` prefix, counters end in ``_total``, durations are ``_seconds``,
sizes ``_bytes``, shares ``_ratio``. Wherever a number belongs to a served version it is labelled
``model``, ``version`` and ``route`` (``stable``, ``canary``, ``pinned``, ``shadow``). A request refused
before it was routed (bad JSON, unknown model, a full log) has no served version: it is counted with
``model=""``, ``version=""`` and ``route=""``; client-supplied names never become label values.

**Several workers.** BentoML starts every worker with ``PROMETHEUS_MULTIPROC_DIR`` set, and its
``/metrics`` reads that directory with a ``MultiProcessCollector``, which adds up the counters and
histograms of every worker (dead ones included). ``prometheus_client`` chooses file-backed values
when it is first imported, so this module imports it only when :class:`Metrics` is built (by
``build_runtime``, in the worker), never at import. Each :class:`Metrics` registers on a registry of
its own: building many in one process (the tests do) never collides, and in a worker the values land
in the shared files all the same. Gauges say how workers combine: ``livesum`` for the spool size,
``livemin`` for whether the spool can be written (0 when any live worker's cannot),
``livemax`` for the plan revision and loaded versions, ``livemostrecent`` for the canary weight,
shadow sample and the online accuracy and MAE (each worker's window over the outcomes it received;
the ``canaryline_outcome_*_total`` counters give the exact figure over all workers).

**Hot path.** A request costs one dict look-up for its pre-bound series (cached per model, version
and route), one counter increment and one histogram observation.
"""

from __future__ import annotations

import math
import threading
from collections import Counter as Tally
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from service.observability.recorder import RequestRecorder

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics import MetricWrapperBase

    from registry_client.domain.plan import Plan
    from registry_client.domain.records import PredictionRecord

    _M = TypeVar("_M", bound=MetricWrapperBase)

__all__ = ["LATENCY_BUCKETS", "OUTCOME_WINDOW", "LogKind", "Metrics"]

#: Request latency buckets (seconds): from a tenth of a millisecond to ten seconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: Rows of outcomes per version behind the online accuracy and MAE gauges (per worker).
OUTCOME_WINDOW = 1000
_SERVED = ("model", "version", "route")
_VERSION = ("model", "version")
_OUTCOMES = ("ok", "client_error", "server_error")
LogKind = Literal["written", "spooled", "dropped", "refused"]
_VERDICTS = {"pass": 1, "inconclusive": 0, "fail": -1}


class Metrics:
    """The metric objects of one runtime, with cached label children; ``registry`` is its own unless given."""

    def __init__(self, registry: CollectorRegistry | None = None, *, window: int = OUTCOME_WINDOW) -> None:
        import prometheus_client as prom  # here, not at import: see the module docstring

        self.registry = prom.CollectorRegistry() if registry is None else registry
        reg = self.registry

        def counter(name: str, doc: str, labels: Sequence[str] = _SERVED) -> Counter:
            return prom.Counter(name, doc, labels, registry=reg)

        def gauge(name: str, doc: str, labels: Sequence[str], mode: Any) -> Gauge:
            return prom.Gauge(name, doc, labels, registry=reg, multiprocess_mode=mode)

        # -- requests (POST /predict) ----------------------------------------------------------
        self.requests = counter(
            "canaryline_requests_total",
            "Prediction requests answered, by served model, version, route and outcome "
            "(ok, client_error for 4xx, server_error for 5xx); refused before routing: empty labels.",
            (*_SERVED, "outcome"),
        )
        self.requests_shed = counter(
            "canaryline_requests_shed_total",
            "Data-plane requests refused 503 (overloaded) because the worker was already answering "
            "CANARYLINE_MAX_CONCURRENCY requests, by endpoint (route template); not in canaryline_requests_total.",
            ("endpoint",),
        )
        self.request_duration = prom.Histogram(
            "canaryline_request_duration_seconds",
            "Time from receiving a prediction request to its answer, by model, version and route.",
            _SERVED,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        # -- shadow ------------------------------------------------------------------------------
        doc = " by model and shadow version."
        self.shadow_submitted = counter("canaryline_shadow_submitted_total", "Shadow jobs submitted," + doc, _VERSION)
        self.shadow_runs = counter("canaryline_shadow_runs_total", "Shadow predictions completed," + doc, _VERSION)
        self.shadow_errors = counter("canaryline_shadow_errors_total", "Shadow jobs that failed," + doc, _VERSION)
        self.shadow_dropped = counter(
            "canaryline_shadow_dropped_total", "Shadow jobs dropped (queue full or shutting down)," + doc, _VERSION
        )
        self.shadow_compared_rows = counter(
            "canaryline_shadow_compared_rows_total", "Rows compared between shadow and primary," + doc, _VERSION
        )
        self.shadow_disagreements = counter(
            "canaryline_shadow_disagreements_total",
            "Rows where the shadow prediction differs from the primary one," + doc,
            _VERSION,
        )
        self._shadow_events = {
            "submitted": self.shadow_submitted,
            "dropped": self.shadow_dropped,
            "error": self.shadow_errors,
        }
        # -- prediction log ----------------------------------------------------------------------
        self.log_records: dict[LogKind, Counter] = {
            "written": counter(
                "canaryline_log_records_written_total",
                "Prediction records the store accepted (directly or from the spool).",
            ),
            "spooled": counter(
                "canaryline_log_records_spooled_total", "Prediction records written to the local spool (store down)."
            ),
            "dropped": counter(
                "canaryline_log_records_dropped_total",
                "Prediction records lost: spool full with on_full=drop, or async answers sent before the spool filled.",
            ),
            "refused": counter(
                "canaryline_log_records_refused_total",
                "Prediction records refused (store error or spool full); their requests were answered 503.",
            ),
        }
        self.log_trimmed = counter(
            "canaryline_log_trimmed_records_total",
            "Prediction records the store's own bound removed from a model's log (Redis: the stream's MAXLEN "
            "trimming), by model: history eval can no longer see.",
            ("model",),
        )
        self.spool_bytes = gauge(
            "canaryline_log_spool_bytes",
            "Bytes waiting in the local spool for the store, summed over workers.",
            (),
            "livesum",
        )
        self.spool_available = gauge(
            "canaryline_log_spool_available",
            "1 while the local spool can be written, 0 while its disk refuses writes (minimum over workers).",
            (),
            "livemin",
        )
        self.spool_errors = counter(
            "canaryline_log_spool_errors_total",
            "Failed writes and probes of the local spool, by errno (ENOSPC, EROFS, EIO, ...).",
            ("error",),
        )
        self.log_thread_errors = counter(
            "canaryline_log_thread_errors_total",
            "Unexpected exceptions caught in the prediction log's writer or drainer thread (which carries on).",
            ("thread",),
        )
        self.store_write_duration = prom.Histogram(
            "canaryline_log_store_write_duration_seconds",
            "Time of one group-commit write of prediction records to the store.",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        # -- outcomes (POST /feedback) ---------------------------------------------------------------
        self.outcomes_received = counter(
            "canaryline_outcomes_received_total",
            "Outcomes accepted, by the model, version and route of the primary prediction they belong to.",
        )
        self.outcomes_joined = counter(
            "canaryline_outcomes_joined_total",
            "Prediction records an accepted outcome was joined to (primary and shadow).",
        )
        self.outcome_rows = counter("canaryline_outcome_rows_total", "Rows of predictions joined to an outcome.")
        self.outcome_correct_rows = counter(
            "canaryline_outcome_correct_rows_total", "Rows of classifier predictions equal to their outcome."
        )
        self.outcome_absolute_error = counter(
            "canaryline_outcome_absolute_error_total", "Sum of |prediction - outcome| over joined regressor rows."
        )
        self.online_accuracy = gauge(
            "canaryline_online_accuracy_ratio",
            f"Classifier accuracy over the last {window} rows with an outcome, by model and version.",
            _VERSION,
            "livemostrecent",
        )
        self.online_mae = gauge(
            "canaryline_online_mean_absolute_error",
            f"Regressor mean absolute error over the last {window} rows with an outcome, by model and version.",
            _VERSION,
            "livemostrecent",
        )
        # -- plans -------------------------------------------------------------------------------------
        self.plan_revision = gauge(
            "canaryline_plan_revision", "Plan revision in force, by model.", ("model",), "livemax"
        )
        self.canary_weight = gauge(
            "canaryline_plan_canary_weight_ratio",
            "Share of unpinned traffic routed to the canary in the plan in force (0 without a canary), by model.",
            ("model",),
            "livemostrecent",
        )
        self.shadow_sample = gauge(
            "canaryline_plan_shadow_sample_ratio",
            "Share of primary requests mirrored to the shadow in the plan in force (0 without a shadow), by model.",
            ("model",),
            "livemostrecent",
        )
        self.version_loaded = gauge(
            "canaryline_version_loaded", "1 while a version is loaded to serve, else 0.", _VERSION, "livemax"
        )
        self.load_failures = counter(
            "canaryline_version_load_failures_total",
            "Versions that could not be loaded (or verified), leaving the previous revision serving.",
            _VERSION,
        )

        # -- rollouts (the leading gateway's controller) ------------------------------------------------
        self.rollout_step = gauge(
            "canaryline_rollout_step",
            "Step of the model's active rollout (1 = first canary step, 0 = shadow), by model and rolled-out version.",
            _VERSION,
            "livemostrecent",
        )
        self.rollout_weight = gauge(
            "canaryline_rollout_weight_ratio",
            "Canary share of the active rollout's current step (0 in the shadow phase), by model and version.",
            _VERSION,
            "livemostrecent",
        )
        self.rollout_paused = gauge(
            "canaryline_rollout_paused",
            "1 while the model's rollout is paused for a human (no verdict at its maximum step duration), else 0.",
            _VERSION,
            "livemostrecent",
        )
        self.rollout_gate = gauge(
            "canaryline_rollout_gate_verdict",
            "Verdict of each gate at the rollout's latest tick: 1 pass, 0 inconclusive, -1 fail.",
            (*_VERSION, "gate"),
            "livemostrecent",
        )
        self.rollout_decisions = counter(
            "canaryline_rollout_decisions_total",
            "Rollout decisions taken (begin, advance, promote, rollback, abort, pause, resume, end), by action.",
            (*_VERSION, "action"),
        )

        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._request_series: dict[tuple[str, str, str], tuple[tuple[Counter, Counter, Counter], Histogram]] = {}
        self._window = window
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _child(self, metric: _M, *labels: str) -> _M:
        """The pre-bound child of ``metric`` for ``labels`` (``labels()`` itself costs microseconds)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- requests (hot path) -----------------------------------------------------------------------
    def observe_request(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (``ok`` below 400, ``client_error`` 4xx, ``server_error`` 5xx) and its latency."""
        key = (model, version, route)
        series = self._request_series.get(key)
        if series is None:
            ok, client, server = (self.requests.labels(*key, outcome) for outcome in _OUTCOMES)
            series = self._request_series[key] = ((ok, client, server), self.request_duration.labels(*key))
        series[0][0 if status < 400 else 1 if status < 500 else 2].inc()
        series[1].observe(seconds)

    def request(self) -> RequestRecorder:
        """A recorder for one prediction request, started now."""
        return RequestRecorder(self.observe_request)

    def shed(self, endpoint: str) -> None:
        """Count a request shed by the concurrency limit (``endpoint`` is a route template, never a client path)."""
        self._child(self.requests_shed, endpoint).inc()

    # -- shadow ------------------------------------------------------------------------------------
    def shadow_event(self, event: Literal["submitted", "dropped", "error"], model: str, version: str) -> None:
        self._child(self._shadow_events[event], model, version).inc()

    def shadow_ran(self, model: str, version: str, rows: int, disagreements: int) -> None:
        self._child(self.shadow_runs, model, version).inc()
        self._child(self.shadow_compared_rows, model, version).inc(rows)
        self._child(self.shadow_disagreements, model, version).inc(disagreements)

    # -- prediction log (writer thread) -----------------------------------------------------------
    def logged(self, kind: LogKind, records: Iterable[PredictionRecord]) -> None:
        """Count ``records`` as written, spooled, dropped or refused, by model, version and route."""
        counter = self.log_records[kind]
        for labels, count in Tally((r.model, r.model_version, r.route) for r in records).items():
            self._child(counter, *labels).inc(count)

    def trimmed(self, counts: dict[str, int]) -> None:
        """Count records trimmed from each model's log by the store's bound."""
        for model, count in counts.items():
            self._child(self.log_trimmed, model).inc(count)

    def spooled_bytes(self, size: int) -> None:
        self.spool_bytes.set(size)

    def spool_state(self, *, available: bool) -> None:
        self.spool_available.set(1 if available else 0)

    def spool_error(self, errno_name: str) -> None:
        self._child(self.spool_errors, errno_name).inc()

    def writer_error(self, thread: str) -> None:
        self._child(self.log_thread_errors, thread).inc()

    def store_write(self, seconds: float) -> None:
        self.store_write_duration.observe(seconds)

    # -- plans -------------------------------------------------------------------------------------
    def plan_applied(self, plan: Plan) -> None:
        self._child(self.plan_revision, plan.model).set(plan.revision)
        self._child(self.canary_weight, plan.model).set(plan.canary.weight / 100 if plan.canary else 0.0)
        self._child(self.shadow_sample, plan.model).set(plan.shadow.sample / 100 if plan.shadow else 0.0)
        for version in plan.serving_versions():
            self._child(self.version_loaded, plan.model, version).set(1)

    def version_unloaded(self, model: str, version: str) -> None:
        self._child(self.version_loaded, model, version).set(0)

    def load_failed(self, model: str, version: str) -> None:
        self._child(self.load_failures, model, version).inc()

    # -- rollouts ----------------------------------------------------------------------------------
    def rollout_ticked(
        self, model: str, version: str, *, phase: str, step: int, weight: float | None, verdicts: Mapping[str, str]
    ) -> None:
        """The state of an active (or just ended) rollout after a tick, and its gates' verdicts."""
        active = phase in ("shadow", "step", "paused")
        self._child(self.rollout_step, model, version).set(step + 1 if active and weight is not None else 0)
        self._child(self.rollout_weight, model, version).set((weight or 0.0) / 100 if active else 0.0)
        self._child(self.rollout_paused, model, version).set(1 if phase == "paused" else 0)
        for gate, verdict in verdicts.items():
            self._child(self.rollout_gate, model, version, gate).set(_VERDICTS.get(verdict, 0))

    def rollout_decided(self, model: str, version: str, action: str) -> None:
        self._child(self.rollout_decisions, model, version, action).inc()

    # -- outcomes ----------------------------------------------------------------------------------
    def outcome(self, records: Sequence[PredictionRecord], values: Sequence[Any], *, regression: bool) -> None:
        """Count an accepted outcome, joined to ``records`` (one value per row), and update the windows.

        A replaced outcome counts again: the counters and windows see what arrived, not what is stored.
        """
        primary = next((r for r in records if not r.shadow), records[0])
        self._child(self.outcomes_received, primary.model, primary.model_version, primary.route).inc()
        for record in records:
            labels = (record.model, record.model_version, record.route)
            pairs = list(zip(record.predictions, values, strict=False))
            self._child(self.outcomes_joined, *labels).inc()
            self._child(self.outcome_rows, *labels).inc(len(pairs))
            if regression:
                scores = [abs(float(p) - float(v)) for p, v in pairs]
                self._child(self.outcome_absolute_error, *labels).inc(math.fsum(scores))
                gauge = self.online_mae
            else:
                scores = [1.0 if p == v else 0.0 for p, v in pairs]
                self._child(self.outcome_correct_rows, *labels).inc(sum(scores))
                gauge = self.online_accuracy
            if scores:
                windowed = self._windowed((record.model, record.model_version), scores)
                self._child(gauge, record.model, record.model_version).set(windowed)

    def _windowed(self, key: tuple[str, str], scores: list[float]) -> float:
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque(maxlen=self._window)
            window.extend(scores)
            return math.fsum(window) / len(window)
