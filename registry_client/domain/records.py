"""What the store keeps: one prediction record per served prediction, and outcome records.

An outcome is the ground truth for every input row of a prediction: its ``outcome`` holds one value
per row. Usually it names only its request (``prediction_id`` None) and applies to every record of the
request (the primary prediction and its shadows). A request ID a client reused for several primary
predictions needs one outcome per prediction: such an outcome names its ``prediction_id`` and applies
to that primary and its shadows (``primary_id``) only, in place of the request's outcome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

__all__ = ["OutcomeRecord", "PredictionRecord"]


@dataclass(slots=True, frozen=True)
class PredictionRecord:
    """What the log keeps of one served prediction (primary or shadow)."""

    prediction_id: str
    request_id: str
    ts: float  # seconds since the epoch, when the request arrived
    model: str
    model_version: str
    route: str  # stable | canary | pinned
    revision: int  # the plan revision that decided the route
    inputs: list[Any]  # rows: lists of numbers, or dicts of named inputs
    predictions: list[Any]
    latency_ms: float
    instance: str  # which gateway process served it
    shadow: bool = False
    probabilities: list[list[float]] | None = None
    trace_id: str | None = None
    #: For a shadow record, the prediction_id of the primary prediction it mirrors.
    primary_id: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> PredictionRecord:
        return cls(**orjson.loads(raw))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True, frozen=True)
class OutcomeRecord:
    """The ground truth of one request, or of one of its primary predictions (``prediction_id``); the store
    keeps one per request_id and one per named prediction_id, the latest posted."""

    request_id: str
    outcome: Any  # one value per input row of the request, as a list
    observed_at: float  # seconds since the epoch, when the outcome happened
    received_at: float  # seconds since the epoch, when the gateway accepted it
    prediction_id: str | None = None  # the primary prediction it is the outcome of; None: the whole request

    @property
    def values(self) -> list[Any]:
        """One value per row: a bare value (as a store may hold) is the outcome of a one-row request."""
        return list(self.outcome) if isinstance(self.outcome, list) else [self.outcome]
