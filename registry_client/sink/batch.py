"""A batch of stream entries, read back into what they hold: prediction records and outcomes.

A log entry (``canaryline:log:{model}``) holds a record as JSON in its ``r`` field, an outcome journal
entry (``canaryline:outcomes``) an outcome as JSON in ``o`` (see :mod:`registry_client.store.redis`).
An entry without fields was trimmed from its stream while pending (``gone``); one that cannot be read back
(not JSON, fields missing) is ``refused`` with the reason, to be set aside rather than block the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.sink.source import Entry
from registry_client.store.redis import OUTCOMES_STREAM

__all__ = ["Batch", "split"]


@dataclass
class Batch:
    predictions: list[tuple[Entry, PredictionRecord]] = field(default_factory=list)
    outcomes: list[tuple[Entry, OutcomeRecord]] = field(default_factory=list)
    refused: list[tuple[Entry, str]] = field(default_factory=list)
    gone: list[Entry] = field(default_factory=list)


def split(entries: list[Entry]) -> Batch:
    """The entries by kind, each kind in stream order."""
    batch = Batch()
    for entry in entries:
        if not entry.fields:
            batch.gone.append(entry)
            continue
        try:
            if entry.stream == OUTCOMES_STREAM:
                batch.outcomes.append((entry, _outcome(entry.fields[b"o"])))
            else:
                batch.predictions.append((entry, PredictionRecord.from_json(entry.fields[b"r"])))
        except (KeyError, TypeError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            batch.refused.append((entry, f"unreadable entry: {type(exc).__name__}: {exc}"))
    return batch


def _outcome(raw: bytes) -> OutcomeRecord:
    data = orjson.loads(raw)
    return OutcomeRecord(
        request_id=data["request_id"],
        outcome=data["outcome"],
        observed_at=float(data["observed_at"]),
        received_at=float(data["received_at"]),
        prediction_id=data.get("prediction_id"),
    )
