"""Evaluation in PostgreSQL: the aggregates the database computes give the report row-by-row evaluation gives,
and the console timeline's cells it counts are those of reading every row."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from registry_client.analysis.aggregated import evaluate_store, report_of
from registry_client.analysis.evaluation import EvaluationReport, evaluate
from registry_client.analysis.joined import joined_rows
from registry_client.analysis.timeline import scan_cells, timeline
from registry_client.domain.aggregates import TimelineCell
from registry_client.domain.plan import Canary, Plan
from registry_client.domain.records import PredictionRecord
from registry_client.errors import EvaluationError
from registry_client.store import EvaluationQueries, TimelineQueries, open_store
from registry_client.store.postgres import PostgresStore
from tests.support.servers import LOADED_TIMEOUT_S

pytestmark = pytest.mark.postgres

LABELS = ["setosa", "versicolor", "virginica"]
T0 = 1_700_000_000.0
#: (stable, canary) of revisions 1, 2, …: canary v2 in revisions 2-3, canary v3 in revision 4.
PLANS = [("v1", None), ("v1", "v2"), ("v1", "v2"), ("v1", "v3")]


@pytest.fixture
def pg(postgres_db: str) -> Iterator[PostgresStore]:
    store = open_store(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    assert isinstance(store, PostgresStore)
    yield store
    store.close()


def _save_history(store: PostgresStore, model: str) -> None:
    before = None
    for revision, (stable, canary) in enumerate(PLANS, start=1):
        plan = Plan(
            model=model,
            stable=stable,
            canary=None if canary is None else Canary(version=canary, weight=30),
            revision=revision,
            updated_at=datetime.fromtimestamp(T0 + revision, UTC),
        )
        store.save_plan(plan, before=before, action="create" if before is None else "canary")
        before = plan


def _seed(store: PostgresStore, model: str, task: str, requests: int = 300) -> None:
    """Canary and stable traffic over four revisions, batches of one to three rows, shadow v10 on every other
    request, a reused request ID now and then, outcomes with gaps, some naming one prediction of a request."""
    _save_history(store, model)
    rng = np.random.default_rng(23)
    records: list[PredictionRecord] = []
    for i in range(requests):
        revision = 1 + i % 4
        stable, canary = PLANS[revision - 1]
        route, version = ("canary", canary) if canary is not None and i % 3 == 0 else ("stable", stable)
        size = 1 + i % 3
        request_id = f"r{i - 1}" if i % 17 == 0 and i else f"r{i}"  # a reused request ID
        if task == "classification":
            truth: list[Any] = [LABELS[int(k)] for k in rng.integers(0, 3, size)]
            pred = [t if rng.random() < 0.7 else LABELS[0] for t in truth]
            shadow_pred = [t if rng.random() < 0.8 else LABELS[1] for t in truth]
        else:
            truth = [float(v) for v in rng.normal(10.0, 3.0, size)]
            pred = [t + float(rng.normal(0.2, 1.5 if route == "canary" else 1.0)) for t in truth]
            shadow_pred = [t + float(rng.normal(0.0, 1.2)) for t in truth]
        base: dict[str, Any] = {
            "request_id": request_id,
            "ts": T0 + i,
            "model": model,
            "route": route,
            "revision": revision,
            "inputs": [[float(i), 1.0]] * size,
            "instance": "gw-1",
        }
        latency = float(rng.gamma(2.0, 10.0))
        records.append(
            PredictionRecord(prediction_id=f"p{i}", model_version=version, predictions=pred, latency_ms=latency, **base)
        )
        if i % 2 == 0:
            records.append(
                PredictionRecord(
                    prediction_id=f"s{i}",
                    model_version="v10",
                    predictions=shadow_pred,
                    latency_ms=latency * 1.5,
                    shadow=True,
                    primary_id=f"p{i}",
                    **{**base, "route": "shadow"},
                )
            )
        named = f"p{i}" if i % 17 == 0 and i else None  # the reused ID's second prediction, by name
        if i % 7 == 0 and named is None:
            continue
        outcome = [None if (i + k) % 11 == 0 else t for k, t in enumerate(truth)]
        store.put_outcome(request_id, outcome, T0 + i, T0 + i, prediction_id=named)
    store.append_predictions(records)


def _same(got: Any, want: Any, where: str = "report") -> None:
    """Equal reports: the same keys, labels and counts, floats equal to 1e-9 relative."""
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            _same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


def _row_by_row(store: PostgresStore, model: str, task: str, **window: float) -> EvaluationReport:
    return evaluate(joined_rows(store, model, **window), task=task, history=store.history(model))  # type: ignore[arg-type]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_database_aggregates_give_the_row_by_row_report(pg: PostgresStore, model_name: str, task: str) -> None:
    """Groups, both canary episodes and the shadow from PostgreSQL's aggregates equal evaluation of every row."""
    _seed(pg, model_name, task)
    assert isinstance(pg, EvaluationQueries)
    aggregates = pg.evaluation_aggregates(model_name, task=task)  # type: ignore[arg-type]
    assert aggregates is not None  # scored in the database, not fallen back
    got = report_of(aggregates, task=task, history=pg.history(model_name)).to_dict()  # type: ignore[arg-type]
    want = _row_by_row(pg, model_name, task).to_dict()
    assert [c["revisions"] for c in want["canary_vs_stable"]] == [[2, 3], [4]]
    assert want["shadows"][0]["paired_outcomes"] > 0
    _same(got, want)


