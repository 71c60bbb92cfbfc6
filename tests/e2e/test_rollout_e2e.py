"""Rollouts on real gateway processes, with ground truth posted by a client after a delay: a worse version is
rolled back by itself, an equal one promoted through every step, no labels pause it, and a replica takes
over from a leader killed with SIGKILL without applying any step twice."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from registry_client.client.gateway import GatewayClient
from registry_client.domain.plan import AuditEntry, Plan
from registry_client.domain.rollout import RolloutState
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from tests.support.cli import CANARYLINE
from tests.support.servers import GatewayProcess, wait_until
from tests.support.tokens import ADMIN_TOKEN, TOKEN_ENV
from tests.support.traffic import Traffic

pytestmark = pytest.mark.e2e

#: Short steps: every test finishes in well under a minute on a loaded 2-core machine.
FAST = {"rollout_tick_s": "0.3", "rollout_lease_s": "3", "request_counts_flush_s": "0.3", "plan_poll_s": "0.1"}
SPEC = {
    "steps": [20, 50, 100],
    "step_duration_s": 2,
    "max_step_duration_s": 60,
    "label_delay_s": 1,
    "min_outcomes": 40,
    "margin": 0.1,
    "max_p99_ratio": 5,
    "max_error_rate_increase": 0.05,
    "reason": "e2e rollout",
}


def register(store_url: str, model: str, iris, *, worse: bool) -> None:
    """v1: logistic regression on iris; v2: the same (equal) or one trained on shuffled labels (worse)."""
    X, y = iris
    registry = Registry(open_store(store_url))
    registry.register(model, LogisticRegression(max_iter=500).fit(X, y))
    labels = np.random.default_rng(0).permutation(y) if worse else y
    registry.register(model, LogisticRegression(max_iter=500).fit(X, labels))
    registry.store.close()


def start(url: str, model: str, **spec: object) -> None:
    with GatewayClient(url, token=ADMIN_TOKEN, actor="tests") as client:
        client.start_rollout(model, {"version": "v2", **SPEC, **spec})


def kill_gateway(gateway: GatewayProcess) -> None:
    """SIGKILL the gateway: its launcher's process group and its worker (BentoML starts workers in a group of
    their own; the worker's pid is the one in the ``instance`` its log lines carry)."""
    found = re.search(r'"instance": "[^"]*:(\d+)"', gateway.log())
    assert gateway.proc is not None and found is not None
    os.killpg(gateway.proc.pid, signal.SIGKILL)
    worker = int(found.group(1))
    with contextlib.suppress(ProcessLookupError):
        os.kill(worker, signal.SIGKILL)
    gateway.proc.wait(10)
    wait_until(lambda: not _alive(worker), 10, f"worker {worker} to die")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def cli(*args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """The real `canaryline` command against a gateway (``env`` names it and the tokens)."""
    full = {**os.environ, "CANARYLINE_HOME": str(home), **env}
    return subprocess.run([str(CANARYLINE), *args], env=full, capture_output=True, text=True, timeout=60, check=False)


def ready(url: str) -> bool:
    """The gateway at ``url`` answers its readiness probe with 200."""
    return httpx.get(url + "/readyz").status_code == 200


def rollout_of(store: Store, model: str) -> RolloutState:
    state = store.get_rollout(model)
    assert state is not None
    return state


def plan_of(store: Store, model: str) -> Plan:
    plan = store.get_plan(model)
    assert plan is not None
    return plan


def evidence_of(entry: AuditEntry) -> dict[str, Any]:
    assert entry.evidence is not None, f"revision {entry.revision} has no evidence"
    return entry.evidence


def ended(store: Store, model: str, timeout: float) -> RolloutState:
    wait_until(lambda: not rollout_of(store, model).active, timeout, "the rollout to end", 0.2)
    return rollout_of(store, model)


def steps_applied(store: Store, model: str) -> list[tuple[str, float | None]]:
    """The rollout's plan changes in the audit history: (action, canary weight after)."""
    return [
        (e.action, e.after.canary.weight if e.after.canary else None)
        for e in store.history(model)
        if e.actor == "rollout"
    ]


def test_a_worse_version_is_rolled_back_before_the_third_step(
    gateway_factory, sqlite_url: str, model_name: str, iris
) -> None:
    """A version trained on shuffled labels fails its quality gate on delayed ground truth: the controller
    rolls it back at its first or second step, stable unchanged, the evidence in the audit entry."""
    register(sqlite_url, model_name, iris, worse=True)
    gateway = gateway_factory(sqlite_url, **FAST)
    store = open_store(sqlite_url)
    start(gateway.url, model_name)
    with Traffic([gateway.url], *iris):
        state = ended(store, model_name, 120)
    assert state.phase == "rolled_back", state.decisions[-1].reason
    assert state.step < 2
    plan = plan_of(store, model_name)
    assert plan.stable == "v1" and plan.canary is None
    last = store.history(model_name)[-1]
    assert last.action == "rollback" and last.actor == "rollout"
    evidence = evidence_of(last)
    quality = next(g for g in evidence["gates"] if g["gate"] == "quality")
    assert quality["verdict"] == "fail" and quality["high"] < -0.1
    assert quality["n_canary"] >= 40 and quality["n_stable"] >= 40
    assert evidence["window"]["revisions"] == list(state.revisions[:-1])


def test_an_equal_version_is_promoted_through_every_step(
    gateway_factory, sqlite_url: str, model_name: str, iris
) -> None:
    """A version as good as stable passes every gate at 20 % and at 50 %, then is promoted."""
    register(sqlite_url, model_name, iris, worse=False)
    gateway = gateway_factory(sqlite_url, **FAST)
    store = open_store(sqlite_url)
    start(gateway.url, model_name)
    with Traffic([gateway.url], *iris):
        state = ended(store, model_name, 120)
    assert state.phase == "promoted", state.decisions[-1].reason
    assert steps_applied(store, model_name) == [("canary", 20.0), ("canary", 50.0), ("promote", None)]
    assert plan_of(store, model_name).stable == "v2"
    for entry in store.history(model_name)[-2:]:
        gates = {g["gate"]: g["verdict"] for g in evidence_of(entry)["gates"]}
        assert gates == {"quality": "pass", "latency": "pass", "errors": "pass", "sample_ratio": "pass"}


def test_without_labels_a_rollout_pauses_at_its_maximum_step_duration(
    gateway_factory, sqlite_url: str, model_name: str, iris, tmp_path: Path
) -> None:
    """No ground truth: the quality gate stays inconclusive, so the rollout pauses at max-step-duration,
    neither promoted nor rolled back, and the canary keeps its weight for a human. Driven by the CLI: start,
    status --json, resume, abort."""
    register(sqlite_url, model_name, iris, worse=False)
    gateway = gateway_factory(sqlite_url, **FAST)
    store = open_store(sqlite_url)
    env = {"CANARYLINE_GATEWAY": gateway.url, **TOKEN_ENV}
    started = cli(
        "rollout", "start", model_name, "v2", "--steps", "20,50,100", "--step-duration", "2s",
        "--max-step-duration", "4s", "--label-delay", "1s", "--min-outcomes", "40", "--margin", "0.1",
        "--max-p99-ratio", "5", "--reason", "no labels", env=env, home=tmp_path,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    with Traffic([gateway.url], *iris, labels=False):
        wait_until(lambda: rollout_of(store, model_name).phase == "paused", 40, "the rollout to pause", 0.2)
        status = cli("rollout", "status", model_name, "--json", env=env, home=tmp_path)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["phase"] == "paused" and shown["step"] == 0
        quality = next(g for g in shown["last_gates"] if g["gate"] == "quality")
        assert quality["verdict"] == "inconclusive" and quality["n_canary"] == 0
        assert cli("rollout", "resume", model_name, "--reason", "one more try", env=env, home=tmp_path).returncode == 0
        wait_until(lambda: rollout_of(store, model_name).phase == "paused", 40, "the rollout to pause again", 0.2)
    state = rollout_of(store, model_name)
    assert [d.action for d in state.decisions] == ["start", "begin", "pause", "resume", "pause"]
    assert "no verdict" in state.decisions[-1].reason
    plan = plan_of(store, model_name)
    assert plan.stable == "v1" and plan.canary is not None and plan.canary.weight == 20
    assert steps_applied(store, model_name) == [("canary", 20.0)]
    aborted = cli("rollout", "abort", model_name, "--reason", "labels never came", env=env, home=tmp_path)
    assert aborted.returncode == 0, aborted.stderr
    assert rollout_of(store, model_name).phase == "aborted" and plan_of(store, model_name).canary is None


@pytest.mark.redis
def test_a_replica_takes_over_from_a_killed_leader_and_applies_each_step_once(
    gateway_factory, redis_url: str, redis_client, model_name: str, iris
) -> None:
    """Two gateways on one Redis store; the one leading the rollout is killed with SIGKILL mid-rollout: the
    other takes the lease after it expires and finishes, and the history holds each step exactly once."""
    register(redis_url, model_name, iris, worse=False)
    first = gateway_factory(redis_url, ready=False, **FAST)  # both start at once: start-up is most of the time
    second = gateway_factory(redis_url, ready=False, **FAST)
    for gateway in (first, second):
        wait_until(partial(ready, gateway.url), 60, "readiness", 0.2)
    store = open_store(redis_url)
    start(first.url, model_name, step_duration_s=4)
    with Traffic([first.url, second.url], *iris) as traffic:
        wait_until(lambda: rollout_of(store, model_name).revisions, 20, "the first step", 0.1)
        leader = next(g for g in (first, second) if "rollout_leader" in g.log())
        follower = second if leader is first else first
        assert "rollout_leader" not in follower.log()
        at_kill = rollout_of(store, model_name)
        kill_gateway(leader)
        traffic.drop(leader.url)
        # The lease lasts 3 s: the replica takes it within two lease periods (generous on a loaded machine).
        wait_until(lambda: "rollout_leader" in follower.log(), 30, "the replica to take the lease", 0.2)
        state = ended(store, model_name, 120)
    assert at_kill.active and at_kill.step == 0  # killed mid-rollout, in its first step
    assert state.phase == "promoted", state.decisions[-1].reason
    assert steps_applied(store, model_name) == [("canary", 20.0), ("canary", 50.0), ("promote", None)]
