"""The rollout controller over a real store and registry: traffic is written as the gateway would write it
(records routed by the plan in force, outcomes, request counts), and every tick reads it back."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson
import pytest

from registry_client.analysis.export import export_rows
from registry_client.analysis.joined import joined_rows
from registry_client.control import ControlPlane
from registry_client.domain.identifiers import new_id
from registry_client.domain.plan import AuditEntry, Plan
from registry_client.domain.records import PredictionRecord
from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.domain.rollout import RolloutState
from registry_client.errors import RolloutConflictError
from registry_client.registry.registry import Registry
from registry_client.rollout.commands import Rollouts
from registry_client.rollout.controller import RolloutController
from registry_client.rollout.spec import build_spec
from registry_client.store import Store
from tests.support.rollouts import assert_recomputed, quality_from_export


@pytest.fixture
def registry(store: Store, model_name: str, iris_models) -> Registry:
    registry = Registry(store)
    registry.register(model_name, iris_models["logreg"])
    registry.register(model_name, iris_models["tree"])
    return registry


def plan_of(store: Store, model: str) -> Plan:
    plan = store.get_plan(model)
    assert plan is not None, f"{model} has no plan"
    return plan


def rollout_of(store: Store, model: str) -> RolloutState:
    state = store.get_rollout(model)
    assert state is not None, f"{model} has no rollout"
    return state


def evidence_of(entry: AuditEntry) -> dict[str, Any]:
    assert entry.evidence is not None, f"revision {entry.revision} has no evidence"
    return entry.evidence


def serve(
    store: Store,
    model: str,
    n: int,
    *,
    canary_accuracy: float,
    stable_accuracy: float,
    seed: int,
    share: float | None = None,
) -> None:
    """``n`` requests routed by the plan in force (random draws at its weight, or at ``share`` for a broken
    router), logged, labelled and counted."""
    rng = np.random.default_rng(seed)
    plan = store.get_plan(model)
    assert plan is not None
    weight = share if share is not None else plan.canary.weight / 100 if plan.canary else 0.0
    records: list[PredictionRecord] = []
    counts: dict[CountKey, int] = {}
    now = time.time()
    for i in range(n):
        on_canary = rng.random() < weight
        version = plan.canary.version if on_canary and plan.canary else plan.stable
        route = "canary" if on_canary else "stable"
        truth = int(rng.integers(3))
        correct = rng.random() < (canary_accuracy if on_canary else stable_accuracy)
        rid = new_id()
        records.append(
            PredictionRecord(
                prediction_id=new_id(),
                request_id=rid,
                ts=now + i * 1e-6,
                model=model,
                model_version=version,
                route=route,
                revision=plan.revision,
                inputs=[[5.0, 3.0, 1.5, 0.2]],
                predictions=[truth if correct else (truth + 1) % 3],
                latency_ms=1.0 + rng.random() * 0.1,
                instance="test",
            )
        )
        key = CountKey(model, version, plan.revision, route, keyed=False)
        counts[key] = counts.get(key, 0) + 1
        store.put_outcome(rid, [truth], now, now)
    store.append_predictions(records)
    store.add_request_counts([RequestCount(key, served) for key, served in counts.items()])


def spec(model: str, **options):
    base = {
        "model": model,
        "version": "v2",
        "steps": "10,50,100",
        "step_duration": "0s",
        "max_step_duration": "1h",
        "label_delay": "0s",
        "min_outcomes": 100,
        "max_p99_ratio": 5,
        "max_error_rate_increase": 0.05,
        "margin": 0.05,
        "reason": "test rollout",
    }
    return build_spec({**base, **options})


def test_an_equal_canary_is_stepped_through_and_promoted(registry: Registry, store: Store, model_name: str) -> None:
    """Equal accuracy on both arms: each tick with enough evidence advances a step; the last promotes."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    actions = []
    for seed in range(40):
        report = controller.tick(time.time())
        actions += [d.action for _, d in report.decisions]
        state = store.get_rollout(model_name)
        if state is None or not state.active:
            break
        serve(store, model_name, 1500, canary_accuracy=0.97, stable_accuracy=0.97, seed=seed)
    assert actions == ["begin", "advance", "promote"], actions
    state = rollout_of(store, model_name)
    assert not any("earlier leader" in d.reason for d in state.decisions)  # each tick wrote its own state
    assert plan_of(store, model_name).stable == "v2"
    history = store.history(model_name)
    rollout_entries = [e for e in history if e.actor == "rollout"]
    assert [e.action for e in rollout_entries] == ["canary", "canary", "promote"]
    evidence = rollout_entries[-1].evidence
    assert evidence is not None and evidence["action"] == "promote"
    quality = next(g for g in evidence["gates"] if g["gate"] == "quality")
    assert quality["verdict"] == "pass" and quality["n_canary"] >= 100 and quality["low"] is not None
    assert set(evidence["window"]) >= {"revisions", "since", "until", "matured_before"}


