"""The store contract: the SQLite, Redis and PostgreSQL stores behave the same (each test runs on all three)."""

from __future__ import annotations

import threading

import pytest

from registry_client.domain.plan import Canary, Plan
from registry_client.domain.records import PredictionRecord
from registry_client.errors import PlanConflictError
from registry_client.store import Store
from tests.support.records import make_record


def record(i: int, *, model: str = "iris", request_id: str | None = None, shadow: bool = False) -> PredictionRecord:
    return make_record(i, model=model, request_id=request_id, shadow=shadow)


def test_a_new_plan_is_stored_and_audited(store: Store) -> None:
    """Saving revision 1 stores the plan, appends its audit entry and moves the epoch."""
    epoch = store.plans_epoch()
    plan = Plan.initial("iris", "v1")
    entry = store.save_plan(plan, before=None, action="create")
    assert store.get_plan("iris") == plan
    assert store.plans() == {"iris": plan}
    assert store.history("iris") == [entry]
    assert store.plans_epoch() != epoch


def test_plans_change_only_from_the_revision_they_were_built_on(store: Store) -> None:
    """A plan built on a stale revision is refused with 409 and changes nothing."""
    first = Plan.initial("iris", "v1")
    store.save_plan(first, before=None, action="create")
    second = first.evolve(actor="a", reason="canary", canary=Canary(version="v2", weight=10))
    store.save_plan(second, before=first, action="canary")
    stale = first.evolve(actor="b", reason="late", stable="v3")
    with pytest.raises(PlanConflictError, match="at revision 2, not 1") as info:
        store.save_plan(stale, before=first, action="promote")
    assert info.value.status == 409
    assert store.get_plan("iris") == second
    assert [e.revision for e in store.history("iris")] == [1, 2]


def test_creating_a_plan_twice_conflicts(store: Store) -> None:
    """Two registrations racing to create revision 1: only one wins."""
    store.save_plan(Plan.initial("iris", "v1"), before=None, action="create")
    with pytest.raises(PlanConflictError):
        store.save_plan(Plan.initial("iris", "v2"), before=None, action="create")
    assert store.get_plan("iris").stable == "v1"


def test_history_keeps_before_and_after(store: Store) -> None:
    """Each audit entry holds the plan before and after, the actor, action and reason."""
    first = Plan.initial("iris", "v1")
    store.save_plan(first, before=None, action="create")
    second = first.evolve(actor="sre@example", reason="v2 is better", stable="v2")
    store.save_plan(second, before=first, action="promote")
    entry = store.history("iris")[-1]
    assert (entry.before, entry.after, entry.actor, entry.action, entry.reason) == (
        first,
        second,
        "sre@example",
        "promote",
        "v2 is better",
    )


def test_unknown_models_have_no_plan_or_history(store: Store) -> None:
    """Reading a model that was never planned gives None and an empty history."""
    assert store.get_plan("nope") is None
    assert store.history("nope") == []


def test_records_are_written_once_per_prediction_id(store: Store) -> None:
    """Appending the same prediction_id again (a replay) does not duplicate it."""
    store.append_predictions([record(1), record(2)])
    store.append_predictions([record(2), record(3)])
    assert store.count_predictions() == 3
    assert [r.prediction_id for r in store.iter_predictions("iris")] == ["p1", "p2", "p3"]


def test_records_round_trip_exactly(store: Store) -> None:
    """What is read back equals what was written, field for field."""
    original = PredictionRecord(
        prediction_id="p9",
        request_id="req-9",
        ts=1700000000.25,
        model="iris",
        model_version="v2",
        route="canary",
        revision=4,
        inputs=[[5.1, 3.5, 1.4, 0.2]],
        predictions=["setosa"],
        latency_ms=1.25,
        instance="host:1",
        shadow=False,
        probabilities=[[0.9, 0.1]],
        trace_id="ab" * 16,
    )
    store.append_predictions([original])
    assert list(store.iter_predictions("iris")) == [original]


def test_records_are_found_by_request_id(store: Store) -> None:
    """The request-id index returns every record of a request (primary and shadow)."""
    store.append_predictions([record(1, request_id="shared"), record(2, request_id="shared", shadow=True), record(3)])
    found = store.predictions_for_request("shared")
    assert sorted(r.prediction_id for r in found) == ["p1", "p2"]
    assert store.predictions_for_request("missing") == []


def test_counts_and_iteration_per_model(store: Store) -> None:
    """Counting and streaming can be limited to one model; pages beyond 1,000 records stream through."""
    store.append_predictions([record(i) for i in range(2_500)])
    store.append_predictions([record(10_000 + i, model="other") for i in range(3)])
    assert store.count_predictions("iris") == 2_500
    assert store.count_predictions("other") == 3
    assert store.count_predictions() == 2_503
    assert sum(1 for _ in store.iter_predictions("iris")) == 2_500
    assert sum(1 for _ in store.iter_predictions()) == 2_503


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    """Four threads appending batches at once leave every record exactly once."""

    def write(offset: int) -> None:
        for b in range(20):
            store.append_predictions([record(offset + b * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=write, args=(t * 1000,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_predictions() == 800
    assert len({r.prediction_id for r in store.iter_predictions()}) == 800
