"""A model's log over time: traffic share, quality and shadow agreement per version, in time buckets.

:func:`timeline` streams the joined view (:func:`~registry_client.analysis.joined.joined_rows`) once and
counts, per bucket of ``bucket_s`` seconds (aligned to the epoch):

* **traffic** — primary requests (a record, not each row of its batch) per version, and each version's
  share of them in percent; shadow records are not traffic (no caller is answered by them);
* **quality** — accuracy (classifiers: the share of rows whose prediction equals the outcome) or MAE
  (regressors) of rows with an outcome, per version for primary rows and per ``"<version> · shadow"`` for
  shadow rows, ``None`` in a bucket without outcomes;
* **shadow** — agreement of each shadow version with the primary prediction of the same request row (the
  share of equal predictions, or the mean absolute difference for regressors), in the primary's bucket.

Plan revisions in the window come from the plan history, so a chart can mark where the plan changed.
Without ``bucket_s``, the bucket is the smallest of :data:`BUCKETS` that cuts the window (``since``, or the
first plan revision, to ``until`` or ``now``) into at most ``max_buckets``.

A store that is a :class:`~registry_client.store.TimelineQueries` (PostgreSQL) computes the cells in its
engine and sends back a few per bucket and version; any other reads every row once (:func:`scan_cells`),
about as long as row-by-row evaluation of the same window: 6.2 s against evaluation's 7.7 s for 100,000
rows on SQLite at a load average of 8 (``python -m load_tests.bench.timeline_scale``); its memory holds
the primary predictions of the window for the shadow pairing, as
:func:`~registry_client.analysis.evaluation.evaluate` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from registry_client.analysis.evaluation import Task
from registry_client.analysis.joined import joined_rows
from registry_client.domain.aggregates import TimelineCell
from registry_client.domain.versions import sort_versions
from registry_client.errors import EvaluationError, InputError
from registry_client.store import Store, TimelineQueries

__all__ = ["BUCKETS", "MAX_BUCKETS", "Timeline", "bucket_for", "scan_cells", "timeline"]

#: Bucket sizes in seconds: 1 s to a week, in steps a reader recognises.
BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
#: The most buckets one timeline answers (an explicit bucket that makes more is refused).
MAX_BUCKETS = 2000


def bucket_for(span_s: float, max_buckets: int) -> int:
    """The smallest of :data:`BUCKETS` that cuts ``span_s`` seconds into at most ``max_buckets``."""
    wanted = span_s / max(max_buckets, 1)
    return next((b for b in BUCKETS if b >= wanted), BUCKETS[-1])


@dataclass(slots=True)
class _Cell:
    """What one bucket holds for one series."""

    n: int = 0
    total: float = 0.0


@dataclass(slots=True)
class Timeline:
    """A model's log in time buckets; every series holds one value per bucket of ``starts``."""

    model: str
    task: str
    bucket_s: int
    starts: list[float]
    requests: dict[str, list[int]]
    share: dict[str, list[float | None]]
    quality: dict[str, list[float | None]]
    outcomes: dict[str, list[int]]
    agreement: dict[str, list[float | None]]
    pairs: dict[str, list[int]]
    revisions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        metric = "accuracy" if self.task == "classification" else "mae"
        return {
            "model": self.model,
            "task": self.task,
            "bucket_s": self.bucket_s,
            "starts": self.starts,
            "traffic": {"requests": self.requests, "share_pct": self.share},
            "quality": {"metric": metric, "values": self.quality, "outcomes": self.outcomes},
            "shadow": {
                "metric": "agreement" if self.task == "classification" else "mean_abs_difference",
                "values": self.agreement,
                "pairs": self.pairs,
            },
            "revisions": self.revisions,
        }


def _score(prediction: Any, target: Any, task: Task) -> float:
    if task == "classification":
        return 1.0 if prediction == target else 0.0
    try:
        return abs(float(prediction) - float(target))
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"regression needs numbers, got {prediction!r} and {target!r}") from exc