def test_a_worse_canary_is_rolled_back_at_its_first_step(registry: Registry, store: Store, model_name: str) -> None:
    """A canary 30 points worse fails its quality gate: rolled back, stable unchanged, the evidence recorded."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    for seed in range(20):
        controller.tick(time.time())
        state = rollout_of(store, model_name)
        if not state.active:
            break
        serve(store, model_name, 1500, canary_accuracy=0.6, stable_accuracy=0.95, seed=seed)
    assert state.phase == "rolled_back" and state.step == 0
    plan = plan_of(store, model_name)
    assert plan.stable == "v1" and plan.canary is None
    last = store.history(model_name)[-1]
    assert last.action == "rollback"
    quality = next(g for g in evidence_of(last)["gates"] if g["gate"] == "quality")
    assert quality["verdict"] == "fail" and quality["high"] < -0.05


def test_only_the_lease_holder_drives(registry: Registry, store: Store, model_name: str) -> None:
    """A second controller on the same store does nothing while the first holds the lease."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    first, second = RolloutController(registry, holder="a"), RolloutController(registry, holder="b")
    assert first.tick(time.time()).leader
    report = second.tick(time.time())
    assert not report.leader and report.decisions == []
    assert [r for r in store.history(model_name) if r.actor == "rollout"].__len__() == 1


def test_a_manual_change_ends_the_rollout(registry: Registry, store: Store, model_name: str) -> None:
    """A human's rollback during a rollout ends it (recorded with who and why) instead of being fought."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    controller.tick(time.time())
    ControlPlane(registry).rollback(model_name, actor="sre", reason="looks off", expected_revision=None)
    controller.tick(time.time())
    state = rollout_of(store, model_name)
    assert state.phase == "ended"
    assert state.decisions[-1].actor == "sre" and "looks off" in state.decisions[-1].reason
    assert plan_of(store, model_name).canary is None


def test_a_step_saved_by_a_dead_leader_is_adopted_not_repeated(
    registry: Registry, store: Store, model_name: str
) -> None:
    """A leader that saved a step's plan and died before writing the state: its successor records that
    revision as the rollout's own (from the audit evidence) and applies no step twice."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    first = RolloutController(registry, holder="a")
    first.tick(time.time())
    state = rollout_of(store, model_name)
    evidence = {"rollout": state.id, "action": "advance", "phase_after": "step", "step_after": 1}
    first._save(plan_of(store, model_name), "canary", "step 2", evidence, first.fence, canary=("v2", 50.0, True))
    assert store.get_rollout(model_name) == state  # the leader died before writing the state
    first.release()
    second = RolloutController(registry, holder="b")
    second.tick(time.time())
    after = rollout_of(store, model_name)
    assert after.step == 1 and after.revisions == (2, 3)
    assert [e.revision for e in store.history(model_name)] == [1, 2, 3]


