"""Ground truth for served predictions: the transport-agnostic core of ``POST /feedback``.

An outcome names the request it belongs to. :class:`Feedback` finds the request's records in the
store (the primary prediction and any shadow one share its request_id), checks the outcome against
the model's task and the request's rows, and stores it as one value per row. The store keeps one
outcome per request, so posting again replaces the earlier outcome and it is counted once.

A client may reuse a request ID for several predictions. An outcome then cannot be attributed: it is
refused with a 409 (``ambiguous_request``) listing each primary prediction (id, version, route, time)
unless the body names one with ``prediction_id``, or ``model`` leaves only one. Such an outcome is
stored for that prediction (and joins it and its shadows) only, replaced by a later one naming it.
For a request with one primary prediction, ``prediction_id`` is checked but the outcome stays the
request's, so shadow records logged before they carried ``primary_id`` are still joined.

With a Redis store drained by ``canaryline sink``, the request index lasts a week while the history is kept
in PostgreSQL: given that database as ``history``, a request the store no longer finds is looked up there,
and its outcome is stored there (the only place that still holds its predictions), so a label of any age is
joined. Nothing is written to the Redis store for it.

The rules, each refused with 422 naming the field: one value for a one-row request (or a list of
one), a list with one value per row for a batch; a classifier's value must be one of the version's
classes with the same JSON type (``1`` is not ``1.0``, ``true`` is not ``1``), a regressor's a
finite number. An unknown request_id is a 404. Every method blocks on the store: transports call
them from a worker thread.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_client.domain.identifiers import REQUEST_ID_RULE, valid_request_id
from registry_client.domain.records import PredictionRecord
from registry_client.domain.timestamps import parse_timestamp
from registry_client.errors import ConflictError, InputError, NotFoundError, TimestampError
from registry_client.registry.registry import ModelVersion, Registry
from registry_client.store import Store
from service.dataplane.validation import load_json, require_str
from service.observability.metrics import Metrics

__all__ = ["Feedback", "FeedbackRequest", "parse_feedback"]


@dataclass(slots=True, frozen=True)
class FeedbackRequest:
    request_id: str
    outcome: Any
    observed_at: float | None = None
    model: str | None = None  # when given, the request must have been served by this model (else 404)
    prediction_id: str | None = None  # which primary prediction of the request it is the outcome of


def parse_feedback(body: bytes) -> FeedbackRequest:
    """The fields of a ``POST /feedback`` body; errors name the field and its rule."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object with fields 'request_id' and 'outcome'")
    request_id = require_str(payload, "request_id", required=True)
    if request_id is None or not valid_request_id(request_id):
        raise InputError(f"field 'request_id' must be {REQUEST_ID_RULE}")
    if payload.get("outcome") is None:
        raise InputError(
            "field 'outcome' is required: one value, or a list with one value per row", code="missing_field"
        )
    observed_at = payload.get("observed_at")
    try:
        observed = None if observed_at is None else parse_timestamp(observed_at)
    except TimestampError as exc:
        raise InputError(f"field 'observed_at' {exc}") from exc
    prediction_id = require_str(payload, "prediction_id")
    if prediction_id is not None and not _is_uuid(prediction_id):
        raise InputError("field 'prediction_id' must be a prediction ID the gateway answered with (a UUID)")
    return FeedbackRequest(request_id, payload["outcome"], observed, require_str(payload, "model"), prediction_id)


def _is_uuid(value: str) -> bool:
    """Prediction IDs are the gateway's own UUIDv7s, in their canonical 36-character form."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class Feedback:
    """Validates and stores outcomes; ``clock`` gives the time an outcome is received."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        history: Store | None = None,
    ) -> None:
        self.store = store
        #: Where requests older than the store's index live (the sink's PostgreSQL); None: only ``store``.
        self.history = history
        self.registry = registry
        self._clock = clock
        self.metrics = metrics or Metrics()
        self._versions: dict[tuple[str, str], ModelVersion] = {}  # versions are immutable: cache them

    def accept(
        self,
        request_id: str,
        outcome: Any,
        observed_at: float | None = None,
        *,
        model: str | None = None,
        prediction_id: str | None = None,
    ) -> dict[str, Any]:
        """Join ``outcome`` to the records of ``request_id`` it belongs to; what it was joined to, for a 202 body."""
        store, found = self._lookup(request_id)
        records, named = _attributed(found, request_id, model, prediction_id)
        primary = next((r for r in records if not r.shadow), records[0])
        values = _per_row(outcome, records)
        info = self._version(primary.model, primary.model_version)
        where = f"model {info.model!r} version {info.version!r}"
        for index, value in enumerate(values):
            field = "outcome" if not isinstance(outcome, list) else f"outcome[{index}]"
            _check_value(field, value, info, where)
        received_at = self._clock()
        observed = received_at if observed_at is None else observed_at
        replaced = store.put_outcome(request_id, values, observed, received_at, prediction_id=named)
        self.metrics.outcome(records, values, regression=info.task == "regression")
        return {
            "request_id": request_id,
            "model": primary.model,
            "versions": list(dict.fromkeys(r.model_version for r in records)),
            "predictions": [
                {
                    "prediction_id": r.prediction_id,
                    "model_version": r.model_version,
                    "route": r.route,
                    "shadow": r.shadow,
                }
                for r in records
            ],
            "rows": len(values),
            "observed_at": observed,
            "replaced": replaced,
        }

    def _lookup(self, request_id: str) -> tuple[Store, list[PredictionRecord]]:
        """The store holding the request's records (the history when the store no longer does), and them."""
        records = self.store.predictions_for_request(request_id)
        if records or self.history is None:
            return self.store, records
        return self.history, self.history.predictions_for_request(request_id)

    def _version(self, model: str, version: str) -> ModelVersion:
        key = (model, version)
        found = self._versions.get(key)
        if found is None:
            found = self._versions.setdefault(key, self.registry.get(model, version))
        return found