def scan_cells(
    store: Store, model: str, *, task: Task, since: float | None, until: float | None, bucket_s: int
) -> list[TimelineCell]:
    """The timeline's cells from the joined view, row by row (any store; what PostgreSQL computes in SQL).

    A shadow row pairs with the first primary row (in write order) of its request row, and only a shadow
    version's first row for it counts, as evaluation pairs them."""
    cells: dict[tuple[int, str, str], _Cell] = {}
    primary: dict[tuple[str, int], tuple[Any, int]] = {}
    waiting: dict[tuple[str, int], list[tuple[str, Any]]] = defaultdict(list)
    paired: set[tuple[str, str, int]] = set()

    def add(index: int, kind: str, label: str, value: float) -> None:
        cell = cells.setdefault((index, kind, label), _Cell())
        cell.n += 1
        cell.total += value

    for row in joined_rows(store, model, since=since, until=until):
        index = math.floor(row.ts / bucket_s)
        label = f"{row.model_version} · shadow" if row.shadow else row.model_version
        if not row.shadow and row.row_index == 0:
            add(index, "requests", row.model_version, 1.0)
        if row.outcome is not None:
            add(index, "quality", label, _score(row.prediction, row.outcome, task))
        key = (row.request_id, row.row_index)
        if row.shadow:
            if (row.model_version, *key) in paired:
                continue
            paired.add((row.model_version, *key))
            found = primary.get(key)
            if found is None:
                waiting[key].append((row.model_version, row.prediction))
            else:
                add(found[1], "agreement", row.model_version, _agree(row.prediction, found[0], task))
        elif key not in primary:
            primary[key] = (row.prediction, index)
            for version, prediction in waiting.pop(key, ()):
                add(index, "agreement", version, _agree(prediction, row.prediction, task))
    return [TimelineCell(b, kind, label, c.n, c.total) for (b, kind, label), c in cells.items()]


def timeline(
    store: Store,
    model: str,
    *,
    task: Task,
    now: float,
    since: float | None = None,
    until: float | None = None,
    bucket_s: int | None = None,
    max_buckets: int = 120,
) -> Timeline:
    """``model``'s predictions in ``[since, until)`` in buckets (see the module docstring)."""
    history = store.history(model)
    start = since if since is not None else (history[0].at.timestamp() if history else now)
    end = until if until is not None else now
    if bucket_s is None:
        bucket_s = bucket_for(max(end - start, 1.0), max_buckets)
    elif not 1 <= bucket_s <= BUCKETS[-1]:
        raise InputError(f"query parameter bucket {bucket_s} must be between 1 and {BUCKETS[-1]} seconds")
    first = math.floor(start / bucket_s)
    last = max(math.ceil(end / bucket_s) - 1, first)  # until is exclusive
    if last - first + 1 > MAX_BUCKETS:
        raise InputError(f"query parameter bucket {bucket_s}: {last - first + 1} buckets, at most {MAX_BUCKETS}")
    cells: dict[str, dict[str, dict[int, _Cell]]] = {k: defaultdict(dict) for k in ("requests", "quality", "agreement")}
    found = (
        store.timeline_cells(model, task=task, since=since, until=until, bucket_s=bucket_s)
        if isinstance(store, TimelineQueries)
        else None
    )
    for cell in (
        found if found is not None else scan_cells(store, model, task=task, since=since, until=until, bucket_s=bucket_s)
    ):
        first, last = min(first, cell.bucket), max(last, cell.bucket)
        cells[cell.kind][cell.label][cell.bucket] = _Cell(cell.n, cell.total)
    requests, quality, agreement = cells["requests"], cells["quality"], cells["agreement"]
    indexes = range(first, last + 1)
    counts = {v: [by[i].n if i in by else 0 for i in indexes] for v, by in _ordered(requests)}
    totals = [sum(column) for column in zip(*counts.values(), strict=True)] if counts else [0] * len(indexes)
    return Timeline(
        model=model,
        task=task,
        bucket_s=bucket_s,
        starts=[float(i * bucket_s) for i in indexes],
        requests=counts,
        share={v: [100 * n / t if t else None for n, t in zip(c, totals, strict=True)] for v, c in counts.items()},
        quality=_means(quality, indexes),
        outcomes={v: [by[i].n if i in by else 0 for i in indexes] for v, by in _ordered(quality)},
        agreement=_means(agreement, indexes),
        pairs={v: [by[i].n if i in by else 0 for i in indexes] for v, by in _ordered(agreement)},
        revisions=[
            {
                "revision": e.revision,
                "at": e.at.timestamp(),
                "action": e.action,
                "actor": e.actor,
                "reason": e.reason,
                "stable": e.after.stable,
                "canary": None if e.after.canary is None else e.after.canary.version,
                "weight": None if e.after.canary is None else e.after.canary.weight,
                "shadow": None if e.after.shadow is None else e.after.shadow.version,
            }
            for e in history
            if first * bucket_s <= e.at.timestamp() < (last + 1) * bucket_s
        ],
    )


def _agree(shadow: Any, primary: Any, task: Task) -> float:
    if task == "classification":
        return 1.0 if shadow == primary else 0.0
    return _score(shadow, primary, task)


def _ordered(cells: dict[str, dict[int, _Cell]]) -> list[tuple[str, dict[int, _Cell]]]:
    return [(label, cells[label]) for label in sort_versions(cells)]


def _means(cells: dict[str, dict[int, _Cell]], indexes: range) -> dict[str, list[float | None]]:
    return {label: [by[i].total / by[i].n if i in by else None for i in indexes] for label, by in _ordered(cells)}