def test_one_rollout_per_model(registry: Registry, model_name: str) -> None:
    """Starting a second rollout while one is active is refused with 409."""
    rollouts = Rollouts(registry)
    rollouts.start(spec(model_name), now=time.time())
    with pytest.raises(RolloutConflictError, match="already has a rollout"):
        rollouts.start(spec(model_name), now=time.time())
    rollouts.abort(model_name, actor="sre", reason="changed my mind", now=time.time())
    assert rollouts.start(spec(model_name), now=time.time()).seq == 3


def mirror(
    store: Store,
    model: str,
    n: int,
    *,
    shadow_accuracy: float,
    stable_accuracy: float,
    seed: int,
    labels: bool = True,
) -> None:
    """``n`` stable requests, each mirrored to the plan's shadow version (paired records), labelled unless
    ``labels`` is False."""
    rng = np.random.default_rng(seed)
    plan = store.get_plan(model)
    assert plan is not None and plan.shadow is not None
    records, now = [], time.time()
    for _ in range(n):
        rid, pid, truth = new_id(), new_id(), int(rng.integers(3))
        for version, accuracy, shadow in (
            (plan.stable, stable_accuracy, False),
            (plan.shadow.version, shadow_accuracy, True),
        ):
            correct = rng.random() < accuracy
            records.append(
                PredictionRecord(
                    prediction_id=pid if not shadow else new_id(),
                    request_id=rid,
                    ts=now,
                    model=model,
                    model_version=version,
                    route="shadow" if shadow else "stable",
                    revision=plan.revision,
                    inputs=[[5.0, 3.0, 1.5, 0.2]],
                    predictions=[truth if correct else (truth + 1) % 3],
                    latency_ms=1.0,
                    instance="test",
                    shadow=shadow,
                    primary_id=pid if shadow else None,
                )
            )
        if labels:
            store.put_outcome(rid, [truth], now, now)
    store.append_predictions(records)


@pytest.mark.parametrize(
    ("shadow_accuracy", "phase", "plan_action"), [(0.97, "step", "canary"), (0.5, "rolled_back", "rollback")]
)
def test_shadow_first_gates_on_labelled_pairs_before_any_user_sees_the_version(
    registry: Registry, store: Store, model_name: str, shadow_accuracy: float, phase: str, plan_action: str
) -> None:
    """With --shadow-first the version first runs as a 100 % shadow; the paired quality gate then starts the
    canary steps (as good as stable) or rolls it back (worse) with no user having been served by it."""
    Rollouts(registry).start(spec(model_name, shadow_first="1s"), now=time.time())
    controller = RolloutController(registry, holder="a")
    controller.tick(time.time())
    assert plan_of(store, model_name).shadow is not None and rollout_of(store, model_name).phase == "shadow"
    mirror(store, model_name, 400, shadow_accuracy=shadow_accuracy, stable_accuracy=0.97, seed=3)
    controller.tick(time.time() + 2)  # past the shadow's duration
    state = rollout_of(store, model_name)
    assert state.phase == phase, state.last_gates
    last = store.history(model_name)[-1]
    assert last.action == plan_action and last.after.shadow is None
    [gate] = evidence_of(last)["gates"]
    assert gate["gate"] == "quality" and "paired" in gate["method"] and gate["detail"]["compared_rows"] == 400


