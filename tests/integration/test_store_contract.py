"""The store contract: the SQLite, Redis and PostgreSQL stores behave the same (each test runs on all three),
rollouts included."""

from __future__ import annotations

import threading

import pytest

from registry_client.domain.plan import Canary, Plan
from registry_client.domain.records import PredictionRecord
from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.domain.rollout import Fence, RolloutSpec, RolloutState
from registry_client.errors import LeaseLostError, PlanConflictError, RolloutConflictError
from registry_client.store import Store
from tests.support.records import make_record
from tests.support.servers import wait_until


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
    plan = store.get_plan("iris")
    assert plan is not None and plan.stable == "v1"


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
    store.append_predictions([make_record(1), make_record(2)])
    store.append_predictions([make_record(2), make_record(3)])
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
    store.append_predictions(
        [make_record(1, request_id="shared"), make_record(2, request_id="shared", shadow=True), make_record(3)]
    )
    found = store.predictions_for_request("shared")
    assert sorted(r.prediction_id for r in found) == ["p1", "p2"]
    assert store.predictions_for_request("missing") == []


def test_counts_and_iteration_per_model(store: Store) -> None:
    """Counting and streaming can be limited to one model; pages beyond 1,000 records stream through."""
    store.append_predictions([make_record(i) for i in range(2_500)])
    store.append_predictions([make_record(10_000 + i, model="other") for i in range(3)])
    assert store.count_predictions("iris") == 2_500
    assert store.count_predictions("other") == 3
    assert store.count_predictions() == 2_503
    assert sum(1 for _ in store.iter_predictions("iris")) == 2_500
    assert sum(1 for _ in store.iter_predictions()) == 2_503


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    """Four threads appending batches at once leave every record exactly once."""

    def write(offset: int) -> None:
        for b in range(20):
            store.append_predictions([make_record(offset + b * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=write, args=(t * 1000,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_predictions() == 800
    assert len({r.prediction_id for r in store.iter_predictions()}) == 800


# -- rollouts: state, the controller's lease, request counts ---------------------------------------------
def rollout_state(seq: int = 1, *, model: str = "iris", phase: str = "step") -> RolloutState:
    spec = RolloutSpec(model=model, version="v2", steps=(5, 50, 100), reason="contract")
    return RolloutState(
        id="r1", spec=spec, seq=seq, phase=phase, started_at=1.0, step_started_at=1.0, stable="v1", base_revision=1
    )


def test_rollout_state_changes_only_from_the_seq_it_was_built_on(store: Store) -> None:
    """A rollout state is stored at seq 1, replaced by seq 2, and a stale write is refused with 409."""
    assert store.get_rollout("iris") is None
    first = rollout_state()
    store.save_rollout(first)
    second = first.evolve(step=1, revisions=(2, 3))
    store.save_rollout(second)
    assert store.get_rollout("iris") == second
    assert store.rollouts() == {"iris": second}
    with pytest.raises(RolloutConflictError, match="at seq 2, not 1") as info:
        store.save_rollout(first.evolve(phase="paused"))
    assert info.value.status == 409
    with pytest.raises(RolloutConflictError):
        store.save_rollout(rollout_state())  # a second "first" rollout
    assert store.get_rollout("iris") == second


def test_a_lease_has_one_holder_renews_with_its_token_and_passes_on_with_a_larger_one(store: Store) -> None:
    """The holder renews with the same token, another holder is refused until the lease expires, and then gets
    a larger token."""
    first = store.acquire_lease("rollouts", "a", ttl_s=0.5)
    assert first is not None
    assert store.acquire_lease("rollouts", "b", ttl_s=0.5) is None
    assert store.acquire_lease("rollouts", "a", ttl_s=0.5) == first
    taken: list[Fence] = []

    def take() -> bool:
        found = store.acquire_lease("rollouts", "b", ttl_s=5)
        taken.extend([found] if found else [])
        return found is not None

    wait_until(take, 10, "the lease to expire")
    assert taken[0].holder == "b" and taken[0].token > first.token
    assert store.acquire_lease("rollouts", "a", ttl_s=5) is None


def test_a_released_lease_is_free_at_once(store: Store) -> None:
    """Releasing hands the lease to the next caller without waiting for it to expire."""
    first = store.acquire_lease("rollouts", "a", ttl_s=60)
    assert first is not None
    store.release_lease(first)
    second = store.acquire_lease("rollouts", "b", ttl_s=60)
    assert second is not None and second.token > first.token


def test_of_holders_taking_a_free_lease_at_once_exactly_one_gets_it(store: Store) -> None:
    """Eight holders race for a free lease, each from its own thread: one fence comes back, seven Nones."""
    barrier = threading.Barrier(8)
    found: dict[str, Fence | None] = {}

    def take(holder: str) -> None:
        barrier.wait(10)
        found[holder] = store.acquire_lease("rollouts", holder, ttl_s=60)

    threads = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [fence for fence in found.values() if fence is not None]
    assert len(found) == 8 and len(winners) == 1
    assert store.acquire_lease("rollouts", winners[0].holder, ttl_s=60) == winners[0]


def test_of_rollout_writes_from_the_same_seq_at_once_exactly_one_lands(store: Store) -> None:
    """Eight threads save seq 2 over the same seq 1 at once: one succeeds, seven get RolloutConflictError."""
    store.save_rollout(rollout_state())
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def write() -> None:
        barrier.wait(10)
        try:
            store.save_rollout(rollout_state().evolve(phase="paused"))
            outcomes.append("saved")
        except RolloutConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["conflict"] * 7 + ["saved"]
    stored = store.get_rollout("iris")
    assert stored is not None and stored.seq == 2


def test_fenced_writes_are_refused_once_the_lease_moved_on(store: Store) -> None:
    """A plan or rollout state saved with a fence the lease no longer holds changes nothing (LeaseLostError)."""
    first = Plan.initial("iris", "v1")
    store.save_plan(first, before=None, action="create")
    old = store.acquire_lease("rollouts", "a", ttl_s=60)
    assert old is not None
    second = first.evolve(actor="rollout", reason="step 1", canary=Canary(version="v2", weight=5))
    entry = store.save_plan(second, before=first, action="canary", evidence={"gate": "quality"}, fence=old)
    assert store.history("iris")[-1] == entry and entry.evidence == {"gate": "quality"}
    store.release_lease(old)
    new = store.acquire_lease("rollouts", "b", ttl_s=60)
    assert new is not None
    third = second.evolve(actor="rollout", reason="step 2", canary=Canary(version="v2", weight=50))
    with pytest.raises(LeaseLostError):
        store.save_plan(third, before=second, action="canary", fence=old)
    with pytest.raises(LeaseLostError):
        store.save_rollout(rollout_state(), fence=old)
    assert store.get_plan("iris") == second and store.get_rollout("iris") is None
    store.save_rollout(rollout_state(), fence=new)
    assert store.get_rollout("iris") is not None


def test_request_counts_add_up_per_key_and_are_read_per_revision(store: Store) -> None:
    """Counts added in several batches sum per (version, revision, route, keyed), keyed ones keep the union of
    their distinct key buckets; only the revisions asked for come back."""
    canary = CountKey("iris", "v2", 2, "canary", False)
    stable = CountKey("iris", "v1", 2, "stable", True)
    later = CountKey("iris", "v1", 3, "stable", False)
    store.add_request_counts([RequestCount(canary, 10, 1), RequestCount(stable, 30, 0, frozenset({4, 9}))])
    store.add_request_counts([RequestCount(canary, 5, 2), RequestCount(later, 7, 0)])
    store.add_request_counts([RequestCount(stable, 1, 0, frozenset({9, 12}))])
    store.add_request_counts([RequestCount(CountKey("other", "v1", 2, "stable", False), 99, 0)])
    found = {c.key: (c.served, c.failed, c.buckets) for c in store.request_counts("iris", [2])}
    assert found == {canary: (15, 3, frozenset()), stable: (31, 0, frozenset({4, 9, 12}))}
    assert len(store.request_counts("iris", [2, 3])) == 3
    assert store.request_counts("iris", []) == []
