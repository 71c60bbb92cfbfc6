"""The joined row: one input row of a logged prediction, with its ground-truth outcome if known.

A :class:`~registry_client.domain.records.PredictionRecord` may hold a batch of several input rows;
:func:`explode` turns it into one :class:`JoinedRow` per input row, which is the unit that
evaluation (:mod:`registry_client.analysis.evaluation`) and export (:mod:`registry_client.analysis.export`) consume.
:func:`joined_rows` is the joined view of a store: it streams a model's logged predictions and
joins their outcomes a page at a time, so memory stays bounded however long the log is.
A record whose rows, predictions and outcomes do not line up is a :class:`~registry_client.errors.JoinError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from registry_client.domain.records import PredictionRecord
from registry_client.errors import JoinError

if TYPE_CHECKING:
    from registry_client.store import Store

__all__ = ["PAGE_RECORDS", "JoinedRow", "explode", "joined_rows"]

#: Prediction records read, and outcomes looked up in one round trip, per page.
PAGE_RECORDS = 1000


@dataclass(slots=True, frozen=True)
class JoinedRow:
    """One input row of a served prediction, joined with its outcome (``None``: not joined)."""

    prediction_id: str
    request_id: str
    ts: float  # seconds since the epoch, when the request arrived
    model: str
    model_version: str
    route: str  # stable | canary | pinned
    shadow: bool
    revision: int  # the plan revision that decided the route
    row_index: int  # position of this row in the request's batch
    inputs: list[float] | dict[str, Any]  # a row of numbers, or a named-input version's fields
    prediction: Any
    outcome: Any | None
    latency_ms: float  # of the whole prediction (shared by every row of the batch)
    probabilities: list[float] | None = None  # a classifier's, in the order of its version's classes

    @property
    def joined(self) -> bool:
        """Whether a ground-truth outcome is known for this row."""
        return self.outcome is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_lengths(record: PredictionRecord, outcomes: Sequence[Any] | None) -> None:
    rows = len(record.inputs)
    where = (
        f"model {record.model!r} version {record.model_version!r} "
        f"request {record.request_id!r} prediction {record.prediction_id!r}"
    )
    if len(record.predictions) != rows:
        raise JoinError(f"{where}: {rows} input rows but {len(record.predictions)} predictions")
    if record.probabilities is not None and len(record.probabilities) != rows:
        raise JoinError(f"{where}: {rows} input rows but {len(record.probabilities)} rows of probabilities")
    if outcomes is not None and len(outcomes) != rows:
        raise JoinError(f"{where}: {rows} input rows but {len(outcomes)} outcomes")


def explode(record: PredictionRecord, outcomes: Sequence[Any] | None) -> list[JoinedRow]:
    """One :class:`JoinedRow` per input row of ``record``.

    ``outcomes`` is ``None`` when no outcome is joined to the prediction; otherwise it holds one
    value per input row, and a row whose value is ``None`` stays unjoined. Raises
    :class:`JoinError` when the inputs, predictions and outcomes differ in length.
    """
    _check_lengths(record, outcomes)
    row_outcomes: Sequence[Any] = outcomes if outcomes is not None else [None] * len(record.inputs)
    probabilities = record.probabilities
    return [
        JoinedRow(
            prediction_id=record.prediction_id,
            request_id=record.request_id,
            ts=record.ts,
            model=record.model,
            model_version=record.model_version,
            route=record.route,
            shadow=record.shadow,
            revision=record.revision,
            row_index=index,
            inputs=dict(inputs) if type(inputs) is dict else list(inputs),
            prediction=prediction,
            outcome=outcome,
            latency_ms=record.latency_ms,
            probabilities=None if probabilities is None else list(probabilities[index]),
        )
        for index, (inputs, prediction, outcome) in enumerate(
            zip(record.inputs, record.predictions, row_outcomes, strict=True)
        )
    ]


def joined_rows(
    store: Store,
    model: str,
    *,
    since: float | None = None,
    until: float | None = None,
    page: int = PAGE_RECORDS,
) -> Iterator[JoinedRow]:
    """The joined view: every logged row of ``model`` with ``since <= ts < until``, in write order.

    Records are streamed from the store; for each page of ``page`` records the outcomes of their
    requests are fetched (request outcomes and outcomes naming a prediction), and each record is
    exploded into its rows with its outcome: the one naming its primary prediction (itself, or the
    ``primary_id`` of a shadow record) when there is one, else the request's. So the same outcome
    joins a primary and its shadows, and an outcome posted for one of several predictions under a
    reused request ID joins that one only. Each key has at most one outcome in the store, so reposted
    ground truth is counted once. For pandas:
    ``registry_client.analysis.export.rows_to_dataframe(joined_rows(store, model))``.
    """
    if page < 1:
        raise ValueError(f"page must be at least 1, got {page}")
    records = store.iter_predictions(model, since=since, until=until)
    while batch := list(islice(records, page)):
        primaries = [record.primary_id if record.shadow else record.prediction_id for record in batch]
        outcomes = store.get_outcomes([record.request_id for record in batch])
        named = store.get_prediction_outcomes([primary for primary in primaries if primary is not None])
        for record, primary in zip(batch, primaries, strict=True):
            found = named.get(primary) if primary is not None else None
            found = found or outcomes.get(record.request_id)
            yield from explode(record, found.values if found is not None else None)