def test_a_window_is_evaluated_in_the_database_like_row_by_row(pg: PostgresStore, model_name: str) -> None:
    """--since/--until bound the database's aggregates exactly as they bound the joined rows."""
    _seed(pg, model_name, "classification")
    window = {"since": T0 + 50.5, "until": T0 + 200.5}
    got = evaluate_store(pg, model_name, task="classification", **window).to_dict()
    want = _row_by_row(pg, model_name, "classification", **window).to_dict()
    assert sum(g["rows"] for g in want["groups"]) < sum(
        g["rows"] for g in _row_by_row(pg, model_name, "classification").to_dict()["groups"]
    )
    _same(got, want)


def test_a_model_without_rows_gives_an_empty_report(pg: PostgresStore, model_name: str) -> None:
    """No logged rows: no groups, no comparison, no shadow, and no model, as row by row."""
    aggregates = pg.evaluation_aggregates(model_name, task="classification")
    assert aggregates is not None
    report = report_of(aggregates, task="classification")
    assert (report.model, report.groups, report.canary_vs_stable, report.shadows) == (None, [], [], [])


def _one(model: str, prediction: Any, outcome: Any, store: PostgresStore) -> None:
    store.append_predictions(
        [
            PredictionRecord(
                prediction_id="p-odd",
                request_id="r-odd",
                ts=T0,
                model=model,
                model_version="v1",
                route="stable",
                revision=1,
                inputs=[[1.0, 2.0]],
                predictions=[prediction],
                latency_ms=1.0,
                instance="gw",
            )
        ]
    )
    store.put_outcome("r-odd", [outcome], T0, T0)


def test_a_non_numeric_regression_value_falls_back_and_names_the_row(pg: PostgresStore, model_name: str) -> None:
    """A text outcome of a regressor is not scored in SQL: eval gives row-by-row's error naming the request."""
    _one(model_name, 3.5, "high", pg)
    assert pg.evaluation_aggregates(model_name, task="regression") is None
    with pytest.raises(EvaluationError, match="request 'r-odd' row 0: regression needs numbers"):
        evaluate_store(pg, model_name, task="regression")


def test_a_boolean_label_against_a_number_is_judged_as_python_judges_it(pg: PostgresStore, model_name: str) -> None:
    """True == 1 in Python but not in jsonb: such a window falls back, so accuracy is still 1.0."""
    _one(model_name, True, 1, pg)
    assert pg.evaluation_aggregates(model_name, task="classification") is None
    [group] = evaluate_store(pg, model_name, task="classification").groups
    assert group.accuracy is not None and math.isclose(group.accuracy.value, 1.0)


def _cells(found: list[TimelineCell] | None) -> dict[tuple[int, str, str], tuple[int, float]]:
    assert found is not None  # counted in the database, not fallen back
    return {(c.bucket, c.kind, c.label): (c.n, c.total) for c in found}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_database_timeline_cells_are_the_row_by_row_ones(pg: PostgresStore, model_name: str, task: str) -> None:
    """The timeline's cells PostgreSQL counts (requests, quality, shadow agreement per minute and version)
    equal those of reading every row, over the whole log and over a window."""
    _seed(pg, model_name, task)
    assert isinstance(pg, TimelineQueries)
    for window in ({"since": None, "until": None}, {"since": T0 + 50.5, "until": T0 + 200.5}):
        got = _cells(pg.timeline_cells(model_name, task=task, bucket_s=60, **window))  # type: ignore[arg-type]
        want = _cells(scan_cells(pg, model_name, task=task, bucket_s=60, **window))  # type: ignore[arg-type]
        assert set(got) == set(want), window
        assert {kind for _, kind, _ in want} == {"requests", "quality", "agreement"}
        for key, (n, total) in want.items():
            assert got[key][0] == n and got[key][1] == pytest.approx(total, rel=1e-9), (key, window)


def test_an_unscorable_row_makes_the_timeline_read_the_rows(pg: PostgresStore, model_name: str) -> None:
    """A text outcome of a regressor is not counted in SQL: the cells are None, and the timeline names it."""
    _one(model_name, 3.5, "high", pg)
    assert pg.timeline_cells(model_name, task="regression", since=None, until=None, bucket_s=60) is None
    with pytest.raises(EvaluationError, match="regression needs numbers"):
        timeline(pg, model_name, task="regression", now=T0 + 60, since=T0, bucket_s=60)
