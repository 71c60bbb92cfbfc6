"""The prediction record: one per served prediction, written to the store's prediction log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

__all__ = ["PredictionRecord"]


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
    inputs: list[list[float]]
    predictions: list[Any]
    latency_ms: float
    instance: str  # which gateway process served it
    shadow: bool = False
    probabilities: list[list[float]] | None = None
    trace_id: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> PredictionRecord:
        return cls(**orjson.loads(raw))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