@pytest.mark.parametrize(
    ("shadow_accuracy", "verdict", "phase"), [(0.97, "pass", "step"), (0.6, "fail", "rolled_back")]
)
def test_shadow_agreement_below_its_minimum_rolls_back_and_above_it_passes(
    registry: Registry, store: Store, model_name: str, shadow_accuracy: float, verdict: str, phase: str
) -> None:
    """With --min-agreement the shadow phase also gates on how often the version predicts what stable does,
    labels or not: high agreement passes (and, the paired quality passing too, the canary steps start), low
    agreement rolls the version back before any user is served by it."""
    Rollouts(registry).start(spec(model_name, shadow_first="1s", min_agreement=0.8), now=time.time())
    controller = RolloutController(registry, holder="a")
    controller.tick(time.time())
    mirror(store, model_name, 400, shadow_accuracy=shadow_accuracy, stable_accuracy=0.97, seed=4)
    controller.tick(time.time() + 2)
    state = rollout_of(store, model_name)
    assert state.phase == phase, state.last_gates
    gates = {g["gate"]: g for g in evidence_of(store.history(model_name)[-1])["gates"]}
    agreement = gates["agreement"]
    assert agreement["verdict"] == verdict and agreement["threshold"] == 0.8 and agreement["n_canary"] == 400
    assert agreement["estimate"] == pytest.approx(gates["quality"]["detail"]["agreement"])
    assert (agreement["low"] >= 0.8) if verdict == "pass" else (agreement["high"] < 0.8)


def test_a_recorded_decision_is_recomputed_from_the_export(
    registry: Registry, store: Store, model_name: str, tmp_path
) -> None:
    """The quality gate of a rollback, recomputed from the exported rows with only its evidence's window
    (revisions, weights, time range, matured cut-off) and method, gives the numbers it recorded."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    for seed in range(20):
        controller.tick(time.time())
        if not rollout_of(store, model_name).active:
            break
        serve(store, model_name, 1500, canary_accuracy=0.6, stable_accuracy=0.95, seed=seed)
    evidence = store.history(model_name)[-1].evidence
    assert evidence is not None and evidence["action"] == "rollback"
    out = tmp_path / "export.jsonl"
    export_rows(joined_rows(store, model_name), out)
    assert_recomputed(
        quality_from_export([orjson.loads(line) for line in out.read_bytes().splitlines()], evidence), evidence
    )


def test_a_sample_ratio_mismatch_aborts(registry: Registry, store: Store, model_name: str) -> None:
    """Traffic that ignores the weight (half the requests on a 10 % canary) means routing is broken: the
    rollout aborts, whatever the other gates say, and the canary is cleared."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    controller.tick(time.time())
    serve(store, model_name, 2000, canary_accuracy=0.97, stable_accuracy=0.97, seed=5, share=0.5)
    controller.tick(time.time())
    state = rollout_of(store, model_name)
    assert state.phase == "aborted", state.last_gates
    last = store.history(model_name)[-1]
    ratio = next(g for g in evidence_of(last)["gates"] if g["gate"] == "sample_ratio")
    assert ratio["verdict"] == "fail" and "sample ratio mismatch" in ratio["reason"]
    plan = plan_of(store, model_name)
    assert plan.canary is None and plan.stable == "v1"


def test_keyed_traffic_is_tested_by_its_key_buckets(registry: Registry, store: Store, model_name: str) -> None:
    """Requests routed by sticky keys count by distinct bucket in the sample-ratio gate: 30 canary and 270
    stable buckets at a 10 % weight pass, however many requests each key sent."""
    Rollouts(registry).start(spec(model_name), now=time.time())
    controller = RolloutController(registry, holder="a")
    controller.tick(time.time())
    canary = CountKey(model_name, "v2", 2, "canary", keyed=True)
    stable = CountKey(model_name, "v1", 2, "stable", keyed=True)
    store.add_request_counts(
        [
            RequestCount(canary, 3000, 0, frozenset(range(30))),
            RequestCount(stable, 2700, 0, frozenset(range(1000, 1270))),
        ]
    )
    controller.tick(time.time())
    [ratio] = [g for g in rollout_of(store, model_name).last_gates if g["gate"] == "sample_ratio"]
    assert ratio["verdict"] == "pass" and ratio["detail"]["strata"] == 1
    assert (ratio["n_canary"], ratio["n_stable"]) == (30, 270)
