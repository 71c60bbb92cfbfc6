"""The data plane: route, predict, stamp and log one request. Knows nothing of HTTP or BentoML.

An answer is logged only once it can be served: inputs the model refuses (scikit-learn raises
``ValueError``, e.g. a float32 tree given 1e308) and non-finite outputs (:mod:`service.dataplane.outputs`) are
422s naming the model and version, with no record.
"""

from __future__ import annotations

import random
import time
import weakref
from dataclasses import dataclass
from typing import Any

from structlog.contextvars import bind_contextvars

from registry_client.domain.identifiers import new_id
from registry_client.domain.records import PredictionRecord
from registry_client.errors import InputError, NotFoundError, ServiceUnavailableError
from registry_client.settings import GatewaySettings, redact_url
from service.dataplane.batching import Batcher
from service.dataplane.model_pool import ServingVersion
from service.dataplane.named_inputs import validate_named
from service.dataplane.outputs import check_finite
from service.dataplane.plans import ActivePlan, PlanTable
from service.dataplane.request_counts import RequestTally
from service.dataplane.routing import Decision, bucket, choose, shadow_sampled
from service.dataplane.shadow import ShadowJob, ShadowRunner
from service.dataplane.validation import PredictRequest, check_width
from service.observability.metrics import Metrics
from service.observability.recorder import RequestRecorder
from service.prediction_log.writer import PredictionLog

__all__ = ["Gateway", "Prediction"]