def _attributed(
    records: list[PredictionRecord], request_id: str, model: str | None, prediction_id: str | None
) -> tuple[list[PredictionRecord], str | None]:
    """The records the outcome joins, and the primary prediction_id to store it under (None: the request)."""
    if not records or (model is not None and all(r.model != model for r in records)):
        served = "" if model is None else f" by model {model!r}"
        raise NotFoundError(
            f"request {request_id!r} has no logged prediction{served}: "
            "post outcomes with the request_id the prediction answered with",
            code="unknown_request",
        )
    primaries = [r for r in records if not r.shadow]
    candidates = [r for r in primaries if model is None or r.model == model]
    if prediction_id is not None:
        candidates = [_named(records, request_id, model, prediction_id)]
    elif len(candidates) > 1:
        raise ConflictError(_ambiguous(request_id, candidates), code="ambiguous_request")
    elif not candidates and primaries:
        raise NotFoundError(
            f"request {request_id!r} has no primary prediction by model {model!r}", code="unknown_request"
        )
    if len(primaries) <= 1:  # one prediction (or only shadows): the request's outcome, joined to every record
        return records, None
    [chosen] = candidates
    shadows = [r for r in records if r.shadow and r.primary_id == chosen.prediction_id]
    return [chosen, *shadows], chosen.prediction_id


def _named(records: list[PredictionRecord], request_id: str, model: str | None, prediction_id: str) -> PredictionRecord:
    """The primary record ``prediction_id`` names; 404 when the request (of ``model``) has none, 422 for a shadow."""
    chosen = next((r for r in records if r.prediction_id == prediction_id), None)
    if chosen is None or (model is not None and chosen.model != model):
        served = "" if model is None else f" of model {model!r}"
        raise NotFoundError(
            f"request {request_id!r} has no prediction {prediction_id!r}{served}: "
            "name a prediction_id the request answered with",
            code="unknown_prediction",
        )
    if chosen.shadow:
        raise InputError(
            f"field 'prediction_id' names a shadow prediction of request {request_id!r}: "
            f"name the primary prediction it mirrors ({chosen.primary_id!r})"
        )
    return chosen


def _ambiguous(request_id: str, candidates: list[PredictionRecord]) -> str:
    several_models = len({r.model for r in candidates}) > 1
    listed = ", ".join(
        f"{r.prediction_id!r} ({f'model {r.model!r}, ' if several_models else ''}version {r.model_version!r}, "
        f"route {r.route!r}, at {datetime.fromtimestamp(r.ts, UTC).isoformat(timespec='milliseconds')})"
        for r in candidates
    )
    return (
        f"request {request_id!r} has {len(candidates)} primary predictions, so its outcome cannot be attributed: "
        f"{listed}; name one with field 'prediction_id' (and give each prediction its own X-Request-ID)"
    )


def _per_row(outcome: Any, records: list[PredictionRecord]) -> list[Any]:
    """The outcome as one value per row of the request; the length must fit every record."""
    rows = {len(r.inputs) for r in records}
    record = records[0]
    where = f"request {record.request_id!r} (model {record.model!r} version {record.model_version!r})"
    if len(rows) > 1:
        raise InputError(
            f"{where} was logged with different row counts ({sorted(rows)}): the outcome cannot be joined",
            code="ambiguous_request",
        )
    count = rows.pop()
    if not isinstance(outcome, list):
        if count != 1:
            raise InputError(
                f"field 'outcome' must be a list of {count} values, one per input row of {where}, not a single value",
                code="wrong_length",
            )
        return [outcome]
    if len(outcome) != count:
        expected = "one value (or a list of one)" if count == 1 else f"a list of {count} values, one per input row"
        raise InputError(
            f"field 'outcome' must be {expected} of {where}, not a list of {len(outcome)}", code="wrong_length"
        )
    return list(outcome)


def _check_value(field: str, value: Any, info: ModelVersion, where: str) -> None:
    if info.task == "regression":
        if type(value) not in (int, float):
            raise InputError(f"field {field!r} must be a number for regressor {where}, not {_show(value)}")
        if not _finite(value):
            raise InputError(f"field {field!r} must be a finite number for regressor {where}, not {value}")
        return
    classes = info.classes
    if classes is None:
        if type(value) not in (int, str):
            raise InputError(f"field {field!r} must be a label (an integer or a string) of {where}, not {_show(value)}")
        return
    if not any(type(label) is type(value) and label == value for label in classes):
        known = ", ".join(_show(label) for label in classes)
        raise InputError(f"field {field!r} must be one of the classes of {where} ({known}), not {_show(value)}")


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return f"a {'list' if isinstance(value, list) else 'JSON object'}"
    return repr(value)