@dataclass(slots=True)
class Prediction:
    """A served prediction, stamped."""

    model: str
    model_version: str
    request_id: str
    prediction_id: str
    route: str
    revision: int
    predictions: list[Any]
    probabilities: list[list[float]] | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "model_version": self.model_version,
            "request_id": self.request_id,
            "prediction_id": self.prediction_id,
            "route": self.route,
            "revision": self.revision,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            body["probabilities"] = self.probabilities
        return body


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        plans: PlanTable,
        log: PredictionLog,
        shadow: ShadowRunner,
        metrics: Metrics | None = None,
        *,
        tally: RequestTally | None = None,
    ) -> None:
        self.settings = settings
        #: Served and failed requests per revision, for the rollout's error and sample-ratio gates.
        self.tally = tally
        self.plans = plans
        self.log = log
        self.shadow = shadow
        self.metrics = metrics or Metrics()
        self.instance = settings.instance
        self._draw = random.random
        # One batcher per loaded version; weak keys, so unloading a version frees its batcher too.
        self._batchers: weakref.WeakKeyDictionary[ServingVersion, Batcher] = weakref.WeakKeyDictionary()

    def resolve(self, model: str | None) -> ActivePlan:
        """The plan in force for ``model``; with no model named, the only one served."""
        if model is None:
            names = self.plans.models()
            if len(names) != 1:
                raise InputError(
                    f"field 'model' is required when the gateway serves {len(names)} models"
                    + (f" ({', '.join(names)})" if names else ""),
                    code="missing_field",
                )
            model = names[0]
        active = self.plans.get(model)
        if active is None:
            if model in self.plans.errors:
                raise ServiceUnavailableError(
                    f"model {model!r} is not loaded: {self.plans.errors[model]}",
                    code="model_unavailable",
                )
            raise self._unknown(model)
        return active

    async def predict(
        self,
        request: PredictRequest,
        *,
        request_id: str,
        pin: str | None,
        trace_id: str | None = None,
        recorder: RequestRecorder | None = None,
    ) -> Prediction:
        """Route, predict, stamp and log one request; ``recorder`` is handed the routing decision, so the
        transport counts the answer (or the refusal) under the version that served it."""
        started = time.perf_counter()
        ts = time.time()
        self.log.check_accepting()
        active = self.resolve(request.model)
        plan = active.plan
        decision = choose(plan, pin=pin or request.version, key=request.routing_key, draw=self._draw)
        prediction_id = new_id()
        if recorder is not None:
            recorder.routed(plan.model, decision.version, decision.route)
        # Every log line of this request from here on carries the decision.
        bind_contextvars(
            model=plan.model, model_version=decision.version, route=decision.route, revision=decision.revision
        )
        # A sticky canary routes a keyed request by its key's bucket, so the sample-ratio gate counts buckets.
        sticky = request.routing_key is not None and plan.canary is not None and plan.canary.sticky
        key_bucket = bucket(plan.model, request.routing_key) if sticky and request.routing_key is not None else None
        try:
            serving = active.versions[decision.version]
            rows = request.rows
            if request.named is not None or serving.schema is not None:
                rows = self._named_rows(request, serving, plan.model, decision.version)
            else:
                check_width(rows, serving.n_features, model=plan.model, version=decision.version)
            batcher = self._batchers.get(serving)
            if batcher is None:
                batcher = self._batchers[serving] = Batcher(max_rows=self.settings.max_batch)
            try:
                predictions, probabilities = await batcher.predict(serving, rows)
            except ValueError as exc:  # scikit-learn's refusal of these inputs, after ours let them through
                raise InputError(
                    f"model {plan.model!r} version {decision.version!r} cannot score these inputs: {exc}",
                    code="model_rejected_input",
                ) from exc
            check_finite(plan.model, decision.version, predictions, probabilities)
            bind_contextvars(prediction_id=prediction_id)
            await self.log.write(
                PredictionRecord(
                    prediction_id=prediction_id,
                    request_id=request_id,
                    ts=ts,
                    model=plan.model,
                    model_version=decision.version,
                    route=decision.route,
                    revision=decision.revision,
                    inputs=rows,
                    predictions=predictions,
                    probabilities=probabilities,
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    instance=self.instance,
                    trace_id=trace_id,
                )
            )
        except Exception:
            self._count(plan.model, decision, bucket=key_bucket, failed=True)
            raise
        self._count(plan.model, decision, bucket=key_bucket, failed=False)
        if plan.shadow is not None and decision.route != "pinned":
            self._mirror(
                active,
                decision,
                request_id=request_id,
                prediction_id=prediction_id,
                rows=rows,
                predictions=predictions,
                trace_id=trace_id,
            )
        return Prediction(
            model=plan.model,
            model_version=decision.version,
            request_id=request_id,
            prediction_id=prediction_id,
            route=decision.route,
            revision=decision.revision,
            predictions=predictions,
            probabilities=probabilities,
        )

    def _named_rows(self, request: PredictRequest, serving: ServingVersion, model: str, version: str) -> list[Any]:
        """The request's named inputs validated against the version's schema, as rows of dicts; a matrix
        for a named-input version, or named inputs for a matrix version, is a 422 saying what it takes."""
        schema = serving.schema
        if schema is None:
            raise InputError(
                f"model {model!r} version {version!r} takes a numeric matrix of {serving.n_features or 'its'} "
                "features per row, not named inputs",
                code="matrix_required",
            )
        if request.named is None:
            raise InputError(
                f"model {model!r} version {version!r} takes named inputs ({schema.describe()}): send them as "
                'records ([{"field": value, …}, …]) or columns ({"field": [values], …})',
                code="named_inputs_required",
            )
        return validate_named(
            request.named, schema, max_length=self.settings.max_string_length, model=model, version=version
        )

    def _count(self, model: str, decision: Decision, *, bucket: int | None, failed: bool) -> None:
        if self.tally is not None:
            self.tally.count(model, decision.version, decision.revision, decision.route, bucket=bucket, failed=failed)

    def _mirror(
        self,
        active: ActivePlan,
        decision: Decision,
        *,
        request_id: str,
        prediction_id: str,
        rows: list[Any],
        predictions: list[Any],
        trace_id: str | None,
    ) -> None:
        """Offer the request to the shadow version when it is in the sample; never waits."""
        version = shadow_sampled(active.plan, self._draw)
        if version is None or version == decision.version:
            return
        self.shadow.offer(
            ShadowJob(
                model=active.plan.model,
                version=version,
                request_id=request_id,
                revision=decision.revision,
                rows=rows,
                primary_predictions=predictions,
                trace_id=trace_id,
                primary_id=prediction_id,
            )
        )

    def describe(self, model: str) -> dict[str, Any]:
        """What ``GET /models/{name}`` shows: the plan in force, loaded versions and load errors."""
        active = self.plans.get(model)
        error = self.plans.errors.get(model)
        if active is None and error is None:
            raise self._unknown(model)
        return {
            "model": model,
            "plan": active.plan.model_dump(mode="json") if active else None,
            "versions": {
                version: {
                    "task": s.info.task,
                    "framework": s.info.framework,
                    "sha256": s.info.sha256,
                    "n_features": s.n_features,
                    "input_schema": s.schema.to_json() if s.schema is not None else None,
                    "created": s.info.created.isoformat(),
                }
                for version, s in (active.versions.items() if active else ())
            },
            "error": error,
            "shadow": self.shadow.stats(model),
        }

    def _unknown(self, model: str) -> NotFoundError:
        served = ", ".join(self.plans.models())
        if served:
            return NotFoundError(f"model {model!r} is not served; models served: {served}", code="unknown_model")
        return NotFoundError(
            f"model {model!r} is not served; models served: none, in store {redact_url(self.settings.store_url())} "
            f"with BentoML's model store {self.settings.model_store()} (CANARYLINE_HOME, CANARYLINE_STORE, "
            "BENTOML_HOME): register a version there first",
            code="unknown_model",
        )

    def ready(self) -> bool:
        """A model is served and the log can keep its records (its spool is writable, it is not refusing)."""
        return bool(self.plans.models()) and self.log.healthy()

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports: ready once a model is served and the log is healthy, with revisions, load
        errors, the versions missing here while the artifact store is unreachable, and the log's state (spool
        available or why not, store breaker)."""
        return {
            "ready": self.ready(),
            "models": {name: active.plan.revision for name, active in sorted(self.plans.active().items())},
            "errors": dict(sorted(self.plans.errors.items())),
            "missing_artifacts": sorted(self.plans.missing.values()),
            "log": self.log.stats(),
        }
